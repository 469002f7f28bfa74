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
// Prints BENCH lines. A lost trial (no audio within 10 s, a page that failed, a value that is
// not a time) is named in a `# LOST TRIALS:` line; its series prints no figure and the run fails.
import { startRelay, launchChromium, trackByFile } from '../e2e/lib.mjs';

const PLAYS = Number(process.env.BENCH_PLAYS || 20);
const lost = [];
/** Runs one timed trial; a failure or a value that is not a time is recorded as lost (null). */
async function trial(name, fn) {
  try {
    const v = await fn();
    if (!Number.isFinite(v) || v < 0) throw new Error(`measured ${v}`);
    return v;
  } catch (e) {
    const why = String(e && e.message || e).split('\n')[0];
    lost.push(`${name} (${why})`);
    console.log(`# lost trial ${name}: ${why}`);
    return null;
  }
}
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
    out.push(await trial(`ttfa_fresh_page#${i + 1}`, async () => {
      const page = await browser.newPage();
      try {
        await page.goto(relay.url + '/');
        await page.waitForSelector('stream-player li[role=option]');
        return await firstAudio(page, ['play', trackId]);
      } finally {
        await page.close();
      }
    }));
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

async function repeatedPlays(page, trackId, n, name) {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push(await trial(`${name}#${i + 1}`, () => firstAudio(page, ['play', trackId])));
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
  const first = await repeatedPlays(page, track.id, PLAYS, 'ttfa');
  await page.close();
  const freshPage = await freshPlays(browser, cold, track.id, PLAYS);
  cold.stop();

  const warm = await startRelay();
  await (await fetch(`${warm.url}/api/tracks/${track.id}/stream.ogg`)).arrayBuffer(); // fills the cache
  page = await readyPage(browser, warm);
  const cached = await repeatedPlays(page, track.id, PLAYS, 'ttfa_cached');
  const playing = await trial('seek_setup', () => firstAudio(page, ['play', track.id]));
  const seeks = [];
  for (let i = 0; i < PLAYS; i++) {
    if (playing === null) { seeks.push(null); continue; }
    await new Promise((r) => setTimeout(r, 150));
    // Alternate between the start and the end of the track, so every target is outside the
    // buffer (about 5 s ahead, 1 s behind) and needs the network.
    seeks.push(await trial(`seek#${i + 1}`, () => firstAudio(page, ['seek', i % 2 ? 2 + (i % 5) * 0.41 : 18 + (i % 5) * 0.37])));
  }
  warm.stop();

  const f = (xs) => xs.map((x) => (x === null ? 'lost' : x.toFixed(0))).join(' ');
  const whole = (xs) => xs.every((x) => x !== null);
  const figure = (name, xs, p) => {
    if (whole(xs)) console.log(`BENCH ${name} ${pct(xs, p).toFixed(1)} ms`);
    else console.log(`# ${name} not reported: ${xs.filter((x) => x === null).length} of ${xs.length} trials lost`);
  };
  console.log(`first plays, cache off (ms): ${f(first)}`);
  console.log(`cached plays (ms): ${f(cached)}`);
  console.log(`seeks into the cached track (ms): ${f(seeks)}`);
  figure('ttfa_ms_p50', first, 50);
  figure('ttfa_ms_p95', first, 95);
  figure('ttfa_cached_ms_p50', cached, 50);
  figure('ttfa_cached_ms_p95', cached, 95);
  if (whole(first) && whole(cached)) console.log(`BENCH ttfa_cache_speedup ${(pct(first, 50) / pct(cached, 50)).toFixed(2)} ratio`);
  figure('seek_ms_p50', seeks, 50);
  figure('seek_ms_p95', seeks, 95);
  console.log(`fresh pages (ms): ${f(freshPage)}`);
  figure('ttfa_fresh_page_ms_p50', freshPage, 50);
  figure('ttfa_fresh_page_ms_p95', freshPage, 95);
} finally {
  await browser.close();
}
if (lost.length) {
  console.log(`# LOST TRIALS: ${lost.join('; ')}`);
  process.exitCode = 1;
}
