// Time to first audio: 20 plays on 127.0.0.1 in headless Chromium, each in a freshly loaded page
// (the demo page prepares the engine at load, as any embedding should), measured from
// the play() call to the first non-silent rendered sample (audio clock mapped to
// performance.now() through getOutputTimestamp). Then 20 plays in the same warm page
// (ttfa_cached_ms_*). Prints BENCH lines.
import { startRelay, launchChromium, trackByFile } from '../e2e/lib.mjs';

const PLAYS = 20;
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };

const relay = await startRelay();
const browser = await launchChromium();
try {
  const tracks = await (await fetch(relay.url + '/api/tracks')).json();
  const track = trackByFile(tracks, 'aurora-48k.flac');
  const measure = async (page) => {
    const ms = await page.evaluate((id) => new Promise((ok, fail) => {
      const p = window.streamPlayer;
      p.addEventListener('firstaudio', (e) => ok(e.detail.timeToFirstAudioMs), { once: true });
      setTimeout(() => fail(new Error('no audio within 10 s')), 10000);
      p.play(id, { codec: 'pcm_f32' });
    }), track.id);
    await page.evaluate(() => window.streamPlayer.stop());
    return ms;
  };
  const cold = [];
  for (let i = 0; i < PLAYS; i++) {
    const page = await browser.newPage();
    await page.goto(relay.url + '/');
    await page.waitForSelector('#tracks tbody tr');
    cold.push(await measure(page));
    await page.close();
  }
  const warm = [];
  const page = await browser.newPage();
  await page.goto(relay.url + '/');
  await page.waitForSelector('#tracks tbody tr');
  await measure(page);
  for (let i = 0; i < PLAYS; i++) {
    await new Promise((r) => setTimeout(r, 200));
    warm.push(await measure(page));
  }
  console.log(`cold plays (ms): ${cold.map((x) => x.toFixed(0)).join(' ')}`);
  console.log(`warm plays (ms): ${warm.map((x) => x.toFixed(0)).join(' ')}`);
  console.log(`BENCH ttfa_ms_p50 ${pct(cold, 50).toFixed(1)} ms`);
  console.log(`BENCH ttfa_ms_p95 ${pct(cold, 95).toFixed(1)} ms`);
  console.log(`BENCH ttfa_cached_ms_p50 ${pct(warm, 50).toFixed(1)} ms`);
  console.log(`BENCH ttfa_cached_ms_p95 ${pct(warm, 95).toFixed(1)} ms`);
} finally {
  await browser.close();
  relay.stop();
}
