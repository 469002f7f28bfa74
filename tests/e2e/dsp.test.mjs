// End to end, real time, against the real relay in headless Chromium: the enhancement DSP runs
// in the AudioWorklet; switching presets, intensity and volume during playback never clicks,
// and each preset moves the bands it promises, measured in the rendered audio against the
// server's own decode of the same track positions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, referenceDecode, trackByFile } from '../support/processes.mjs';
import { launchBrowser, attachRecorder, stopRecording, collectRecording, pageWithPlayer as pageWithPlayerOn } from '../support/browsers.mjs';
import { clicks, thirdOctaveBands } from '../support/audio.mjs';

let media, relay, browser, tracks;

before(async () => {
  media = mkdtempSync(join(tmpdir(), 'e2e-dsp-'));
  // A low sine: small natural steps, so a hard switch between two processed versions shows.
  execFileSync('sox', ['-n', '-r', '48000', '-c', '2', '-b', '16', join(media, 'tone100.wav'), 'synth', '14', 'sine', '100', 'gain', '-6']);
  // Pink noise: energy in every band, to see which bands a preset moves.
  execFileSync('sox', ['-n', '-r', '48000', '-c', '2', '-b', '16', join(media, 'pink.wav'), 'synth', '14', 'pinknoise', 'gain', '-14']);
  relay = await startRelay({ media });
  browser = await launchBrowser();
  tracks = await (await fetch(relay.url + '/api/tracks')).json();
});
after(async () => { await browser?.close(); relay?.stop(); });

const pageWithPlayer = (opts = {}) => pageWithPlayerOn(browser, relay.url, {
  path: '/?preset=off', waitFor: 'stream-player li[role=option]', opts, record: { __applied: 'presetapplied' }, unlock: true,
});

const stats = (page) => page.evaluate(() => window.p.stats);
async function waitPlaying(page) {
  await page.waitForFunction(() => window.p.stats && window.p.stats.state === 'playing' && window.p.stats.bufferedMs > 300);
}

/** Plays `file` as pcm_f32 and makes `changes` ([ms after playing, js]) while recording, from
 * before the play until `tailS` seconds after the last change took effect (its blend began). */
async function playWithChanges(page, file, tailS, changes) {
  await attachRecorder(page, 30, 'p'); // (the most it records; a slow start has room)
  await page.evaluate((t) => window.p.play(t, { codec: 'pcm_f32' }), trackByFile(tracks, file).id);
  await waitPlaying(page);
  // The changes' timing is the stimulus (how far apart they come, one while another blends),
  // kept by the page's own timers from the start of playback: a driver's round trips (tens of
  // ms in WebKit's) would bunch two changes into one render quantum, where the engine rightly
  // makes one blend of them. For the same reason a structural change waits until the engine
  // has begun the blends of those before it (but the one marked 'merge', which is meant to come
  // mid-blend): an audio thread that runs in bursts (WebKitGTK's on one core rendered 2 s of
  // audio in 240 ms after a stall) would otherwise take two changes 600 ms apart in one quantum.
  await page.evaluate((plan) => (async () => {
    const p = window.p;
    const t0 = performance.now();
    let need = p.stats.presetSwitches;
    const blendsBegun = (n) => new Promise((ok) => {
      const check = () => (p.stats.presetSwitches >= n ? ok() : p.addEventListener('stats', check, { once: true }));
      check();
    });
    for (const [at, src, blend] of plan) {
      if (blend === true) await blendsBegun(need);
      const wait = at - (performance.now() - t0);
      if (wait > 0) await new Promise((ok) => setTimeout(ok, wait));
      (0, eval)(src)();
      if (blend === true) need++;
    }
  })(), changes.map(([at, js, blend]) => [at, String(js), blend ?? true]));
  // Every blend has begun: as many as the structural changes (less those that may merge with
  // the one before), and the last change's preset is the engine's.
  const { min } = blendCount(changes);
  const last = await page.evaluate(() => window.p.preset);
  await page.waitForFunction(([n, last]) => window.p.stats.presetSwitches >= n && window.p.stats.preset === last, [min, last])
    .catch(async (e) => {
      const s = await page.evaluate(() => window.p.stats);
      throw new Error(`${e.message}: ${min} blends and preset ${last} expected; stats: ${JSON.stringify({ switches: s.presetSwitches, preset: s.preset, intensity: s.intensity, state: s.state, underruns: s.underruns })}`);
    });
  await stopRecording(page, { afterS: tailS });
  const rec = await collectRecording(page);
  const applied = await page.evaluate(() => window.__applied);
  return { rec, applied, st: await stats(page) };
}

/** How many blends `changes` make: one per structural change (not marked `false`); a change
 * marked 'merge' comes so soon after the one before (30 ms) that both may reach the worklet in
 * one render quantum where the audio thread runs in bursts (WebKitGTK's does), and the engine
 * rightly makes one blend of the two. */
function blendCount(changes) {
  const max = changes.filter(([, , blend]) => blend !== false).length;
  return { max, min: max - changes.filter(([, , blend]) => blend === 'merge').length };
}

/** Energy in dB of `x` between `lo` and `hi` Hz (from 1/3-octave bands). */
function bandDb(x, lo, hi) {
  const { centers, db } = thirdOctaveBands(x);
  let e = 0;
  centers.forEach((f, i) => { if (f >= lo && f <= hi) e += 10 ** (db[i] / 10); });
  return 10 * Math.log10(e);
}

test('each preset moves the bands it promises, measured in the rendered audio', async () => {
  const { page, errors } = await pageWithPlayer();
  const { rec, applied, st } = await playWithChanges(page, 'pink.wav', 3.5, [
    [2000, () => window.p.setPreset('bright')],
    [4200, () => window.p.setPreset('warm')],
    [6400, () => window.p.setPreset('gentle')],
  ]);
  const ref = referenceDecode(relay.url, trackByFile(tracks, 'pink.wav').id);
  // Segments under each preset, from the output clocks where their blends began.
  assert.equal(applied.length, 3, JSON.stringify(applied));
  const starts = applied.map((a) => a.switchClock);
  const segs = [['off', st.startClock + 4800, starts[0]], ['bright', starts[0], starts[1]], ['warm', starts[1], starts[2]], ['gentle', starts[2], rec.first + rec.left.length]];
  const result = {};
  for (const [name, from, to] of segs) {
    const a = from + 9600 - rec.first; // skip the blend and the filters' settling
    const b = to - 2400 - rec.first;
    assert.ok(b - a > 48000, `${name}: ${b - a} frames to measure`);
    const out = rec.left.subarray(a, b);
    const src = ref.left.subarray(a + rec.first - st.startClock, b + rec.first - st.startClock);
    result[name] = { low: bandDb(out, 40, 200) - bandDb(src, 40, 200), high: bandDb(out, 5000, 16000) - bandDb(src, 5000, 16000) };
  }
  console.log(`E2E preset band changes (dB vs source): ${JSON.stringify(result, (k, v) => (typeof v === 'number' ? +v.toFixed(2) : v))}`);
  console.log(`E2E preset switches: ${applied.map((a) => `${a.preset} ${a.switchMs.toFixed(1)} ms (onset ${a.onsetFrames} frames)`).join(', ')}`);
  assert.ok(Math.abs(result.off.low) < 0.3 && Math.abs(result.off.high) < 0.3, 'off leaves the source alone');
  assert.ok(result.bright.high > 3 && result.bright.high - result.bright.low > 4, 'bright raises the high band');
  assert.ok(result.warm.low > 2 && result.warm.low - result.warm.high > 4, 'warm raises the low band');
  assert.ok(result.gentle.high - result.gentle.low < -3, 'gentle softens the high band');
  for (const a of applied) assert.ok(a.onsetFrames >= 0 && a.onsetFrames <= 128, `blend onset within one quantum: ${a.onsetFrames}`);
  assert.equal(st.underruns, 0);
  assert.deepEqual(errors, []);
  await page.close();
});

// Every kind of change the API allows, each while the previous may still be blending.
const CHANGES = [
  [800, () => window.p.setPreset('punchy')],
  [1500, () => window.p.setPreset('warm')],
  [2100, () => window.p.setPreset('bright')],
  [2700, () => window.p.setIntensity(0.3), false],
  [3300, () => window.p.setPreset('gentle')],
  [3330, () => window.p.setPreset('adaptive'), 'merge'], // mid-blend
  [4200, () => window.p.setIntensity(0)], // to the bypass
  [4900, () => window.p.setIntensity(1)], // and back
  [5500, () => window.p.setVolume(0.5), false],
  [6100, () => window.p.setPreset('off')],
];

/** Steps of the output, split into frames near a blend (within 80 ms of where one began: events
 * come at the stats rate, so two blends 30 ms apart may report only the later one) and the
 * rest; the steady rest bounds what each preset's own output does to the tone. */
function splitSteps(rec, applied, startClock) {
  const near = new Uint8Array(rec.left.length);
  for (const a of applied) {
    const i = a.switchClock - rec.first;
    for (let k = Math.max(0, i - 3840); k < Math.min(near.length, i + 3840); k++) near[k] = 1;
  }
  const from = startClock - rec.first + 4800;
  let bound = 0, at = -1;
  for (let i = from + 1; i < rec.left.length; i++) {
    const d = Math.abs(rec.left[i] - rec.left[i - 1]);
    if (!near[i] && !near[i - 1] && d > bound) { bound = d; at = i; }
  }
  return { from, bound, at, near };
}

test('switching presets, intensity and volume during playback never clicks; a hard switch would', async () => {
  const { page, errors } = await pageWithPlayer();
  const { rec, applied, st } = await playWithChanges(page, 'tone100.wav', 2.8, CHANGES);
  const { from, bound, at, near } = splitSteps(rec, applied, st.startClock);
  // Away from the blends the output is the tone through a steady preset: its steps stay within
  // the source's steepest (0.5 x 2 pi x 100 / 48000) at the presets' most gain (+6 dB); a larger
  // one there is a click too (and would hide the others from the detector).
  const cap = 2 * 0.5 * 2 * Math.PI * 100 / 48000;
  assert.ok(bound < cap, `a step of ${bound} away from any blend, at frame ${at - (st.startClock - rec.first)} of playback (${JSON.stringify(Array.from(rec.left.slice(at - 3, at + 3)).map((x) => +x.toFixed(4)))}); stats ${JSON.stringify({ underruns: st.underruns, late: st.lateFrames, dropped: st.droppedFrames, gap: st.gapFrames })}`);
  const found = clicks(rec.left.subarray(from), bound).map((i) => i + from);
  const inBlends = found.filter((i) => near[i]).length;
  console.log(`E2E preset, intensity and volume changes on a 100 Hz tone: ${CHANGES.length} changes, ${st.presetSwitches} blends, steady max step ${bound.toExponential(3)}, clicks ${found.length}`);
  assert.deepEqual(found, [], `clicks at frames ${found.slice(0, 10)} (${inBlends} near a blend)`);
  const s = await stats(page);
  const { min, max } = blendCount(CHANGES);
  assert.ok(s.presetSwitches >= min && s.presetSwitches <= max, `one blend per structural change (${s.presetSwitches}, ${min}..${max})`);
  assert.equal(s.underruns, 0);
  assert.equal(s.preset, 'off');
  assert.equal(s.volume, 0.5);
  assert.deepEqual(errors, []);
  await page.close();

  // The same changes with the blend switched off: the detector finds the cuts.
  const hard = await pageWithPlayer({ presetBlendMs: 0 });
  const h = await playWithChanges(hard.page, 'tone100.wav', 2.8, CHANGES);
  const hs = splitSteps(h.rec, h.applied, h.st.startClock);
  // Judged against the bound of the smooth run above (the same tone under the same presets).
  const hardClicks = clicks(h.rec.left.subarray(hs.from), bound);
  console.log(`E2E the same switches made hard: ${hardClicks.length} clicks found, at ms ${hardClicks.map((i) => Math.round((i + hs.from + h.rec.first - h.st.startClock) / 48)).join(' ')}; steady max step ${hs.bound.toExponential(3)}, underruns ${h.st.underruns}, ${h.st.presetSwitches} switches, ${h.rec.left.length} frames recorded`);
  assert.equal(h.st.underruns, 0);
  // A cut shows as a step only as large as the two versions' difference at that instant (the
  // tone's phase there): most of the 8 hard switches show, at least half in every run seen.
  assert.ok(hardClicks.length >= 4, `the detector must see at least half the 8 hard switches (${hardClicks.length})`);
  await hard.page.close();
});

test('bad preset, intensity and volume are refused by the API and playback goes on', async () => {
  const { page, errors } = await pageWithPlayer({ preset: 'warm' });
  await page.evaluate((t) => window.p.play(t, { codec: 'pcm_f32' }), trackByFile(tracks, 'pink.wav').id);
  await waitPlaying(page);
  const before = await stats(page);
  const results = await page.evaluate(() => {
    const tries = [
      () => window.p.setPreset('loud'), () => window.p.setPreset(3), () => window.p.setPreset(undefined),
      () => window.p.setIntensity(NaN), () => window.p.setIntensity(1.5), () => window.p.setIntensity(-0.1),
      () => window.p.setIntensity('0.5'), () => window.p.setVolume(-1), () => window.p.setVolume(Infinity),
      () => window.p.setTargetLufs(NaN),
    ];
    return tries.map((f) => { try { f(); return 'accepted'; } catch (e) { return `${e.name}:${e.code}:${e.message}`; } });
  });
  console.log(`E2E refused: ${results.join(' | ')}`);
  const codes = results.map((r) => r.split(':')[1]);
  assert.deepEqual(codes, ['unknown_preset', 'unknown_preset', 'unknown_preset', 'invalid_intensity', 'invalid_intensity',
    'invalid_intensity', 'invalid_intensity', 'invalid_volume', 'invalid_volume', 'invalid_target_lufs']);
  assert.ok(results.every((r) => r.startsWith('StreamPlayerError:')));
  // A bad constructor option is refused the same way.
  const ctor = await page.evaluate(async () => {
    const { StreamPlayer } = await import('/player.js');
    try { new StreamPlayer({ preset: 'nope' }); return 'accepted'; } catch (e) { return e.code; }
  });
  assert.equal(ctor, 'unknown_preset');
  // A barrier: the worklet answers memoryUsage() (through the port the calls would have used, in
  // order) after anything they might have sent it; the stats that come next count it.
  await page.evaluate(async () => {
    await window.p.memoryUsage();
    await new Promise((ok) => window.p.addEventListener('stats', ok, { once: true }));
  });
  // And playback goes on (the assertion below says so if it does not).
  await page.waitForFunction((p) => window.p.stats.positionS > p + 0.3, before.positionS).catch(() => {});
  const after = await stats(page);
  assert.equal(after.preset, 'warm');
  assert.equal(after.intensity, 1);
  assert.equal(after.volume, 1);
  assert.equal(after.presetSwitches, before.presetSwitches, 'nothing reached the worklet');
  assert.equal(after.state, 'playing');
  assert.ok(after.positionS > before.positionS + 0.3, 'playback went on');
  assert.equal(after.underruns, 0);
  assert.deepEqual(errors, []);
  await page.close();
});
