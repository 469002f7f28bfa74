// The npm widget's weight and memory, and its first sound, as a host page sees them.
// - bytes: every .js and .wasm file of the installed package (what a page loads), raw and gzip -9;
// - memory while playing: the page's JS heap above the same page without the player, the
//   Worker's JS heap and the engine's wasm memory (Chromium's DevTools protocol, after a GC);
// - play() to the first non-silent block at an AnalyserNode the page attached through the API,
//   against a plain <audio> element playing a static Ogg file from the same server, same run.
// Prints BENCH lines.
import { readFileSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ROOT, startRelay, launchChromium, serveStatic, installPackage, trackByFile } from '../e2e/lib.mjs';

const TRIALS = 7;
const f = (x, d = 1) => x.toFixed(d);
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

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
const relay = await startRelay({ args: ['--allow-origin', host.url] });
const tracks = await (await fetch(relay.url + '/api/tracks')).json();
const track = trackByFile(tracks, 'aurora-48k.flac');
const page = (withPlayer) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>host</title>
<script type="importmap">{ "imports": { "@stream-engine/player/": "./node_modules/@stream-engine/player/" } }</script>
${withPlayer ? '<script type="module">await import("@stream-engine/player/element.js"); window.ready = true;</script>' : '<script type="module">window.ready = true;</script>'}
</head><body><h1>host</h1><stream-player server="${relay.url}" track="${track.id}" preset="adaptive"></stream-player></body></html>`;
writeFileSync(join(pkg.dir, 'empty.html'), page(false));
writeFileSync(join(pkg.dir, 'player.html'), page(true));

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
  if (!w) return 0;
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
await p.goto(`${host.url}/player.html`);
await p.waitForFunction(() => window.ready && document.querySelector('stream-player').tracks.length > 0);
await p.evaluate(() => document.querySelector('stream-player').play());
await p.waitForFunction(() => document.querySelector('stream-player').currentTime > 8, null, { timeout: 30000 });
const heap = await pageHeap(await cdpOf(p));
const wHeap = await workerHeap();
const { wasmBytes } = await p.evaluate(() => document.querySelector('stream-player').player.memoryUsage());
const pageDelta = Math.max(0, heap - baseHeap);
const total = pageDelta + wHeap + wasmBytes;
console.log(`BENCH player_page_js_heap_bytes ${pageDelta} bytes`);
console.log(`BENCH player_worker_js_heap_bytes ${wHeap} bytes`);
console.log(`BENCH player_wasm_memory_bytes ${wasmBytes} bytes`);
console.log(`BENCH player_memory_bytes ${total} bytes`);
console.log(`# page heap ${heap} B with the player, ${baseHeap} B without; goal: player_memory_bytes < 10 MB (${total < 10e6 ? 'met' : 'MISSED'})`);
await p.close();

// First sound at a host analyser: the widget against <audio> with a static file, each trial a
// fresh page. Each is prepared as a page prepares it before the user presses play (the element's
// engine at load or at the pointerdown before the click; the AudioContext and graph of the
// <audio> element), then play() is timed to the first non-silent block. Neither has audio data
// before play() ('audio'); 'audio-preloaded' is <audio> that buffered the file beforehand.
async function firstSound(kind) {
  const pg = await browser.newPage();
  await pg.goto(`${host.url}/player.html`);
  await pg.waitForFunction(() => window.ready && document.querySelector('stream-player').tracks.length > 0);
  const ms = await pg.evaluate(async (kind) => {
    const el = document.querySelector('stream-player');
    let an, go;
    if (kind === 'widget') {
      await el.init();
      an = new AnalyserNode(el.context, { fftSize: 256 });
      el.output.connect(an);
      go = () => el.play();
    } else {
      const ctx = new AudioContext();
      const a = new Audio();
      an = new AnalyserNode(ctx, { fftSize: 256 });
      ctx.createMediaElementSource(a).connect(an).connect(ctx.destination);
      if (kind === 'audio-preloaded') {
        a.preload = 'auto';
        const canPlay = new Promise((ok) => a.addEventListener('canplaythrough', ok, { once: true }));
        a.src = 'static.ogg';
        await canPlay;
        go = () => a.play();
      } else {
        go = () => { a.src = 'static.ogg'; a.play(); };
      }
    }
    await new Promise((ok) => setTimeout(ok, 500));
    const buf = new Float32Array(an.fftSize);
    return new Promise((ok) => {
      const t0 = performance.now();
      go();
      const ch = new MessageChannel();
      ch.port1.onmessage = () => {
        an.getFloatTimeDomainData(buf);
        if (buf.some((v) => Math.abs(v) > 1e-4)) ok(performance.now() - t0);
        else if (performance.now() - t0 > 10000) ok(NaN);
        else ch.port2.postMessage(0);
      };
      ch.port2.postMessage(0);
    });
  }, kind);
  await pg.close();
  return ms;
}
const widget = [], audio = [], preloaded = [];
for (let i = 0; i < TRIALS; i++) {
  widget.push(await firstSound('widget'));
  audio.push(await firstSound('audio'));
  preloaded.push(await firstSound('audio-preloaded'));
}
const list = (a) => a.map((x) => f(x)).join(' ');
console.log(`# first sound at a host AnalyserNode, ms: widget ${list(widget)}; <audio> ${list(audio)}; <audio> preloaded ${list(preloaded)}`);
console.log(`BENCH widget_ttfa_ms_p50 ${f(median(widget))} ms`);
console.log(`BENCH audio_element_ttfa_ms_p50 ${f(median(audio))} ms`);
console.log(`BENCH audio_element_preloaded_ttfa_ms_p50 ${f(median(preloaded))} ms`);
console.log(`BENCH widget_vs_audio_element_ttfa_ratio ${f(median(widget) / median(audio), 3)} x`);

await browser.close();
relay.stop();
await host.close();
rmSync(pkg.dir, { recursive: true, force: true });
