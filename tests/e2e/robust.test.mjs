// Robustness of the browser side, end to end against the real relay:
//  - a trap in the wasm engine (a real `unreachable`, through the engine's test hook) is reported
//    once as `engine_trap`, the output is silent from the trapped quantum on, and the next play
//    gets a new engine that plays bit-exact with no underrun, with the settings of the old one;
//  - a browser without AudioWorklet or WebAssembly gets `unsupported_browser`: a sentence in the
//    element, an `error` event, and a play() that returns at once instead of hanging;
//  - the worklet's message path: frames as `bytes` (Uint8Array views, also at an offset), decoded
//    PCM as `bytes`, and the transitional `buf` (ArrayBuffer) all play bit-exact, and the
//    frame and stats-poll path creates no typed array and no Array.from (counted by a probe that
//    wraps those constructors in the worklet's global scope; one `buf` frame proves the probe
//    counts).
// The page is driven only through goto/evaluate/waitForFunction/click/close, so the same tests
// run in every engine of ENGINE.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay, referenceDecode, trackByFile } from '../support/processes.mjs';
import { launchBrowser, attachRecorder, stopRecording, collectRecording, RECORDER_SOURCE } from '../support/browsers.mjs';

const CAP_S = 30;
let relay, browser, tracks;

before(async () => {
  relay = await startRelay();
  browser = await launchBrowser();
  tracks = await (await fetch(relay.url + '/api/tracks')).json();
});
after(async () => {
  await browser?.close();
  relay?.stop();
});

/** The demo page with the enhancer off (the output is the decode, bit for bit), its player ready. */
async function demoPage() {
  const page = await browser.newPage();
  await page.goto(relay.url + '/?preset=off');
  await page.waitForFunction(() => window.streamPlayer && window.streamElement?.tracks?.length > 0);
  await page.evaluate(() => window.streamPlayer.init());
  await page.evaluate(installHelpers);
  return page;
}

/** A second recorder on the same page (the first one's processor name is taken): replaces
 * window.__recorder / __recording, so stopRecording and collectRecording use it. */
async function attachAnotherRecorder(page, seconds, name) {
  const src = RECORDER_SOURCE.replace("registerProcessor('e2e-recorder'", `registerProcessor('${name}'`);
  await page.evaluate(async ({ src, seconds, name }) => {
    const p = window.streamPlayer;
    const ctx = p.context;
    await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
    const rec = new AudioWorkletNode(ctx, name, {
      numberOfInputs: 1, numberOfOutputs: 1, channelCount: 2, channelCountMode: 'explicit',
      channelInterpretation: 'discrete', processorOptions: { frames: Math.round(seconds * ctx.sampleRate) },
    });
    p.output.connect(rec).connect(new GainNode(ctx, { gain: 0 })).connect(ctx.destination);
    window.__recorder = rec;
    window.__recording = new Promise((ok) => { rec.port.onmessage = (e) => ok(e.data); });
  }, { src, seconds, name });
}

function rmsDbOf(x, from, to) {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i] * x[i];
  return 10 * Math.log10(s / Math.max(1, to - from) + 1e-30);
}

/** In the page: window.__messageOf(selector), the element's message box: shown (laid out, not
 * hidden), its text and code. */
function installHelpers() {
  window.__messageOf = (sel) => {
    const m = document.querySelector(sel).shadowRoot.querySelector('.message');
    const r = m.getBoundingClientRect();
    return { visible: !m.hidden && getComputedStyle(m).display !== 'none' && r.width > 0 && r.height > 0, text: m.textContent, code: m.dataset.code || null };
  };
}

test('a trap in the wasm engine: one engine_trap error, silence from that quantum, the next play plays on a new engine', async () => {
  const page = await demoPage();
  const track = trackByFile(tracks, 'aurora-48k.flac');
  await page.evaluate(() => {
    window.__errors = [];
    window.streamPlayer.addEventListener('error', (e) => window.__errors.push(e.detail));
    // Settings the rebuilt engine must carry over (intensity is inaudible with the preset off).
    window.streamPlayer.setIntensity(0.35);
  });
  await attachRecorder(page, CAP_S);
  await page.evaluate((id) => { window.streamPlayer.play(id, { codec: 'pcm_f32' }); }, track.id);
  // Playing, with half a second of audio heard before the trap.
  await page.waitForFunction(() => window.streamPlayer.state === 'playing' && window.streamPlayer.stats?.positionS > 0.5);
  const before = await page.evaluate(() => window.streamPlayer.stats.session);

  // The test hook: the next render executes `unreachable`.
  await page.evaluate(() => window.streamPlayer.output.port.postMessage({ t: 'debugTrap' }));
  await page.waitForFunction(() => window.__errors.some((e) => e.code === 'engine_trap'));
  const trap = await page.evaluate(() => window.__errors.find((e) => e.code === 'engine_trap'));
  assert.equal(typeof trap.clock, 'number', 'the error tells the frame of the trap');
  // One second of output after the trapped quantum (375 more calls of process()).
  await stopRecording(page, { at: trap.clock, afterS: 1 });
  const rec = await collectRecording(page);
  const at = trap.clock - rec.first;
  assert.ok(at > 4800 && at < rec.left.length, `the trap (frame ${trap.clock}) lies inside the recording (from ${rec.first})`);
  assert.ok(rec.left.length - at >= 48000, `a second recorded after the trap: ${rec.left.length - at} frames`);
  const heard = rmsDbOf(rec.left, at - 4800, at);
  assert.ok(heard > -50, `music played up to the trap: ${heard.toFixed(1)} dB in the last 100 ms`);
  let loud = 0;
  for (let i = at; i < rec.left.length; i++) if (rec.left[i] !== 0 || rec.right[i] !== 0) loud++;
  assert.equal(loud, 0, 'every sample from the trapped quantum on is silent');

  const seen = await page.evaluate(() => ({ errors: window.__errors, state: window.streamPlayer.state,
    elementState: window.streamElement.state, message: window.__messageOf('stream-player') }));
  assert.equal(seen.errors.length, 1, `exactly one error event: ${JSON.stringify(seen.errors)}`);
  assert.equal(seen.errors[0].code, 'engine_trap');
  assert.match(seen.errors[0].error, /audio engine stopped/);
  assert.match(seen.errors[0].error, /unreachable/i, 'a real wasm trap (the unreachable instruction)');
  assert.equal(seen.state, 'error');
  assert.equal(seen.elementState, 'error');
  assert.ok(seen.message.visible, 'the element shows the error');
  assert.match(seen.message.text, /audio engine stopped.*next play/);
  // The trapped worklet still answers what someone awaits.
  const mem = await page.evaluate(() => window.streamPlayer.memoryUsage());
  assert.ok(mem.wasmBytes > 0, 'memoryUsage() answers while trapped');

  // Play again: a new engine, bit-exact from its start, no underrun, the old settings.
  await attachAnotherRecorder(page, CAP_S, 'e2e-recorder-after-trap');
  await page.evaluate((id) => { window.streamPlayer.play(id, { codec: 'pcm_f32' }); }, track.id);
  await page.waitForFunction((old) => {
    const p = window.streamPlayer;
    return p.state === 'playing' && p.stats?.session !== old && p.stats.session === p.streamInfo?.session && p.stats.startClock >= 0;
  }, before);
  const started = await page.evaluate(() => window.streamPlayer.stats);
  await stopRecording(page, { at: started.startClock, afterS: 3 });
  const rec2 = await collectRecording(page, 'streamPlayer');
  const ref = referenceDecode(relay.url, track.id);
  const offset = started.startClock - rec2.first;
  const n = rec2.left.length - offset;
  assert.ok(offset >= 0 && n >= 3 * 48000, `3 s recorded from the restart: ${n} frames`);
  let maxErr = 0;
  for (let i = 0; i < n; i++) {
    maxErr = Math.max(maxErr, Math.abs(rec2.left[offset + i] - ref.left[i]), Math.abs(rec2.right[offset + i] - ref.right[i]));
  }
  const level = rmsDbOf(rec2.left, offset, offset + n);
  console.log(`E2E engine trap: silent ${rec.left.length - at} frames after frame ${trap.clock}; replay ${n} frames, level ${level.toFixed(1)} dB, max |error| ${maxErr.toExponential(2)}`);
  assert.ok(level > -40, `the replay is audible: ${level.toFixed(1)} dB`);
  assert.ok(maxErr < 1e-6, `the new engine plays the decode bit-exact: max error ${maxErr}`);
  const end = rec2.stats;
  assert.equal(end.underruns, 0, 'no underrun after the restart');
  assert.equal(end.preset, 'off');
  assert.ok(Math.abs(end.intensity - 0.35) < 1e-6, `intensity carried over: ${end.intensity}`);
  const later = await page.evaluate(() => ({ errors: window.__errors.length, state: window.streamPlayer.state,
    elementState: window.streamElement.state, message: window.__messageOf('stream-player') }));
  assert.equal(later.errors, 1, 'no further error');
  assert.equal(later.state, 'playing');
  assert.equal(later.elementState, 'playing');
  assert.equal(later.message.visible, false, 'the trap message is gone once playing again');
  await page.close();
});

for (const [feature, named] of [['AudioWorkletNode', /AudioWorklet/], ['WebAssembly', /WebAssembly/]]) {
  test(`unsupported_browser without ${feature}: a sentence in the element, an error event, play() does not hang`, async () => {
    const page = await demoPage();
    // A fresh element and player in a page whose browser lacks the feature (the demo's own
    // element, made before, goes away).
    await page.evaluate((feature) => {
      document.getElementById('player').remove();
      delete window[feature];
      window.__events = [];
      const el = document.createElement('stream-player');
      el.id = 'bare';
      for (const t of ['error', 'statechange']) el.addEventListener(t, (e) => window.__events.push({ type: t, detail: e.detail }));
      document.querySelector('main').append(el);
    }, feature);
    await page.waitForFunction(() => window.__events.some((e) => e.type === 'error'));
    const first = await page.evaluate(() => ({ events: window.__events, state: document.getElementById('bare').state,
      status: document.getElementById('bare').shadowRoot.querySelector('.status-text').textContent,
      message: window.__messageOf('#bare') }));
    const errors = first.events.filter((e) => e.type === 'error');
    assert.equal(errors.length, 1, `one error event: ${JSON.stringify(errors)}`);
    assert.equal(errors[0].detail.code, 'unsupported_browser');
    assert.match(errors[0].detail.error, named);
    assert.match(errors[0].detail.error, /This browser cannot play/);
    assert.equal(first.state, 'error');
    assert.equal(first.status, 'Error');
    assert.ok(first.message.visible, 'the message is shown');
    assert.equal(first.message.code, 'unsupported_browser');
    assert.match(first.message.text, /This browser cannot play the stream: it lacks .*Use a current version/);
    assert.match(first.message.text, named);

    // Pressing play: the element says it again, at once.
    await page.evaluate(() => document.getElementById('bare').togglePlay());
    await page.waitForFunction(() => window.__events.filter((e) => e.type === 'error').length >= 2);
    const again = await page.evaluate(() => ({ codes: window.__events.filter((e) => e.type === 'error').map((e) => e.detail.code),
      message: window.__messageOf('#bare') }));
    assert.deepEqual(again.codes, ['unsupported_browser', 'unsupported_browser']);
    assert.ok(again.message.visible);

    // The API: play() rejects with the code at once, with an error event each time.
    const api = await page.evaluate(async () => {
      const { StreamPlayer } = await import('/player.js');
      const p = new StreamPlayer();
      const codes = [];
      p.addEventListener('error', (e) => codes.push(e.detail.code));
      const outcome = async () => {
        try { await p.play('any'); return 'resolved'; } catch (e) { return `${e.name}:${e.code}`; }
      };
      const first = await outcome();
      const second = await outcome();
      return { first, second, codes, state: p.state };
    });
    assert.equal(api.first, 'StreamPlayerError:unsupported_browser');
    assert.equal(api.second, 'StreamPlayerError:unsupported_browser');
    assert.deepEqual(api.codes, ['unsupported_browser', 'unsupported_browser']);
    assert.equal(api.state, 'error');
    await page.close();
  });
}

// Counts, in the worklet's global scope, typed arrays made through their constructors and
// Array.from calls, between 'on' and 'off' on its port (what processor.js would allocate per
// message: it looks these globals up when it runs).
const PROBE_SOURCE = `
const counts = { uint8: 0, float32: 0, float64: 0, arrayFrom: 0 };
let counting = false;
const wrap = (C, key) => new Proxy(C, { construct(t, args, nt) { if (counting) counts[key]++; return Reflect.construct(t, args, nt); } });
globalThis.Uint8Array = wrap(Uint8Array, 'uint8');
globalThis.Float32Array = wrap(Float32Array, 'float32');
globalThis.Float64Array = wrap(Float64Array, 'float64');
const from = Array.from;
Array.from = function (...a) { if (counting) counts.arrayFrom++; return from.apply(this, a); };
class AllocProbe extends AudioWorkletProcessor {
  constructor() {
    super();
    this.port.onmessage = (e) => {
      if (e.data === 'on') { for (const k in counts) counts[k] = 0; counting = true; this.port.postMessage('counting'); }
      else { counting = false; this.port.postMessage({ ...counts }); }
    };
  }
  process() { return true; }
}
registerProcessor('e2e-alloc-probe', AllocProbe);
`;

test('worklet messages: frames and PCM as bytes (and the old buf) play bit-exact; frames and polls allocate nothing', async () => {
  const page = await demoPage();
  await attachRecorder(page, CAP_S);
  const SESSION = 7077;
  const CHUNK = 960;
  const CHUNKS = 150; // 3 s
  const TOTAL = CHUNK * CHUNKS;
  const IN_WINDOW = 100; // chunks sent while the probe counts (2 s, all as bytes)
  // The signal, exact in f32: two sawtooths of different periods.
  const sample = (ch, i) => (ch === 0 ? ((i % 200) - 100) / 256 : (((i * 7) % 311) - 155) / 512);

  const ready = await page.evaluate(async ({ src, SESSION, CHUNK, CHUNKS, TOTAL, sampleSrc }) => {
    const p = window.streamPlayer;
    const ctx = p.context;
    const sample = eval(sampleSrc); // the same function as in the test
    // Nothing here calls play(), which would start the context: the messages stand in for it.
    await ctx.resume();
    await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
    const probe = new AudioWorkletNode(ctx, 'e2e-alloc-probe', { numberOfInputs: 0, numberOfOutputs: 1 });
    window.__probe = probe;
    window.__probeReply = () => new Promise((ok) => { probe.port.onmessage = (e) => ok(e.data); });
    // Chunk k: interleaved stereo f32 of frames k*CHUNK..; as a wire frame (docs/wire.md) or bare PCM.
    const pcm = (k) => {
      const f = new Float32Array(CHUNK * 2);
      for (let i = 0; i < CHUNK; i++) { f[2 * i] = sample(0, k * CHUNK + i); f[2 * i + 1] = sample(1, k * CHUNK + i); }
      return new Uint8Array(f.buffer);
    };
    const wire = (k, pad) => {
      const payload = pcm(k);
      // `pad` bytes before the frame: a view at an offset, as a sender slicing a larger buffer makes.
      const buf = new ArrayBuffer(pad + 24 + payload.length);
      const v = new DataView(buf, pad);
      v.setUint8(0, 1); v.setUint8(1, 2); v.setUint8(2, 2); v.setUint8(3, k === 0 ? 1 : 0);
      v.setUint32(4, SESSION, true);
      v.setUint32(8, k * CHUNK, true); v.setUint32(12, 0, true);
      v.setUint32(16, CHUNK, true); v.setUint32(20, payload.length, true);
      const bytes = new Uint8Array(buf, pad);
      bytes.set(payload, 24);
      return bytes;
    };
    // kind: 'bytes' (a frame view at an offset), 'pcm' (decoded PCM as bytes), 'buf' (the old ArrayBuffer frame)
    window.__send = (k, kind) => {
      const port = p.output.port;
      if (kind === 'bytes') port.postMessage({ t: 'frame', bytes: wire(k, 8) });
      else if (kind === 'pcm') port.postMessage({ t: 'pcm', session: SESSION, pos: k * CHUNK, channels: 2, bytes: pcm(k) });
      else { const b = wire(k, 0); port.postMessage({ t: 'frame', buf: b.buffer }); }
    };
    window.__statsSeen = 0;
    p.addEventListener('stats', () => { window.__statsSeen++; });
    window.__end = () => p.output.port.postMessage({ t: 'end', session: SESSION, totalSamples: TOTAL });
    void CHUNKS;
    const counting = window.__probeReply();
    probe.port.postMessage('on');
    return counting;
  }, { src: PROBE_SOURCE, SESSION, CHUNK, CHUNKS, TOTAL, sampleSrc: sample.toString() });
  assert.equal(ready, 'counting');

  // While counting: 2 s of audio as bytes (frames at an offset and bare PCM, alternately), the
  // stream's start, and stats polls (the page's and the Worker's) going on meanwhile.
  await page.evaluate(({ SESSION, IN_WINDOW }) => {
    const port = window.streamPlayer.output.port;
    port.postMessage({ t: 'start', session: SESSION, startSample: 0 });
    for (let k = 0; k < IN_WINDOW; k++) window.__send(k, k % 2 === 0 ? 'bytes' : 'pcm');
  }, { SESSION, IN_WINDOW });
  // Everything posted before it was handled when the memory reply comes (same port, in order).
  await page.evaluate(() => window.streamPlayer.memoryUsage());
  const polled = await page.evaluate(() => window.__statsSeen);
  await page.waitForFunction(({ n, SESSION }) => window.__statsSeen >= n + 3 && window.streamPlayer.stats?.session === SESSION, { n: polled, SESSION });
  // One frame the old way: the probe must see its one Uint8Array.
  await page.evaluate((k) => window.__send(k, 'buf'), IN_WINDOW);
  await page.evaluate(() => window.streamPlayer.memoryUsage());
  const counts = await page.evaluate(() => { const r = window.__probeReply(); window.__probe.port.postMessage('off'); return r; });
  console.log(`E2E worklet message path: ${IN_WINDOW} frames/PCM as bytes and the polls meanwhile made ${JSON.stringify(counts)} (the one Uint8Array is the old-style frame's)`);
  assert.deepEqual(counts, { uint8: 1, float32: 0, float64: 0, arrayFrom: 0 }, 'no typed array or Array.from per frame or poll');

  // The rest in every form, then the end.
  await page.evaluate(({ from, CHUNKS }) => {
    const kinds = ['bytes', 'pcm', 'buf'];
    for (let k = from; k < CHUNKS; k++) window.__send(k, kinds[k % 3]);
    window.__end();
  }, { from: IN_WINDOW + 1, CHUNKS });
  await page.waitForFunction((SESSION) => window.streamPlayer.stats?.session === SESSION && window.streamPlayer.stats.state === 'ended', SESSION);
  const st = await page.evaluate(() => window.streamPlayer.stats);
  await stopRecording(page, { at: st.startClock, afterS: TOTAL / 48000 });
  const rec = await collectRecording(page, 'streamPlayer');
  const offset = st.startClock - rec.first;
  assert.ok(offset >= 0 && rec.left.length - offset >= TOTAL, `the whole stream recorded: ${rec.left.length - offset} of ${TOTAL} frames`);
  let bad = 0, firstBad = -1;
  for (let i = 0; i < TOTAL; i++) {
    const ok = rec.left[offset + i] === Math.fround(sample(0, i)) && rec.right[offset + i] === Math.fround(sample(1, i));
    if (!ok) { bad++; if (firstBad < 0) firstBad = i; }
  }
  assert.equal(bad, 0, `every frame as sent (first difference at frame ${firstBad})`);
  const end = rec.stats;
  assert.equal(end.underruns, 0);
  assert.equal(end.badFrames, 0, 'no frame refused');
  assert.equal(end.gapFrames, 0);
  await page.close();
});
