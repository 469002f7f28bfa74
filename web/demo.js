// The demo page: the <stream-player> element plus a few engine figures. Nothing here is on the
// audio path.
import { PRESETS } from './element.js';

const $ = (id) => document.getElementById(id);
const el = $('player');
// The page opens with a preset on (?preset=off gives the untouched source).
const wanted = new URLSearchParams(location.search).get('preset');
if (PRESETS.includes(wanted)) el.setAttribute('preset', wanted);
window.streamPlayer = el.player; // for tests and the console
window.streamElement = el;

$('codec').value = el.getAttribute('codec') || 'opus';
$('codec').onchange = () => el.setAttribute('codec', $('codec').value);

el.addEventListener('presetapplied', (e) => { $('st-switch').textContent = `${Math.round(e.detail.switchMs)} ms`; });
el.addEventListener('stats', (e) => {
  const s = e.detail;
  const lu = s.loudness.shortTerm > -100 ? s.loudness.shortTerm : s.loudness.momentary;
  $('st-loudness').textContent = lu > -100 ? `${lu.toFixed(1)} LUFS` : '–';
  $('st-gr').textContent = `${s.gainReductionDb.toFixed(1)} dB`;
  $('st-agc').textContent = s.preset === 'adaptive' ? `${s.adaptiveGainDb >= 0 ? '+' : ''}${(s.adaptiveGainDb * s.intensity).toFixed(1)} dB` : '–';
  $('st-xfades').textContent = String(s.crossfades);
  $('st-late').textContent = `${s.lateFrames} / ${s.droppedFrames}`;
});

// The live section: the relay's public streams (GET /api/streams), each with its title and
// listeners, refreshed every few seconds; one click listens.
const liveList = $('live-list');
let playingLive = null;
async function refreshLive() {
  let streams = [];
  try {
    const r = await fetch('/api/streams');
    if (r.ok) streams = (await r.json()).streams || [];
  } catch { /* the relay is restarting: try again later */ }
  $('live-empty').hidden = streams.length > 0;
  const items = streams.map((s) => {
    const li = document.createElement('li');
    li.dataset.id = s.id;
    li.className = s.id === playingLive ? 'on' : '';
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'listen';
    btn.textContent = s.id === playingLive ? 'Playing' : 'Listen';
    btn.setAttribute('aria-label', `Listen to ${s.name || s.id}`);
    btn.onclick = () => {
      playingLive = s.id;
      el.listen(s.id, { name: s.name || s.id });
      refreshLive();
    };
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = s.name || s.id;
    const title = document.createElement('span');
    title.className = 'now';
    title.textContent = s.title || '–';
    const n = document.createElement('span');
    n.className = 'count';
    n.textContent = `${s.listeners} listening`;
    li.append(btn, name, title, n);
    return li;
  });
  liveList.replaceChildren(...items);
}
refreshLive();
setInterval(refreshLive, 3000);
// The title of the stream playing changes with the song, on the sample where it changes.
el.addEventListener('title', (e) => {
  const li = playingLive && liveList.querySelector(`li[data-id="${playingLive}"] .now`);
  if (li) li.textContent = e.detail.title;
});
