// A page whose main thread is busy 90 % of the time for 10 s (450 ms of work, 50 ms free, as a
// heavy web app or a slow phone would): the player must not notice. The socket lives in a
// Worker and the buffer in the AudioWorklet, so the audio never waits for the main thread. In
// every engine: 0 underruns, and what was rendered is sample-exact with the server's decode.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay, referenceDecode, trackByFile } from '../support/processes.mjs';
import { launchBrowser, attachRecorder, stopRecording, collectRecording, ENGINE } from '../support/browsers.mjs';

const BUSY_S = 10;
let relay, browser;

before(async () => {
  relay = await startRelay();
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); relay?.stop(); });

test('a main thread busy 90 % of the time for 10 s: no underrun, the output stays sample-exact', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(relay.url + '/?preset=off');
  const tracks = await page.evaluate(() => fetch('/api/tracks').then((r) => r.json()));
  // 24 s long: the 10 s of load and the start fit with room.
  const track = trackByFile(tracks, 'aurora-48k.flac');
  await page.evaluate(async () => {
    const { StreamPlayer } = await import('/player.js');
    window.p = new StreamPlayer();
    await window.p.init();
  });
  await attachRecorder(page, 40, 'p');
  await page.evaluate((id) => window.p.play(id, { codec: 'pcm_f32' }), track.id);
  await page.waitForFunction(() => window.p.stats && window.p.stats.state === 'playing' && window.p.stats.bufferedMs > 1000);

  // The load: 450 ms of work then 50 ms free, from the page's own timers, for BUSY_S.
  await page.evaluate((seconds) => {
    // The load's span on the audio clock too: where the browser starves its own audio thread
    // (WebKitGTK on one core), its clock runs slower than the page's and renders less.
    window.__busy = { done: false, busyMs: 0, clock0: window.p.context.currentTime, wall0: performance.now() };
    const end = performance.now() + seconds * 1000;
    const chunk = () => {
      const t0 = performance.now();
      let x = 0;
      while (performance.now() - t0 < 450) x += Math.sqrt(x + 1);
      window.__busy.busyMs += performance.now() - t0;
      window.__sink = x;
      if (performance.now() < end) setTimeout(chunk, 50);
      else Object.assign(window.__busy, { done: true, clock1: window.p.context.currentTime, wall1: performance.now() });
    };
    setTimeout(chunk, 0);
  }, BUSY_S);
  await page.waitForFunction(() => window.__busy.done, null, { timeout: (BUSY_S + 60) * 1000 });
  const { busyMs: busy, clock0, clock1, wall0, wall1 } = await page.evaluate(() => window.__busy);
  const sr = await page.evaluate(() => window.p.context.sampleRate);
  const clockRate = (clock1 - clock0) / ((wall1 - wall0) / 1000); // audio seconds per page second
  await stopRecording(page, { afterS: 0.5 });
  const rec = await collectRecording(page, 'p');
  const stats = rec.stats;

  const ref = referenceDecode(relay.url, track.id);
  const offset = stats.startClock - rec.first;
  const n = rec.left.length - offset;
  // The recording holds the playback through the whole load, on the audio clock.
  assert.ok(stats.startClock <= clock0 * sr && rec.first + rec.left.length >= clock1 * sr,
    `recorded frames ${rec.first}..${rec.first + rec.left.length} of playback from ${stats.startClock}; the load lasted from ${Math.round(clock0 * sr)} to ${Math.round(clock1 * sr)}`);
  let maxErr = 0;
  for (let i = 0; i < n; i++) {
    maxErr = Math.max(maxErr, Math.abs(rec.left[offset + i] - ref.left[i]), Math.abs(rec.right[offset + i] - ref.right[i]));
  }
  console.log(`E2E main thread busy (${ENGINE}): ${(busy / 1000).toFixed(1)} s of ${BUSY_S} s busy; ${n} frames compared, max |error| ${maxErr.toExponential(2)}, underruns ${stats.underruns}, buffer ${stats.bufferedMs.toFixed(0)} ms at the end; the audio clock ran ${clockRate.toFixed(3)} s per second of the page's`);
  assert.ok(busy > BUSY_S * 1000 * 0.85, `the main thread was busy ${busy} ms`);
  assert.equal(stats.underruns, 0, 'no underrun');
  assert.equal(stats.droppedFrames, 0);
  assert.equal(stats.gapFrames, 0);
  assert.ok(maxErr < 1e-6, `sample-exact: max error ${maxErr}`);
  assert.deepEqual(errors, []);
  await page.close();
});
