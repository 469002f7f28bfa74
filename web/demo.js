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
