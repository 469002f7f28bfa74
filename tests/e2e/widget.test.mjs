// The npm package as a web developer uses it: the tarball `make package` wrote is installed into
// a fresh folder with a minimal HTML page (an import map, no bundler), served by a plain static
// server on another port than the relay (another origin: CORS and the WebSocket's origin check
// are in the path). In headless Chromium the page plays a track through <stream-player>, changes
// preset, seeks and pauses (through the MediaSession action, as a media key would), while a
// recorder and an AnalyserNode the page attached through the API listen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startRelay, referenceDecode, trackByFile, serveStatic, installPackage } from '../support/processes.mjs';
import { launchBrowser, attachRecorder, stopRecording, collectRecording } from '../support/browsers.mjs';

let relay, host, browser, tracks, pkg;
// The most the recorder takes: the test ends the recording once the pause is heard.
const RECORD_CAP_S = 30;

const HOST_PAGE = (relayUrl, attrs) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>host page</title>
<script type="importmap">{ "imports": { "@stream-engine/player/": "./node_modules/@stream-engine/player/" } }</script>
<script type="module">
  // Listeners first (the element reports bad attributes as soon as it is defined), then the package.
  window.__events = [];
  const el = document.querySelector('stream-player');
  for (const t of ['play', 'pause', 'ended', 'error', 'statechange', 'firstaudio', 'presetapplied', 'tracksloaded', 'ready'])
    el.addEventListener(t, (e) => window.__events.push({ type: t, detail: t === 'ready' ? null : e.detail, at: performance.now() }));
  el.addEventListener('error', (e) => console.log('stream-player-error ' + e.detail.code));
  let stats = 0;
  el.addEventListener('stats', () => { stats++; window.__statsEvents = stats; });
  window.el = el;
  await import('@stream-engine/player/element.js');
</script></head>
<body><h1>A page that embeds the player</h1>
<stream-player ${/\bserver=/.test(attrs) ? '' : `server="${relayUrl}"`} ${attrs}></stream-player>
</body></html>`;

before(async () => {
  pkg = installPackage();
  copyFileSync(join(ROOT, 'media', 'aurora-48k.ogg'), join(pkg.dir, 'static.ogg'));
  host = await serveStatic(pkg.dir);
  relay = await startRelay({ args: ['--allow-origin', host.url] });
  tracks = await (await fetch(relay.url + '/api/tracks')).json();
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); relay?.stop(); await host?.close(); rmSync(pkg.dir, { recursive: true, force: true }); });

async function hostPage(name, attrs) {
  writeFileSync(join(pkg.dir, name), HOST_PAGE(relay.url, attrs));
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Record the MediaSession action handlers the element installs, to press them like media keys.
  await page.addInitScript(() => {
    window.__ms = {};
    const set = navigator.mediaSession.setActionHandler.bind(navigator.mediaSession);
    navigator.mediaSession.setActionHandler = (a, fn) => { window.__ms[a] = fn; set(a, fn); };
  });
  await page.goto(`${host.url}/${name}`);
  return { page, errors };
}

const events = (page, type) => page.evaluate((t) => window.__events.filter((e) => e.type === t), type);

/** First index where `ref[from..from+n)` occurs in `x` sample for sample, or -1. */
function findExact(x, ref, from, n) {
  const first = ref[from];
  for (let i = 0; i + n <= x.length; i++) {
    if (x[i] !== first) continue;
    let k = 1;
    while (k < n && x[i + k] === ref[from + k]) k++;
    if (k === n) return i;
  }
  return -1;
}

test('npm package: <stream-player> from another origin plays, changes preset, seeks and pauses; a host analyser hears it', async () => {
  const track = trackByFile(tracks, 'aurora-48k.flac');
  const { page, errors } = await hostPage('index.html', `track="${track.id}" preset="off" codec="pcm_f32" no-advance`);
  await page.waitForFunction(() => window.el?.tracks?.length > 0);
  const listed = await page.$$eval('stream-player li[role=option]', (lis) => lis.map((l) => l.textContent));
  assert.equal(listed.length, tracks.length, 'the track list shows the library');
  assert.ok(listed[0].includes(tracks[0].title), listed[0]);

  // The page attaches its own analyser through the API, and the test's recorder.
  await page.evaluate(async () => {
    await window.el.init();
    const a = new AnalyserNode(window.el.context, { fftSize: 256 });
    window.el.output.connect(a);
    window.__analyser = a;
  });
  await page.evaluate(() => { window.hostPlayer = window.el; });
  await attachRecorder(page, RECORD_CAP_S, 'hostPlayer');

  // play() to the first non-silent block at the host's analyser.
  const ttfa = await page.evaluate(() => new Promise((ok) => {
    const a = window.__analyser;
    const buf = new Float32Array(a.fftSize);
    const t0 = performance.now();
    window.el.play();
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      a.getFloatTimeDomainData(buf);
      if (buf.some((v) => Math.abs(v) > 1e-4)) ok(performance.now() - t0);
      else if (performance.now() - t0 > 10000) ok(-1);
      else ch.port2.postMessage(0);
    };
    ch.port2.postMessage(0);
  }));
  assert.ok(ttfa > 0, 'the analyser heard the player');
  await page.waitForFunction(() => window.el.state === 'playing' && window.el.stats.positionS > 2.5);

  // Preset change through the attribute, then back (the blend is heard at once, no reload).
  await page.evaluate(() => window.el.setAttribute('preset', 'bright'));
  await page.waitForFunction(() => window.__events.some((e) => e.type === 'presetapplied' && e.detail.preset === 'bright'));
  assert.equal(await page.$eval('stream-player', (el) => el.shadowRoot.querySelector('select.preset').value), 'bright');
  // Bright through the part of the track checked below (3.2 s to 3.7 s).
  await page.waitForFunction(() => window.el.stats.positionS > 3.8);
  await page.evaluate(() => { window.el.preset = 'off'; });
  await page.waitForFunction(() => window.__events.some((e) => e.type === 'presetapplied' && e.detail.preset === 'off'));
  // Its blend over (the stats after the event count it).
  await page.waitForFunction(() => !window.el.stats.presetBlending);

  // Seek to 12 s.
  await page.evaluate(() => window.el.seek(12));
  await page.waitForFunction(() => window.el.stats.positionS > 12.5 && window.el.stats.positionS < 14);
  const seekShown = await page.$eval('stream-player', (el) => el.shadowRoot.querySelector('.seek').getAttribute('aria-valuenow'));
  assert.ok(Number(seekShown) >= 12 && Number(seekShown) <= 14, `seek bar shows ${seekShown}`);
  // Playing on from there (what is checked sample-exact starts at 12.1 s) before the pause.
  await page.waitForFunction(() => window.el.stats.positionS > 13.5);

  // Pause as the lock screen or a media key does.
  const ms = await page.evaluate(() => ({ title: navigator.mediaSession.metadata?.title, artist: navigator.mediaSession.metadata?.artist, actions: Object.keys(window.__ms) }));
  assert.equal(ms.title, track.title);
  for (const a of ['play', 'pause', 'seekto', 'nexttrack', 'previoustrack']) assert.ok(ms.actions.includes(a), `MediaSession ${a}`);
  await page.evaluate(() => window.__ms.pause());
  await page.waitForFunction(() => window.el.state === 'paused' && window.el.stats.state === 'paused');
  const pausedAt = await page.evaluate(() => window.el.stats.positionS);
  // The recording ends 0.6 s after the engine paused: its fade-out, then 0.5 s checked silent.
  await stopRecording(page, { afterS: 0.6 });
  const rec = await collectRecording(page);
  const after = await page.evaluate(() => ({ pos: window.el.stats.positionS, state: window.el.state, stats: window.__statsEvents }));

  // The rendered audio: exact before the preset change, different during `bright`, exact again
  // from the sample the seek asked for, silent after the pause.
  const ref = referenceDecode(relay.url, track.id);
  const startAt = findExact(rec.left, ref.left, 4800, 4800) - 4800;
  assert.ok(startAt >= 0, 'the first 200 ms of the track are in the recording, sample-exact');
  let maxErr = 0;
  for (let i = 0; i < 2 * 48000; i++) maxErr = Math.max(maxErr, Math.abs(rec.left[startAt + i] - ref.left[i]), Math.abs(rec.right[startAt + i] - ref.right[i]));
  assert.equal(maxErr, 0, 'the first 2 s are bit-exact with the server decode');
  const seekAt = findExact(rec.left, ref.left, Math.round(12.1 * 48000), 24000);
  assert.ok(seekAt > startAt, 'after the seek, the audio from 12.1 s plays sample-exact');
  const brightFrom = startAt + Math.round(3.2 * 48000);
  let diff = 0;
  for (let i = 0; i < 24000; i++) diff = Math.max(diff, Math.abs(rec.left[brightFrom + i] - ref.left[Math.round(3.2 * 48000) + i]));
  assert.ok(diff > 1e-3, `bright changes the audio (max difference ${diff})`);
  const tail = rec.left.subarray(rec.left.length - 24000);
  assert.ok(tail.every((v) => v === 0), 'silence after the pause');
  assert.ok(Math.abs(after.pos - pausedAt) < 0.05, 'the position holds while paused');

  // Events and state.
  const states = (await events(page, 'statechange')).map((e) => e.detail.state);
  for (const s of ['connecting', 'buffering', 'playing', 'paused']) assert.ok(states.includes(s), `statechange ${s} in ${states}`);
  assert.ok((await events(page, 'play')).length >= 1, 'play event');
  assert.equal((await events(page, 'pause')).length, 1, 'one pause event');
  assert.deepEqual(await events(page, 'error'), [], 'no error event');
  assert.ok(after.stats > 20, `stats events: ${after.stats}`);
  const ttfaStat = (await events(page, 'firstaudio'))[0]?.detail.timeToFirstAudioMs;
  assert.ok(ttfaStat > 0);
  assert.equal(await page.textContent('stream-player .status-text'), 'Paused');

  // The same measurement for a plain <audio> playing a static Ogg file from 127.0.0.1.
  const audioTtfa = await page.evaluate(() => new Promise((ok) => {
    const ctx = new AudioContext();
    const el = new Audio('static.ogg');
    const a = new AnalyserNode(ctx, { fftSize: 256 });
    ctx.createMediaElementSource(el).connect(a);
    a.connect(ctx.destination);
    const buf = new Float32Array(a.fftSize);
    const t0 = performance.now();
    // (WebKit refuses a play() outside a gesture: this informational peer is then not measured.)
    el.play().catch(() => ok(-1));
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      a.getFloatTimeDomainData(buf);
      if (buf.some((v) => Math.abs(v) > 1e-4)) { ok(performance.now() - t0); el.pause(); ctx.close(); }
      else if (performance.now() - t0 > 10000) ok(-1);
      else ch.port2.postMessage(0);
    };
    ch.port2.postMessage(0);
  }));
  console.log(`E2E widget: play() -> first non-silent block at the host page's AnalyserNode ${ttfa.toFixed(1)} ms (player's own figure ${ttfaStat.toFixed(1)} ms); plain <audio> with a static Ogg file: ${audioTtfa.toFixed(1)} ms`);
  console.log(`E2E widget: seek to 12 s landed sample-exact; bright max difference ${diff.toFixed(3)}; paused at ${pausedAt.toFixed(2)} s; ${after.stats} stats events; states ${states.join(' > ')}`);
  assert.deepEqual(errors, [], 'no uncaught error in the host page');
  await page.close();
});

test('bad input: the element shows a clear message and fires error with a code, never throws into the page', async () => {
  const cases = [
    { attrs: 'server="http://127.0.0.1:1"', code: 'server_unreachable', text: /cannot load the library/ },
    { attrs: 'track="no-such-track"', code: 'unknown_track', text: /no-such-track/ },
    { attrs: 'preset="loud"', code: 'unknown_preset', text: /loud/ },
    { attrs: 'intensity="2"', code: 'invalid_intensity', text: /intensity/ },
    { attrs: 'volume="abc"', code: 'invalid_volume', text: /volume/ },
    { attrs: 'codec="mp4"', code: 'invalid_codec', text: /mp4/ },
    { attrs: 'server="ftp://example"', code: 'invalid_server', text: /ftp/ },
  ];
  const seen = [];
  for (const [i, c] of cases.entries()) {
    const { page, errors } = await hostPage(`bad-${i}.html`, c.attrs);
    await page.waitForFunction(() => window.__events.some((e) => e.type === 'error'), null, { timeout: 10000 })
      .catch(async (e) => { throw new Error(`${c.attrs}: no error event (${JSON.stringify(await page.evaluate(() => window.__events))}): ${e}`); });
    const ev = (await events(page, 'error'))[0].detail;
    const msg = await page.$eval('stream-player', (el) => {
      const m = el.shadowRoot.querySelector('.message');
      return { hidden: m.hidden, text: m.textContent, role: m.getAttribute('role') };
    });
    assert.equal(ev.code, c.code, c.attrs);
    assert.equal(msg.hidden, false, `${c.attrs}: message shown`);
    assert.equal(msg.role, 'alert');
    assert.match(msg.text, c.text);
    seen.push(`${c.code}: "${msg.text.slice(0, 70)}…"`);
    if (c.code === 'server_unreachable') {
      // Playing anyway: the socket cannot open either; the element says so.
      await page.evaluate(() => window.el.play('t1'));
      await page.waitForFunction(() => window.__events.some((e) => e.type === 'error' && e.detail.code === 'connection_failed'), null, { timeout: 15000 });
    }
    if (c.code === 'unknown_track') {
      // Methods given nonsense do not throw either.
      await page.evaluate(async () => { await window.el.play('still-not-a-track'); window.el.seek(-1); window.el.seek(NaN); window.el.volume = 7; });
      const codes = (await events(page, 'error')).map((e) => e.detail.code);
      assert.deepEqual(codes, ['unknown_track', 'unknown_track', 'invalid_parameter', 'invalid_parameter', 'invalid_volume']);
    }
    assert.deepEqual(errors, [], `${c.attrs}: no uncaught error`);
    await page.close();
  }
  // A relay that does not allow the page's origin: refused, and said so.
  const strict = await startRelay();
  try {
    writeFileSync(join(pkg.dir, 'strict.html'), HOST_PAGE(strict.url, ''));
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${host.url}/strict.html`);
    await page.waitForFunction(() => window.__events.some((e) => e.type === 'error'), null, { timeout: 10000 });
    const ev = (await events(page, 'error'))[0].detail;
    assert.equal(ev.code, 'server_unreachable');
    assert.match(ev.error, /--allow-origin/);
    assert.deepEqual(errors, []);
    seen.push(`origin not allowed -> ${ev.code}`);
    await page.close();
  } finally { strict.stop(); }
  console.log(`E2E widget bad input: ${seen.join(' | ')}`);
});

test('a browser that blocks audio until a gesture: the element says so, and the next press plays', async () => {
  const strictBrowser = await launchBrowser({ autoplay: false });
  try {
    const track = trackByFile(tracks, 'aurora-48k.flac');
    writeFileSync(join(pkg.dir, 'gesture.html'), HOST_PAGE(relay.url, `track="${track.id}" preset="off" autoplay`));
    const page = await strictBrowser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // The element's autoplay asks for audio without any gesture (the test evaluates nothing in
    // the page before: Playwright's evaluate counts as a gesture).
    // WebKit's driver sees no console line logged during the load, and its scripts are no gesture:
    // there the test polls the page's event log.
    const blocked = page.engine === 'webkit' ? null
      : page.waitForEvent('console', { predicate: (m) => m.text() === 'stream-player-error audio_blocked', timeout: 15000 });
    await page.goto(`${host.url}/gesture.html`);
    if (blocked) await blocked;
    else await page.waitForFunction(() => window.__events.some((e) => e.type === 'error' && e.detail.code === 'audio_blocked'), null, { timeout: 15000 });
    const shown = await page.$eval('stream-player', (el) => ({ text: el.shadowRoot.querySelector('.message').textContent, hidden: el.shadowRoot.querySelector('.message').hidden, ctx: el.context.state }));
    assert.equal(shown.hidden, false);
    assert.match(shown.text, /blocked audio/);
    assert.equal(shown.ctx, 'suspended');
    // The user presses the play button: a real gesture.
    await page.click('stream-player button.play');
    await page.waitForFunction(() => window.el.context.state === 'running' && window.el.state === 'playing' && window.el.stats.positionS > 0.5);
    const after = await page.$eval('stream-player', (el) => el.shadowRoot.querySelector('.message').hidden);
    assert.equal(after, true, 'the message is gone once audio runs');
    console.log(`E2E widget autoplay policy: "${shown.text}"; one press later: playing`);
    assert.deepEqual(errors, []);
  } finally { await strictBrowser.close(); }
});
