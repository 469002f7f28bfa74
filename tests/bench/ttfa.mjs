// Time to first audio in headless Chromium on 127.0.0.1, codec opus (the default), measured
// from the play() call to the first non-silent rendered sample (audio clock mapped to
// performance.now() through getOutputTimestamp), in a loaded page whose engine is ready.
//  - ttfa_ms_*: first plays of a track: a relay with its chunk cache off, so every play decodes
//    and encodes;
//  - ttfa_cached_ms_*: plays of a track whose chunks are cached;
//  - seek_ms_*: seeks during playback to positions outside the buffer of a cached track,
//    request to the first audible sample of the new position (seeks inside the buffer
//    crossfade within one render quantum and need no network);
//  - ttfa_fresh_page_ms_*: play pressed right after page load, engine start-up included.
// Prints BENCH lines.
import { startRelay, launchChromium, trackByFile } from '../e2e/lib.mjs';

const PLAYS = 20;
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };

async function firstAudio(page, action) {
  return page.evaluate(([what, arg]) => new Promise((ok, fail) => {
    const p = window.streamPlayer;
    p.addEventListener('firstaudio', (e) => ok(e.detail.timeToFirstAudioMs), { once: true });
    setTimeout(() => fail(new Error('no audio within 10 s')), 10000);
    if (what === 'play') p.play(arg, { codec: 'opus' }); else p.seek(arg);
  }), action);
}

async function freshPlays(browser, relay, trackId, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const page = await browser.newPage();
    await page.goto(relay.url + '/');
    await page.waitForSelector('stream-player li[role=option]');
    out.push(await firstAudio(page, ['play', trackId]));
    await page.close();
  }
  return out;
}

async function readyPage(browser, relay) {
  const page = await browser.newPage();
  await page.goto(relay.url + '/');
  await page.waitForSelector('stream-player li[role=option]');
  await page.evaluate(() => window.streamPlayer.init());
  return page;
}

async function repeatedPlays(page, trackId, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push(await firstAudio(page, ['play', trackId]));
    await page.evaluate(() => window.streamPlayer.stop());
    await new Promise((r) => setTimeout(r, 150));
  }
  return out;
}

const browser = await launchChromium();
try {
  const cold = await startRelay({ args: ['--cache-mb', '0'] });
  const tracks = await (await fetch(cold.url + '/api/tracks')).json();
  const track = trackByFile(tracks, 'aurora-48k.flac');
  let page = await readyPage(browser, cold);
  const first = await repeatedPlays(page, track.id, PLAYS);
  await page.close();
  const freshPage = await freshPlays(browser, cold, track.id, PLAYS);
  cold.stop();

  const warm = await startRelay();
  await (await fetch(`${warm.url}/api/tracks/${track.id}/stream.ogg`)).arrayBuffer(); // fills the cache
  page = await readyPage(browser, warm);
  const cached = await repeatedPlays(page, track.id, PLAYS);
  await firstAudio(page, ['play', track.id]);
  const seeks = [];
  for (let i = 0; i < PLAYS; i++) {
    await new Promise((r) => setTimeout(r, 150));
    // Alternate between the start and the end of the track, so every target is outside the
    // buffer (about 5 s ahead, 1 s behind) and needs the network.
    seeks.push(await firstAudio(page, ['seek', i % 2 ? 2 + (i % 5) * 0.41 : 18 + (i % 5) * 0.37]));
  }
  warm.stop();

  const f = (xs) => xs.map((x) => x.toFixed(0)).join(' ');
  console.log(`first plays, cache off (ms): ${f(first)}`);
  console.log(`cached plays (ms): ${f(cached)}`);
  console.log(`seeks into the cached track (ms): ${f(seeks)}`);
  console.log(`BENCH ttfa_ms_p50 ${pct(first, 50).toFixed(1)} ms`);
  console.log(`BENCH ttfa_ms_p95 ${pct(first, 95).toFixed(1)} ms`);
  console.log(`BENCH ttfa_cached_ms_p50 ${pct(cached, 50).toFixed(1)} ms`);
  console.log(`BENCH ttfa_cached_ms_p95 ${pct(cached, 95).toFixed(1)} ms`);
  console.log(`BENCH ttfa_cache_speedup ${(pct(first, 50) / pct(cached, 50)).toFixed(2)} ratio`);
  console.log(`BENCH seek_ms_p50 ${pct(seeks, 50).toFixed(1)} ms`);
  console.log(`BENCH seek_ms_p95 ${pct(seeks, 95).toFixed(1)} ms`);
  console.log(`fresh pages (ms): ${f(freshPage)}`);
  console.log(`BENCH ttfa_fresh_page_ms_p50 ${pct(freshPage, 50).toFixed(1)} ms`);
  console.log(`BENCH ttfa_fresh_page_ms_p95 ${pct(freshPage, 95).toFixed(1)} ms`);
} finally {
  await browser.close();
}
