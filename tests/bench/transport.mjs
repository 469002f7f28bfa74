// Transport figures in headless Chromium on 127.0.0.1:
//  - track_change_gap_frames: frames between the last sample of a track and the first of a
//    gapless-queued next one, measured in the rendered output (0 is sample-exact);
//  - underruns_5min: underruns during a 5-minute play (Opus, the default codec), and the
//    time spent in them.
// Prints BENCH lines; a lost measurement (a timeout, a sample never found, a play that stopped) is
// named in a `# LOST TRIALS:` line, prints no figure and fails the run.
import { startRelay, referenceDecode, makeToneLibrary } from '../support/processes.mjs';
import { launchChromium, attachRecorder, collectRecording } from '../support/browsers.mjs';

const PLAY_S = Number(process.env.BENCH_PLAY_S || 300);
const media = makeToneLibrary({ 'c550.wav': { seconds: 3, hz: 550 }, 'a440.wav': { seconds: 4, hz: 440 }, 'long.wav': { seconds: PLAY_S + 10, hz: 330 } });
const lost = [];
const loseTrial = (name, why) => { lost.push(`${name} (${why})`); console.log(`# lost trial ${name}: ${why}`); };
const relay = await startRelay({ media });
const browser = await launchChromium();
try {
  const tracks = await (await fetch(relay.url + '/api/tracks')).json();
  const id = (f) => tracks.find((t) => t.file_name === f).id;
  const page = await browser.newPage();
  await page.goto(relay.url + '/?preset=off');
  await page.waitForSelector('stream-player li[role=option]');
  await page.evaluate(() => window.streamPlayer.init());

  // Gapless: where does the next track's first sample land after the last of the previous?
  try {
    const refC = referenceDecode(relay.url, id('c550.wav'));
    const refA = referenceDecode(relay.url, id('a440.wav'));
    await attachRecorder(page, 5);
    await page.evaluate((c) => window.streamPlayer.play(c, { codec: 'pcm_f32' }), id('c550.wav'));
    await page.waitForFunction(() => window.streamPlayer.stats && window.streamPlayer.stats.state === 'playing', null, { timeout: 15000 });
    await page.evaluate((a) => window.streamPlayer.queue(a, { crossfadeS: 0 }), id('a440.wav'));
    const rec = await Promise.race([collectRecording(page),
      new Promise((_, fail) => setTimeout(() => fail(new Error('no recording within 30 s')), 30000))]);
    const st = await page.evaluate(() => window.streamPlayer.stats);
    const find = (x, ref, from) => {
      for (let i = from; i + 64 < x.length; i++) {
        let ok = true;
        for (let k = 0; k < 64 && ok; k++) ok = x[i + k] === ref[k];
        if (ok) return i;
      }
      return -1;
    };
    const startC = find(rec.left, refC.left, 0);
    const startA = startC < 0 ? -1 : find(rec.left, refA.left, startC + 1);
    if (startC < 0 || startA < 0) throw new Error(`the ${startC < 0 ? 'first' : 'second'} track's first samples are not in the recording`);
    const gap = startA - (startC + refC.left.length);
    console.log(`gapless change: previous track starts at ${startC}, ends at ${startC + refC.left.length}, next starts at ${startA} (engine transitions ${st.transitions})`);
    console.log(`BENCH track_change_gap_frames ${gap} frames`);
  } catch (e) {
    loseTrial('track_change_gap', e.message.split('\n')[0]);
  }

  // A long play.
  try {
    await page.evaluate((t) => window.streamPlayer.play(t), id('long.wav'));
    await page.waitForFunction(() => window.streamPlayer.stats && window.streamPlayer.stats.state === 'playing', null, { timeout: 15000 });
    const t0 = Date.now();
    await new Promise((ok) => setTimeout(ok, PLAY_S * 1000));
    const s = await page.evaluate(() => window.streamPlayer.stats);
    const elapsed = (Date.now() - t0) / 1000;
    console.log(`${elapsed.toFixed(0)} s of ${s.codec}: state ${s.state}, position ${s.positionS.toFixed(1)} s, underruns ${s.underruns} (${s.underrunMs.toFixed(0)} ms), buffer ${s.bufferedMs.toFixed(0)} ms, dropped ${s.droppedFrames}`);
    // The track lasts PLAY_S + 10 s: the player must still be on it, having played all the time
    // it did not spend in underruns (1 s of slack for the start and the stats interval).
    const played = s.positionS + s.underrunMs / 1000;
    if (!['playing', 'buffering'].includes(s.state) || !(played >= elapsed - 1)) {
      throw new Error(`the play stopped: state ${s.state}, position ${s.positionS.toFixed(1)} s + ${(s.underrunMs / 1000).toFixed(1)} s of underruns after ${elapsed.toFixed(0)} s`);
    }
    console.log(`BENCH underruns_5min ${s.underruns} count`);
    console.log(`BENCH underrun_ms_5min ${s.underrunMs.toFixed(0)} ms`);
  } catch (e) {
    loseTrial('underruns_5min', e.message.split('\n')[0]);
  }
} finally {
  await browser.close();
  relay.stop();
}
if (lost.length) {
  console.log(`# LOST TRIALS: ${lost.join('; ')}`);
  process.exitCode = 1;
}
