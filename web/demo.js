// The demo page: a thin UI over StreamPlayer. Nothing here is on the audio path.
import { StreamPlayer } from './player.js';

const $ = (id) => document.getElementById(id);
const player = new StreamPlayer();
window.streamPlayer = player; // for tests and the console
let tracks = [];
let selected = null;

const fmt = (s, tenths) => {
  if (!Number.isFinite(s) || s < 0) s = 0;
  const m = Math.floor(s / 60);
  const r = s - m * 60;
  return `${m}:${tenths ? r.toFixed(1).padStart(4, '0') : String(Math.floor(r)).padStart(2, '0')}`;
};

function select(t) {
  selected = t;
  for (const tr of document.querySelectorAll('#tracks tbody tr')) tr.classList.toggle('selected', tr.dataset.id === t.id);
  $('now-title').textContent = `${t.title}${t.artist ? ' — ' + t.artist : ''}`;
  $('total').textContent = fmt(t.duration_s);
  $('play').disabled = false;
}

async function loadTracks() {
  const res = await fetch('/api/tracks');
  tracks = await res.json();
  const body = $('tracks').querySelector('tbody');
  body.textContent = '';
  for (const t of tracks) {
    const tr = document.createElement('tr');
    tr.dataset.id = t.id;
    const cells = [t.title, t.artist || '', t.playable ? `${t.codec.toUpperCase()} · ${t.sample_rate / 1000} kHz · ${t.channels === 1 ? 'mono' : 'stereo'}` : `not playable (${t.error_code})`, t.playable ? fmt(t.duration_s) : ''];
    cells.forEach((c, i) => { const td = document.createElement('td'); td.textContent = c; if (i === 3) td.className = 'num'; tr.append(td); });
    if (!t.playable) tr.classList.add('unplayable');
    else {
      tr.tabIndex = 0;
      tr.onclick = () => select(t);
      tr.ondblclick = () => { select(t); play(); };
      tr.onkeydown = (e) => { if (e.key === 'Enter') { select(t); play(); } };
    }
    body.append(tr);
  }
  const first = tracks.find((t) => t.playable);
  if (first) select(first);
}

function play() {
  if (!selected) return;
  $('error').hidden = true;
  player.play(selected.id, { codec: $('codec').value });
  $('stop').disabled = false;
}

$('play').onclick = play;
$('stop').onclick = () => player.stop();
$('pause').onclick = () => (player.state === 'paused' ? player.resume() : player.pause());
let dragging = false;
$('seek').oninput = () => { dragging = true; };
$('seek').onchange = () => { dragging = false; player.seek(Number($('seek').value)); };
player.addEventListener('statechange', (e) => {
  const s = e.detail.state;
  const active = ['playing', 'buffering', 'paused'].includes(s);
  $('pause').disabled = !active;
  $('seek').disabled = !active;
  $('pause').textContent = s === 'paused' ? 'Resume' : 'Pause';
  $('state').textContent = s;
  $('state').className = 'state ' + s;
});
player.addEventListener('error', (e) => {
  $('error').hidden = false;
  $('error').textContent = `${e.detail.code}: ${e.detail.error}`;
});
player.addEventListener('stream_start', (e) => {
  const d = e.detail;
  $('st-stream').textContent = `${d.codec}${d.bitrate ? ' ' + Math.round(d.bitrate / 1000) + 'k' : ''} · ${d.channels} ch`;
});
player.addEventListener('stats', (e) => {
  const s = e.detail;
  $('elapsed').textContent = fmt(s.positionS, true);
  if (!dragging && selected) {
    $('seek').max = String(selected.duration_s);
    $('seek').value = String(s.positionS);
  }
  $('buffer-bar').style.width = `${Math.min(100, (s.bufferedMs / s.capacityMs) * 100)}%`;
  $('st-buffer').textContent = `${Math.round(s.bufferedMs)} ms`;
  $('st-ttfa').textContent = s.timeToFirstAudioMs != null ? `${Math.round(s.timeToFirstAudioMs)} ms` : '–';
  $('st-underruns').textContent = `${s.underruns}`;
});

// Prepare the engine while the user picks a track: the click then only has to start audio.
player.init().catch((err) => { $('error').hidden = false; $('error').textContent = `cannot start the audio engine: ${err}`; });
loadTracks().catch((err) => { $('error').hidden = false; $('error').textContent = `cannot load tracks: ${err}`; });
