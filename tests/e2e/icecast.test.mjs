// End to end, real time: an Icecast station moved to the relay. Each of Debian's source clients
// (ezstream and liquidsoap in MP3, ices2 and liquidsoap in Ogg Vorbis), configured as for Icecast
// with only host, port and password changed, streams a playlist of three songs with titles to a
// public stream. The demo page lists the stream in its live section, with its
// title and listeners; one click plays it in the <stream-player> element. Each song is checked
// in what the page rendered (level and frequency against the source), and each title's `title`
// event is checked against the rendered audio: it fires within 20 ms of the sample where its
// song audibly begins. Then the element's seek bar goes back into the stream's time-shift
// window (audio of that moment, a session of its own) and its LIVE button returns to the edge.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARTIFACTS, startRelay } from '../support/processes.mjs';
import { ENGINE, launchBrowser, attachRecorder, stopRecording, collectRecording, openDemo } from '../support/browsers.mjs';

const KEY = 'e2e-key';
const SONGS = [[440, 'Tone 440'], [660, 'Tone 660'], [880, 'Tone 880']];
const SONG_S = 4;
let relay, browser, dir;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'e2e-icecast-'));
  relay = await startRelay({ args: ['--api-key', KEY, '--source-grace-s', '30'] });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); relay?.stop(); });

function run(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const done = new Promise((ok) => child.on('close', (code) => ok({ code, out, err })));
  return { child, done };
}

/** Power of `freq` in `x` (Goertzel), per sample. */
function power(x, freq) {
  const w = (2 * Math.PI * freq) / 48000;
  const c = 2 * Math.cos(w);
  let s1 = 0, s2 = 0;
  for (let i = 0; i < x.length; i++) { const s0 = x[i] + c * s1 - s2; s2 = s1; s1 = s0; }
  return (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.length * x.length);
}

/** The first sample at or after `from` where `freq` is the loudest of the songs' tones. */
function onset(x, from, freq) {
  const W = 480;
  for (let i = Math.max(0, from); i + W <= x.length; i += 48) {
    const w = x.subarray(i, i + W);
    const p = power(w, freq);
    if (p > 1e-4 && SONGS.every(([f]) => f === freq || power(w, f) < p)) return i + W / 2;
  }
  return -1;
}

const rms = (x) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);

/** The songs as files of `ext` (mp3: LAME at 44.1 kHz with ID3 titles; ogg: Vorbis with comments). */
function songFiles(ext) {
  return SONGS.map(([f, title]) => {
    const path = join(dir, `${f}.${ext}`);
    const codec = ext === 'mp3' ? ['-c:a', 'libmp3lame', '-b:a', '160k', '-id3v2_version', '3'] : ['-c:a', 'libvorbis', '-q:a', '5'];
    execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=${f}:sample_rate=44100:duration=${SONG_S}`,
      '-ac', '2', ...codec, '-metadata', `title=${title}`, '-metadata', 'artist=Tone Lab', path]);
    return path;
  });
}

/** A source client configured as for Icecast (only host, port and password differ), playing the
 * songs once: its process. */
function sourceClient(kind, host, port, password, id) {
  const ext = kind === 'ices2' || kind === 'liquidsoap vorbis' ? 'ogg' : 'mp3';
  const files = songFiles(ext);
  const list = join(dir, `${kind.replace(' ', '-')}.m3u`);
  writeFileSync(list, files.join('\n') + '\n');
  if (kind === 'ezstream') {
    const cfg = join(dir, 'ezstream.xml');
    writeFileSync(cfg, `<?xml version="1.0" encoding="UTF-8"?>
<ezstream>
  <servers><server><protocol>HTTP</protocol><hostname>${host}</hostname><port>${port}</port><password>${password}</password></server></servers>
  <streams><stream><mountpoint>/live/${id}</mountpoint><format>MP3</format><stream_name>Tone FM</stream_name></stream></streams>
  <intakes><intake><type>playlist</type><filename>${list}</filename><stream_once>Yes</stream_once></intake></intakes>
</ezstream>`);
    chmodSync(cfg, 0o600); // ezstream refuses a configuration others may read
    return run('ezstream', ['-c', cfg]);
  }
  if (kind === 'ices2') {
    const cfg = join(dir, 'ices.xml');
    writeFileSync(cfg, `<?xml version="1.0"?>
<ices>
  <background>0</background><logpath>${dir}</logpath><logfile>ices.log</logfile><loglevel>3</loglevel><consolelog>1</consolelog>
  <stream>
    <metadata><name>Tone FM</name><genre>Test</genre><description>Tones</description></metadata>
    <input><module>playlist</module><param name="type">basic</param><param name="file">${list}</param><param name="random">0</param><param name="once">1</param></input>
    <instance><hostname>${host}</hostname><port>${port}</port><password>${password}</password><mount>/live/${id}</mount></instance>
  </stream>
</ices>`);
    return run('ices2', [cfg]);
  }
  const enc = kind === 'liquidsoap mp3' ? '%mp3(bitrate=160, samplerate=44100)' : '%vorbis(samplerate=44100, quality=0.5)';
  const script = join(dir, 'radio.liq');
  writeFileSync(script, `settings.init.allow_root.set(true)
settings.log.stdout.set(true)
s = playlist(loop=false, mode="normal", reload_mode="never", "${list}")
output.icecast(${enc}, host="${host}", port=${port}, password="${password}", mount="/live/${id}", name="Tone FM", fallible=true, on_stop=shutdown, s)
`);
  return run('liquidsoap', [script]);
}

for (const kind of ['ezstream', 'ices2', 'liquidsoap vorbis', 'liquidsoap mp3']) {
  test(`${kind} publishes a playlist; the demo lists it, plays it in one click, and each title changes with its song`, async () => {
    // The source's level (ffmpeg's sine made stereo, before any encoding).
    const src = execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=2',
      '-ac', '2', '-ar', '48000', '-f', 'f32le', '-'], { maxBuffer: 1 << 24 });
    const srcF = new Float32Array(src.buffer.slice(src.byteOffset, src.byteOffset + src.byteLength));
    const srcRms = rms(srcF.filter((_, i) => i % 2 === 0).subarray(48000));

    const res = await fetch(relay.url + '/api/streams', {
      method: 'POST', headers: { Authorization: `Bearer ${KEY}` }, body: JSON.stringify({ public: true, name: 'Tone FM' }),
    });
    assert.equal(res.status, 201);
    const s = await res.json();

    // The demo lists the public stream; one click listens (WebKit: after the user's click that
    // allows audio, and once its audio clock runs steadily, as in live.test.mjs).
    const { page, errors } = await openDemo(browser, relay.url);
    await page.waitForSelector(`#live-list li[data-id="${s.stream_id}"] button`);
    await attachRecorder(page, 40, 'streamPlayer');
    // (The demo's element made its context at load, without a gesture: the click above allows it.)
    await page.evaluate(() => window.streamPlayer.context.resume());
    await page.waitForFunction(() => window.streamPlayer.context.currentTime > 1.5, null, { timeout: 30000 });
    await page.evaluate((id) => {
      window.__titles = [];
      window.__underruns = [];
      window.streamElement.addEventListener('title', (e) => window.__titles.push(e.detail));
      let seen = 0;
      window.streamPlayer.addEventListener('stats', (e) => {
        if (e.detail.underruns > seen) { seen = e.detail.underruns; window.__underruns.push([e.detail.playPos, e.detail.underrunMs]); }
      });
      document.querySelector(`#live-list li[data-id="${id}"] button`).click();
    }, s.stream_id);
    const listening = `relay_live_listeners{stream="${s.stream_id}"} 1`;
    const t0 = Date.now();
    while (!(await (await fetch(relay.url + '/metrics')).text()).split('\n').includes(listening)) {
      assert.ok(Date.now() - t0 < 20000, 'the page listens');
      await new Promise((r) => setTimeout(r, 50));
    }

    const [host, port] = relay.ingestUrl.replace('http://', '').split(':');
    const client = sourceClient(kind, host, port, s.publish_token, s.stream_id);

    // Every title heard.
    try {
      await page.waitForFunction((n) => window.__titles.length >= n, SONGS.length, { timeout: 60000 });
    } catch (e) {
      const info = await (await fetch(`${relay.url}/api/streams/${s.stream_id}`)).text();
      const got = await page.evaluate(() => ({ titles: window.__titles, stats: window.streamPlayer.stats }));
      client.child.kill();
      const out = await client.done;
      throw new Error(`${e.message}: titles ${JSON.stringify(got.titles)}, play position ${got.stats?.playPos}, stream ${info}, ${kind}: ${out.out.slice(-1500)} ${out.err.slice(-500)}`);
    }
    // What the page shows once the last title is heard (the live list, refreshed every 3 s,
    // drops a stream once it has ended).
    const shown = await page.evaluate(() => ({
      title: window.streamElement.shadowRoot.querySelector('.title').textContent,
      prop: window.streamElement.streamTitle,
      listed: document.querySelector('#live-list li.on .now')?.textContent,
      session: navigator.mediaSession?.metadata?.title ?? null,
    }));
    const shot = join(ARTIFACTS, `icecast-demo-${kind.replace(' ', '-')}-${ENGINE}.png`);
    await page.screenshot({ path: shot });
    // Until the page has played what the source sent, but for its last half second (liquidsoap
    // drops part of its last song when it stops: what it sent is what counts).
    const done = await client.done;
    assert.equal(done.code, 0, `${kind}: ${done.err}\n${done.out.slice(-2000)}`);
    const edge = (await (await fetch(`${relay.url}/api/streams/${s.stream_id}`)).json()).live_edge_sample;
    const end = Math.min(SONGS.length * SONG_S * 48000, edge) - 24000;
    try {
      await page.waitForFunction((e) => window.streamPlayer.stats?.playPos >= e, end, { timeout: 60000 });
    } catch (e) {
      const info = await (await fetch(`${relay.url}/api/streams/${s.stream_id}`)).text();
      const st = await page.evaluate(() => window.streamPlayer.stats);
      throw new Error(`${e.message}: play position ${st?.playPos} of ${end}, state ${st?.state}, stream ${info}`);
    }
    await stopRecording(page, { afterS: 0.1 });
    const rec = await collectRecording(page, 'streamPlayer');
    const titles = await page.evaluate(() => window.__titles);
    console.log(`E2E icecast ${kind}: titles ${JSON.stringify(titles.map((t) => [t.title, t.sample]))}; shown ${JSON.stringify(shown)}; screenshot ${shot}`);
    const want = SONGS.map(([, t]) => `Tone Lab - ${t}`);
    assert.deepEqual(titles.map((t) => t.title), want);
    assert.equal(shown.title, want[2]);
    assert.equal(shown.prop, want[2]);
    assert.equal(shown.listed, want[2]);
    if (shown.session !== null) assert.equal(shown.session, want[2], 'MediaSession has the title');

    // Each title against the rendered audio: its event's output frame within 20 ms of its
    // song's first audible sample; the event fired when that frame was rendered.
    const x = rec.left;
    const audible = x.findIndex((v) => Math.abs(v) > 0.01);
    assert.ok(audible >= 0, 'the page played audio');
    let from = audible;
    for (let k = 0; k < SONGS.length; k++) {
      const [freq] = SONGS[k];
      const start = k === 0 ? audible : onset(x, from, freq);
      assert.ok(start >= 0, `song ${k} heard`);
      const at = titles[k].clock - rec.first;
      const deltaMs = ((at - start) / 48000) * 1000;
      const mid = x.subarray(start + 48000, start + 96000);
      const level = 20 * Math.log10(rms(mid) / srcRms);
      const others = Math.max(...SONGS.filter(([f]) => f !== freq).map(([f]) => power(mid, f)));
      const margin = 10 * Math.log10(power(mid, freq) / others);
      console.log(`E2E icecast ${kind} ${ENGINE}: song ${k} (${freq} Hz): title event ${deltaMs >= 0 ? '+' : ''}${deltaMs.toFixed(1)} ms from its first audible sample (fired ${titles[k].lateMs?.toFixed(1)} ms after it rendered); level ${level.toFixed(2)} dB vs source, ${margin.toFixed(1)} dB over the other tones`);
      if (k > 0) {
        assert.ok(Math.abs(deltaMs) <= 20, `title ${k}: ${deltaMs.toFixed(1)} ms from the song`);
        // (A timer's precision; a page whose main thread is busy gets it when it is free.)
        assert.ok(titles[k].lateMs != null && titles[k].lateMs < 100, `title ${k} fired ${titles[k].lateMs} ms late`);
      }
      assert.ok(Math.abs(level) < 1, `song ${k} level ${level}`);
      assert.ok(margin > 30, `song ${k} tone margin ${margin}`);
      from = start + 48000;
    }
    const st = rec.stats;
    const where = await page.evaluate(() => window.__underruns);
    console.log(`E2E icecast ${kind} ${ENGINE}: underruns ${st.underruns} (at play position, ms: ${JSON.stringify(where)}), the audio thread caught up ${st.renderCatchUpMs.toFixed(0)} ms at most`);
    // No underrun from a source that sends in real time (ezstream, ices2), unless the audio
    // thread itself was starved (WebKitGTK on one core). liquidsoap's Ogg output arrives
    // unevenly: one 20-60 ms underrun at 1.39 s of the stream in every run and engine with the
    // player's 500 ms live buffer (and once, in WebKit, one near a song change): counted here,
    // not asserted (docs/icecast.md).
    const during = where.filter(([pos]) => pos < end);
    if (!kind.startsWith('liquidsoap')) {
      assert.ok(during.length === 0 || st.renderCatchUpMs > 300, `underruns at ${JSON.stringify(during)}`);
    }
    assert.deepEqual(errors, []);
    await page.close();
  });
}

test('the element rewinds into a live stream\'s time-shift window, then its LIVE button returns to the edge', async () => {
  // The source: ffmpeg as an Icecast client in real time, a tone whose pitch tells the second
  // (300 Hz + 50 Hz per second).
  const res = await fetch(relay.url + '/api/streams', {
    method: 'POST', headers: { Authorization: `Bearer ${KEY}` }, body: JSON.stringify({ public: true, name: 'Clock FM' }),
  });
  const s = await res.json();
  const { page, errors } = await openDemo(browser, relay.url);
  await attachRecorder(page, 60, 'streamPlayer');
  await page.evaluate(() => window.streamPlayer.context.resume());
  await page.waitForFunction(() => window.streamPlayer.context.currentTime > 1.5, null, { timeout: 30000 });
  const pub = run('ffmpeg', ['-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', "aevalsrc=0.25*sin(2*PI*(300+50*floor(t))*t):s=48000:d=24",
    '-ac', '2', '-c:a', 'libmp3lame', '-b:a', '160k', '-content_type', 'audio/mpeg', '-f', 'mp3',
    `icecast://source:${s.publish_token}@${relay.ingestUrl.replace('http://', '')}/live/${s.stream_id}`]);
  await page.evaluate((id) => {
    window.__starts = [];
    window.streamPlayer.addEventListener('stream_start', (e) => window.__starts.push(e.detail));
    window.streamElement.listen(id, { name: 'Clock FM' });
  }, s.stream_id);
  // 12 s of the stream playing live.
  await page.waitForFunction(() => window.streamPlayer.stats?.playPos >= 12 * 48000, null, { timeout: 60000 });
  const before = await page.evaluate(() => ({
    edge: window.streamElement._liveEdgeS(),
    button: window.streamElement.shadowRoot.querySelector('.live').getAttribute('aria-pressed'),
  }));
  assert.equal(before.button, 'true', 'at the live edge, the LIVE button is on');
  // Back 8 s with the seek bar's API.
  const target = before.edge - 8;
  const seekAt = await page.evaluate((t) => { window.streamElement.seek(t); return window.streamPlayer.context.currentTime; }, target);
  await page.waitForFunction(() => window.__starts.length >= 2, null, { timeout: 20000 });
  // 3 s into the rewound audio, the pitch tells which second plays.
  await page.waitForFunction((t) => window.streamPlayer.context.currentTime > t + 4, seekAt, { timeout: 20000 });
  const shifted = await page.evaluate(() => ({
    elapsed: window.streamElement.shadowRoot.querySelector('.elapsed').textContent,
    button: window.streamElement.shadowRoot.querySelector('.live').getAttribute('aria-pressed'),
    pos: window.streamPlayer.stats.positionS,
    clock: window.streamPlayer.context.currentTime,
  }));
  await page.screenshot({ path: join(ARTIFACTS, `icecast-timeshift-${ENGINE}.png`) });
  page.evaluate(() => window.streamElement.goLive());
  await page.waitForFunction(() => window.__starts.length >= 3, null, { timeout: 20000 });
  await page.waitForFunction(() => window.streamElement.shadowRoot.querySelector('.live').getAttribute('aria-pressed') === 'true', null, { timeout: 20000 });
  await stopRecording(page, { afterS: 0 });
  const rec = await collectRecording(page, 'streamPlayer');
  const pub2 = pub.child.kill('SIGTERM');
  void pub2;
  const starts = await page.evaluate(() => window.__starts);
  console.log(`E2E icecast ${ENGINE} time-shift: edge ${before.edge.toFixed(1)} s, seek to ${target.toFixed(1)} s; starts ${JSON.stringify(starts.map((x) => [x.session, x.start_sample / 48000]))}; while shifted: ${JSON.stringify(shifted)}`);
  assert.ok(starts[1].session !== starts[0].session && Math.abs(starts[1].start_sample / 48000 - target) < 0.5, 'the rewound part starts at the target');
  assert.ok(starts[2].start_sample / 48000 > target + 7, 'back at the edge');
  assert.match(shifted.elapsed, /^-0:0[6-9]$/, 'the seek bar says how far behind live');
  assert.equal(shifted.button, 'false');
  // What played 3.5-4 s after the seek was that second's pitch, not the live one.
  const i = Math.round((shifted.clock - 0.5) * 48000) - rec.first;
  const w = rec.left.subarray(i, i + 12000);
  let best = 0, bestP = 0;
  for (let sec = 0; sec < 24; sec++) { const p = power(w, 300 + 50 * sec); if (p > bestP) { bestP = p; best = sec; } }
  console.log(`E2E icecast ${ENGINE} time-shift: at ${shifted.pos.toFixed(2)} s of stream time the page played second ${best}'s pitch`);
  assert.ok(Math.abs(best - Math.floor(shifted.pos - 0.5)) <= 1, `second ${best} played at stream time ${shifted.pos}`);
  assert.deepEqual(errors, []);
});
