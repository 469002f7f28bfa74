// The Worker's Opus decoder (web/pkg/opus_decoder.wasm, crate opus-wasm): microseconds per real
// 20 ms packet, and the module's size.
//
// `benchOpusDecode` is self-contained (no imports, no helpers outside it) so a browser test can
// pass it to page.evaluate with the wasm bytes and packets; node's main below runs it too.
// Packets: a library track encoded by ffmpeg's libopus as the relay's music profile encodes
// (128 kbit/s stereo, 20 ms frames, VBR), read back from the Ogg pages here.
//
//   node bench/opus.mjs [path/to/opus_decoder.wasm]
// prints BENCH opus_wasm_decode_us_node and BENCH opus_decoder_wasm_gzip_bytes.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
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

/** 20 ms packets of `file` (a library track) from ffmpeg's libopus at `bitrate`. */
export function encodeWithFfmpeg(file, { bitrate = '128k', seconds = 20 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'opus-bench-'));
  try {
    const out = join(dir, 'x.opus');
    execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-i', file, '-t', String(seconds),
      '-ar', '48000', '-c:a', 'libopus', '-b:a', bitrate, '-vbr', 'on', '-application', 'audio',
      '-frame_duration', '20', '-f', 'ogg', out]);
    return oggOpusPackets(readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const wasmPath = process.argv[2] || join(root, 'web', 'pkg', 'opus_decoder.wasm');
  const wasm = readFileSync(wasmPath);
  const packets = encodeWithFfmpeg(join(root, 'media', 'aurora-48k.flac'));
  const r = await benchOpusDecode({ wasm, packets });
  console.log(`# ${r.packets} packets of 20 ms (128 kbit/s stereo), median of 7 passes; fastest ${r.usPerPacketMin.toFixed(1)} us`);
  console.log(`BENCH opus_wasm_decode_us_node ${r.usPerPacket.toFixed(1)} us`);
  console.log(`BENCH opus_decoder_wasm_raw_bytes ${wasm.length} bytes`);
  console.log(`BENCH opus_decoder_wasm_gzip_bytes ${gzipSync(wasm, { level: 9 }).length} bytes`);
}
