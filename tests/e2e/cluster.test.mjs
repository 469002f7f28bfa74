// End to end, real time, on a cluster: three clustered nats-servers and three relays (A, B, C).
// relay-client publishes a live stream on A; the browser player listens on B (its servers: B
// then C). B is killed mid-stream: the player moves to C and resumes at the exact next sample,
// with no underrun, and what it rendered from first to last sample is the source, sample-exact.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startRelay, startNatsCluster, clusterOf } from '../support/processes.mjs';
import { launchBrowser, attachRecorder, stopRecording, collectRecording, pageWithPlayer, ENGINE } from '../support/browsers.mjs';
import { readWavF32 } from '../support/audio.mjs';

const KEY = 'e2e-cluster-key';
const SECONDS = 14;
let nats, relays, browser, dir;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'e2e-cluster-'));
  nats = await startNatsCluster(3);
  // Each relay tries its own nats-server first.
  const order = (i) => [0, 1, 2].map((k) => nats.urls[(i + k) % 3]).join(',');
  relays = await Promise.all(['A', 'B', 'C'].map((name, i) => startRelay({
    args: ['--api-key', KEY, '--nats', order(i), '--node-id', name, '--allow-origin', '*'],
  })));
  await Promise.all(relays.map((r) => clusterOf(r.url, 3)));
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  relays?.forEach((r) => r.kill());
  nats?.stop();
});

test('the player listening on node B moves to C when B dies: sample-exact, no underrun', async () => {
  const [a, b, c] = relays;
  // The source: 16-bit PCM, so what the relay carries is exactly its samples.
  const src = join(dir, 'source.wav');
  execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-i', join(ROOT, 'media', 'aurora-48k.flac'), '-t', String(SECONDS),
    '-c:a', 'pcm_s16le', '-ar', '48000', '-ac', '2', '-y', src]);
  // The same samples as floats (s16 / 32768, exact) to compare with.
  const srcF32 = join(dir, 'source-f32.wav');
  execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-i', src, '-c:a', 'pcm_f32le', '-y', srcF32]);
  const source = readWavF32(srcF32);

  const res = await fetch(a.url + '/api/streams', { method: 'POST', headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(res.status, 201);
  const s = await res.json();

  // The page comes from A; its player knows B and C, and listens on B first.
  const { page, errors } = await pageWithPlayer(browser, a.url, {
    opts: { servers: [b.url, c.url] },
    record: { __events: 'stream_start', __reconnects: 'reconnected', __errors: 'error' },
    unlock: true,
  });
  // WebKitGTK's audio clock starts in bursts (docs/browsers.md): listen once it runs steadily.
  await page.waitForFunction(() => window.p.context.currentTime > 1.5, null, { timeout: 30000 });
  await attachRecorder(page, SECONDS + 20, 'p');
  await page.evaluate(([id, t]) => window.p.listen(id, t, { codec: 'pcm_f32' }), [s.stream_id, s.listen_token]);

  // The producer: relay-client publishing the source in real time to A.
  const pub = spawn(join(ROOT, 'target', 'release', 'relay-client'), ['publish', '--server', a.url, '--stream', s.stream_id,
    '--token', s.publish_token, '--input', src], { stdio: ['ignore', 'ignore', 'pipe'] });
  let pubErr = '';
  pub.stderr.on('data', (d) => { pubErr += d; });
  const published = new Promise((ok) => pub.on('close', ok));

  // Playing from B for 3 s; then B dies.
  await page.waitForFunction(() => window.p.stats && window.p.stats.state === 'playing' && window.p.stats.playPos > 3 * 48000,
    null, { timeout: 30000 });
  b.kill();
  await b.exited;
  await page.waitForFunction(() => window.__reconnects.length > 0, null, { timeout: 20000 });
  assert.equal(await published, 0, `relay-client publish: ${pubErr}`);
  await page.waitForFunction(() => window.p.stats.state === 'ended', null, { timeout: 30000 });
  await stopRecording(page, { afterS: 0.1 });
  const rec = await collectRecording(page, 'p');
  const st = rec.stats;
  const start = (await page.evaluate(() => window.__events))[0];
  const reconnected = (await page.evaluate(() => window.__reconnects))[0];

  // The recording from the first played frame: the stream from its start_sample on.
  const offset = st.startClock - rec.first;
  const first = start.start_sample;
  const n = Math.min(rec.left.length - offset, source.left.length - first);
  let maxErr = 0, wrongAt = -1;
  for (let i = 0; i < n; i++) {
    const e = Math.max(Math.abs(rec.left[offset + i] - source.left[first + i]), Math.abs(rec.right[offset + i] - source.right[first + i]));
    if (e > maxErr) { maxErr = e; if (wrongAt < 0 && e > 1e-6) wrongAt = i; }
  }
  console.log(`E2E cluster (${ENGINE}): listened on B from ${first}, rejoined on C (session ${reconnected.session}, start ${reconnected.start_sample}); ` +
    `${n} frames compared with the source, max |error| ${maxErr.toExponential(2)}; underruns ${st.underruns}, late ${st.lateFrames}, gaps ${st.gapFrames}, ` +
    `audio thread caught up ${st.renderCatchUpMs.toFixed(0)} ms at most`);
  assert.equal(reconnected.session, start.session, 'the same stream, the same session, on C');
  assert.ok(n > (SECONDS - 2) * 48000, `${n} frames played`);
  assert.equal(st.gapFrames, 0, 'no gap');
  assert.equal(st.droppedFrames, 0);
  assert.ok(st.underruns === 0 || st.renderCatchUpMs > 300,
    `${st.underruns} underruns with the audio thread at most ${st.renderCatchUpMs} ms behind real time`);
  assert.ok(maxErr < 1e-6, `sample-exact through the move: max error ${maxErr} (first at ${wrongAt})`);
  assert.deepEqual(await page.evaluate(() => window.__errors), []);
  assert.deepEqual(errors, []);
  await page.close();
});

test('Opus: the player listening on C moves to A when C dies, the same as a player that never moved', async () => {
  const [a, , c] = relays;
  const src = join(dir, 'source.wav'); // made by the test before
  const res = await fetch(a.url + '/api/streams', { method: 'POST', headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(res.status, 201);
  const s = await res.json();

  // Two pages: one listens on C (then A), the other on A all along; both decode Opus in wasm.
  const open = async (servers) => {
    const { page, errors } = await pageWithPlayer(browser, a.url, {
      opts: { servers },
      record: { __events: 'stream_start', __reconnects: 'reconnected', __errors: 'error' },
      unlock: true,
    });
    await page.waitForFunction(() => window.p.context.currentTime > 1.5, null, { timeout: 30000 });
    await attachRecorder(page, SECONDS + 20, 'p');
    await page.evaluate(([id, t]) => window.p.listen(id, t, { codec: 'opus' }), [s.stream_id, s.listen_token]);
    return { page, errors };
  };
  const moved = await open([c.url, a.url]);
  const still = await open([a.url]);
  const pub = spawn(join(ROOT, 'target', 'release', 'relay-client'), ['publish', '--server', a.url, '--stream', s.stream_id,
    '--token', s.publish_token, '--input', src], { stdio: ['ignore', 'ignore', 'pipe'] });
  let pubErr = '';
  pub.stderr.on('data', (d) => { pubErr += d; });
  const published = new Promise((ok) => pub.on('close', ok));

  await moved.page.waitForFunction(() => window.p.stats && window.p.stats.state === 'playing' && window.p.stats.playPos > 3 * 48000,
    null, { timeout: 30000 });
  c.kill();
  await c.exited;
  await moved.page.waitForFunction(() => window.__reconnects.length > 0, null, { timeout: 20000 });
  assert.equal(await published, 0, `relay-client publish: ${pubErr}`);
  const recs = [];
  for (const { page } of [moved, still]) {
    await page.waitForFunction(() => window.p.stats.state === 'ended', null, { timeout: 30000 });
    await stopRecording(page, { afterS: 0.1 });
    const rec = await collectRecording(page, 'p');
    const start = (await page.evaluate(() => window.__events))[0];
    recs.push({ rec, start, offset: rec.stats.startClock - rec.first });
  }
  const [m, u] = recs;
  // Stream position p is at index offset + (p - start_sample) of each recording.
  const from = Math.max(m.start.start_sample, u.start.start_sample);
  const n = Math.min(m.rec.left.length - m.offset - (from - m.start.start_sample), u.rec.left.length - u.offset - (from - u.start.start_sample));
  let maxErr = 0, peak = 0;
  for (let i = 0; i < n; i++) {
    const mi = m.offset + from - m.start.start_sample + i, ui = u.offset + from - u.start.start_sample + i;
    maxErr = Math.max(maxErr, Math.abs(m.rec.left[mi] - u.rec.left[ui]), Math.abs(m.rec.right[mi] - u.rec.right[ui]));
    peak = Math.max(peak, Math.abs(u.rec.left[ui]));
  }
  const st = m.rec.stats;
  const db = 20 * Math.log10(maxErr / peak);
  console.log(`E2E cluster Opus (${ENGINE}): the moved player against the one that stayed, ${n} frames: max |difference| ${maxErr.toExponential(2)} (${db.toFixed(1)} dB under the peak); moved: underruns ${st.underruns}, late ${st.lateFrames}, gaps ${st.gapFrames}; stayed: underruns ${u.rec.stats.underruns}`);
  assert.ok(n > (SECONDS - 2) * 48000, `${n} frames compared`);
  assert.equal(st.gapFrames, 0, 'no gap');
  for (const r of recs) {
    assert.ok(r.rec.stats.underruns === 0 || r.rec.stats.renderCatchUpMs > 300,
      `${r.rec.stats.underruns} underruns with the audio thread at most ${r.rec.stats.renderCatchUpMs} ms behind real time`);
  }
  // The restarted decoder had two frames (400 ms) of audio already played to converge on.
  assert.ok(db < -90, `the move is inaudible: ${db} dB`);
  for (const { page, errors } of [moved, still]) {
    assert.deepEqual(await page.evaluate(() => window.__errors), []);
    assert.deepEqual(errors, []);
    await page.close();
  }
});
