// Live fan-out on this machine: one 128 kbit/s Opus live stream published by ffmpeg (-re, over
// icecast://) and N real-time listeners held by `relay-client load` on 127.0.0.1, measured for
// this relay and, in the same run and the same way, for Debian's Icecast 2 fed by the same
// ffmpeg command, each trial on a fresh server. The largest N (of 10000, 5000, 2000, 1000, 500)
// whose listeners all play 60 s
// without an underrun is reported, with the server's RSS per listener, CPU per listener-minute
// and join latency (connect to first audio byte).
//   live_*: this relay over /ws (its own protocol, Opus frames);
//   live_http_*: this relay over HTTP Ogg (/live/{id}.ogg on its Icecast-compatible port), the
//     way Icecast serves;
//   icecast_*: Icecast 2 over HTTP Ogg.
// Prints BENCH lines.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startRelay } from '../e2e/lib.mjs';

const KEY = 'bench-key';
const HOLD_S = Number(process.env.LIVE_HOLD_S || 60);
// Listeners join at this rate (both servers alike): 10 s to bring 10000 in.
const RAMP_PER_S = Number(process.env.LIVE_RAMP_PER_S || 1000);
const COUNTS = (process.env.LIVE_COUNTS || '10000,5000,2000,1000,500').split(',').map(Number);
const CLIENT = join(ROOT, 'target', 'release', 'relay-client');
const SOURCE = join(ROOT, 'media', 'aurora-48k.flac');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function publisher(url) {
  // The same command for both servers: real time, Opus 128k, 20 ms Ogg pages, looping.
  return spawn('ffmpeg', ['-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', SOURCE, '-c:a', 'libopus',
    '-b:a', '128k', '-page_duration', '20000', '-content_type', 'audio/ogg', '-f', 'ogg', url], { stdio: 'ignore' });
}

function load(args) {
  const r = spawnSync(CLIENT, ['load', '--seconds', String(HOLD_S), '--ramp-per-s', String(RAMP_PER_S), ...args],
    { encoding: 'utf8', maxBuffer: 1 << 20 });
  const line = (p) => (r.stdout.split('\n').find((l) => l.startsWith(p)) || '');
  const kv = (l) => Object.fromEntries(l.split(' ').slice(1).map((p) => p.split('=')).map(([k, v]) => [k, Number(v)]));
  if (r.status !== 0) console.log(`# relay-client load failed: ${r.stderr.slice(-300)}`);
  const out = { ...kv(line('LOAD')), ...kv(line('SERVER')) };
  console.log(`#   ${args.includes('--http') ? 'http' : 'ws'} ${JSON.stringify(out)}`);
  return out;
}

function report(prefix, { best, runs }) {
  const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'nan');
  const first = runs[0];
  console.log(`BENCH ${prefix}_listeners_ok ${best ? best.n : 0} listeners`);
  if (first) console.log(`BENCH ${prefix}_${first.n}_ok_pct ${f((100 * first.ok) / first.n, 2)} %`);
  const b = best || first;
  if (!b) return;
  console.log(`BENCH ${prefix}_rss_per_listener_bytes ${f(b.rss_per_listener_bytes)} bytes`);
  console.log(`BENCH ${prefix}_cpu_ms_per_listener_minute ${f(b.cpu_ms_per_listener_minute, 2)} ms`);
  console.log(`BENCH ${prefix}_join_ms_p50 ${f(b.join_ms_p50, 1)} ms`);
  console.log(`BENCH ${prefix}_join_ms_p95 ${f(b.join_ms_p95, 1)} ms`);
  return b;
}

// --- this relay ---------------------------------------------------------------------------------
// A fresh relay, stream and publisher for every trial, so each RSS figure starts from a clean
// process (an allocator keeps what a bigger trial took).
async function relayTrial(kind, n) {
  const relay = await startRelay({ args: ['--api-key', KEY, '--max-listeners', '30000'] });
  const created = await (await fetch(relay.url + '/api/streams', { method: 'POST', headers: { Authorization: `Bearer ${KEY}` } })).json();
  const ingest = relay.ingestUrl.replace('http://', '');
  const pub = publisher(`icecast://source:${created.publish_token}@${ingest}/live/${created.stream_id}`);
  await sleep(3000);
  const args = kind === 'ws'
    ? ['--server', relay.url, '--stream', created.stream_id, '--token', created.listen_token]
    : ['--http', `${relay.ingestUrl}/live/${created.stream_id}.ogg?token=${created.listen_token}`];
  const r = load([...args, '--listeners', String(n), '--server-pid', String(relay.pid)]);
  pub.kill('SIGKILL');
  relay.stop();
  await relay.exited;
  return r;
}

async function searchAsync(label, trial) {
  const runs = [];
  for (const n of COUNTS) {
    console.log(`# ${label}: ${n} listeners for ${HOLD_S} s`);
    const r = await trial(n);
    runs.push({ n, ...r });
    if (r.listeners === n && r.ok === n) return { best: { n, ...r }, runs };
  }
  return { best: null, runs };
}

const ws = await searchAsync('relay /ws', (n) => relayTrial('ws', n));
const http = await searchAsync('relay HTTP Ogg (Icecast-compatible port)', (n) => relayTrial('http', n));

// --- Icecast 2 ----------------------------------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'bench-icecast-'));
chmodSync(dir, 0o777); // icecast drops root for nobody and writes its logs here
const port = 18000 + Math.floor(Math.random() * 1000);
writeFileSync(join(dir, 'icecast.xml'), `<icecast>
  <location>127.0.0.1</location><admin>bench@localhost</admin><hostname>127.0.0.1</hostname>
  <limits><clients>30000</clients><sources>2</sources><queue-size>524288</queue-size><client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout><source-timeout>10</source-timeout><burst-on-connect>1</burst-on-connect><burst-size>65535</burst-size></limits>
  <authentication><source-password>benchpass</source-password><admin-user>admin</admin-user><admin-password>benchpass</admin-password></authentication>
  <listen-socket><port>${port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>1</fileserve>
  <paths><basedir>/usr/share/icecast2</basedir><logdir>${dir}</logdir><webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot><pidfile>${dir}/icecast.pid</pidfile></paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>1</loglevel></logging>
  <security><chroot>0</chroot><changeowner><user>nobody</user><group>nogroup</group></changeowner></security>
</icecast>`);
async function icecastTrial(n) {
  const icecast = spawn('icecast2', ['-c', join(dir, 'icecast.xml')], { stdio: 'ignore' });
  await sleep(1500);
  const ice = publisher(`icecast://source:benchpass@127.0.0.1:${port}/live.ogg`);
  await sleep(3000);
  const r = load(['--http', `http://127.0.0.1:${port}/live.ogg`, '--listeners', String(n), '--server-pid', String(icecast.pid)]);
  ice.kill('SIGKILL');
  icecast.kill('SIGTERM');
  await new Promise((ok) => icecast.once('exit', ok));
  return r;
}
const iceRuns = await searchAsync('Icecast 2', icecastTrial);

const a = report('live', ws);
const h = report('live_http', http);
const i = report('icecast', iceRuns);
const ratio = (x, y, d = 3) => (x && y && Number.isFinite(x) && Number.isFinite(y) && y !== 0 ? (x / y).toFixed(d) : 'nan');
console.log(`BENCH live_vs_icecast_listeners_ratio ${ratio(ws.best?.n || 0, iceRuns.best?.n || 0)} x`);
console.log(`BENCH live_http_vs_icecast_listeners_ratio ${ratio(http.best?.n || 0, iceRuns.best?.n || 0)} x`);
if (a && i) console.log(`BENCH live_vs_icecast_rss_per_listener_ratio ${ratio(a.rss_per_listener_bytes, i.rss_per_listener_bytes)} x`);
if (h && i) console.log(`BENCH live_http_vs_icecast_rss_per_listener_ratio ${ratio(h.rss_per_listener_bytes, i.rss_per_listener_bytes)} x`);
if (a && i) console.log(`BENCH live_vs_icecast_join_p95_ratio ${ratio(a.join_ms_p95, i.join_ms_p95)} x`);
