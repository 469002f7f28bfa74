// Reads the header of a binary audio frame (docs/wire.md) in the Worker, which has to route
// Opus frames to WebCodecs. The engine itself parses PCM frames in Rust (stream-core); this is
// the same layout, checked against the same golden frames by tests/e2e/wire.test.mjs.
export const CODEC_PCM_S16 = 1;
export const CODEC_PCM_F32 = 2;
export const CODEC_OPUS = 3;
export const HEADER_LEN = 24;

/** @param {ArrayBuffer} buf @returns {null | {codec, channels, flags, session, samplePos, frameCount, payloadLen}} */
export function parseHeader(buf) {
  if (buf.byteLength < HEADER_LEN) return null;
  const v = new DataView(buf);
  if (v.getUint8(0) !== 1) return null;
  const payloadLen = v.getUint32(20, true);
  if (buf.byteLength !== HEADER_LEN + payloadLen) return null;
  return {
    codec: v.getUint8(1),
    channels: v.getUint8(2),
    flags: v.getUint8(3),
    session: v.getUint32(4, true),
    samplePos: v.getUint32(8, true) + v.getUint32(12, true) * 4294967296,
    frameCount: v.getUint32(16, true),
    payloadLen,
  };
}

/** The Opus packets of a frame's payload (u16 LE length + bytes each), as views; null if malformed. */
export function opusPackets(buf) {
  const out = [];
  const bytes = new Uint8Array(buf, HEADER_LEN);
  let p = 0;
  while (p < bytes.length) {
    if (p + 2 > bytes.length) return null;
    const n = bytes[p] | (bytes[p + 1] << 8);
    if (n === 0 || p + 2 + n > bytes.length) return null;
    out.push(bytes.subarray(p + 2, p + 2 + n));
    p += 2 + n;
  }
  return out.length ? out : null;
}
