// Shared helpers of the end-to-end tests: the real relay (release build) on 127.0.0.1 with a
// free port, Debian's Chromium through playwright-core, a recorder worklet that taps what the
// player renders, and relay-client as the reference of what the server decodes.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
export { ENGINE, ENGINES, launchBrowser, launchChromium } from './engines.mjs';

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

/** Reads a 32-bit float WAV: { channels, rate, left, right }. */
export function readWavF32(path) {
  const b = readFileSync(path);
  let p = 12, fmt = null;
  while (p + 8 <= b.length) {
    const id = b.toString('ascii', p, p + 4);
    const len = b.readUInt32LE(p + 4);
    if (id === 'fmt ') fmt = { format: b.readUInt16LE(p + 8), channels: b.readUInt16LE(p + 10), rate: b.readUInt32LE(p + 12), bits: b.readUInt16LE(p + 22) };
    if (id === 'data') {
      if (!fmt || fmt.bits !== 32) throw new Error('expected a 32-bit float WAV');
      const n = len / 4 / fmt.channels;
      const f = new Float32Array(b.buffer.slice(b.byteOffset + p + 8, b.byteOffset + p + 8 + len));
      const left = new Float32Array(n), right = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        left[i] = f[i * fmt.channels];
        right[i] = f[i * fmt.channels + (fmt.channels > 1 ? 1 : 0)];
      }
      return { channels: fmt.channels, rate: fmt.rate, left, right };
    }
    p += 8 + len + (len & 1);
  }
  throw new Error('no data chunk');
}

/** Source of a recorder AudioWorklet: records stereo frames of its input, tagged with the
 * AudioContext frame of its first sample, then posts them back: at most `frames` of them, or
 * fewer when told `{ stop: frame }` (it then records up to that output-clock frame, rounded up
 * to a render quantum, or stops at once if that frame has passed). */
export const RECORDER_SOURCE = `
class Recorder extends AudioWorkletProcessor {
  constructor(o) {
    super();
    this.n = o.processorOptions.frames;
    this.l = new Float32Array(this.n);
    this.r = new Float32Array(this.n);
    this.i = 0; this.first = -1; this.done = false; this.stopAt = Infinity;
    this.port.onmessage = (e) => {
      if (typeof e.data.stop !== 'number') return;
      this.stopAt = e.data.stop;
      if (!this.done && this.first >= 0 && this.first + this.i >= this.stopAt) this.finish();
    };
  }
  finish() {
    this.done = true;
    const l = this.i < this.n ? this.l.slice(0, this.i) : this.l;
    const r = this.i < this.n ? this.r.slice(0, this.i) : this.r;
    this.port.postMessage({ first: this.first, l, r }, [l.buffer, r.buffer]);
  }
  process(inputs) {
    if (this.done) return true;
    const inp = inputs[0];
    // The first quanta of a node connected mid-playback may come before its input is (no
    // channels): the recording starts with the input, not with zeros that were never played.
    if (this.first < 0 && !(inp && inp[0])) return true;
    if (this.first < 0) this.first = currentFrame;
    const k = Math.min(128, this.n - this.i);
    if (inp && inp[0]) {
      // A plain loop: no view object per quantum (garbage the worklet's collector would have to
      // sweep; in WebKit on one core that slowed the audio clock itself).
      const a = inp[0], b = inp[1] || inp[0], l = this.l, r = this.r, i0 = this.i;
      for (let j = 0; j < k; j++) { l[i0 + j] = a[j]; r[i0 + j] = b[j]; }
    }
    this.i += k;
    if (this.i >= this.n || this.first + this.i >= this.stopAt) this.finish();
    return true;
  }
}
registerProcessor('e2e-recorder', Recorder);
`;

/** In the page: attaches a recorder after `window.streamPlayer.output` (after init). `seconds`
 * is the most it records: a test that knows when it has what it needs ends it earlier with
 * `stopRecording`, so the cap can leave room for a slow machine. */
export async function attachRecorder(page, seconds, player = 'streamPlayer') {
  await page.evaluate(async ({ src, seconds, player }) => {
    const p = window[player];
    await p.init();
    const ctx = p.context;
    if (!ctx.__e2eRecorder) {
      // Once per context: registering the processor twice throws (Firefox reports it).
      const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
      await ctx.audioWorklet.addModule(url);
      ctx.__e2eRecorder = true;
    }
    const rec = new AudioWorkletNode(ctx, 'e2e-recorder', {
      numberOfInputs: 1, numberOfOutputs: 1, channelCount: 2, channelCountMode: 'explicit',
      channelInterpretation: 'discrete', processorOptions: { frames: Math.round(seconds * ctx.sampleRate) },
    });
    const mute = new GainNode(ctx, { gain: 0 });
    p.output.connect(rec).connect(mute).connect(ctx.destination);
    window.__recorder = rec;
    window.__recording = new Promise((ok) => { rec.port.onmessage = (e) => ok(e.data); });
  }, { src: RECORDER_SOURCE, seconds, player });
  // WebKit starts audio only in a user gesture: click as a person would (a no-op elsewhere).
  await page.unlockAudio();
}

/** Ends the latest recording at output-clock frame `at` (the AudioContext's frames, as the
 * player's clocks in `stats` are) plus `afterS` seconds; without `at`, from the frame the
 * context is rendering now. The recording then holds its first frame up to there (or its cap,
 * if that came first); `collectRecording` waits for it. */
export async function stopRecording(page, { at = null, afterS = 0 } = {}) {
  await page.evaluate(({ at, afterS }) => {
    const rec = window.__recorder;
    const rate = rec.context.sampleRate;
    const from = at ?? Math.ceil(rec.context.currentTime * rate);
    rec.port.postMessage({ stop: from + Math.round(afterS * rate) });
  }, { at, afterS });
}

/** Waits for the recording and returns it as { first, left, right, stats }: `stats` are the
 * player's (`window[player]`) as the recording completed, before the transfer. The samples cross
 * as base64 bytes: as JSON numbers, 8 s took seconds of the browser's time to serialize, and
 * meanwhile the page's network traffic (the player's acks) waited with it. */
export async function collectRecording(page, player = null) {
  const r = await page.evaluate(async (player) => {
    const d = await window.__recording;
    const stats = player ? window[player].stats : null;
    const b64 = (f) => {
      const u8 = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
      let s = '';
      for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
      return btoa(s);
    };
    return { first: d.first, l: b64(d.l), r: b64(d.r), stats };
  }, player);
  const f32 = (b) => {
    const bytes = Buffer.from(b, 'base64');
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  };
  return { first: r.first, left: f32(r.l), right: f32(r.r), stats: r.stats };
}

export function trackByFile(tracks, name) {
  const t = tracks.find((x) => x.file_name === name);
  if (!t) throw new Error(`no track ${name}`);
  return t;
}

/** In-place radix-2 FFT of (re, im), length a power of two. */
export function fft(re, im) {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) { [re[i], re[j]] = [re[j], re[i]]; [im[i], im[j]] = [im[j], im[i]]; }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < len / 2; k++) {
        const wr = Math.cos(ang * k), wi = Math.sin(ang * k);
        const a = i + k, b = a + len / 2;
        const xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
        re[b] = re[a] - xr; im[b] = im[a] - xi;
        re[a] += xr; im[a] += xi;
      }
    }
  }
}

/** Energy in 1/3-octave bands from 50 Hz to 16 kHz, averaged over Hann-windowed 4096-frames. */
export function thirdOctaveBands(x, rate = 48000) {
  const N = 4096;
  const centers = [];
  for (let f = 50; f <= 16000; f *= 2 ** (1 / 3)) centers.push(f);
  const energy = new Float64Array(centers.length);
  const win = Float64Array.from({ length: N }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / N));
  for (let start = 0; start + N <= x.length; start += N / 2) {
    const re = new Float64Array(N), im = new Float64Array(N);
    for (let i = 0; i < N; i++) re[i] = x[start + i] * win[i];
    fft(re, im);
    centers.forEach((fc, b) => {
      const lo = Math.floor((fc / 2 ** (1 / 6)) * N / rate), hi = Math.ceil((fc * 2 ** (1 / 6)) * N / rate);
      for (let k = Math.max(1, lo); k <= Math.min(N / 2, hi); k++) energy[b] += re[k] * re[k] + im[k] * im[k];
    });
  }
  return { centers, db: Array.from(energy, (e) => 10 * Math.log10(e + 1e-20)) };
}

/** RMS level in dB of a signal. */
export function rmsDb(x) {
  let s = 0;
  for (const v of x) s += v * v;
  return 10 * Math.log10(s / x.length + 1e-30);
}

/** Lag (in samples, within ±maxLag) where `x` best matches `ref` (normalized cross-correlation). */
export function bestLag(ref, x, maxLag) {
  let best = 0, bestC = -Infinity;
  const n = Math.min(ref.length, x.length) - 2 * maxLag;
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    let c = 0;
    for (let i = maxLag; i < maxLag + n; i++) c += ref[i] * x[i + lag];
    if (c > bestC) { bestC = c; best = lag; }
  }
  return best;
}

/** Correlation of the 10 ms RMS envelopes of two equal-length signals. */
export function envelopeCorrelation(a, b, rate = 48000) {
  const w = rate / 100;
  const env = (x) => { const e = []; for (let i = 0; i + w <= x.length; i += w) { let s = 0; for (let k = 0; k < w; k++) s += x[i + k] ** 2; e.push(Math.sqrt(s / w)); } return e; };
  const ea = env(a), eb = env(b);
  const mean = (e) => e.reduce((s, v) => s + v, 0) / e.length;
  const ma = mean(ea), mb = mean(eb);
  let num = 0, da = 0, db = 0;
  for (let i = 0; i < ea.length; i++) { num += (ea[i] - ma) * (eb[i] - mb); da += (ea[i] - ma) ** 2; db += (eb[i] - mb) ** 2; }
  return num / Math.sqrt(da * db);
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

/**
 * Click detector: the frames where the first difference of `x` exceeds `factor` times the
 * largest first difference of the source material (`maxSourceStep`). An equal-power crossfade
 * of two sources can reach sqrt(2) times either, so 1.5 leaves no room for a cut, whose step is
 * the signal's whole amplitude.
 */
export function clicks(x, maxSourceStep, factor = 1.5) {
  const at = [];
  for (let i = 1; i < x.length; i++) if (Math.abs(x[i] - x[i - 1]) > factor * maxSourceStep) at.push(i);
  return at;
}

export function maxStep(x) {
  let m = 0;
  for (let i = 1; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - x[i - 1]));
  return m;
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
