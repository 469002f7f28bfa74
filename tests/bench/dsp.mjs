// Cost of the enhancement chain per render quantum (128 stereo frames at 48 kHz, strongest
// preset `punchy` at intensity 1, loud music-like input):
//  - dsp_native_ns: criterion's median (`cargo bench -p stream-core --bench dsp`, run first by
//    `make bench-dsp`);
//  - dsp_wasm_ns: the same chain compiled to wasm (web/pkg, the module the worklet loads) in a
//    headless Chromium page (the V8 the worklet runs), one process_dsp call per quantum as the
//    worklet makes it, input copied into wasm memory each time as the native bench copies it;
//    dsp_wasm_node_ns: the same in Node's older V8, for comparison;
//  - dsp_wasm_switch_quantum_ns: the worst quantum, the one that starts a blend (a new chain
//    warmed up on 32 ms of input, then two chains), timed in Node (a page's timer is too coarse);
//  - preset_switch_ms_p50/p95 and preset_switch_onset_frames_max: in headless Chromium on the
//    demo page, setPreset() to the first frame of the blend reaching the output, and the frames
//    between the message's arrival in the worklet and the blend's first frame.
// Prints BENCH lines.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startRelay, launchChromium, trackByFile } from '../e2e/lib.mjs';

const BUDGET_NS = (128 / 48000) * 1e9;
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };

// --- native (criterion) --------------------------------------------------------------------
const est = (name) => JSON.parse(readFileSync(join(ROOT, 'target', 'criterion', name, 'new', 'estimates.json'), 'utf8'));
const nativeNs = est('dsp_punchy_quantum').median.point_estimate;
const nativeAdaptiveNs = est('dsp_adaptive_quantum').median.point_estimate;

// --- wasm ---------------------------------------------------------------------------------
// One self-contained function, run in Node and in a headless Chromium page (the V8 the worklet
// really runs): per-quantum cost of `punchy` and `adaptive`, and of the quantum that starts a
// blend. `m` is the initialised engine_wasm module, `memory` its wasm memory.
function wasmBench(m, memory) {
  const QUANTUM = 128;
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  // The native bench's input: beats of a 55 Hz + 440 Hz tone with noise.
  const frames = 48000;
  let seed = 0x12345678;
  const srcL = new Float32Array(frames), srcR = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const noise = (seed >>> 8) / (1 << 24) - 0.5;
    const t = i / 48000;
    const beat = i % 24000 < 2400 ? 1 : 0.3;
    const tone = Math.sin(2 * Math.PI * 55 * t) * 0.6 + Math.sin(2 * Math.PI * 440 * t) * 0.2;
    srcL[i] = (tone + noise * 0.3) * beat;
    srcR[i] = (tone * 0.9 - noise * 0.3) * beat;
  }
  // Views made up front: the timed loops allocate nothing in JS either.
  const views = [];
  for (let pos = 0; pos + QUANTUM <= frames; pos += QUANTUM) views.push([srcL.subarray(pos, pos + QUANTUM), srcR.subarray(pos, pos + QUANTUM)]);
  const engine = () => {
    const e = new m.WasmEngine(48000, 1000, 0, 10, 30, 30);
    return { e, left: new Float32Array(memory.buffer, e.left_ptr(), QUANTUM), right: new Float32Array(memory.buffer, e.right_ptr(), QUANTUM) };
  };
  function perQuantum(preset, quanta) {
    const { e, left, right } = engine();
    e.setPreset(preset);
    let k = 0, clock = 0;
    const round = () => {
      const t0 = performance.now();
      for (let q = 0; q < quanta; q++) {
        const [l, r] = views[k];
        left.set(l);
        right.set(r);
        e.process_dsp(QUANTUM, clock);
        k = k + 1 === views.length ? 0 : k + 1;
        clock += QUANTUM;
      }
      return ((performance.now() - t0) * 1e6) / quanta;
    };
    round(); round(); // JIT tier-up
    const rounds = Array.from({ length: 15 }, round);
    e.free();
    return median(rounds);
  }
  function switchQuantum(switches) {
    const { e, left, right } = engine();
    const presets = [4, 2, 3, 5, 1];
    const times = [];
    let k = 0, clock = 0;
    for (let s = 0; s < switches; s++) {
      // 40 quanta between switches: every blend has ended, the next starts from one chain.
      for (let q = 0; q < 40; q++) {
        left.set(views[k][0]); right.set(views[k][1]);
        e.process_dsp(QUANTUM, clock);
        k = k + 1 === views.length ? 0 : k + 1;
        clock += QUANTUM;
      }
      e.setPreset(presets[s % presets.length]);
      // (One quantum is timed: Node's timer resolves it; a page's coarsened timer does not,
      // so this figure is taken from the Node run.)
      const t0 = performance.now();
      e.process_dsp(QUANTUM, clock);
      times.push((performance.now() - t0) * 1e6);
      clock += QUANTUM;
    }
    e.free();
    return median(times.slice(5));
  }
  return { punchy: perQuantum(4, 20000), adaptive: perQuantum(1, 20000), switchQuantum: switchQuantum(200) };
}

const { initSync, ...nodeModule } = await import(join(ROOT, 'web', 'pkg', 'engine_wasm.js'));
const nodeWasm = initSync({ module: readFileSync(join(ROOT, 'web', 'pkg', 'engine_wasm_bg.wasm')) });
const inNode = wasmBench(nodeModule, nodeWasm.memory);

// --- preset switch in the real worklet --------------------------------------------------------
const relay = await startRelay();
const browser = await launchChromium();
let switchMs = [], onsets = [], inChromium = null;
try {
  const bench = await browser.newPage();
  await bench.goto(relay.url + '/?preset=off');
  inChromium = await bench.evaluate(async (src) => {
    const m = await import('/pkg/engine_wasm.js');
    const w = await m.default();
    return (0, eval)(`(${src})`)(m, w.memory);
  }, wasmBench.toString());
  await bench.close();

  const page = await browser.newPage();
  await page.goto(relay.url + '/?preset=warm');
  await page.waitForSelector('stream-player li[role=option]');
  const tracks = await (await fetch(relay.url + '/api/tracks')).json();
  const id = trackByFile(tracks, 'aurora-48k.flac').id;
  const res = await page.evaluate(async (id) => {
    const p = window.streamPlayer;
    await p.play(id, { codec: 'opus' });
    await new Promise((ok) => { const f = () => (p.stats && p.stats.state === 'playing' ? ok() : setTimeout(f, 50)); f(); });
    const names = ['bright', 'punchy', 'gentle', 'adaptive', 'warm'];
    const out = [];
    for (let i = 0; i < 20; i++) {
      const applied = new Promise((ok) => p.addEventListener('presetapplied', (e) => ok(e.detail), { once: true }));
      await new Promise((r) => setTimeout(r, 150));
      p.setPreset(names[i % names.length]);
      out.push(await applied);
    }
    const underruns = p.stats.underruns;
    p.stop();
    return { out, underruns };
  }, id);
  switchMs = res.out.map((d) => d.switchMs);
  onsets = res.out.map((d) => d.onsetFrames);
  if (res.underruns !== 0) console.log(`# warning: ${res.underruns} underruns during the preset switches`);
} finally {
  await browser.close();
  relay.stop();
}

const f = (x, d = 1) => x.toFixed(d);
const wasmNs = inChromium.punchy;
console.log(`# native: punchy ${f(nativeNs)} ns, adaptive ${f(nativeAdaptiveNs)} ns per quantum`);
console.log(`# wasm in Chromium: punchy ${f(inChromium.punchy)} ns, adaptive ${f(inChromium.adaptive)} ns; in Node ${process.version}: punchy ${f(inNode.punchy)} ns, adaptive ${f(inNode.adaptive)} ns`);
console.log(`BENCH dsp_native_ns ${f(nativeNs)} ns`);
console.log(`BENCH dsp_wasm_ns ${f(wasmNs)} ns`);
console.log(`BENCH dsp_wasm_budget_pct ${f((wasmNs / BUDGET_NS) * 100, 3)} %`);
console.log(`BENCH dsp_wasm_native_ratio ${f(wasmNs / nativeNs, 3)} x`);
console.log(`BENCH dsp_wasm_node_ns ${f(inNode.punchy)} ns`);
console.log(`BENCH dsp_wasm_node_native_ratio ${f(inNode.punchy / nativeNs, 3)} x`);
console.log(`BENCH dsp_wasm_adaptive_ns ${f(inChromium.adaptive)} ns`);
console.log(`BENCH dsp_wasm_switch_quantum_ns ${f(inNode.switchQuantum)} ns`);
console.log(`BENCH dsp_wasm_switch_quantum_budget_pct ${f((inNode.switchQuantum / BUDGET_NS) * 100, 3)} %`);
console.log(`BENCH preset_switch_ms_p50 ${f(pct(switchMs, 50))} ms`);
console.log(`BENCH preset_switch_ms_p95 ${f(pct(switchMs, 95))} ms`);
console.log(`BENCH preset_switch_onset_frames_max ${Math.max(...onsets)} frames`);
