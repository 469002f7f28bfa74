// Compiled by tests/e2e/types.test.mjs (tsc --noEmit, strict): the package's declarations cover
// what a TypeScript host page uses. A wrong name or type here fails the test.
import { StreamPlayer, StreamPlayerError, PRESETS, type Preset, type StreamStats } from '@stream-engine/player';
import { StreamPlayerElement, defineStreamPlayer, type Track } from '@stream-engine/player/element';

const p = new StreamPlayer({ server: 'http://127.0.0.1:8080', preset: 'adaptive', intensity: 0.5 });
p.addEventListener('stats', (e) => {
  const s: StreamStats = e.detail;
  const db: number = s.loudness.shortTerm + s.levels.peak[0] + s.bufferedMs;
  void db;
});
p.addEventListener('error', (e) => console.log(e.detail.code, e.detail.error));
const first: Preset = PRESETS[0];
try { p.setPreset(first); } catch (err) { if (err instanceof StreamPlayerError) console.log(err.code); }
void p.play('t1', { codec: 'opus', positionS: 3 }).then(() => p.seek(10));
p.queue('t2', { crossfadeS: 1.5 });
void p.memoryUsage().then((m) => m.wasmBytes);
// A live stream: a public one without a token; its titles as they become audible.
void p.listen('s0123456789abcdef');
p.addEventListener('title', (e) => { const t: string = e.detail.title; const at: number = e.detail.clock; void t; void at; });
if (p.live && p.live.timeshiftS > 60) p.goLive();

const el = document.querySelector('stream-player');
if (el) {
  el.preset = 'warm';
  el.volume = 0.8;
  el.addEventListener('tracksloaded', (e) => { const t: Track[] = e.detail.tracks; console.log(t.length); });
  el.addEventListener('error', (e) => console.log(e.detail.code));
  void el.init().then((ok) => {
    if (ok && el.context && el.output) el.output.connect(new AnalyserNode(el.context));
  });
  el.seek(12);
  void el.listen('s0123456789abcdef', { name: 'Tone FM' });
  el.addEventListener('title', (e) => console.log(e.detail.title, el.streamTitle));
  el.goLive();
  const now: number = el.currentTime / el.duration;
  void now;
}
const Ctor = defineStreamPlayer('my-player');
const isElement: boolean = document.createElement('div') instanceof StreamPlayerElement;
void Ctor; void isElement;
