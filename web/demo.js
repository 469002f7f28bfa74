// The demo page: a thin UI over StreamPlayer. Nothing here is on the audio path.
import { StreamPlayer, PRESETS } from './player.js';

const $ = (id) => document.getElementById(id);
// The page opens with a preset on (?preset=off gives the untouched source).
const params = new URLSearchParams(location.search);
const initialPreset = PRESETS.includes(params.get('preset')) ? params.get('preset') : 'adaptive';
const player = new StreamPlayer({ preset: initialPreset });
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
$('preset').value = initialPreset;
$('preset').onchange = () => player.setPreset($('preset').value);
$('intensity').oninput = () => {
  const x = Number($('intensity').value);
  player.setIntensity(x);
  $('intensity-out').textContent = `${Math.round(x * 100)}%`;
};
$('volume').oninput = () => {
  const x = Number($('volume').value);
  player.setVolume(x);
  $('volume-out').textContent = `${Math.round(x * 100)}%`;
};
player.addEventListener('presetapplied', (e) => {
  $('st-switch').textContent = `${Math.round(e.detail.switchMs)} ms`;
});

// Level meter (peak line over an RMS bar per channel, dBFS) and spectrum (16 bands, dB).
const css = getComputedStyle(document.documentElement);
const accent = css.getPropertyValue('--accent').trim() || '#4fd1a5';
const dbToY = (db, h, floor) => h * Math.min(1, Math.max(0, db / floor));
function drawLevels(s) {
  const c = $('levels');
  const g = c.getContext('2d');
  const { width: w, height: h } = c;
  g.clearRect(0, 0, w, h);
  const floor = -60;
  const barW = (w - 30) / 2;
  for (let ch = 0; ch < 2; ch++) {
    const x = 10 + ch * (barW + 10);
    const rms = 20 * Math.log10(Math.max(1e-6, s.levels.rms[ch]));
    const peak = 20 * Math.log10(Math.max(1e-6, s.levels.peak[ch]));
    g.fillStyle = '#222a33';
    g.fillRect(x, 4, barW, h - 8);
    g.fillStyle = accent;
    const y = 4 + dbToY(rms, h - 8, floor);
    g.fillRect(x, y, barW, h - 4 - y);
    g.fillStyle = peak > -1.5 ? '#f6ad55' : '#e8ecf1';
    g.fillRect(x, 4 + dbToY(peak, h - 8, floor), barW, 2);
  }
}
function drawSpectrum(s) {
  const c = $('spectrum');
  const g = c.getContext('2d');
  const { width: w, height: h } = c;
  g.clearRect(0, 0, w, h);
  const n = s.spectrum.length;
  const bw = w / n;
  const floor = -80;
  for (let i = 0; i < n; i++) {
    const y = 4 + dbToY(s.spectrum[i], h - 8, floor);
    const grad = g.createLinearGradient(0, y, 0, h);
    grad.addColorStop(0, accent);
    grad.addColorStop(1, '#2b6cb0');
    g.fillStyle = grad;
    g.fillRect(i * bw + 2, y, bw - 4, h - 4 - y);
  }
}

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
  const lu = s.loudness.shortTerm > -100 ? s.loudness.shortTerm : s.loudness.momentary;
  $('st-loudness').textContent = lu > -100 ? `${lu.toFixed(1)} LUFS` : '–';
  $('st-gr').textContent = `${s.gainReductionDb.toFixed(1)} dB`;
  $('st-agc').textContent = s.preset === 'adaptive' ? `${s.adaptiveGainDb >= 0 ? '+' : ''}${(s.adaptiveGainDb * s.intensity).toFixed(1)} dB` : '–';
  drawLevels(s);
  drawSpectrum(s);
});

// Prepare the engine while the user picks a track: the click then only has to start audio.
player.init().catch((err) => { $('error').hidden = false; $('error').textContent = `cannot start the audio engine: ${err}`; });
loadTracks().catch((err) => { $('error').hidden = false; $('error').textContent = `cannot load tracks: ${err}`; });
