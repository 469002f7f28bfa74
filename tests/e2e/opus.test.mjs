// End to end, real time, Opus: the demo page plays a track with codec opus (our wasm Opus decoder decodes in
// the Worker); the rendered audio is compared with the server's PCM decode of the source.
//
// Measures (Opus is lossy, so not sample equality):
//  - alignment: the cross-correlation peak between rendered and source is at lag 0: positions
//    are exact to the sample (pre-skip and pre-roll accounted);
//  - level: RMS within 0.5 dB;
//  - spectrum: mean absolute difference of 1/3-octave band levels (50 Hz - 16 kHz) under 0.5 dB,
//    no band off by more than 1.5 dB;
//  - envelope: correlation of 10 ms RMS envelopes above 0.995;
//  - no underrun, no gap, no dropped frame.
// Then a seek: the new stream's first rendered frame is the requested sample exactly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay, referenceDecode, trackByFile } from '../support/processes.mjs';
import { launchBrowser, attachRecorder, stopRecording, collectRecording, openDemo } from '../support/browsers.mjs';
import { thirdOctaveBands, rmsDb, bestLag, envelopeCorrelation } from '../support/audio.mjs';

let relay, browser;
// Recordings end a set time after their stream's first rendered frame; this caps them, room
// for a slow start.
const CAP_S = 30;

/** Waits for the first stats of a session after `session` that has rendered its first frame. */
async function started(page, session) {
  const h = await page.waitForFunction((prev) => {
    const s = window.streamPlayer.stats;
    return s && s.session > prev && s.startClock >= 0 ? s : null;
  }, session);
  return h.jsonValue();
}
before(async () => { relay = await startRelay(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); relay?.stop(); });

function compare(label, rendered, ref) {
  const lag = bestLag(ref, rendered, 480);
  const level = rmsDb(rendered) - rmsDb(ref);
  const a = thirdOctaveBands(rendered), b = thirdOctaveBands(ref);
  const diffs = a.db.map((v, i) => Math.abs(v - b.db[i]));
  const lsd = diffs.reduce((s, v) => s + v, 0) / diffs.length;
  const worst = Math.max(...diffs);
  const env = envelopeCorrelation(rendered, ref);
  console.log(`E2E ${label}: lag ${lag}, level ${level.toFixed(2)} dB, band LSD ${lsd.toFixed(2)} dB (worst ${worst.toFixed(2)} dB), envelope r ${env.toFixed(4)}`);
  assert.equal(lag, 0, `${label}: rendered audio is ${lag} samples off the source`);
  assert.ok(Math.abs(level) < 0.5, `${label}: level differs by ${level} dB`);
  assert.ok(lsd < 0.5, `${label}: band LSD ${lsd} dB`);
  assert.ok(worst < 1.5, `${label}: a band is off by ${worst} dB`);
  assert.ok(env > 0.995, `${label}: envelope correlation ${env}`);
}

test('opus plays matching the source in level and spectrum; a seek lands on the exact sample', async () => {
  const { page, errors } = await openDemo(browser, relay.url);
  const tracks = await page.evaluate(() => fetch('/api/tracks').then((r) => r.json()));
  const track = trackByFile(tracks, 'aurora-48k.flac');
  const ref = referenceDecode(relay.url, track.id);

  await attachRecorder(page, CAP_S);
  await page.evaluate((id) => window.streamPlayer.play(id, { codec: 'opus' }), track.id);
  await stopRecording(page, { at: (await started(page, 0)).startClock, afterS: 8 });
  const rec = await collectRecording(page);
  const stats = await page.evaluate(() => window.streamPlayer.stats);
  assert.equal(stats.codec, 'opus');
  const offset = stats.startClock - rec.first;
  assert.ok(offset >= 0);
  const n = rec.left.length - offset;
  assert.ok(n > 6 * 48000, `only ${n} frames rendered`);
  compare('opus L', rec.left.subarray(offset), ref.left.subarray(0, n));
  compare('opus R', rec.right.subarray(offset), ref.right.subarray(0, n));
  console.log(`E2E opus time to first audio: ${stats.timeToFirstAudioMs.toFixed(1)} ms`);
  assert.equal(stats.underruns, 0);
  assert.equal(stats.gapFrames, 0);
  assert.equal(stats.droppedFrames, 0);
  assert.equal(stats.lateFrames, 0);

  // Seek to a position that is not on a packet boundary.
  // Behind what the buffer still holds (it keeps about 1 s of played audio, and playback is past
  // 8 s by now): a network seek, however long the analysis above took.
  const target = 2.3721;
  const targetSample = Math.round(target * 48000);
  await attachRecorder(page, CAP_S);
  const session = stats.session;
  await page.evaluate((t) => window.streamPlayer.seek(t), target);
  // 3.5 s of the new stream (if none comes, the assertions below say so).
  const seeked = await started(page, session).catch(() => null);
  await stopRecording(page, seeked ? { at: seeked.startClock, afterS: 3.5 } : {});
  const rec2 = await collectRecording(page);
  const s2 = await page.evaluate(() => window.streamPlayer.stats);
  const info = await page.evaluate(() => window.streamPlayer.streamInfo);
  assert.ok(s2.session > session, 'a new session');
  assert.equal(info.start_sample, targetSample, 'the stream starts at the requested sample');
  assert.ok(s2.prerollFrames > 0 && s2.prerollFrames < 6 * 960, `decoder pre-roll dropped: ${s2.prerollFrames}`);
  const off2 = s2.startClock - rec2.first;
  assert.ok(off2 >= 0);
  const m = rec2.left.length - off2;
  // Engine accounting: frames rendered in this session + the start == the play position.
  assert.equal(s2.playPos, targetSample + s2.streamFramesRendered);
  // Audio: skip the 10 ms fade-in, then the rendered audio lines up with the source at the target.
  const skip = 960;
  compare('seek L', rec2.left.subarray(off2 + skip, off2 + m), ref.left.subarray(targetSample + skip, targetSample + m));
  assert.equal(s2.underruns, 0);
  assert.deepEqual(errors, []);
  await page.close();
});
