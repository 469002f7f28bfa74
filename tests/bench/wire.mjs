// Bytes on the WebSocket for each codec (audio frames with their headers and the WebSocket
// framing), against each codec's ideal: Opus bitrate x 60 / 8, PCM rate x channels x sample size
// x 60 (relay-client fetch, acknowledging as it stores).
// Opus runs VBR, so opus_overhead_pct (against the nominal bitrate) mixes the rate the encoder
// achieved with the framing; the two are also reported apart, from one more Opus play of the same
// track read frame by frame on a plain WebSocket client here (docs/wire.md):
//  - opus_achieved_kbps: the Opus packets' bytes x 8 / the track's seconds;
//  - opus_framing_overhead_pct: (bytes on the wire for the audio frames - the Opus packet bytes
//    inside them) / the packet bytes: the WebSocket frame header, the 24-byte frame header and the
//    2-byte length before each packet.
// Prints BENCH lines; a lost measurement is named in a `# LOST TRIALS:` line and fails the run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { startRelay, trackByFile, ROOT } from '../support/processes.mjs';

const lost = [];
const loseTrial = (name, why) => { lost.push(`${name} (${why})`); console.log(`# lost trial ${name}: ${why}`); };

/**
 * Plays `trackId` over /ws on a raw socket (no library: every byte is counted as it arrives) and
 * acknowledges each frame as it is read, as relay-client does. Resolves to the byte counts of the
 * binary (audio) messages, their Opus packets and the stream's length in frames.
 */
function opusOnTheWire(serverUrl, trackId, timeoutMs = 120000) {
  const u = new URL(serverUrl);
  return new Promise((ok, fail) => {
    const sock = connect(Number(u.port), u.hostname);
    const timer = setTimeout(() => { sock.destroy(); fail(new Error(`no audio_stream_end within ${timeoutMs} ms`)); }, timeoutMs);
    let finished = false;
    const done = (err, v) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      err ? fail(err) : ok(v);
    };
    const send = (opcode, payload) => {
      const mask = randomBytes(4);
      const n = payload.length;
      const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n])
        : Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 255]);
      const body = Buffer.alloc(n);
      for (let i = 0; i < n; i++) body[i] = payload[i] ^ mask[i & 3];
      sock.write(Buffer.concat([head, mask, body]));
    };
    const sendJson = (o) => send(1, Buffer.from(JSON.stringify(o)));
    const c = { frames: 0, wireBytes: 0, wsHeaderBytes: 0, frameHeaderBytes: 0, lengthBytes: 0, packetBytes: 0, packets: 0, start: null, end: null };
    let buf = Buffer.alloc(0), upgraded = false, msgParts = [], msgOpcode = 0, msgHeaderBytes = 0;
    const onMessage = (opcode, data, headerBytes) => {
      if (opcode === 1) {
        const m = JSON.parse(data.toString('utf8'));
        if (m.type === 'audio_stream_start') c.start = m.data;
        else if (m.type === 'audio_stream_error') done(new Error(`audio_stream_error ${m.data.code}: ${m.data.error}`));
        else if (m.type === 'audio_stream_end') { c.end = m.data; done(null, c); }
        return;
      }
      if (opcode !== 2) return;
      // docs/wire.md: 24-byte header, then `payload_len` bytes of u16-LE-length-prefixed packets.
      if (data.length < 24 || data[1] !== 3) { done(new Error(`not an Opus frame (${data.length} bytes, codec ${data[1]})`)); return; }
      const session = data.readUInt32LE(4);
      const pos = Number(data.readBigUInt64LE(8));
      const frameCount = data.readUInt32LE(16);
      const payloadLen = data.readUInt32LE(20);
      if (24 + payloadLen !== data.length) { done(new Error('frame length disagrees with payload_len')); return; }
      let p = 24;
      while (p < data.length) {
        const len = data.readUInt16LE(p);
        c.lengthBytes += 2;
        c.packetBytes += len;
        c.packets++;
        p += 2 + len;
      }
      if (p !== data.length) { done(new Error('packet lengths overrun the frame')); return; }
      c.frames++;
      c.frameHeaderBytes += 24;
      c.wsHeaderBytes += headerBytes;
      c.wireBytes += headerBytes + data.length;
      sendJson({ type: 'ack', data: { session, sample_pos: pos + frameCount } });
    };
    sock.on('error', (e) => done(e));
    sock.on('close', () => done(new Error('connection closed before audio_stream_end')));
    sock.on('connect', () => {
      sock.write(`GET /ws HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
        + `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    sock.on('data', (chunk) => {
      if (finished) return;
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = buf.subarray(0, buf.indexOf('\r\n')).toString();
        if (!/^HTTP\/1\.1 101/.test(status)) { done(new Error(`upgrade refused: ${status}`)); return; }
        upgraded = true;
        buf = buf.subarray(end + 4);
        sendJson({ type: 'play', data: { track_id: trackId, position_s: 0, codec: 'opus' } });
      }
      while (!finished) {
        if (buf.length < 2) return;
        const fin = (buf[0] & 0x80) !== 0, opcode = buf[0] & 15, masked = (buf[1] & 0x80) !== 0;
        let len = buf[1] & 127, h = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); h = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); h = 10; }
        if (masked) h += 4; // a server never masks; counted all the same
        if (buf.length < h + len) return;
        const payload = buf.subarray(h, h + len);
        buf = buf.subarray(h + len);
        if (opcode === 9) { send(10, payload); continue; } // ping: pong
        if (opcode === 8) { done(new Error('server closed the WebSocket')); return; }
        if (opcode >= 8) continue;
        if (opcode !== 0) { msgOpcode = opcode; msgParts = []; msgHeaderBytes = 0; }
        msgParts.push(payload);
        msgHeaderBytes += h;
        if (fin) onMessage(msgOpcode, Buffer.concat(msgParts), msgHeaderBytes);
      }
    });
  });
}

const relay = await startRelay();
try {
  const tracks = await (await fetch(relay.url + '/api/tracks')).json();
  const track = trackByFile(tracks, 'aurora-48k.flac');
  const dir = mkdtempSync(join(tmpdir(), 'bench-wire-'));
  const ideal = { opus: (128000 * 60) / 8, pcm_s16: 48000 * 2 * 2 * 60, pcm_f32: 48000 * 2 * 4 * 60 };
  let clientOpusBytes = null;
  for (const codec of ['opus', 'pcm_s16', 'pcm_f32']) {
    let out;
    try {
      out = execFileSync(join(ROOT, 'target', 'release', 'relay-client'), ['fetch', '--server', relay.url, '--track', track.id,
        '--codec', codec, '--out', join(dir, `${codec}.wav`)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      loseTrial(`${codec}_fetch`, `relay-client failed: ${String(e.stderr || e.message).trim().split('\n').pop()}`);
      continue;
    }
    const m = out.match(/bytes=(\d+) seconds=([\d.]+) bytes_per_min=(\d+)/);
    const perMin = m ? Number(m[3]) : NaN;
    if (!m || !(perMin > 0) || !(Number(m[2]) > 0)) { loseTrial(`${codec}_fetch`, `no usable WIRE line in ${JSON.stringify(out.trim())}`); continue; }
    if (codec === 'opus') clientOpusBytes = Number(m[1]);
    const overhead = ((perMin - ideal[codec]) / ideal[codec]) * 100;
    console.log(`${codec}: ${perMin} bytes/min on the WebSocket, ideal ${ideal[codec]}, overhead ${overhead.toFixed(2)} %`);
    console.log(`BENCH ${codec}_bytes_per_min ${perMin} bytes`);
    console.log(`BENCH ${codec}_overhead_pct ${overhead.toFixed(2)} %`);
  }

  // The Opus play again, frame by frame: packet bytes against what the wire carried for them.
  try {
    const c = await opusOnTheWire(relay.url, track.id);
    const seconds = (c.end.total_samples - c.start.start_sample) / c.start.sample_rate;
    if (!(seconds > 0) || c.frames === 0 || c.packetBytes === 0) throw new Error(`empty stream (${c.frames} frames, ${seconds} s)`);
    const framing = c.wireBytes - c.packetBytes;
    const kbps = (c.packetBytes * 8) / seconds / 1000;
    console.log(`opus frame by frame: ${c.frames} frames, ${c.packets} packets, ${seconds.toFixed(3)} s, nominal ${c.start.bitrate} bit/s;`
      + ` ${c.wireBytes} bytes on the wire = ${c.packetBytes} packet bytes + ${c.lengthBytes} packet lengths + ${c.frameHeaderBytes} frame headers + ${c.wsHeaderBytes} WebSocket headers`);
    if (clientOpusBytes !== null && clientOpusBytes !== c.wireBytes) {
      console.log(`# note: relay-client counted ${clientOpusBytes} wire bytes for the same track (here ${c.wireBytes}): the encoder's output differed between the plays`);
    }
    console.log(`BENCH opus_achieved_kbps ${kbps.toFixed(2)} kbit/s`);
    console.log(`BENCH opus_framing_overhead_pct ${((framing / c.packetBytes) * 100).toFixed(2)} %`);
  } catch (e) {
    loseTrial('opus_frame_by_frame', e.message);
  }
} finally {
  relay.stop();
}
if (lost.length) {
  console.log(`# LOST TRIALS: ${lost.join('; ')}`);
  process.exitCode = 1;
}
