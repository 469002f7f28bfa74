// The npm widget's weight and memory, and its first sound, as a host page sees them.
// - bytes: every .js and .wasm file of the installed package (what a page loads), raw and gzip -9;
// - memory while playing: the page's JS heap above the same page without the player, the
//   Worker's JS heap and the engine's wasm memory (Chromium's DevTools protocol, after a GC);
// - first sound: play() to the first non-silent block at an AnalyserNode tapped off the output,
//   the widget against a plain <audio> element (through createMediaElementSource) playing the
//   same track as Ogg/Opus from the same relay (`/api/tracks/{id}/stream.ogg`), in the same run,
//   both sides in the same state (see firstSound below):
//     cold: a fresh browser context each trial (nothing cached, nothing compiled), a loaded page,
//       nothing created before the clock starts, the relay's chunk cache off (`--cache-mb 0`);
//     prepared: the widget init()ed, the <audio> with preload="auto" and its src set (and
//       buffered: canplaythrough) before the clock starts, the relay's cache holding the track;
//   and, for reference, <audio> playing a static Ogg file of the same music from the host.
// Prints BENCH lines. A lost trial (no sound within 10 s, a page that failed) is named in a
// `# LOST TRIALS:` line; its series prints no figure and the run fails.
import { readFileSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ROOT, startRelay, serveStatic, installPackage, trackByFile } from '../support/processes.mjs';
import { launchChromium } from '../support/browsers.mjs';

const TRIALS = Number(process.env.BENCH_TRIALS || 9);
const f = (x, d = 1) => x.toFixed(d);
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const lost = [];

const pkg = installPackage();
const manifest = JSON.parse(readFileSync(join(pkg.installed, 'package.json'), 'utf8'));
let raw = 0, gz = 0, wasmGz = 0, jsGz = 0;
for (const file of manifest.files.filter((x) => /\.(js|wasm)$/.test(x))) {
  const b = readFileSync(join(pkg.installed, file));
  const z = gzipSync(b, { level: 9 }).length;
  raw += b.length;
  gz += z;
  if (file.endsWith('.wasm')) wasmGz += z; else jsGz += z;
}
console.log(`BENCH widget_raw_bytes ${raw} bytes`);
console.log(`BENCH widget_gzip_bytes ${gz} bytes`);
console.log(`BENCH widget_wasm_gzip_bytes ${wasmGz} bytes`);
console.log(`BENCH widget_js_gzip_bytes ${jsGz} bytes`);
console.log(`# goal: widget_gzip_bytes < 150000 (${gz < 150000 ? 'met' : 'MISSED'})`);

copyFileSync(join(ROOT, 'media', 'aurora-48k.ogg'), join(pkg.dir, 'static.ogg'));
const host = await serveStatic(pkg.dir);
// Cold trials: a relay whose chunk cache is off (every play decodes and encodes, for both sides).
// Memory and prepared trials: a relay with its cache, filled with the track beforehand.
const coldRelay = await startRelay({ args: ['--allow-origin', host.url, '--cache-mb', '0'] });
const relay = await startRelay({ args: ['--allow-origin', host.url] });
const tracks = await (await fetch(relay.url + '/api/tracks')).json();
const track = trackByFile(tracks, 'aurora-48k.flac');
const coldTrack = trackByFile(await (await fetch(coldRelay.url + '/api/tracks')).json(), 'aurora-48k.flac');
await (await fetch(`${relay.url}/api/tracks/${track.id}/stream.ogg`)).arrayBuffer(); // fills the cache
const page = (withPlayer, server, id) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>host</title>
<script type="importmap">{ "imports": { "@stream-engine/player/": "./node_modules/@stream-engine/player/" } }</script>
${withPlayer ? '<script type="module">await import("@stream-engine/player/element.js"); window.ready = true;</script>' : '<script type="module">window.ready = true;</script>'}
</head><body><h1>host</h1><stream-player server="${server}" track="${id}" preset="adaptive"></stream-player></body></html>`;
writeFileSync(join(pkg.dir, 'empty.html'), page(false, relay.url, track.id));
writeFileSync(join(pkg.dir, 'player.html'), page(true, relay.url, track.id));
writeFileSync(join(pkg.dir, 'player-cold.html'), page(true, coldRelay.url, coldTrack.id));

const browser = await launchChromium();
const cdpOf = async (p) => {
  const cdp = await p.context().newCDPSession(p);
  await cdp.send('HeapProfiler.enable');
  return cdp;
};
const pageHeap = async (cdp) => {
  await cdp.send('HeapProfiler.collectGarbage');
  return (await cdp.send('Runtime.getHeapUsage')).usedSize;
};
/** JS heap of the page's Worker, through the browser-level protocol session. */
async function workerHeap() {
  const b = await browser.newBrowserCDPSession();
  const { targetInfos } = await b.send('Target.getTargets');
  const w = targetInfos.find((t) => t.type === 'worker' && t.url.includes('worker.js'));
  if (!w) throw new Error('no Worker target found for the player');
  const { sessionId } = await b.send('Target.attachToTarget', { targetId: w.targetId, flatten: false });
  let id = 0;
  const call = (method) => new Promise((ok) => {
    const my = ++id;
    const on = (e) => { const m = JSON.parse(e.message); if (m.id === my) { b.off('Target.receivedMessageFromTarget', on); ok(m.result); } };
    b.on('Target.receivedMessageFromTarget', on);
    b.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id: my, method }) });
  });
  await call('HeapProfiler.enable');
  await call('HeapProfiler.collectGarbage');
  const r = await call('Runtime.getHeapUsage');
  await b.detach();
  return r.usedSize;
}

// Memory: the same page without and with the player (playing for 8 s).
const empty = await browser.newPage();
await empty.goto(`${host.url}/empty.html`);
await empty.waitForFunction(() => window.ready);
const baseHeap = await pageHeap(await cdpOf(empty));
await empty.close();

const p = await browser.newPage();
try {
  await p.goto(`${host.url}/player.html`);
  await p.waitForFunction(() => window.ready && document.querySelector('stream-player').tracks.length > 0);
  await p.evaluate(() => document.querySelector('stream-player').play());
  await p.waitForFunction(() => document.querySelector('stream-player').currentTime > 8, null, { timeout: 30000 });
  const heap = await pageHeap(await cdpOf(p));
  const wHeap = await workerHeap();
  const { wasmBytes } = await p.evaluate(() => document.querySelector('stream-player').player.memoryUsage());
  if (![heap, baseHeap, wHeap, wasmBytes].every((x) => Number.isFinite(x) && x > 0)) {
    throw new Error(`a heap reading is missing: page ${heap}, base ${baseHeap}, worker ${wHeap}, wasm ${wasmBytes}`);
  }
  const pageDelta = Math.max(0, heap - baseHeap);
  const total = pageDelta + wHeap + wasmBytes;
  console.log(`BENCH player_page_js_heap_bytes ${pageDelta} bytes`);
  console.log(`BENCH player_worker_js_heap_bytes ${wHeap} bytes`);
  console.log(`BENCH player_wasm_memory_bytes ${wasmBytes} bytes`);
  console.log(`BENCH player_memory_bytes ${total} bytes`);
  console.log(`# page heap ${heap} B with the player, ${baseHeap} B without; goal: player_memory_bytes < 10 MB (${total < 10e6 ? 'met' : 'MISSED'})`);
} catch (e) {
  const why = String(e && e.message || e).split('\n')[0];
  lost.push(`player_memory (${why})`);
  console.log(`# lost trial player_memory: ${why}`);
} finally {
  await p.close();
}

// First sound at a host AnalyserNode, each trial in a fresh browser context (its own HTTP and
// compiled-code caches) on a loaded host page. Both sides are measured the same way: the clock
// starts right before the play request; a loop of background-priority tasks on the main thread
// polls an AnalyserNode (fftSize 256) tapped off the audio the page hears (the widget's output
// node after its DSP; the <audio> element's MediaElementAudioSourceNode) until a sample exceeds
// 1e-4.
//  - kind 'widget': <stream-player> (the npm package) plays the track over the relay's WebSocket;
//    'audio': <audio crossorigin> plays the relay's stream.ogg of the same track;
//    'static': <audio crossorigin> plays a static Ogg file of the same music from the host.
//  - mode 'cold': nothing exists before the clock: the widget's play() creates the AudioContext,
//    compiles the wasm, loads the worklet and the Worker and opens the WebSocket (the analyser is
//    attached at the element's `ready` event, before any audio is asked for); the <audio> side
//    creates its AudioContext (the widget's options), the element and the graph, sets src and
//    plays, all inside the window. The relay's cache is off.
//    'prepared': before the clock, the widget is init()ed (context, wasm, worklet, Worker,
//    WebSocket) and the <audio> has its context and graph, preload="auto" and src set, and has
//    buffered (canplaythrough); then 500 ms of quiet for both. The relay holds the track in its
//    cache (the <audio> already holds audio itself).
const TIMEOUT_MS = 10000;
async function firstSound(kind, mode) {
  const context = await browser.newContext();
  try {
    const pg = await context.newPage();
    if (kind === 'widget') {
      await pg.goto(`${host.url}/${mode === 'cold' ? 'player-cold' : 'player'}.html`);
      await pg.waitForFunction(() => window.ready && document.querySelector('stream-player').tracks.length > 0);
    } else {
      await pg.goto(`${host.url}/empty.html`);
      await pg.waitForFunction(() => window.ready);
    }
    const src = kind === 'static' ? 'static.ogg'
      : mode === 'cold' ? `${coldRelay.url}/api/tracks/${coldTrack.id}/stream.ogg` : `${relay.url}/api/tracks/${track.id}/stream.ogg`;
    return await pg.evaluate(async ({ kind, mode, src, timeoutMs }) => {
      const el = document.querySelector('stream-player');
      let an = null;
      const tap = (ctx, node) => { an = new AnalyserNode(ctx, { fftSize: 256 }); node.connect(an); };
      let failed = null;
      const audioGraph = () => {
        const ctx = new AudioContext({ sampleRate: 48000, latencyHint: 'interactive' });
        const a = new Audio();
        a.crossOrigin = 'anonymous';
        a.preload = 'auto';
        a.addEventListener('error', () => { failed = new Error(`<audio> error ${a.error && a.error.code}: ${a.error && a.error.message}`); });
        const source = ctx.createMediaElementSource(a);
        source.connect(ctx.destination);
        tap(ctx, source);
        return a;
      };
      const play = (p) => Promise.resolve(p).catch((e) => { failed = e; });
      let go;
      if (kind === 'widget') {
        el.addEventListener('error', (e) => { failed = new Error(`widget error ${e.detail && e.detail.code}`); });
        if (mode === 'prepared') {
          if (!(await el.init())) throw new Error('the widget did not start');
          tap(el.context, el.output);
        } else {
          el.addEventListener('ready', (e) => tap(e.detail.context, e.detail.output), { once: true });
        }
        go = () => play(el.play());
      } else if (mode === 'prepared') {
        const a = audioGraph();
        const buffered = new Promise((ok, fail) => {
          a.addEventListener('canplaythrough', ok, { once: true });
          a.addEventListener('error', () => fail(failed), { once: true });
          setTimeout(() => fail(new Error(`no canplaythrough within ${timeoutMs} ms`)), timeoutMs);
        });
        a.src = src;
        await buffered;
        go = () => play(a.play());
      } else {
        go = () => { const a = audioGraph(); a.src = src; play(a.play()); };
      }
      if (mode === 'prepared') await new Promise((ok) => setTimeout(ok, 500));
      const buf = new Float32Array(256);
      // The poll runs as a background-priority task: back to back while the main thread has
      // nothing else to do, after any other task when it has (the widget starts more main-thread
      // work than <audio>, so a poll at normal priority would slow it down more).
      const later = (fn) => scheduler.postTask(fn, { priority: 'background' });
      return new Promise((ok, fail) => {
        const t0 = performance.now();
        go();
        const poll = () => {
          if (failed) { fail(failed); return; }
          if (an) {
            an.getFloatTimeDomainData(buf);
            if (buf.some((v) => Math.abs(v) > 1e-4)) { ok(performance.now() - t0); return; }
          }
          if (performance.now() - t0 > timeoutMs) fail(new Error(`no sound within ${timeoutMs} ms`));
          else later(poll);
        };
        later(poll);
      });
    }, { kind, mode, src, timeoutMs: TIMEOUT_MS });
  } finally {
    await context.close();
  }
}

const SERIES = [['widget', 'cold'], ['audio', 'cold'], ['static', 'cold'], ['widget', 'prepared'], ['audio', 'prepared'], ['static', 'prepared']];
const results = Object.fromEntries(SERIES.map(([k, m]) => [`${k}_${m}`, []]));
for (let i = 0; i < TRIALS; i++) {
  // The order rotates from round to round: no series always runs first or after the same one.
  for (let j = 0; j < SERIES.length; j++) {
    const [kind, mode] = SERIES[(i + j) % SERIES.length];
    const name = `${kind}_${mode}`;
    try {
      const ms = await firstSound(kind, mode);
      if (!Number.isFinite(ms) || ms < 0) throw new Error(`measured ${ms}`);
      results[name].push(ms);
    } catch (e) {
      const why = String(e && e.message || e).split('\n')[0];
      lost.push(`${name}#${i + 1} (${why})`);
      console.log(`# lost trial ${name}#${i + 1}: ${why}`);
      results[name].push(null);
    }
  }
}
const whole = (name) => results[name].every((x) => x !== null);
const list = (name) => results[name].map((x) => (x === null ? 'lost' : f(x))).join(' ');
const figure = (bench, name) => {
  if (whole(name)) console.log(`BENCH ${bench} ${f(median(results[name]))} ms`);
  else console.log(`# ${bench} not reported: ${results[name].filter((x) => x === null).length} of ${TRIALS} trials lost`);
};
const ratio = (bench, a, b) => {
  if (whole(a) && whole(b)) console.log(`BENCH ${bench} ${f(median(results[a]) / median(results[b]), 3)} x`);
  else console.log(`# ${bench} not reported: trials lost`);
};
console.log(`# first sound at a host AnalyserNode, ms, cold: widget ${list('widget_cold')}; <audio> stream.ogg ${list('audio_cold')}; <audio> static file ${list('static_cold')}`);
console.log(`# prepared: widget ${list('widget_prepared')}; <audio> stream.ogg ${list('audio_prepared')}; <audio> static file ${list('static_prepared')}`);
figure('widget_ttfa_cold_ms_p50', 'widget_cold');
figure('audio_element_ttfa_cold_ms_p50', 'audio_cold');
figure('audio_element_static_ttfa_cold_ms_p50', 'static_cold');
console.log('# cold ratio: each trial a fresh browser context and page, the clock started before anything existed; widget: play() created the AudioContext, compiled the wasm, loaded worklet and Worker, opened the WebSocket and asked for the track; <audio>: created an AudioContext, the element and its createMediaElementSource graph, set src to the relay\'s stream.ogg of the same track and played; the relay\'s cache off for both (decoded and encoded on request); both timed to the first non-silent block at an AnalyserNode on the output');
ratio('widget_vs_audio_element_ttfa_cold_ratio', 'widget_cold', 'audio_cold');
figure('widget_ttfa_ms_p50', 'widget_prepared');
figure('audio_element_ttfa_ms_p50', 'audio_prepared');
figure('audio_element_static_ttfa_ms_p50', 'static_prepared');
console.log('# prepared ratio: before the clock the widget was init()ed (AudioContext, wasm, worklet, Worker, open WebSocket; no audio asked for) and the <audio> had its AudioContext and graph, preload="auto", src set to the relay\'s stream.ogg and canplaythrough (audio already buffered); the relay held the track in its cache; then play() on both, timed to the first non-silent block at an AnalyserNode on the output');
ratio('widget_vs_audio_element_ttfa_ratio', 'widget_prepared', 'audio_prepared');

await browser.close();
relay.stop();
coldRelay.stop();
await host.close();
rmSync(pkg.dir, { recursive: true, force: true });
if (lost.length) {
  console.log(`# LOST TRIALS: ${lost.join('; ')}`);
  process.exitCode = 1;
}
