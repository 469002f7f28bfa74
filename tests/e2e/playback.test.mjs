// End to end, real time: the demo page served by the real relay, in Debian's headless
// Chromium, plays a track; what the worklet rendered is compared sample by sample with the
// server's own decode of that track.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startRelay, referenceDecode, trackByFile, ARTIFACTS } from '../support/processes.mjs';
import { launchBrowser, attachRecorder, stopRecording, collectRecording, openDemo } from '../support/browsers.mjs';

// Recorded from before the play until 8 s after playback started (at most 30 s in all).
const RECORD_SECONDS = 8;
const CAP_S = 30;
let relay, browser;

before(async () => {
  relay = await startRelay();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  relay?.stop();
});

test('demo page plays pcm_f32 bit-exact with the server decode, no underrun', async () => {
  const { page, errors } = await openDemo(browser, relay.url);
  const tracks = await page.evaluate(() => fetch('/api/tracks').then((r) => r.json()));
  const track = trackByFile(tracks, 'aurora-48k.flac');
  await attachRecorder(page, CAP_S);

  // Press play in the UI, as a user would.
  await page.selectOption('#codec', 'pcm_f32');
  await page.click(`stream-player li[data-id="${track.id}"]`);
  const started = await (await page.waitForFunction(() => (window.streamPlayer.stats?.startClock >= 0 ? window.streamPlayer.stats : null))).jsonValue();
  await stopRecording(page, { at: started.startClock, afterS: RECORD_SECONDS });
  const rec = await collectRecording(page);
  await page.waitForFunction(() => window.streamPlayer.stats && window.streamPlayer.stats.positionS > 0);
  await page.screenshot({ path: join(ARTIFACTS, 'demo-playing.png') });
  const stats = await page.evaluate(() => window.streamPlayer.stats);
  const uiState = await page.evaluate(() => window.streamElement.state);
  const uiLabel = await page.textContent('stream-player .status-text');

  const ref = referenceDecode(relay.url, track.id);
  assert.ok(stats.startClock >= rec.first, 'playback started after the recorder');
  const offset = stats.startClock - rec.first;
  const n = rec.left.length - offset;
  assert.ok(n > (RECORD_SECONDS - 2) * 48000, `compared ${n} frames: start took too long (${offset} frames)`);
  for (let i = 0; i < offset; i++) assert.equal(rec.left[i], 0, 'silence before the start');
  let maxErr = 0;
  for (let i = 0; i < n; i++) {
    maxErr = Math.max(maxErr, Math.abs(rec.left[offset + i] - ref.left[i]), Math.abs(rec.right[offset + i] - ref.right[i]));
  }
  console.log(`E2E rendered vs server decode: ${n} frames compared, max |error| ${maxErr.toExponential(2)}`);
  console.log(`E2E time to first audio: ${stats.timeToFirstAudioMs.toFixed(1)} ms (play -> first non-silent rendered sample)`);
  assert.ok(maxErr < 1e-6, `max error ${maxErr}`);
  assert.equal(stats.underruns, 0, 'no underrun after start');
  assert.equal(stats.droppedFrames, 0);
  assert.equal(stats.gapFrames, 0);
  assert.equal(stats.badFrames, 0);
  assert.equal(uiState, 'playing');
  assert.equal(uiLabel, 'Playing');
  assert.ok(stats.bufferedMs > 500, `buffer kept filled: ${stats.bufferedMs} ms`);
  assert.deepEqual(errors, []);
  await page.close();
});
