// An Icecast station moved to the relay, measured against Icecast 2 in the same run: both fed by
// the same Debian ezstream, streaming the same MP3 playlist (three 8 s songs with ID3 titles,
// LAME 160 kbit/s at 44.1 kHz, looping), with the same configuration but host, port and password.
//
// 1. Fan-out: N real-time listeners held by `relay-client load` (500 ms start buffer) for HOLD_S
//    after joining at RAMP_PER_S; the largest N of COUNTS that all held underrun-free, the
//    server's RSS growth per listener and join p95 (connect to first audio byte) at that N.
//      icecast_mp3_*: Icecast 2 serving the MP3 mount as it is fed (what its listeners get);
//      relay_mp3_ws_*: the relay's /ws listeners (Opus frames, what its player gets);
//      relay_mp3_http_*: the relay's HTTP Ogg listeners (/live/{id}.ogg on its Icecast port).
//    Servers on core SERVER_CPUS (0) with their ezstream; the load client alone on CLIENT_CPUS (1).
// 2. Title delay: TITLES metadata updates (`/admin/metadata?mode=updinfo`, the source's
//    credentials: the call every source client makes), 2.5 s apart, while one listener of each
//    server listens. For each: from the update to the listener holding the title (the relay's
//    `metadata` message; Icecast's in-band ICY StreamTitle, which its listeners ask for with
//    `Icy-MetaData: 1`), and from the update to the moment the title's audio is audible for a
//    player that started with 500 ms buffered and plays in real time (the same model for both:
//    the sample where the relay places the title; for Icecast the audio byte where it inserted
//    the StreamTitle, which is where an ICY player shows it).
// Prints BENCH lines; a lost trial exits 1 with a `# LOST TRIALS:` line.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync, readFileSync } from 'node:fs';
import { connect as tcpConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, sleep, startRelay } from '../support/processes.mjs';

const KEY = 'bench-key';
const HOLD_S = Number(process.env.ICECAST_HOLD_S || 30);
const RAMP_PER_S = Number(process.env.ICECAST_RAMP_PER_S || 1000);
const COUNTS = (process.env.ICECAST_COUNTS || '5000,2000,1000').split(',').map(Number);
const TITLES = Number(process.env.ICECAST_TITLES || 6);
const SERVER_CPUS = process.env.ICECAST_SERVER_CPUS || '0';
const CLIENT_CPUS = process.env.ICECAST_CLIENT_CPUS || '1';
const CLIENT = join(ROOT, 'target', 'release', 'relay-client');
const BUFFER_S = 0.5;
const lost = [];
const missing = [];
const children = new Set();
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(130); });
process.on('exit', killAll);
function killAll() { for (const c of children) try { c.kill('SIGKILL'); } catch {} }

function pinned(cpus, argv, stdio = 'ignore') {
  const child = spawn('taskset', ['-c', cpus, ...argv], { stdio });
  children.add(child);
  let code = null;
  const exited = new Promise((ok) => child.once('exit', (c, s) => { code = c ?? s; children.delete(child); ok(code); }));
  return { child, pid: child.pid, exited, gone: () => code !== null };
}
async function stop(p) {
  if (p.gone()) return;
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await p.exited;
  clearTimeout(t);
}
async function until(what, check, ms = 20_000) {
  const deadline = Date.now() + ms;
  let last = '';
  for (;;) {
    try { if (await check()) return; } catch (e) { last = `: ${e.message}`; }
    if (Date.now() > deadline) throw new Error(`${what} not within ${ms / 1000} s${last}`);
    await sleep(100);
  }
}
function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
    s.on('error', fail);
  });
}

// --- the station: songs, playlist, ezstream ------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'bench-station-'));
chmodSync(dir, 0o777); // icecast drops root for nobody and writes its logs here
const songs = [0, 8, 16].map((at, k) => {
  const path = join(dir, `song${k}.mp3`);
  execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-ss', String(at), '-t', '8', '-i', join(ROOT, 'media', 'aurora-48k.flac'),
    '-ar', '44100', '-ac', '2', '-c:a', 'libmp3lame', '-b:a', '160k', '-id3v2_version', '3',
    '-metadata', `title=Aurora part ${k + 1}`, '-metadata', 'artist=Stream Engine Ensemble', path]);
  return path;
});
writeFileSync(join(dir, 'playlist.m3u'), songs.join('\n') + '\n');

function ezstream(host, port, password, mount, updates = true) {
  const cfg = join(dir, `ezstream-${port}.xml`);
  writeFileSync(cfg, `<?xml version="1.0" encoding="UTF-8"?>
<ezstream>
  <servers><server><protocol>HTTP</protocol><hostname>${host}</hostname><port>${port}</port><password>${password}</password></server></servers>
  <streams><stream><mountpoint>${mount}</mountpoint><format>MP3</format><stream_name>Bench FM</stream_name></stream></streams>
  <intakes><intake><type>playlist</type><filename>${join(dir, 'playlist.m3u')}</filename></intake></intakes>
  <metadata><no_updates>${updates ? 'No' : 'Yes'}</no_updates></metadata>
</ezstream>`);
  chmodSync(cfg, 0o600);
  return pinned(SERVER_CPUS, ['ezstream', '-c', cfg]);
}

/** An MPEG-1 layer III frame header at `b[at]`: its length and samples, or null. */
function mp3Frame(b, at) {
  if (b.length - at < 4 || b[at] !== 0xff || (b[at + 1] & 0xfe) !== 0xfa) return null;
  const br = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320][b[at + 2] >> 4];
  const rate = [44100, 48000, 32000][(b[at + 2] >> 2) & 3];
  if (!br || !rate) return null;
  return { len: Math.floor((144 * br * 1000) / rate) + ((b[at + 2] >> 1) & 1), samples: 1152, rate };
}

/** MP3 frames of a byte stream as it comes: ID3v2 tags skipped, a frame trusted when the next
 * header follows it (a stream joined mid-frame resynchronises). `onFrame(seconds, bytes)`. */
class Mp3Frames {
  constructor(onFrame) { this.buf = Buffer.alloc(0); this.onFrame = onFrame; this.skip = 0; }
  push(d) {
    if (this.skip > 0) { const n = Math.min(this.skip, d.length); this.skip -= n; d = d.subarray(n); }
    this.buf = Buffer.concat([this.buf, d]);
    let at = 0;
    while (this.buf.length - at >= 10) {
      if (this.buf.toString('latin1', at, at + 3) === 'ID3') {
        let size = 0;
        for (let i = 6; i < 10; i++) size = (size << 7) | (this.buf[at + i] & 0x7f);
        const len = 10 + size;
        if (this.buf.length - at >= len) { at += len; continue; }
        this.skip = len - (this.buf.length - at);
        at = this.buf.length;
        break;
      }
      const f = mp3Frame(this.buf, at);
      if (!f) { at++; continue; }
      if (this.buf.length - at < f.len + 4) break;
      if (!mp3Frame(this.buf, at + f.len) && this.buf.toString('latin1', at + f.len, at + f.len + 3) !== 'ID3') { at++; continue; }
      this.onFrame(f.samples / f.rate, f.len);
      at += f.len;
    }
    this.buf = this.buf.subarray(at);
  }
  /** Bytes received but not yet a whole frame. */
  pending() { return this.buf.length; }
}

/** Resolves once an MP3 listener of `url` got `seconds` of audio. */
function mp3Reached(url, seconds) {
  return new Promise((ok, fail) => {
    const u = new URL(url);
    const sock = tcpConnect(Number(u.port), u.hostname);
    let got = 0, head = true, hb = Buffer.alloc(0);
    const frames = new Mp3Frames((s) => { got += s; if (got >= seconds) { sock.destroy(); ok(true); } });
    sock.write(`GET ${u.pathname} HTTP/1.0\r\nHost: ${u.host}\r\n\r\n`);
    sock.on('data', (d) => {
      if (head) {
        hb = Buffer.concat([hb, d]);
        const end = hb.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = false;
        d = hb.subarray(end + 4);
      }
      frames.push(d);
    });
    sock.on('error', fail);
    sock.setTimeout(5000, () => { sock.destroy(); fail(new Error('no audio for 5 s')); });
  });
}

// --- the servers -----------------------------------------------------------------------------------
async function relayStation(updates = true) {
  const relay = await startRelay({ cpus: SERVER_CPUS, args: ['--api-key', KEY, '--max-listeners', '30000'] });
  let gone = false;
  relay.exited.then(() => { gone = true; });
  const created = await (await fetch(relay.url + '/api/streams', {
    method: 'POST', headers: { Authorization: `Bearer ${KEY}` }, body: JSON.stringify({ public: true }),
  })).json();
  const [host, port] = relay.ingestUrl.replace('http://', '').split(':');
  const src = ezstream(host, port, created.publish_token, `/live/${created.stream_id}`, updates);
  await until('the relay\'s stream', async () => {
    const info = await (await fetch(`${relay.url}/api/streams/${created.stream_id}`)).json();
    return info.live_edge_sample >= 2 * 48000;
  });
  return {
    name: 'relay', pid: relay.pid, src, alive: () => !gone,
    ws: ['--server', relay.url, '--stream', created.stream_id, '--token', created.listen_token],
    http: ['--http', `${relay.ingestUrl}/live/${created.stream_id}.ogg`],
    update: (song) => `${relay.ingestUrl}/admin/metadata?mount=/live/${created.stream_id}&mode=updinfo&song=${encodeURIComponent(song)}`,
    password: created.publish_token, relay, id: created.stream_id,
    stop: async () => { await stop(src); relay.stop(); await relay.exited; },
  };
}

function icecastConfig(port) {
  const path = join(dir, `icecast-${port}.xml`);
  writeFileSync(path, `<icecast>
  <location>127.0.0.1</location><admin>bench@localhost</admin><hostname>127.0.0.1</hostname>
  <limits><clients>30000</clients><sources>2</sources><queue-size>524288</queue-size><client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout><source-timeout>10</source-timeout><burst-on-connect>1</burst-on-connect><burst-size>20000</burst-size></limits>
  <authentication><source-password>benchpass</source-password><admin-user>admin</admin-user><admin-password>benchpass</admin-password></authentication>
  <listen-socket><port>${port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <paths><basedir>/usr/share/icecast2</basedir><logdir>${dir}</logdir><webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot><pidfile>${dir}/icecast-${port}.pid</pidfile></paths>
  <logging><accesslog>access-${port}.log</accesslog><errorlog>error-${port}.log</errorlog><loglevel>2</loglevel></logging>
  <security><chroot>0</chroot><changeowner><user>nobody</user><group>nogroup</group></changeowner></security>
</icecast>`);
  return path;
}

async function icecastStation(updates = true) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const ice = pinned(SERVER_CPUS, ['icecast2', '-c', icecastConfig(port)]);
  await until('Icecast', async () => (await fetch(`${base}/status-json.xsl`)).status === 200);
  const src = ezstream('127.0.0.1', port, 'benchpass', '/live.mp3', updates);
  await until('Icecast\'s mount', async () => /live\.mp3/.test(await (await fetch(`${base}/status-json.xsl`)).text()));
  // 2 s of the stream through Icecast, as for the relay: a full burst for every joiner.
  await until('2 s of Icecast\'s stream', () => mp3Reached(`${base}/live.mp3`, 2));
  return {
    name: 'icecast', pid: ice.pid, src, alive: () => !ice.gone(),
    http: ['--http', `${base}/live.mp3`],
    update: (song) => `${base}/admin/metadata?mount=/live.mp3&mode=updinfo&song=${encodeURIComponent(song)}`,
    password: 'benchpass', base,
    stop: async () => { await stop(src); await stop(ice); },
  };
}

// --- 1. fan-out --------------------------------------------------------------------------------------
async function load(args, n) {
  const p = pinned(CLIENT_CPUS, [CLIENT, 'load', '--seconds', String(HOLD_S), '--ramp-per-s', String(RAMP_PER_S), '--workers', '1',
    ...args, '--listeners', String(n)], ['ignore', 'pipe', 'pipe']);
  let out = '';
  p.child.stdout.on('data', (d) => { out += d; });
  const watchdog = setTimeout(() => p.child.kill('SIGKILL'), (n / RAMP_PER_S + HOLD_S + 120) * 1000);
  const code = await p.exited;
  clearTimeout(watchdog);
  const kv = (l) => Object.fromEntries(l.split(' ').slice(1).map((x) => x.split('=')).map(([k, v]) => [k, Number(v)]));
  const line = (prefix) => out.split('\n').find((l) => l.startsWith(prefix + ' '));
  if (code !== 0 || !line('LOAD')) return { lost: `relay-client load exited with ${code}` };
  const r = { ...kv(line('LOAD')), ...(line('SERVER') ? kv(line('SERVER')) : {}) };
  console.log(`#   ${n}: ${JSON.stringify(r)}`);
  return r;
}

async function search(label, start, listenerArgs) {
  let best = null;
  let first = null;
  for (const n of COUNTS) {
    console.log(`# ${label}: ${n} listeners for ${HOLD_S} s`);
    let st;
    try {
      st = await start();
    } catch (e) {
      lost.push(`${label} (${e.message})`);
      return { best: null, first, lost: true };
    }
    try {
      const r = await load([...listenerArgs(st), '--server-pid', String(st.pid)], n);
      await sleep(0); // (exit events of the trial seen)
      if (r.lost || st.src.gone() || !st.alive()) {
        lost.push(`${label} at ${n}: ${r.lost || (st.alive() ? 'ezstream exited' : `${st.name} exited`)}`);
        return { best: null, first, lost: true };
      }
      first ??= { n, ...r };
      if (r.listeners === n && r.ok === n) { best = { n, ...r }; break; }
    } finally {
      await st.stop();
    }
  }
  return { best, first, lost: false };
}

function bench(name, value, unit, digits = 0) {
  const ok = typeof value === 'number' && Number.isFinite(value);
  console.log(`BENCH ${name} ${ok ? value.toFixed(digits) : 'nan'} ${unit}`);
  if (!ok) missing.push(name);
  return ok ? value : NaN;
}
const ratio = (x, y) => (Number.isFinite(x) && Number.isFinite(y) && y !== 0 ? x / y : NaN);

const fan = {
  icecast_mp3: await search('Icecast 2, MP3 mount', icecastStation, (s) => s.http),
  relay_mp3_ws: await search('relay /ws', relayStation, (s) => s.ws),
  relay_mp3_http: await search('relay HTTP Ogg', relayStation, (s) => s.http),
};
const held = {};
for (const [p, r] of Object.entries(fan)) {
  const b = r.best || r.first || {};
  held[p] = { ...b, n: r.lost ? NaN : r.best ? r.best.n : 0 };
  bench(`${p}_listeners_ok`, held[p].n, 'listeners');
  bench(`${p}_rss_per_listener_bytes`, b.rss_per_listener_bytes, 'bytes');
  bench(`${p}_join_ms_p95`, b.join_ms_p95, 'ms', 1);
}
const same = `both fed by ezstream (the same MP3 playlist, config differing in host, port, password and mount), server and ezstream on core ${SERVER_CPUS}, `
  + `relay-client load on core ${CLIENT_CPUS}, joining at ${RAMP_PER_S}/s, held ${HOLD_S} s, 500 ms start buffer`;
for (const p of ['relay_mp3_ws', 'relay_mp3_http']) {
  console.log(`# ${p} vs icecast_mp3: listeners all held underrun-free (largest of ${COUNTS.join('/')}): ${held[p].n} vs ${held.icecast_mp3.n}; ${same}`);
  bench(`${p}_vs_icecast_listeners_ratio`, ratio(held[p].n, held.icecast_mp3.n), 'x', 3);
  console.log(`# ${p} vs icecast_mp3: RSS growth per listener, each at its own N; ${same}`);
  bench(`${p}_vs_icecast_rss_per_listener_ratio`, ratio(held[p].rss_per_listener_bytes, held.icecast_mp3.rss_per_listener_bytes), 'x', 3);
  console.log(`# ${p} vs icecast_mp3: join p95, each at its own N; ${same}`);
  bench(`${p}_vs_icecast_join_p95_ratio`, ratio(held[p].join_ms_p95, held.icecast_mp3.join_ms_p95), 'x', 3);
}

// --- 2. title delay -------------------------------------------------------------------------------------
/** A player's clock: audio arrives (`frames` at `rate` at time `now`); playback starts once
 * BUFFER_S is held; `audibleAt(pos)` is when stream position `pos` (from the first frame) plays. */
class Player {
  constructor() { this.first = null; this.have = 0; this.startAt = null; }
  arrive(frames, rate, now) {
    this.have += frames / rate;
    if (this.startAt === null && this.have >= BUFFER_S) this.startAt = now;
  }
  audibleAt(posS) { return this.startAt === null ? NaN : this.startAt + posS * 1000; }
}

function relayTitleListener(st) {
  const ws = new WebSocket(st.relay.url.replace('http', 'ws') + '/ws');
  ws.binaryType = 'arraybuffer';
  const p = new Player();
  const titles = [];
  let first = null;
  ws.onopen = () => ws.send(JSON.stringify({ type: 'listen', data: { stream_id: st.id, token: '', codec: 'opus' } }));
  ws.onmessage = (e) => {
    const now = performance.now();
    if (typeof e.data === 'string') {
      const m = JSON.parse(e.data);
      if (m.type === 'metadata') titles.push({ title: m.data.title, receivedAt: now, posS: first === null ? 0 : (m.data.sample - first) / 48000 });
      return;
    }
    const v = new DataView(e.data);
    const pos = Number(v.getBigUint64(8, true));
    const frames = v.getUint32(16, true);
    if (first === null) first = pos;
    p.arrive(frames, 48000, now);
  };
  return { titles, player: p, close: () => ws.close() };
}

function icecastTitleListener(st) {
  const p = new Player();
  const titles = [];
  const sock = tcpConnect(Number(new URL(st.base).port), '127.0.0.1');
  sock.write('GET /live.mp3 HTTP/1.0\r\nHost: 127.0.0.1\r\nIcy-MetaData: 1\r\nUser-Agent: bench\r\n\r\n');
  let buf = Buffer.alloc(0);
  let metaint = 0, toMeta = 0, head = true, posS = 0, now = 0, frameS = 1152 / 44100, frameBytes = 522;
  const frames = new Mp3Frames((sec, len) => { p.arrive(sec, 1, now); posS += sec; frameS = sec; frameBytes = len; });
  sock.on('data', (d) => {
    now = performance.now();
    buf = Buffer.concat([buf, d]);
    if (head) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /icy-metaint:\s*(\d+)/i.exec(buf.subarray(0, end).toString('latin1'));
      metaint = m ? Number(m[1]) : 0;
      toMeta = metaint;
      buf = buf.subarray(end + 4);
      head = false;
    }
    for (;;) {
      if (metaint && toMeta === 0) {
        if (buf.length < 1) break;
        const len = buf[0] * 16;
        if (buf.length < 1 + len) break;
        const meta = buf.subarray(1, 1 + len).toString('utf8');
        const t = /StreamTitle='(.*?)';/.exec(meta);
        // Icecast put the title between audio bytes: its position is the audio before it,
        // whole frames and the part of the next one received.
        if (t) titles.push({ title: t[1], receivedAt: now, posS: posS + (frames.pending() / frameBytes) * frameS });
        buf = buf.subarray(1 + len);
        toMeta = metaint;
        continue;
      }
      const take = metaint ? Math.min(toMeta, buf.length) : buf.length;
      if (take === 0) break;
      frames.push(buf.subarray(0, take));
      buf = buf.subarray(take);
      if (metaint) toMeta -= take;
    }
  });
  sock.on('error', () => {});
  return { titles, player: p, close: () => sock.destroy() };
}

async function titleDelays(label, start, listen) {
  // (ezstream's own title updates off: the bench's are the only ones.)
  const st = await start(false);
  try {
    const l = listen(st);
    await sleep(3000); // listening, playing (the start buffer filled)
    const sent = [];
    const auth = `Basic ${Buffer.from(`source:${st.password}`).toString('base64')}`;
    for (let k = 0; k < TITLES; k++) {
      const song = `Bench title ${k} ${label}`;
      const t0 = performance.now();
      const r = await fetch(st.update(song), { headers: { Authorization: auth } });
      if (r.status !== 200) throw new Error(`metadata update: HTTP ${r.status}`);
      sent.push({ song, t0 });
      await sleep(2500);
    }
    await sleep(3000);
    l.close();
    const out = [];
    for (const s of sent) {
      // (Icecast keeps the artist ezstream sent last: "artist - song".)
      const got = l.titles.find((t) => t.title.includes(s.song));
      if (!got) { out.push({ event: NaN, audible: NaN }); continue; }
      out.push({ event: got.receivedAt - s.t0, audible: l.player.audibleAt(got.posS) - s.t0 });
    }
    console.log(`# ${label}: title delays (ms) ${JSON.stringify(out.map((o) => [Math.round(o.event), Math.round(o.audible)]))}`);
    return out;
  } finally {
    await st.stop();
  }
}
const med = (xs) => {
  if (!xs.length || !xs.every(Number.isFinite)) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const max = (xs) => (xs.every(Number.isFinite) ? Math.max(...xs) : NaN);
let rel = [], ice = [];
try { rel = await titleDelays('relay', relayStation, relayTitleListener); } catch (e) { lost.push(`relay titles (${e.message})`); }
try { ice = await titleDelays('icecast', icecastStation, icecastTitleListener); } catch (e) { lost.push(`icecast titles (${e.message})`); }
for (const [p, r] of [['relay_title', rel], ['icecast_title', ice]]) {
  bench(`${p}_event_ms_p50`, med(r.map((x) => x.event)), 'ms', 1);
  bench(`${p}_event_ms_max`, max(r.map((x) => x.event)), 'ms', 1);
  bench(`${p}_audible_ms_p50`, med(r.map((x) => x.audible)), 'ms', 1);
  bench(`${p}_audible_ms_max`, max(r.map((x) => x.audible)), 'ms', 1);
}
console.log(`# title delay: ${TITLES} updates 2.5 s apart by /admin/metadata (source credentials) while ezstream streams; one listener each `
  + `(relay /ws: its metadata message; Icecast: Icy-MetaData StreamTitle in the MP3 stream); audible: a player started with ${BUFFER_S * 1000} ms buffered`);
bench('relay_vs_icecast_title_event_ratio', ratio(med(rel.map((x) => x.event)), med(ice.map((x) => x.event))), 'x', 3);
bench('relay_vs_icecast_title_audible_ratio', ratio(med(rel.map((x) => x.audible)), med(ice.map((x) => x.audible))), 'x', 3);

if (lost.length || missing.length) {
  console.log(`# LOST TRIALS: ${[...lost, ...(missing.length ? [`missing figures: ${missing.join(', ')}`] : [])].join('; ')}`);
  process.exitCode = 1;
}
