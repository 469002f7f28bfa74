// Transport figures in headless Chromium on 127.0.0.1:
//  - track_change_gap_frames: frames between the last sample of a track and the first of a
//    gapless-queued next one, measured in the rendered output (0 is sample-exact);
//  - underruns_5min: underruns during a 5-minute play (Opus, the default codec), and the
//    time spent in them.
// Prints BENCH lines.
import { startRelay, launchChromium, referenceDecode, attachRecorder, collectRecording, makeToneLibrary } from '../e2e/lib.mjs';

const PLAY_S = Number(process.env.BENCH_PLAY_S || 300);
const media = makeToneLibrary({ 'c550.wav': { seconds: 3, hz: 550 }, 'a440.wav': { seconds: 4, hz: 440 }, 'long.wav': { seconds: PLAY_S + 10, hz: 330 } });
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
  const refC = referenceDecode(relay.url, id('c550.wav'));
  const refA = referenceDecode(relay.url, id('a440.wav'));
  await attachRecorder(page, 5);
  await page.evaluate((c) => window.streamPlayer.play(c, { codec: 'pcm_f32' }), id('c550.wav'));
  await page.waitForFunction(() => window.streamPlayer.stats && window.streamPlayer.stats.state === 'playing');
  await page.evaluate((a) => window.streamPlayer.queue(a, { crossfadeS: 0 }), id('a440.wav'));
  const rec = await collectRecording(page);
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
  const startA = find(rec.left, refA.left, startC + 1);
  const gap = startA - (startC + refC.left.length);
  console.log(`gapless change: previous track starts at ${startC}, ends at ${startC + refC.left.length}, next starts at ${startA} (engine transitions ${st.transitions})`);
  console.log(`BENCH track_change_gap_frames ${gap} frames`);

  // A long play.
  await page.evaluate((t) => window.streamPlayer.play(t), id('long.wav'));
  await page.waitForFunction(() => window.streamPlayer.stats && window.streamPlayer.stats.state === 'playing');
  const t0 = Date.now();
  await new Promise((ok) => setTimeout(ok, PLAY_S * 1000));
  const s = await page.evaluate(() => window.streamPlayer.stats);
  console.log(`${((Date.now() - t0) / 1000).toFixed(0)} s of ${s.codec}: position ${s.positionS.toFixed(1)} s, underruns ${s.underruns} (${s.underrunMs.toFixed(0)} ms), buffer ${s.bufferedMs.toFixed(0)} ms, dropped ${s.droppedFrames}`);
  console.log(`BENCH underruns_5min ${s.underruns} count`);
  console.log(`BENCH underrun_ms_5min ${s.underrunMs.toFixed(0)} ms`);
} finally {
  await browser.close();
  relay.stop();
}
