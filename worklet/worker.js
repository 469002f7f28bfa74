// The Worker: owns the WebSocket. PCM frames go to the worklet as they are (transferred, never
// copied); Opus frames are decoded here with WebCodecs and the PCM is posted with its exact
// track position. It forwards control to the worklet and events to the main thread, and
// acknowledges what the worklet has played so the server's send-ahead window follows playback.
// Nothing here runs on the main thread, so a janky page never starves the audio.
import { parseHeader, opusPackets, CODEC_OPUS } from './wire.js';

let ws = null;
let wsUrl = '';
let worklet = null; // MessagePort to the AudioWorkletProcessor
let session = 0;
let stream = null; // the current audio_stream_start data
let pending = []; // control messages waiting for the socket to open
let ackTimer = 0;

// WebCodecs Opus decoding.
let decoder = null;
let decoderChannels = 0;
let chunkSeq = 0;
// Where each decoded output belongs, oldest first: the decoder returns one AudioData per chunk,
// in order (Chromium rewrites output timestamps, so they cannot carry this).
const inFlight = [];

function toMain(ev, data) { postMessage({ ev, data }); }

export async function opusSupported() {
  if (typeof AudioDecoder === 'undefined') return false;
  try {
    const r = await AudioDecoder.isConfigSupported({ codec: 'opus', sampleRate: 48000, numberOfChannels: 2 });
    return !!r.supported;
  } catch { return false; }
}

function onDecoded(data) {
  const meta = inFlight.shift();
  if (!meta || meta.session !== session) { data.close(); return; }
  const frames = data.numberOfFrames;
  const ch = data.numberOfChannels;
  const out = new Float32Array(frames * ch);
  if (data.format === 'f32') {
    data.copyTo(out, { planeIndex: 0, format: 'f32' });
  } else {
    const plane = new Float32Array(frames);
    for (let c = 0; c < ch; c++) {
      data.copyTo(plane, { planeIndex: c, format: 'f32-planar' });
      for (let i = 0; i < frames; i++) out[i * ch + c] = plane[i];
    }
  }
  data.close();
  // The very first packets decode to positions before 0 (the encoder's pre-skip): drop them.
  let pos = meta.pos;
  let buf = out;
  if (pos < 0) {
    const drop = Math.min(frames, -pos);
    buf = out.slice(drop * ch);
    pos = 0;
  }
  if (buf.length) worklet.postMessage({ t: 'pcm', session: meta.session, pos, channels: ch, buf: buf.buffer }, [buf.buffer]);
}

function resetDecoder(channels) {
  inFlight.length = 0;
  if (decoder && decoder.state !== 'closed' && decoderChannels === channels) {
    decoder.reset();
  } else {
    if (decoder && decoder.state !== 'closed') decoder.close();
    decoder = new AudioDecoder({
      output: onDecoded,
      error: (e) => toMain('error', { code: 'decoder_error', error: `Opus decoder: ${e.message || e}` }),
    });
  }
  decoderChannels = channels;
  decoder.configure({ codec: 'opus', sampleRate: 48000, numberOfChannels: channels });
}

function onOpusFrame(buf, h) {
  if (!stream || h.session !== session || !decoder) return;
  const packets = opusPackets(buf);
  if (!packets) { toMain('error', { code: 'bad_frame', error: 'malformed Opus frame' }); return; }
  // Encoder input position -> decoded output position (RFC 7845 pre-skip).
  let pos = h.samplePos - stream.pre_skip;
  const perPacket = h.frameCount / packets.length;
  for (const p of packets) {
    inFlight.push({ session: h.session, pos, frames: perPacket });
    decoder.decode(new EncodedAudioChunk({ type: 'key', timestamp: (++chunkSeq) * 20000, duration: 20000, data: p }));
    pos += perPacket;
  }
}

function openSocket() {
  if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) return;
  ws = new WebSocket(wsUrl);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => { for (const m of pending) ws.send(m); pending = []; toMain('socket', { open: true }); };
  ws.onclose = (e) => { toMain('socket', { open: false, code: e.code, reason: e.reason }); ws = null; };
  ws.onerror = () => toMain('error', { code: 'socket_error', error: 'WebSocket error' });
  ws.onmessage = (e) => {
    if (typeof e.data !== 'string') {
      const h = parseHeader(e.data);
      if (h && h.codec === CODEC_OPUS) onOpusFrame(e.data, h);
      else worklet.postMessage({ t: 'frame', buf: e.data }, [e.data]);
      return;
    }
    let msg;
    try { msg = JSON.parse(e.data); } catch { return; }
    const d = msg.data || {};
    switch (msg.type) {
      case 'audio_stream_start':
        session = d.session;
        stream = d;
        if (d.codec === 'opus') resetDecoder(d.channels);
        worklet.postMessage({ t: 'start', session: d.session, startSample: d.start_sample });
        toMain('stream_start', d);
        break;
      case 'audio_stream_end':
        worklet.postMessage({ t: 'end', session: d.session, totalSamples: d.total_samples });
        toMain('stream_end', d);
        break;
      case 'audio_stream_error':
        toMain('error', d);
        break;
      default:
        toMain(msg.type, d);
    }
  };
}

function send(obj) {
  const text = JSON.stringify(obj);
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(text);
  else { pending.push(text); openSocket(); }
}

function onWorkletMessage(e) {
  const m = e.data;
  if (m.t === 'stats' && ws && ws.readyState === WebSocket.OPEN && session && m.stats[1] === session) {
    send({ type: 'ack', data: { session, sample_pos: m.stats[3] } });
  }
}

onmessage = async (e) => {
  const m = e.data;
  switch (m.cmd) {
    case 'init':
      wsUrl = m.wsUrl;
      worklet = m.port;
      worklet.onmessage = onWorkletMessage;
      openSocket();
      clearInterval(ackTimer);
      ackTimer = setInterval(() => worklet.postMessage({ t: 'poll', id: 0 }), 250);
      {
        const opus = await opusSupported();
        // Create and configure the decoder now, so the first Opus stream does not wait for it.
        if (opus && !decoder) resetDecoder(2);
        toMain('capabilities', { opus });
      }
      break;
    case 'play': {
      const data = { track_id: m.trackId, position_s: m.positionS || 0, codec: m.codec };
      if (m.bitrate) data.bitrate = m.bitrate;
      if (m.profile) data.profile = m.profile;
      send({ type: 'play', data });
      break;
    }
    case 'seek':
      send({ type: 'seek', data: { position_s: m.positionS } });
      break;
    case 'stop':
      session = 0;
      stream = null;
      send({ type: 'stop' });
      break;
  }
};
