// The Worker's Opus decoder (web/pkg/opus_decoder.wasm, crate opus-wasm: opus-rs, a pure-Rust
// port of libopus): microseconds per real 20 ms packet in each browser engine and in Node, against
// native libopus decoding the same packets in the same run, and the module's size.
//
// `benchOpusDecode` is self-contained (no imports, no helpers outside it) so it can run in a page
// (page.evaluate of its source) as well as in Node. Packets: a library track (aurora-48k.flac,
// 20 s) encoded by ffmpeg's libopus as the relay's music profile encodes (128 kbit/s stereo,
// 20 ms frames, VBR), read back from the Ogg pages here: 1001 packets.
//  - opus_wasm_decode_us_<engine> (chromium, firefox, webkit) and _node: one fresh instance of
//    the module, one warm-up pass over every packet, then 7 timed passes; the median pass per
//    packet. Each packet is copied into wasm memory and decoded to f32 stereo, as the Worker
//    does. In the browsers it runs on a page's main thread (the engine's JIT is the Worker's) of
//    a cross-origin-isolated origin served here, for the finer clock (Firefox and WebKit coarsen
//    performance.now() to 1 ms on an ordinary page, 20 us isolated; a pass is ~50 ms).
//  - opus_libopus_decode_us: Debian's libopus (the relay encodes with it) through ffmpeg
//    (`-threads 1 -c:a libopus -request_sample_fmt flt`, f32 out as ours), the same Ogg file
//    looped 7 times in one run (`-stream_loop 6`), wall time from `-benchmark` (it excludes the
//    process's start and option parsing), minus the same command with `-c:a copy` (demuxing and
//    muxing without decoding); the median of 3 runs, per packet.
//  - opus_wasm_libopus_ratio_<engine>: our wasm's time per packet / libopus's (below 1: faster).
//
//   node bench/opus.mjs [path/to/opus_decoder.wasm]
// BENCH_ENGINES (env, default "chromium firefox webkit") picks the engines; an engine that fails
// to launch, or a decode that fails, is named in a `# LOST TRIALS:` line and the run fails.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, dirname, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execFileSync, spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';

/**
 * Decodes `packets` (Opus packets, 20 ms each) in a fresh instance of the decoder module,
 * `passes` times after one warm-up pass. Returns microseconds per packet: the median pass and
 * the fastest.
 * @param {{ wasm: ArrayBuffer | Uint8Array | number[], packets: (Uint8Array | number[])[],
 *   channels?: number, passes?: number }} args
 */
export async function benchOpusDecode({ wasm, packets, channels = 2, passes = 7 }) {
  const bytes = wasm instanceof ArrayBuffer ? new Uint8Array(wasm) : Uint8Array.from(wasm);
  const { instance } = await WebAssembly.instantiate(bytes, {});
  const x = instance.exports;
  const pkts = packets.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
  if (x.od_init(channels) !== 0) throw new Error('od_init failed');
  const max = x.od_packet_max();
  let sink = 0;
  const pass = () => {
    x.od_reset();
    const t0 = performance.now();
    for (const p of pkts) {
      if (p.length > max) throw new Error(`packet of ${p.length} bytes`);
      // The view is rebuilt per packet, as the Worker does when memory could have grown.
      new Uint8Array(x.memory.buffer, x.od_packet_ptr(), p.length).set(p);
      const n = x.od_decode(p.length);
      if (n <= 0) throw new Error(`od_decode returned ${n}`);
      sink += new Float32Array(x.memory.buffer, x.od_out_ptr(), 1)[0];
    }
    return ((performance.now() - t0) * 1000) / pkts.length;
  };
  pass();
  const times = [];
  for (let i = 0; i < passes; i++) times.push(pass());
  times.sort((a, b) => a - b);
  return { usPerPacket: times[times.length >> 1], usPerPacketMin: times[0], packets: pkts.length, sink };
}

/** The packets of an Ogg Opus file (RFC 7845), OpusHead and OpusTags skipped. */
export function oggOpusPackets(buf) {
  const packets = [];
  let partial = [];
  let p = 0;
  while (p + 27 <= buf.length) {
    if (buf.toString('latin1', p, p + 4) !== 'OggS') throw new Error(`no Ogg page at ${p}`);
    const segs = buf[p + 26];
    const table = buf.subarray(p + 27, p + 27 + segs);
    let q = p + 27 + segs;
    for (const len of table) {
      partial.push(buf.subarray(q, q + len));
      q += len;
      if (len < 255) { packets.push(Buffer.concat(partial)); partial = []; }
    }
    p = q;
  }
  const isHeader = (pk) => ['OpusHead', 'OpusTags'].includes(pk.toString('latin1', 0, 8));
  return packets.filter((pk) => !isHeader(pk)).map((pk) => new Uint8Array(pk));
}

/** Encodes `file` (a library track) to Ogg Opus at `out` with ffmpeg's libopus at `bitrate`,
 * 20 ms packets, as the relay's music profile. */
function encodeOggWithFfmpeg(file, out, { bitrate = '128k', seconds = 20 } = {}) {
  execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-i', file, '-t', String(seconds),
    '-ar', '48000', '-c:a', 'libopus', '-b:a', bitrate, '-vbr', 'on', '-application', 'audio',
    '-frame_duration', '20', '-f', 'ogg', out]);
}

/** 20 ms packets of `file` (a library track) from ffmpeg's libopus at `bitrate`. */
export function encodeWithFfmpeg(file, o = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'opus-bench-'));
  try {
    const out = join(dir, 'x.opus');
    encodeOggWithFfmpeg(file, out, o);
    return oggOpusPackets(readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Native libopus decoding the packets of `oggPath` (`packets` of them), through ffmpeg: see the
 * top. Returns microseconds per packet and the figures it came from.
 */
export function libopusDecodeUs(oggPath, packets, { loops = 7, runs = 3 } = {}) {
  const bench = (codecArgs, outArgs) => {
    const r = spawnSync('ffmpeg', ['-nostdin', '-hide_banner', '-benchmark', '-threads', '1', ...codecArgs,
      '-stream_loop', String(loops - 1), '-i', oggPath, '-map', '0:a', ...outArgs, '-f', 'null', '-'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ffmpeg exited with ${r.status}: ${String(r.stderr).slice(-300)}`);
    const m = String(r.stderr).match(/bench: utime=([\d.]+)s stime=([\d.]+)s rtime=([\d.]+)s/);
    if (!m) throw new Error('no bench: line from ffmpeg -benchmark');
    const dec = String(r.stderr).match(/Stream #0:0 -> #0:0 \(([^)]*)\)/);
    return { rtime: Number(m[3]), utime: Number(m[1]), mapping: dec ? dec[1] : '?' };
  };
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const decode = [], copy = [];
  let mapping = '';
  for (let i = 0; i < runs; i++) {
    const d = bench(['-c:a', 'libopus', '-request_sample_fmt', 'flt'], ['-c:a', 'pcm_f32le']);
    mapping = d.mapping;
    decode.push(d);
    copy.push(bench([], ['-c:a', 'copy']));
  }
  const n = packets * loops;
  const decodeS = median(decode.map((x) => x.rtime));
  const copyS = median(copy.map((x) => x.rtime));
  if (!/libopus/.test(mapping)) throw new Error(`ffmpeg did not decode with libopus (${mapping})`);
  return { usPerPacket: ((decodeS - copyS) * 1e6) / n, decodeS, copyS, utimeS: median(decode.map((x) => x.utime)), mapping, n };
}

/** A cross-origin-isolated origin serving a blank page, the decoder module and the packets
 * (each prefixed by its length, u16 little-endian). */
async function benchOrigin(wasm, packets) {
  const h = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'same-origin', 'Cache-Control': 'no-store' };
  const blob = Buffer.concat(packets.flatMap((p) => { const n = Buffer.alloc(2); n.writeUInt16LE(p.length); return [n, Buffer.from(p)]; }));
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/') res.writeHead(200, { ...h, 'Content-Type': 'text/html' }).end('<!doctype html><title>opus bench</title>');
    else if (path === '/opus_decoder.wasm') res.writeHead(200, { ...h, 'Content-Type': 'application/wasm' }).end(wasm);
    else if (path === '/packets.bin') res.writeHead(200, { ...h, 'Content-Type': 'application/octet-stream' }).end(blob);
    else res.writeHead(404, h).end();
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((ok) => server.close(ok)) };
}

/** benchOpusDecode in a page of `engine`, on `origin`. */
async function inBrowser(engine, origin) {
  const { launchBrowser } = await import('../support/browsers.mjs');
  const browser = await launchBrowser({ engine });
  try {
    const page = await browser.newPage();
    await page.goto(origin.url + '/');
    return await page.evaluate(async (src) => {
      if (!crossOriginIsolated) throw new Error('the bench page is not cross-origin isolated');
      let step = Infinity, prev = performance.now();
      for (let i = 0; i < 1e6; i++) { const t = performance.now(); if (t !== prev) { step = Math.min(step, t - prev); prev = t; } }
      const wasm = await (await fetch('/opus_decoder.wasm')).arrayBuffer();
      const blob = new Uint8Array(await (await fetch('/packets.bin')).arrayBuffer());
      const packets = [];
      for (let p = 0; p < blob.length;) { const n = blob[p] | (blob[p + 1] << 8); packets.push(blob.subarray(p + 2, p + 2 + n)); p += 2 + n; }
      const r = await (0, eval)(`(${src})`)({ wasm, packets });
      return { usPerPacket: r.usPerPacket, usPerPacketMin: r.usPerPacketMin, packets: r.packets, clockStepUs: step * 1000 };
    }, benchOpusDecode.toString());
  } finally {
    await browser.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const wasmPath = process.argv[2] || join(root, 'web', 'pkg', 'opus_decoder.wasm');
  const engines = (process.env.BENCH_ENGINES || 'chromium firefox webkit').split(/[\s,]+/).filter(Boolean);
  const wasm = readFileSync(wasmPath);
  const dir = mkdtempSync(join(tmpdir(), 'opus-bench-'));
  const lost = [];
  const lose = (name, e) => {
    const why = String((e && e.message) || e).split('\n')[0];
    lost.push(`${name} (${why})`);
    console.log(`# lost trial ${name}: ${why}`);
  };
  const results = {};
  let native = null;
  try {
    const ogg = join(dir, 'aurora.opus');
    encodeOggWithFfmpeg(join(root, 'media', 'aurora-48k.flac'), ogg);
    const packets = oggOpusPackets(readFileSync(ogg));
    try {
      native = libopusDecodeUs(ogg, packets.length);
    } catch (e) { lose('libopus (ffmpeg)', e); }
    results.node = await benchOpusDecode({ wasm, packets });
    const origin = await benchOrigin(wasm, packets);
    try {
      for (const engine of engines) {
        try { results[engine] = await inBrowser(engine, origin); } catch (e) { lose(`opus_wasm_${engine}`, e); }
      }
    } finally {
      await origin.close();
    }
    console.log(`# ${packets.length} packets of 20 ms (128 kbit/s stereo VBR, libopus via ffmpeg), f32 stereo out; ours: median of 7 passes after a warm-up pass`);
    for (const [engine, r] of Object.entries(results)) {
      const clock = r.clockStepUs ? `, page clock step ${r.clockStepUs.toFixed(1)} us` : '';
      console.log(`# wasm in ${engine === 'node' ? `Node ${process.version}` : engine}: median ${r.usPerPacket.toFixed(1)} us, fastest pass ${r.usPerPacketMin.toFixed(1)} us per packet${clock}`);
    }
    if (native) {
      console.log(`# native libopus (Debian 1.3.1) via ffmpeg (${native.mapping}), -threads 1, f32 out: ${native.n} packets (the file looped 7 times) in ${(native.decodeS * 1000).toFixed(0)} ms wall (user CPU ${(native.utimeS * 1000).toFixed(0)} ms), minus ${(native.copyS * 1000).toFixed(0)} ms for the same run with -c:a copy; median of 3 runs`);
    }
    for (const [engine, r] of Object.entries(results)) console.log(`BENCH opus_wasm_decode_us_${engine} ${r.usPerPacket.toFixed(1)} us`);
    if (native) {
      console.log(`BENCH opus_libopus_decode_us ${native.usPerPacket.toFixed(1)} us`);
      for (const [engine, r] of Object.entries(results)) {
        console.log(`BENCH opus_wasm_libopus_ratio_${engine} ${(r.usPerPacket / native.usPerPacket).toFixed(3)} x`);
      }
    }
    console.log(`BENCH opus_decoder_wasm_raw_bytes ${wasm.length} bytes`);
    console.log(`BENCH opus_decoder_wasm_gzip_bytes ${gzipSync(wasm, { level: 9 }).length} bytes`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (lost.length) {
    console.log(`# LOST TRIALS: ${lost.join('; ')}`);
    process.exitCode = 1;
  }
  // Exit now: a browser that failed to start may leave a driver process behind (WebKitWebDriver
  // when its session was not created), which would keep Node waiting; the exit handler of
  // support/browsers.mjs kills what it started.
  process.exit();
}
