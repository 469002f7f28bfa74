// Processes the tests and benches start: the real relay (release build) on 127.0.0.1 with a
// free port, relay-client as the reference of what the server decodes, a stalling TCP proxy, a
// static file server, the npm package installed as a web developer would, test tones (sox).
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { readWavF32 } from './audio.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const BIN = process.env.RELAY_BIN_DIR || join(ROOT, 'target', 'release');

export const ARTIFACTS = join(ROOT, 'target', 'e2e');
mkdirSync(ARTIFACTS, { recursive: true });

/** Starts relay-server on 127.0.0.1:0 and resolves once it prints its address. `cpus` (e.g.
 * '0') pins it to those CPUs with `taskset -c` (which execs it: `pid` stays the relay's). */
export async function startRelay({ media = join(ROOT, 'media'), args = [], listen = '127.0.0.1:0', cpus = null } = {}) {
  const argv = [join(BIN, 'relay-server'), '--listen', listen, '--media', media,
    '--web-dir', join(ROOT, 'web'), '--worklet-dir', join(ROOT, 'worklet'), '--ingest-listen', '127.0.0.1:0', ...args];
  if (cpus != null) argv.unshift('taskset', '-c', String(cpus));
  const child = spawn(argv[0], argv.slice(1), {
    env: { ...process.env, RUST_LOG: 'warn,symphonia_core=off' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let ingestUrl = null;
  const url = await new Promise((ok, fail) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', (line) => {
      const m = line.match(/http:\/\/(\S+)/);
      const i = line.match(/Icecast source port http:\/\/([^\s)]+)/);
      if (i) ingestUrl = `http://${i[1]}`;
      m ? ok(`http://${m[1]}`) : fail(new Error(`unexpected relay output: ${line}`));
    });
    child.once('exit', (code) => fail(new Error(`relay-server exited with ${code}`)));
  });
  return { url, ingestUrl, pid: child.pid, stop: () => child.kill('SIGTERM'), kill: () => child.kill('SIGKILL'), exited: new Promise((ok) => child.once('exit', ok)) };
}

/** The server's decode of a track, as a listener receives it (relay-client fetch, pcm_f32). */
export function referenceDecode(serverUrl, trackId, positionS = 0) {
  const dir = mkdtempSync(join(tmpdir(), 'e2e-ref-'));
  const out = join(dir, 'ref.wav');
  execFileSync(join(BIN, 'relay-client'), ['fetch', '--server', serverUrl, '--track', trackId, '--codec', 'pcm_f32',
    '--position-s', String(positionS), '--out', out], { stdio: ['ignore', 'ignore', 'inherit'] });
  return readWavF32(out);
}

export function trackByFile(tracks, name) {
  const t = tracks.find((x) => x.file_name === name);
  if (!t) throw new Error(`no track ${name}`);
  return t;
}

/** Sine test tracks (48 kHz stereo WAV, made with sox) in a fresh folder: name -> seconds, Hz. */
export function makeToneLibrary(tones) {
  const dir = mkdtempSync(join(tmpdir(), 'e2e-media-'));
  for (const [name, { seconds, hz }] of Object.entries(tones)) {
    execFileSync('sox', ['-n', '-r', '48000', '-c', '2', '-b', '16', join(dir, name), 'synth', String(seconds),
      'sine', String(hz), 'gain', '-6'], { stdio: 'ignore' });
  }
  return dir;
}

/** A TCP proxy on 127.0.0.1 that can stall all traffic for a while. */
export async function startProxy(targetUrl) {
  const net = await import('node:net');
  const target = new URL(targetUrl);
  const pairs = new Set();
  let stalled = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    const pair = { client, upstream };
    pairs.add(pair);
    if (stalled) { client.pause(); upstream.pause(); }
    client.pipe(upstream);
    upstream.pipe(client);
    const done = () => { pairs.delete(pair); client.destroy(); upstream.destroy(); };
    client.on('error', done); upstream.on('error', done); client.on('close', done); upstream.on('close', done);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** Stops forwarding in both directions for `ms`. */
    async stall(ms) {
      stalled = true;
      for (const p of pairs) { p.client.pause(); p.upstream.pause(); }
      await new Promise((ok) => setTimeout(ok, ms));
      stalled = false;
      for (const p of pairs) { p.client.resume(); p.upstream.resume(); }
    },
    close() { for (const p of pairs) { p.client.destroy(); p.upstream.destroy(); } server.close(); },
  };
}

const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.json': 'application/json', '.ogg': 'audio/ogg', '.css': 'text/css', '.png': 'image/png', '.ts': 'text/plain' };

/** A plain static file server for `dir` on 127.0.0.1 (a host page on another origin than the relay). */
export async function serveStatic(dir) {
  const { createServer } = await import('node:http');
  const { readFile } = await import('node:fs/promises');
  const { extname, normalize } = await import('node:path');
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(dir, path.endsWith('/') ? path + 'index.html' : path);
    if (!file.startsWith(dir)) { res.writeHead(403).end(); return; }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': MIME[extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' });
      res.end(body);
    } catch { res.writeHead(404).end('not found'); }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((ok) => server.close(ok)) };
}

/** Installs the npm tarball `make package` wrote (target/<name>-<version>.tgz) into a fresh
 * folder, as a web developer would, and returns the folder and the installed package's path. */
export function installPackage() {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'web', 'package.json'), 'utf8'));
  const tgz = join(ROOT, 'target', `${pkg.name.replace(/^@/, '').replace('/', '-')}-${pkg.version}.tgz`);
  const dir = mkdtempSync(join(tmpdir(), 'widget-host-'));
  execFileSync('npm', ['init', '-y'], { cwd: dir, stdio: 'ignore' });
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', tgz], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  return { dir, tgz, name: pkg.name, installed: join(dir, 'node_modules', ...pkg.name.split('/')) };
}

/** Waits `ms` (for pacing a poll loop, never for a result). */
export const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/** A free TCP port on 127.0.0.1 (bound and released: the caller binds it next). */
export async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

/** `n` clustered, JetStream-enabled nats-servers (Debian's) on 127.0.0.1, each with its own
 * store: resolves with their client URLs once each takes connections; `kill(i)`, `stop()`. */
export async function startNatsCluster(n = 3) {
  const { connect } = await import('node:net');
  const ports = [];
  for (let i = 0; i < n; i++) ports.push([await freePort(), await freePort()]);
  const children = ports.map(([port, cport], i) => {
    const routes = ports.filter((_, j) => j !== i).map(([, c]) => `nats://127.0.0.1:${c}`).join(',');
    const store = mkdtempSync(join(tmpdir(), 'e2e-nats-'));
    return spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '--cluster', `nats://127.0.0.1:${cport}`,
      '--cluster_name', 'e2e', '--routes', routes, '--server_name', `n${i + 1}`, '-js', '-sd', store], { stdio: 'ignore' });
  });
  for (const [port] of ports) {
    const t0 = Date.now();
    for (;;) {
      const up = await new Promise((ok) => {
        const s = connect(port, '127.0.0.1', () => { s.end(); ok(true); });
        s.once('error', () => ok(false));
      });
      if (up) break;
      if (Date.now() - t0 > 20000) throw new Error(`nats-server on ${port} did not start`);
      await sleep(20);
    }
  }
  return {
    urls: ports.map(([p]) => `nats://127.0.0.1:${p}`),
    kill: (i) => children[i].kill('SIGKILL'),
    stop: () => children.forEach((c) => c.kill('SIGKILL')),
  };
}

/** Waits until `GET /api/cluster` of the relay at `url` lists `n` nodes alive. */
export async function clusterOf(url, n, timeoutMs = 60000) {
  const t0 = Date.now();
  for (;;) {
    try {
      const v = await (await fetch(url + '/api/cluster')).json();
      if (v.nodes && v.nodes.length === n) return v;
    } catch { /* not yet */ }
    if (Date.now() - t0 > timeoutMs) throw new Error(`${url}/api/cluster did not list ${n} nodes`);
    await sleep(100);
  }
}
