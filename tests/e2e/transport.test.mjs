// End to end, real time, against the real relay: the transport never clicks, never stalls.
// Sine tracks make clicks measurable: a click is a first difference of the rendered output
// above 1.5x the largest the sources have (see support/audio.mjs `clicks`); a negative test shows the
// detector flags a hard cut made by the same player with fades switched off.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay, referenceDecode, makeToneLibrary, startProxy, trackByFile } from '../support/processes.mjs';
import { launchBrowser, attachRecorder, stopRecording, collectRecording, pageWithPlayer as pageWithPlayerOn } from '../support/browsers.mjs';
import { clicks, maxStep } from '../support/audio.mjs';

const TONES = {
  'a440.wav': { seconds: 14, hz: 440 },
  'b660.wav': { seconds: 4, hz: 660 },
  'c550.wav': { seconds: 4, hz: 550 },
};
let media, relay, browser, tracks;
// Recordings are ended by the test once they hold what it checks (stopRecording); this is only
// their cap, room for a slow machine.
const CAP_S = 30;

before(async () => {
  media = makeToneLibrary(TONES);
  // The pages come from this relay while some players connect through a proxy or to another
  // relay (other origins): every origin is allowed.
  relay = await startRelay({ media, args: ['--allow-origin', '*'] });
  browser = await launchBrowser();
  tracks = await (await fetch(relay.url + '/api/tracks')).json();
});
after(async () => { await browser?.close(); relay?.stop(); });

const pageWithPlayer = (opts = {}, name = 'p') => pageWithPlayerOn(browser, relay.url, {
  opts, name, record: { __states: 'statechange.state', __seeked: 'seeked' },
});

const id = (file) => trackByFile(tracks, file).id;
const stats = (page, name = 'p') => page.evaluate((n) => window[n].stats, name);
const call = (page, js, arg) => page.evaluate(js, arg);
async function waitPlaying(page, name = 'p') {
  await page.waitForFunction((n) => window[n].stats && window[n].stats.state === 'playing' && window[n].stats.bufferedMs > 300, name);
}
/** Waits until the player's stats satisfy `pred(stats, arg)` and returns those stats. */
async function waitStats(page, pred, arg = null, name = 'p') {
  // (An expression, evaluated at each poll: the predicate's source with its argument inlined.)
  const h = await page.waitForFunction(`(() => { const s = window[${JSON.stringify(name)}].stats; return s && (${pred})(s, ${JSON.stringify(arg)}) ? s : null; })()`);
  return h.jsonValue();
}
/** Waits until the output has rendered `seconds` more (of the audio clock, not the page's): the
 * player plays on, or stays paused, for that long in what the recorder hears. */
async function renderFor(page, seconds, name = 'p') {
  const until = await page.evaluate(({ n, seconds }) => window[n].context.currentTime + seconds, { n: name, seconds });
  await page.waitForFunction(({ n, until }) => window[n].context.currentTime >= until, { n: name, until });
}
/** Waits for the player's `seeked` event number `count`: the Worker has handled the seek (moved
 * in the buffer, or asked the server). */
async function waitSeeked(page, count) {
  await page.waitForFunction((c) => window.__seeked.length >= c, count);
}

// The sources' largest step: a sine of amplitude a at f Hz moves at most 2*pi*f/48000*a per frame.
const maxSourceStep = (hz) => (2 * Math.PI * hz / 48000) * 0.5012; // -6 dB

test('pause, resume, seeks inside and outside the buffer and stop: no click, no underrun', async () => {
  const { page, errors } = await pageWithPlayer();
  await attachRecorder(page, CAP_S, 'p');
  await call(page, (t) => window.p.play(t, { codec: 'pcm_f32' }), id('a440.wav'));
  await waitPlaying(page);
  await renderFor(page, 0.7);
  await call(page, () => window.p.pause());
  await waitStats(page, (s) => s.state === 'paused');
  await renderFor(page, 0.5); // half a second of the pause in the recording
  assert.equal((await stats(page)).state, 'paused');
  await call(page, () => window.p.resume());
  await waitStats(page, (s) => s.state === 'playing');
  await renderFor(page, 0.6);
  const before1 = await stats(page);
  await call(page, (s) => window.p.seek(s), before1.positionS + 2.0); // ahead, buffered
  await waitSeeked(page, 1);
  await renderFor(page, 0.5);
  const before2 = await stats(page);
  // Back into what was played and is still kept (the ring holds about 1 s behind the 5 s
  // the server sends ahead).
  await call(page, (s) => window.p.seek(s), before2.positionS - 0.5);
  await waitSeeked(page, 2);
  await renderFor(page, 0.5);
  const before3 = await stats(page);
  assert.equal(before3.session, before1.session, 'both seeks were served from the buffer');
  await call(page, () => window.p.seek(12.5)); // beyond the buffer: the network
  // (The session changes when the new stream's audio starts.)
  const after3 = await waitStats(page, (s, b) => s.session > b, before3.session).catch(() => stats(page));
  assert.ok(after3.session > before3.session, 'a new stream for the far seek');
  await call(page, () => window.p.seek(0.75)); // far back, long overwritten: the network again
  // Its audio started and has played 0.1 s.
  const after4 = await waitStats(page, (s, b) => s.session > b && s.streamFramesRendered >= 4800, after3.session).catch(() => stats(page));
  assert.ok(after4.session > after3.session, 'a new stream for the far seek back');
  assert.ok(after4.positionS > 0.75 && after4.positionS < 2, `playing from the target: ${after4.positionS}`);
  await call(page, () => window.p.stop());
  await waitStats(page, (s) => s.state === 'idle');
  await stopRecording(page, { afterS: 0.2 }); // the fade-out and 0.2 s of silence after it
  const rec = await collectRecording(page);
  const s = await stats(page);
  const states = await page.evaluate(() => window.__states);
  const limit = maxSourceStep(440);
  const found = clicks(rec.left, limit).concat(clicks(rec.right, limit));
  console.log(`E2E transport: largest step ${maxStep(rec.left).toFixed(4)} (sources ${limit.toFixed(4)}), crossfades ${s.crossfades}, fades ${s.fades}, underruns ${s.underruns}, states ${states.join(' > ')}, ${(rec.left.length / 48000).toFixed(2)} s recorded`);
  assert.deepEqual(found, [], 'no click');
  assert.ok(s.crossfades >= 4, `crossfades: ${s.crossfades}`);
  assert.ok(s.fades >= 3, `fades: ${s.fades}`);
  assert.equal(s.underruns, 0);
  assert.ok(states.includes('paused') && states.includes('playing') && states.at(-1) === 'idle');
  const silentTail = rec.left.slice(-4800).every((x) => x === 0);
  assert.ok(silentTail, 'silent after stop');
  assert.deepEqual(errors, []);

  // Negative test: the same player with fades switched off cuts hard, and the detector says so.
  const cut = await pageWithPlayer({ fadeMs: 0, crossfadeMs: 0 }, 'q');
  await attachRecorder(cut.page, CAP_S, 'q');
  await call(cut.page, (t) => window.q.play(t, { codec: 'pcm_f32' }), id('a440.wav'));
  await waitPlaying(cut.page, 'q');
  await renderFor(cut.page, 0.4, 'q');
  const sq = await stats(cut.page, 'q');
  await call(cut.page, (pos) => window.q.seek(pos), sq.positionS + 1.0013);
  await waitSeeked(cut.page, 1);
  await renderFor(cut.page, 0.3, 'q');
  await call(cut.page, () => window.q.stop());
  await waitStats(cut.page, (s) => s.state === 'idle', null, 'q');
  await stopRecording(cut.page, { afterS: 0.1 }); // the seek's cut and the stop are in it
  const recCut = await collectRecording(cut.page);
  const cutClicks = clicks(recCut.left, limit);
  console.log(`E2E negative: with fades off the detector finds ${cutClicks.length} click(s), largest step ${maxStep(recCut.left).toFixed(4)}`);
  assert.ok(cutClicks.length >= 1, 'a hard cut is detected');
  await cut.page.close();
  await page.close();
});

test('gapless track change is sample-exact; a crossfaded one is click-free', async () => {
  const refA = referenceDecode(relay.url, id('a440.wav'));
  const refC = referenceDecode(relay.url, id('c550.wav'));
  const { page, errors } = await pageWithPlayer();
  await attachRecorder(page, CAP_S, 'p');
  await call(page, (t) => window.p.play(t, { codec: 'pcm_f32' }), id('c550.wav'));
  await waitPlaying(page);
  await call(page, (t) => window.p.queue(t, { crossfadeS: 0 }), id('a440.wav'));
  // Recorded until 1.1 s past the change (the check below reads 1 s of the next track).
  const change = await waitStats(page, (s) => s.transitions >= 1);
  await stopRecording(page, { at: change.transitionClock, afterS: 1.1 });
  const rec = await collectRecording(page);
  const s = await stats(page);
  assert.equal(s.transitions, 1);
  const at = s.transitionClock - rec.first;
  assert.ok(at > 1000 && at < rec.left.length - 48000, `transition inside the recording (${at})`);
  const n = refC.left.length;
  let maxErr = 0;
  for (let k = 1; k <= 4800; k++) maxErr = Math.max(maxErr, Math.abs(rec.left[at - k] - refC.left[n - k]));
  for (let k = 0; k < 48000; k++) maxErr = Math.max(maxErr, Math.abs(rec.left[at + k] - refA.left[k]), Math.abs(rec.right[at + k] - refA.right[k]));
  console.log(`E2E gapless: the next track starts on frame ${at} of the recording; around it max |error| ${maxErr}`);
  assert.equal(maxErr, 0, 'the last frames of one track and the first of the next, exactly, with no gap');
  assert.equal(s.underruns, 0);

  await attachRecorder(page, CAP_S, 'p');
  // queue() at once after play(), before the new stream started (the old one still plays): it
  // is paced after the new one.
  await call(page, async ([b, c]) => {
    await window.p.play(b, { codec: 'pcm_f32' });
    window.p.queue(c, { crossfadeS: 1.5 });
  }, [id('b660.wav'), id('c550.wav')]);
  // The 1.5 s crossfade and 1 s of the next track alone (which ends 4 s after the change).
  const change2 = await waitStats(page, (s) => s.transitions >= 2);
  await stopRecording(page, { at: change2.transitionClock, afterS: 2.5 });
  const rec2 = await collectRecording(page);
  const s2 = await stats(page);
  assert.equal(s2.transitions, 2);
  const limit = maxSourceStep(660);
  const found = clicks(rec2.left, limit);
  console.log(`E2E crossfade: largest step ${maxStep(rec2.left).toFixed(4)} (sources ${limit.toFixed(4)}), crossfades ${s2.crossfades}`);
  if (found.length) console.log(`E2E crossfade clicks at ${found.slice(0, 5)}: ${Array.from(rec2.left.slice(Math.max(0, found[0] - 4), found[0] + 4)).map((x) => x.toFixed(3))}; start clock ${s2.startClock - rec2.first}`);
  assert.deepEqual(found, []);
  assert.equal(s2.underruns, 0);
  // Queued streams are paced from when they start playing: nothing overflowed the buffer.
  console.log(`E2E crossfade stats: dropped ${s2.droppedFrames}, gap ${s2.gapFrames}, late ${s2.lateFrames}, session ${s2.session}, buffered ${s2.bufferedMs}; part 1: dropped ${s.droppedFrames} gap ${s.gapFrames}`);
  assert.equal(s2.droppedFrames, 0);
  assert.equal(s2.gapFrames, 0);

  // next(): skip to the queued track at once, crossfading, no click.
  await attachRecorder(page, CAP_S, 'p');
  await call(page, (t) => window.p.play(t, { codec: 'pcm_f32' }), id('a440.wav'));
  await waitPlaying(page);
  await call(page, (t) => window.p.queue(t, { crossfadeS: 0 }), id('b660.wav'));
  await renderFor(page, 0.3);
  const before = await stats(page);
  await call(page, () => window.p.next());
  // (The session changes when the new stream's audio starts.)
  const s3 = await waitStats(page, (s, b) => s.session > b && s.startClock >= 0, before.session).catch(() => stats(page));
  assert.ok(s3.session > before.session && s3.positionS < 1.5, `next() switched to the queued track: ${JSON.stringify({ before: before.session, after: s3.session, pos: s3.positionS })}`);
  await stopRecording(page, { at: s3.startClock, afterS: 0.5 }); // the crossfade and 0.5 s of the next track
  const rec3 = await collectRecording(page);
  assert.deepEqual(clicks(rec3.left, maxSourceStep(660)), []);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a 3 s network stall with a full buffer causes no underrun and no error', async (t) => {
  const proxy = await startProxy(relay.url);
  t.after(() => proxy.close()); // also when an assertion fails: an open proxy would hold the runner
  const { page, errors } = await pageWithPlayer({ server: proxy.url });
  t.after(() => page.close());
  const ref = referenceDecode(relay.url, id('a440.wav'));
  await attachRecorder(page, CAP_S, 'p');
  await page.evaluate(() => {
    // The buffer as the page saw it, printed if the test fails.
    const t0 = performance.now();
    window.__trace = [];
    window.__traceTimer = setInterval(() => {
      const s = window.p.stats;
      if (s) window.__trace.push(`${Math.round(performance.now() - t0)}:${s.state[0]}${Math.round(s.bufferedMs)}/${s.underruns}`);
    }, 100);
  });
  await call(page, (t) => window.p.play(t, { codec: 'pcm_f32' }), id('a440.wav'));
  await page.waitForFunction(() => window.p.stats && window.p.stats.bufferedMs > 4500);
  await page.evaluate(() => window.__trace.push('stall'));
  await proxy.stall(3000);
  await page.evaluate(() => window.__trace.push('flowing'));
  // The stall and the 4.5 s after it; stats as the recording ends.
  await stopRecording(page, { afterS: 4.5 });
  const rec = await collectRecording(page, 'p');
  const s = rec.stats;
  const trace = await page.evaluate(() => { clearInterval(window.__traceTimer); return window.__trace.join(' '); });
  if (s.underruns) console.log(`E2E stall trace (ms since play: state buffered/underruns): ${trace}`);
  const off = s.startClock - rec.first;
  let maxErr = 0;
  for (let i = 0; i + off < rec.left.length; i++) maxErr = Math.max(maxErr, Math.abs(rec.left[off + i] - ref.left[i]));
  console.log(`E2E stall: 3 s stall, underruns ${s.underruns}, rendered vs source max |error| ${maxErr}`);
  assert.equal(s.underruns, 0);
  assert.equal(maxErr, 0);
  assert.deepEqual(errors, []);
});

test('the relay killed and restarted mid-play: reconnect and resume at the exact next sample', async (t) => {
  const own = await startRelay({ media, args: ['--allow-origin', '*'] });
  t.after(() => own.kill());
  const port = new URL(own.url).port;
  const { page, errors } = await pageWithPlayer({ server: own.url });
  const aId = (await (await fetch(own.url + '/api/tracks')).json()).find((t) => t.file_name === 'a440.wav').id;
  const ref = referenceDecode(own.url, aId);
  await page.evaluate(() => {
    window.__reconnects = 0;
    window.__resumed = [];
    window.p.addEventListener('reconnecting', () => window.__reconnects++);
    window.p.addEventListener('reconnected', (e) => window.__resumed.push(e.detail.start_sample));
  });
  await attachRecorder(page, CAP_S, 'p');
  await call(page, (t) => window.p.play(t, { codec: 'pcm_f32' }), aId);
  // A full buffer (the relay keeps 5 s in flight ahead of the acknowledged position; between
  // acks the buffer reads 4.75-5 s, never more than 5) to play through the outage.
  await page.waitForFunction(() => window.p.stats && window.p.stats.bufferedMs > 4500);
  own.kill();
  await own.exited;
  // The player has seen the connection go and tries again (with back-off) while it is down.
  await page.waitForFunction(() => window.__reconnects >= 1);
  const again = await startRelay({ media, listen: `127.0.0.1:${port}`, args: ['--allow-origin', '*'] });
  t.after(() => again.stop());
  // Recorded until 2 s of the resumed stream's audio have played.
  await page.waitForFunction(() => window.__resumed.length >= 1 && window.p.stats.playPos >= window.__resumed[0] + 2 * 48000)
    .catch(() => {}); // (the assertions below say what is missing)
  await stopRecording(page);
  const rec = await collectRecording(page);
  const s = await stats(page);
  const reconnects = await page.evaluate(() => window.__reconnects);
  const resumed = await page.evaluate(() => window.__resumed);
  const off = s.startClock - rec.first;
  let maxErr = 0;
  for (let i = 0; i + off < rec.left.length; i++) maxErr = Math.max(maxErr, Math.abs(rec.left[off + i] - ref.left[i]), Math.abs(rec.right[off + i] - ref.right[i]));
  console.log(`E2E reconnect: ${reconnects} reconnect attempt(s), resumed at frame ${resumed[0]}, underruns ${s.underruns}, pre-roll/late ${s.prerollFrames}/${s.lateFrames}, rendered vs source max |error| ${maxErr} over ${rec.left.length - off} frames`);
  assert.ok(reconnects >= 1);
  assert.equal(resumed.length, 1, 'one resumed stream');
  assert.ok(resumed[0] > 48000, `resumed at frame ${resumed[0]}, where the buffer ended`);
  assert.equal(s.underruns, 0);
  assert.equal(s.gapFrames, 0);
  assert.equal(maxErr, 0, 'no repeated and no skipped sample across the reconnect');
  assert.deepEqual(errors, []);
  await page.close();
});
