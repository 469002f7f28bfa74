// Live fan-out on this machine: one 128 kbit/s Opus live stream published by ffmpeg (-re, over
// icecast://) and N real-time listeners held by `relay-client load` on 127.0.0.1, measured for
// this relay and, in the same run and the same way, for Debian's Icecast 2.
//
// What every peer gets alike (the bench is a comparison, so nothing may differ but the server):
// - The same input: the IDENTICAL ffmpeg command (`publisher` below; only the URL differs),
//   from the start of the same file, on a fresh server and a fresh stream for every trial (so
//   each RSS figure starts from a clean process: an allocator keeps what a bigger trial took).
// - The same page duration, at two durations, both reported: 200 ms Ogg pages (-page_duration
//   200000; the main, unsuffixed figures: the relay re-frames whatever it is fed to 200 ms
//   frames, and Icecast forwards each page it is fed as one send per listener, so only at 200 ms
//   do both send the same number of messages) and 20 ms pages (-page_duration 20000; suffix
//   `_p20ms`: what Icecast costs when fed ffmpeg's small pages).
// - The same work: N listeners joining at RAMP_PER_S, each held HOLD_S after the last joined,
//   by the same client with the same 500 ms start buffer; the same burst for a late joiner (the
//   relay's default 1 s; Icecast's burst-size set to 1 s of this stream, not its 64 KiB default).
// - The same CPUs: the server under test (relay-server or icecast2) on core SERVER_CPUS (0), with
//   the ffmpeg publisher beside it on the same core (it is the same for both and must not take
//   the load client's core); `relay-client load` alone on core CLIENT_CPUS (1), so the client's
//   cost per listener (a parse per Ogg page) never competes with the server it measures.
//
// A trial is N listeners for HOLD_S; a search tries COUNTS from the largest down and reports the
// largest N whose listeners all held (relay-client load's `ok`: no error, no underrun, played
// >= 90 % of their connection), with the server's RSS per listener, CPU per listener-minute and
// join latency (connect to first audio byte) at that N, and the share of the first (largest) N
// that held.
//   live_*: this relay over /ws (its own protocol, Opus frames);
//   live_http_*: this relay over HTTP Ogg (/live/{id}.ogg on its Icecast-compatible port), the
//     way Icecast serves;
//   icecast_*: Icecast 2 over HTTP Ogg.
// Prints BENCH lines. A run that loses a trial (the load client failed or printed no LOAD line, a
// server or the publisher exited early, a server never got ready, a figure is missing) exits 1
// and names them on a last `# LOST TRIALS:` line.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync, readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, sleep, startRelay } from '../support/processes.mjs';

const KEY = 'bench-key';
const HOLD_S = Number(process.env.LIVE_HOLD_S || 60);
// Listeners join at this rate (both servers alike): 10 s to bring 10000 in.
const RAMP_PER_S = Number(process.env.LIVE_RAMP_PER_S || 1000);
const COUNTS = (process.env.LIVE_COUNTS || '10000,5000,2000,1000,500').split(',').map(Number);
// Ogg page durations fed to both servers, ms; the first is the main figure (no suffix).
const PAGES_MS = (process.env.LIVE_PAGES_MS || '200,20').split(',').map(Number);
const SERVER_CPUS = process.env.LIVE_SERVER_CPUS || '0';
const CLIENT_CPUS = process.env.LIVE_CLIENT_CPUS || '1';
// The stream has played this much (its newest page's granule) before listeners come: both
// servers then have a full 1 s burst for every joiner.
const WARM_S = 2;
const READY_DEADLINE_MS = 20_000;
const CLIENT = join(ROOT, 'target', 'release', 'relay-client');
const SOURCE = join(ROOT, 'media', 'aurora-48k.flac');
const suffixOf = (pageMs) => (pageMs === PAGES_MS[0] ? '' : `_p${pageMs}ms`);

const lost = []; // trials this run lost, for the last line and the exit status
const missing = []; // figures it could not give (NaN)
const children = new Set(); // killed if this script dies first (ffmpeg loops forever)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(130); });
process.on('exit', killAll);
function killAll() {
  for (const c of children) try { c.kill('SIGKILL'); } catch {}
}

/** Spawns `argv` pinned to `cpus` (taskset execs it: the pid is the program's) and tracks it:
 * `exited` resolves with the exit code, `gone()` tells whether it already exited. */
function pinned(cpus, argv, stdio) {
  const child = spawn('taskset', ['-c', cpus, ...argv], { stdio });
  children.add(child);
  let code = null;
  const exited = new Promise((ok) => child.once('exit', (c, s) => { code = c ?? s; children.delete(child); ok(code); }));
  return { child, pid: child.pid, exited, gone: () => code !== null, code: () => code };
}

function publisher(url, pageMs) {
  // The same command for both servers: real time, Opus 128k, `pageMs` Ogg pages, looping.
  const p = pinned(SERVER_CPUS, ['ffmpeg', '-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', SOURCE,
    '-c:a', 'libopus', '-b:a', '128k', '-page_duration', String(pageMs * 1000), '-content_type', 'audio/ogg', '-f', 'ogg', url],
  ['ignore', 'ignore', 'pipe']);
  p.stderr = '';
  p.child.stderr.on('data', (d) => { p.stderr = (p.stderr + d).slice(-500); });
  return p;
}

async function stopProcess(p, signal = 'SIGTERM', graceMs = 15_000) {
  if (p.gone()) return;
  p.child.kill(signal);
  const t = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(t);
}

async function fetchText(url, init) {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
  return { status: r.status, text: await r.text() };
}

/** Polls `check` (truthy = ready; throws = not yet) every 100 ms until READY_DEADLINE_MS. */
async function until(what, check) {
  const deadline = Date.now() + READY_DEADLINE_MS;
  let last = '';
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      last = `: ${e.message}`;
    }
    if (Date.now() > deadline) throw new Error(`${what} not within ${READY_DEADLINE_MS / 1000} s${last}`);
    await sleep(100);
  }
}

/** Resolves once an HTTP Ogg listener of `url` sees a page at or past `seconds` of the stream
 * (granule position at 48 kHz): audio flows and the server holds a full burst. */
function streamReached(url, seconds) {
  return new Promise((ok, fail) => {
    const req = httpGet(url, (res) => {
      if (res.statusCode !== 200) { res.resume(); req.destroy(); fail(new Error(`HTTP ${res.statusCode}`)); return; }
      let buf = Buffer.alloc(0);
      res.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 27) {
          if (buf.toString('latin1', 0, 4) !== 'OggS') { req.destroy(); fail(new Error('lost Ogg sync')); return; }
          const segs = buf[26];
          if (buf.length < 27 + segs) break;
          let len = 27 + segs;
          for (let i = 0; i < segs; i++) len += buf[27 + i];
          if (buf.length < len) break;
          const granule = buf.readBigInt64LE(6);
          buf = buf.subarray(len);
          if (granule >= BigInt(Math.round(seconds * 48000))) { req.destroy(); ok(); return; }
        }
      });
      res.on('error', () => {});
      res.on('end', () => fail(new Error('stream ended')));
    });
    req.setTimeout(5000, () => { req.destroy(); fail(new Error('no page for 5 s')); });
    req.on('error', (e) => fail(e));
    const t = setTimeout(() => { req.destroy(); fail(new Error(`not at ${seconds} s of the stream`)); }, READY_DEADLINE_MS);
    req.on('close', () => clearTimeout(t));
  });
}

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
    s.on('error', fail);
  });
}

// relay-client load runs its listeners on a tokio runtime; a `--workers` option, when it has
// one, sets its threads to one for its one core (without it, it runs its fixed threads, all on
// CLIENT_CPUS).
const CLIENT_HAS_WORKERS = (spawnSync(CLIENT, ['load', '--help'], { encoding: 'utf8' }).stdout || '').includes('--workers');
const CLIENT_THREADS = CLIENT_HAS_WORKERS ? ['--workers', String(CLIENT_CPUS.split(',').length)] : [];

/** One run of relay-client load, pinned to CLIENT_CPUS: its LOAD and SERVER figures, or
 * `{ lost: reason }`. */
async function load(args) {
  const p = pinned(CLIENT_CPUS, [CLIENT, 'load', '--seconds', String(HOLD_S), '--ramp-per-s', String(RAMP_PER_S),
    ...CLIENT_THREADS, ...args], ['ignore', 'pipe', 'pipe']);
  let stdout = '', stderr = '';
  p.child.stdout.on('data', (d) => { stdout += d; });
  p.child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-2000); });
  const n = Number(args[args.indexOf('--listeners') + 1]);
  const watchdog = setTimeout(() => p.child.kill('SIGKILL'), (n / RAMP_PER_S + HOLD_S + 120) * 1000);
  const code = await p.exited;
  clearTimeout(watchdog);
  const line = (prefix) => stdout.split('\n').find((l) => l.startsWith(prefix + ' '));
  const kv = (l) => Object.fromEntries(l.split(' ').slice(1).map((x) => x.split('=')).map(([k, v]) => [k, Number(v)]));
  if (stderr.trim()) console.log(`#   client stderr: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  if (code !== 0) return { lost: `relay-client load exited with ${code}` };
  if (!line('LOAD')) return { lost: 'relay-client load printed no LOAD line' };
  const out = { ...kv(line('LOAD')), ...(line('SERVER') ? kv(line('SERVER')) : {}) };
  console.log(`#   ${args.includes('--http') ? 'http' : 'ws'} ${JSON.stringify(out)}`);
  return out;
}

// --- this relay ---------------------------------------------------------------------------------
async function relayTrial(kind, pageMs, n) {
  const relay = await startRelay({ cpus: SERVER_CPUS, args: ['--api-key', KEY, '--max-listeners', '30000'] });
  let relayGone = false;
  relay.exited.then(() => { relayGone = true; });
  let pub = null;
  try {
    const created = await (await fetch(relay.url + '/api/streams', { method: 'POST', headers: { Authorization: `Bearer ${KEY}` } })).json();
    const id = created.stream_id;
    const ogg = `${relay.ingestUrl}/live/${id}.ogg?token=${created.listen_token}`;
    pub = publisher(`icecast://source:${created.publish_token}@${relay.ingestUrl.replace('http://', '')}/live/${id}`, pageMs);
    try {
      // The producer connected (the relay's /metrics), then its audio flows through the relay.
      await until('the relay\'s producer', async () => {
        if (pub.gone()) throw new Error(`ffmpeg exited: ${pub.stderr.trim()}`);
        return (await fetchText(relay.url + '/metrics')).text.includes(`relay_live_producers{stream="${id}"} 1`);
      });
      await until(`${WARM_S} s of the relay's stream`, () => streamReached(ogg, WARM_S).then(() => true));
    } catch (e) {
      return { lost: e.message };
    }
    const args = kind === 'ws'
      ? ['--server', relay.url, '--stream', id, '--token', created.listen_token]
      : ['--http', ogg];
    const r = await load([...args, '--listeners', String(n), '--server-pid', String(relay.pid)]);
    await sleep(0); // lets exit events that came during the trial be seen
    if (relayGone) return { lost: 'relay-server exited during the trial' };
    if (pub.gone()) return { lost: `ffmpeg exited during the trial: ${pub.stderr.trim()}` };
    return r;
  } finally {
    if (pub) await stopProcess(pub, 'SIGKILL');
    if (!relayGone) {
      const t = setTimeout(() => relay.kill(), 15_000);
      relay.stop();
      await relay.exited;
      clearTimeout(t);
    }
  }
}

// --- Icecast 2 ----------------------------------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'bench-icecast-'));
chmodSync(dir, 0o777); // icecast drops root for nobody and writes its logs here
// A late joiner's burst: 1 s of this stream (128 kbit/s of Opus and its Ogg framing), as the relay's.
const ICECAST_BURST_BYTES = 17000;
function icecastConfig(port) {
  const path = join(dir, 'icecast.xml');
  writeFileSync(path, `<icecast>
  <location>127.0.0.1</location><admin>bench@localhost</admin><hostname>127.0.0.1</hostname>
  <limits><clients>30000</clients><sources>2</sources><queue-size>524288</queue-size><client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout><source-timeout>10</source-timeout><burst-on-connect>1</burst-on-connect><burst-size>${ICECAST_BURST_BYTES}</burst-size></limits>
  <authentication><source-password>benchpass</source-password><admin-user>admin</admin-user><admin-password>benchpass</admin-password></authentication>
  <listen-socket><port>${port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>1</fileserve>
  <paths><basedir>/usr/share/icecast2</basedir><logdir>${dir}</logdir><webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot><pidfile>${dir}/icecast.pid</pidfile></paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>2</loglevel></logging>
  <security><chroot>0</chroot><changeowner><user>nobody</user><group>nogroup</group></changeowner></security>
</icecast>`);
  return path;
}
function icecastLog() {
  try {
    return readFileSync(join(dir, 'error.log'), 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return '';
  }
}

async function icecastTrial(pageMs, n) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const icecast = pinned(SERVER_CPUS, ['icecast2', '-c', icecastConfig(port)], 'ignore');
  let pub = null;
  try {
    try {
      const status = () => {
        if (icecast.gone()) throw new Error(`icecast2 exited with ${icecast.code()}: ${icecastLog()}`);
        return fetchText(`${base}/status-json.xsl`);
      };
      await until('Icecast\'s status page', async () => (await status()).status === 200);
      pub = publisher(`icecast://source:benchpass@127.0.0.1:${port}/live.ogg`, pageMs);
      // The mount exists (Icecast's status page lists it), then its audio flows through Icecast.
      await until('Icecast\'s mount /live.ogg', async () => {
        if (pub.gone()) throw new Error(`ffmpeg exited: ${pub.stderr.trim()}`);
        return /"listenurl"\s*:\s*"[^"]*\/live\.ogg"/.test((await status()).text);
      });
      await until(`${WARM_S} s of Icecast's stream`, () => streamReached(`${base}/live.ogg`, WARM_S).then(() => true));
    } catch (e) {
      return { lost: e.message };
    }
    const r = await load(['--http', `${base}/live.ogg`, '--listeners', String(n), '--server-pid', String(icecast.pid)]);
    await sleep(0);
    if (icecast.gone()) return { lost: `icecast2 exited during the trial (${icecast.code()}): ${icecastLog()}` };
    if (pub.gone()) return { lost: `ffmpeg exited during the trial: ${pub.stderr.trim()}` };
    return r;
  } finally {
    if (pub) await stopProcess(pub, 'SIGKILL');
    await stopProcess(icecast);
  }
}

// --- the searches -------------------------------------------------------------------------------
/** The largest of COUNTS whose listeners all held; a lost trial ends the search (a count it did
 * not measure cannot be passed over). */
async function search(label, trial) {
  const runs = [];
  for (const n of COUNTS) {
    console.log(`# ${label}: ${n} listeners for ${HOLD_S} s`);
    const r = await trial(n).catch((e) => ({ lost: e.message }));
    if (r.lost) {
      console.log(`#   LOST: ${r.lost}`);
      lost.push(`${label} at ${n} listeners (${r.lost})`);
      return { best: null, runs, lost: true };
    }
    runs.push({ n, ...r });
    if (r.listeners === n && r.ok === n) return { best: { n, ...r }, runs, lost: false };
  }
  return { best: null, runs, lost: false };
}

function bench(name, value, unit, digits = 0) {
  const ok = typeof value === 'number' && Number.isFinite(value);
  console.log(`BENCH ${name} ${ok ? value.toFixed(digits) : 'nan'} ${unit}`);
  if (!ok) missing.push(name);
  return ok ? value : NaN;
}

function report(prefix, suffix, res) {
  const first = res.runs[0];
  bench(`${prefix}_listeners_ok${suffix}`, res.lost ? NaN : res.best ? res.best.n : 0, 'listeners');
  const n0 = first ? first.n : COUNTS[0];
  bench(`${prefix}_${n0}_ok_pct${suffix}`, first ? (100 * first.ok) / first.n : NaN, '%', 2);
  // The figures of the largest N held, or of the first trial when none held.
  const b = res.best || first || {};
  bench(`${prefix}_rss_per_listener_bytes${suffix}`, b.rss_per_listener_bytes, 'bytes');
  bench(`${prefix}_cpu_ms_per_listener_minute${suffix}`, b.cpu_ms_per_listener_minute, 'ms', 2);
  bench(`${prefix}_join_ms_p50${suffix}`, b.join_ms_p50, 'ms', 1);
  bench(`${prefix}_join_ms_p95${suffix}`, b.join_ms_p95, 'ms', 1);
  const held = res.lost ? NaN : res.best ? res.best.n : 0;
  const heldTxt = res.best ? `held ${res.best.n}` : b.n ? `held none, figures at ${b.n}` : 'lost';
  return { ...b, held, heldTxt };
}

const results = [];
for (const pageMs of PAGES_MS) {
  const tag = `${pageMs} ms pages`;
  const ws = await search(`relay /ws, ${tag}`, (n) => relayTrial('ws', pageMs, n));
  const http = await search(`relay HTTP Ogg (Icecast-compatible port), ${tag}`, (n) => relayTrial('http', pageMs, n));
  const ice = await search(`Icecast 2, ${tag}`, (n) => icecastTrial(pageMs, n));
  results.push({ pageMs, ws, http, ice });
}

for (const { pageMs, ws, http, ice } of results) {
  const sfx = suffixOf(pageMs);
  console.log(`# --- ${pageMs} ms Ogg pages fed to both servers${sfx ? ` (suffix ${sfx})` : ' (main figures)'} ---`);
  const a = report('live', sfx, ws);
  const h = report('live_http', sfx, http);
  const i = report('icecast', sfx, ice);
  const same = `both fed the identical ffmpeg command (Opus 128k, -page_duration ${pageMs * 1000}), each on a fresh server `
    + `pinned to core ${SERVER_CPUS} with its publisher, listeners by relay-client load pinned to core ${CLIENT_CPUS}, `
    + `joining at ${RAMP_PER_S}/s and held ${HOLD_S} s`;
  const ratio = (x, y) => (Number.isFinite(x) && Number.isFinite(y) && y !== 0 ? x / y : NaN);
  for (const [p, side, r] of [['live', 'relay /ws (Opus frames, 200 ms each)', a], ['live_http', 'relay HTTP Ogg (200 ms pages)', h]]) {
    const iceSide = `Icecast 2 HTTP Ogg (forwards the ${pageMs} ms pages)`;
    const n = (x) => (Number.isFinite(x) ? x : 'lost');
    console.log(`# ${side} vs ${iceSide}: largest N of ${COUNTS.join('/')} all held (${n(r.held)} vs ${n(i.held)}); ${same}`);
    bench(`${p}_vs_icecast_listeners_ratio${sfx}`, ratio(r.held, i.held), 'x', 3);
    console.log(`# ${side} vs ${iceSide}: server RSS growth per listener, each at its own N (${r.heldTxt} vs ${i.heldTxt}); ${same}`);
    bench(`${p}_vs_icecast_rss_per_listener_ratio${sfx}`, ratio(r.rss_per_listener_bytes, i.rss_per_listener_bytes), 'x', 3);
    console.log(`# ${side} vs ${iceSide}: join p95 (connect to first audio byte), each at its own N (${r.heldTxt} vs ${i.heldTxt}); ${same}`);
    bench(`${p}_vs_icecast_join_p95_ratio${sfx}`, ratio(r.join_ms_p95, i.join_ms_p95), 'x', 3);
  }
}

if (!CLIENT_HAS_WORKERS) console.log(`# note: relay-client load has no --workers option: its fixed worker threads all ran on core ${CLIENT_CPUS}`);
if (lost.length || missing.length) {
  console.log(`# LOST TRIALS: ${[...lost, ...(missing.length ? [`missing figures: ${missing.join(', ')}`] : [])].join('; ')}`);
  process.exitCode = 1;
}
