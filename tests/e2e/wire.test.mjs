// The Worker's frame-header reader against the golden frames of docs/wire.md (the same bytes
// stream-core and engine-wasm are tested with).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHeader, opusPackets, CODEC_PCM_S16, CODEC_PCM_F32, CODEC_OPUS } from '../../worklet/wire.js';

const hex = (s) => new Uint8Array(s.trim().split(/\s+/).map((b) => parseInt(b, 16))).buffer;
const S16 = hex('01 01 02 01 04 03 02 01  80 bb 00 00 00 00 00 00  01 00 00 00 04 00 00 00  00 40 00 c0');
const F32 = hex('01 02 01 02 09 00 00 00  01 00 00 00 00 00 00 00  02 00 00 00 08 00 00 00  00 00 80 3f 00 00 80 be');
const OPUS = hex('01 03 02 00 01 00 00 00  c0 03 00 00 00 00 00 00  c0 03 00 00 05 00 00 00  03 00 fc ff fe');

test('golden frame headers parse as documented', () => {
  assert.deepEqual(parseHeader(S16), { codec: CODEC_PCM_S16, channels: 2, flags: 1, session: 0x01020304, samplePos: 48000, frameCount: 1, payloadLen: 4 });
  assert.deepEqual(parseHeader(F32), { codec: CODEC_PCM_F32, channels: 1, flags: 2, session: 9, samplePos: 1, frameCount: 2, payloadLen: 8 });
  assert.deepEqual(parseHeader(OPUS), { codec: CODEC_OPUS, channels: 2, flags: 0, session: 1, samplePos: 960, frameCount: 960, payloadLen: 5 });
  assert.deepEqual(opusPackets(OPUS).map((p) => Array.from(p)), [[0xfc, 0xff, 0xfe]]);
});

test('positions above 2^32 and malformed frames', () => {
  const big = new Uint8Array(F32.slice(0));
  big[12] = 1; // sample_pos = 2^32 + 1
  assert.equal(parseHeader(big.buffer).samplePos, 4294967297);
  assert.equal(parseHeader(S16.slice(0, 10)), null, 'truncated header');
  assert.equal(parseHeader(S16.slice(0, 27)), null, 'truncated payload');
  const bad = new Uint8Array(OPUS.slice(0));
  bad[24] = 9; // packet length past the end
  assert.equal(opusPackets(bad.buffer), null);
});
