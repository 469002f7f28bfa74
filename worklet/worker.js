// The Worker: owns the WebSocket. PCM frames go to the worklet as they are (transferred, never
// copied); Opus frames are decoded here by our own decoder compiled to wasm (opus.js; not
// WebCodecs, which some browsers lack and which crashed WebKit) and the PCM is posted with its
// exact track position, one message per frame. Decoding here, not in the worklet: the server
// sends seconds of audio ahead in bursts, and decoding a burst on the audio thread would risk
// underruns. It runs the transport (pause, resume, seek — locally when the audio is still
// buffered —, queue, next), reconnects with back-off and resumes at the exact next sample, and
// acknowledges what the worklet has played so the server's send-ahead window follows playback.
// Nothing here runs on the main thread, so a janky page never starves the audio.
import { parseHeader, opusPackets, CODEC_OPUS } from './wire.js';
import { loadOpusDecoder } from './opus.js';
import { S } from './stats.js';

let ws = null;
let wsUrl = '';
let wsUrls = []; // the relays to try in turn (a cluster); wsUrl is the one in use
let urlIndex = 0;
let liveRejoin = 0; // the live session a listen after a reconnect resumes (0: none)
let worklet = null; // MessagePort to the AudioWorkletProcessor
let session = 0; // the stream the player is on
let stream = null; // its audio_stream_start data
let streamEnded = false; // its audio_stream_end arrived
let request = null; // what was asked for: { trackId, codec, bitrate, profile }
let live = null; // a live stream listened to: { streamId, token, codec }
// Start thresholds: files arrive ahead of time; live audio in real time, so it needs more in hand.
let startThresholdMs = 100;
let liveBufferMs = 500;
let pendingQueue = null; // { crossfadeFrames, request } of a queued play not started yet
let nextRequest = null; // the queued track once its stream started (until it plays)
// A play() sent whose stream has not started yet: a queue() meanwhile waits for that start, so
// that it is paced after the new stream, not after the one being replaced.
let startPending = false;
let resumeOf = 0; // the session a reconnect is resuming
let pending = []; // control messages waiting for the socket to open
let ackTimer = 0;
let reconnectDelay = 0;
let reconnectTimer = 0;
let replyId = 0;
let lastPlayPos = 0; // the worklet's play position at its last report
const replies = new Map();

// Opus decoding: the module is fetched as soon as the Worker starts (pkg/ is beside worklet/,
// both in the npm package and on the relay, which serves web/ at / and worklet/ at /worklet/).
let opus = null; // the OpusDecoder, once loaded
let opusLoadError = '';
const opusReady = loadOpusDecoder(new URL('../pkg/opus_decoder.wasm', import.meta.url)).then(
  (d) => { opus = d; opus.init(2); return true; }, // initialized now: the first stream does not wait
  (e) => { opusLoadError = String((e && e.message) || e); return false; },
);
const opusStreams = new Map(); // session -> pre_skip
// Packets of the current stream the decoder refused (concealed instead); reported once a stream.
let badPackets = 0;
let badReported = false;
// Largest PCM message: the worklet's input buffer (engine-wasm INPUT_CAPACITY_BYTES). A frame
// decoding to more (none does: library frames are 100 ms, live 200 ms) is split at packets.
const MAX_PCM_BYTES = 128 * 1024;

function toMain(ev, data) { postMessage({ ev, data }); }

function ask(msg) {
  const id = ++replyId;
  return new Promise((ok) => { replies.set(id, ok); worklet.postMessage({ ...msg, id }); });
}

function postPcm(sessionId, pos, channels, pcm) {
  const bytes = new Uint8Array(pcm.buffer);
  worklet.postMessage({ t: 'pcm', session: sessionId, pos, channels, bytes }, [pcm.buffer]);
}

function reportBadPacket(h, why) {
  badPackets++;
  if (badReported) return;
  badReported = true;
  toMain('error', {
    code: 'bad_frame',
    error: `an Opus packet could not be decoded (${why}); it was concealed (reported once a stream)`,
    session: h.session,
    sample_pos: h.samplePos,
  });
}

// Decodes one frame's packets into PCM at the frame's positions: packet k covers
// [pos + k * perPacket, pos + (k + 1) * perPacket). A packet the decoder refuses is concealed,
// so the stream keeps its length and the decoder its continuity.
function onOpusFrame(buf, h) {
  const preSkip = opusStreams.get(h.session);
  if (preSkip === undefined || !opus || !opus.channels) return;
  const ch = opus.channels;
  let packets = opusPackets(buf);
  // Encoder input position -> decoded output position (RFC 7845 pre-skip).
  const pos = h.samplePos - preSkip;
  const perPacket = packets ? h.frameCount / packets.length : 960;
  if (!Number.isInteger(perPacket) || perPacket <= 0 || perPacket > 5760) {
    reportBadPacket(h, 'malformed Opus frame');
    return;
  }
  if (!packets) {
    // Malformed framing: conceal the frame's duration in 20 ms packets.
    reportBadPacket(h, 'malformed Opus frame');
    if (h.frameCount % 960 !== 0 || h.frameCount > 48000) return;
    packets = new Array(h.frameCount / 960).fill(null);
  }
  const maxPackets = Math.max(1, Math.floor(MAX_PCM_BYTES / (perPacket * ch * 4)));
  for (let first = 0; first < packets.length; first += maxPackets) {
    const count = Math.min(maxPackets, packets.length - first);
    const start = pos + first * perPacket;
    // The very first packets decode to positions before 0 (the encoder's pre-skip): drop them.
    const skip = Math.max(0, Math.min(count * perPacket, -start));
    const pcm = new Float32Array((count * perPacket - skip) * ch);
    for (let k = 0; k < count; k++) {
      const p = packets[first + k];
      let out = p ? opus.decode(p) : null;
      if (!out) {
        if (p) reportBadPacket(h, opus.error);
        out = opus.conceal(perPacket) || new Float32Array(0);
      }
      // Packet k's frames, less any dropped before position 0, where the packet belongs.
      const from = Math.max(0, skip - k * perPacket);
      const frames = Math.min(out.length / ch, perPacket);
      if (from < frames) pcm.set(out.subarray(from * ch, frames * ch), (k * perPacket + from - skip) * ch);
    }
    if (pcm.length) postPcm(h.session, Math.max(0, start), ch, pcm);
  }
}

function onStreamStart(d) {
  if (d.codec === 'opus') {
    // One decoder serves the stream being received; a new stream starts it over (the pre-roll
    // the server sends lets it converge before the first frame that plays).
    opusStreams.clear();
    badPackets = 0;
    badReported = false;
    if (opus && opus.init(d.channels)) opusStreams.set(d.session, d.pre_skip);
    else toMain('error', { code: 'decoder_error', error: `Opus decoder: cannot start a ${d.channels}-channel stream (${opus ? opus.error : opusLoadError})` });
  }
  if (d.live && liveRejoin && d.session === liveRejoin) {
    // A rejoin (on this relay or another of the cluster): the same stream goes on from the frame
    // holding the next sample; the engine keeps what it has and takes the rest.
    liveRejoin = 0;
    stream = d;
    streamEnded = false;
    toMain('reconnected', d);
    return;
  }
  liveRejoin = 0;
  if (d.live) {
    // Live (a first join, or a rejoin the relay could not resume): play from what the server
    // sends, which starts with a short burst of the latest audio.
    resumeOf = 0;
    worklet.postMessage({ t: 'threshold', ms: liveBufferMs });
    worklet.postMessage({ t: 'start', session: d.session, startSample: d.start_sample });
    session = d.session;
    stream = d;
    streamEnded = false;
    toMain('stream_start', d);
    return;
  }
  if (resumeOf) {
    // A reconnect: the same audio continues under the new session, at the exact next frame.
    worklet.postMessage({ t: 'rebind', from: resumeOf, to: d.session });
    resumeOf = 0;
    session = d.session;
    stream = d;
    toMain('reconnected', d);
    return;
  }
  if (d.queued && pendingQueue) {
    worklet.postMessage({ t: 'queue', session: d.session, startSample: d.start_sample, crossfadeFrames: pendingQueue.crossfadeFrames });
    nextRequest = pendingQueue.request;
    pendingQueue = null;
  } else {
    worklet.postMessage({ t: 'start', session: d.session, startSample: d.start_sample });
  }
  if (!d.queued) nextRequest = null;
  session = d.session;
  stream = d;
  streamEnded = false;
  if (d.queued && nextRequest) request = nextRequest;
  toMain('stream_start', d);
  if (!d.queued && startPending) {
    startPending = false;
    // A queue() made before this stream started: paced after this one, played from its start.
    if (pendingQueue && !pendingQueue.sent) sendQueue(d.total_samples, d.start_sample);
  }
}

/** Asks the server for the queued track, to be sent once the current stream (`total` frames,
 * played up to `playedTo`) has played out here. */
function sendQueue(total, playedTo) {
  pendingQueue.sent = true;
  const delayMs = total ? Math.max(0, Math.round(((total - playedTo) / 48000) * 1000)) : 0;
  send({ type: 'play', data: { ...playData(pendingQueue.request), queue: true, start_delay_ms: delayMs } });
}

function scheduleReconnect() {
  clearTimeout(reconnectTimer);
  if (wsUrls.length > 1) {
    // A cluster: the next relay (the one that failed may be gone for good).
    urlIndex = (urlIndex + 1) % wsUrls.length;
    wsUrl = wsUrls[urlIndex];
  }
  reconnectDelay = Math.min(2000, reconnectDelay ? reconnectDelay * 2 : 100);
  toMain('reconnecting', { inMs: reconnectDelay });
  reconnectTimer = setTimeout(openSocket, reconnectDelay);
}

function listenData(l) {
  return { stream_id: l.streamId, token: l.token, codec: l.codec };
}

// Frames of Opus sent again before a live rejoin's position: the restarted decoder converges on
// audio the engine already has (and drops): two live frames, after which the decoder matches an
// uninterrupted one to float rounding (opus-wasm/tests/decode.rs: 138 dB from the 20th packet).
const LIVE_OPUS_PREROLL = 19200;

async function resumeAfterReconnect() {
  if (live && !streamEnded) {
    const data = listenData(live);
    const pos = session ? await ask({ t: 'writePos', session }) : -1;
    if (pos > 0) {
      data.from_sample = live.codec === 'opus' ? Math.max(0, pos - LIVE_OPUS_PREROLL) : pos;
      liveRejoin = session;
    }
    send({ type: 'listen', data });
    return;
  }
  if (!session || streamEnded || !request) return;
  const pos = await ask({ t: 'writePos', session });
  if (pos < 0) return;
  resumeOf = session;
  send({ type: 'play', data: { ...playData(request), start_sample: pos, playing_sample: lastPlayPos } });
}

function playData(r) {
  // `acks`: this player acknowledges what it plays (every 250 ms): the server paces it by those
  // alone from the first frame, so a late-starting audio thread is never sent more than it holds.
  const data = { track_id: r.trackId, codec: r.codec, acks: true };
  if (r.bitrate) data.bitrate = r.bitrate;
  if (r.profile) data.profile = r.profile;
  return data;
}

function openSocket() {
  if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) return;
  const sock = new WebSocket(wsUrl);
  ws = sock;
  sock.binaryType = 'arraybuffer';
  let opened = false;
  sock.onopen = () => {
    opened = true;
    const wasReconnect = reconnectDelay > 0;
    reconnectDelay = 0;
    for (const m of pending) sock.send(m);
    pending = [];
    toMain('socket', { open: true });
    if (wasReconnect) resumeAfterReconnect();
  };
  sock.onclose = (e) => {
    if (ws !== sock) return; // handled already (see onerror), or replaced
    ws = null;
    toMain('socket', { open: false, code: e.code, reason: e.reason });
    if (session && !streamEnded) scheduleReconnect();
    else if (!opened && pending.length) {
      // Nothing playing and the socket never opened: what was asked for cannot be done. The
      // browser does not say why (a refused origin looks like a server that is down).
      pending = [];
      toMain('error', {
        code: 'connection_failed',
        error: `cannot connect to ${wsUrl}: the relay is not reachable there, or it does not allow this page's origin (relay-server --allow-origin)`,
      });
    }
  };
  // A socket that fails before it opens gets an error event; WebKit then never sends `close`
  // (seen with WebKitGTK 2.50 for a refused port): end it here the same way, once.
  sock.onerror = () => {
    if (opened || ws !== sock) return;
    try { sock.close(); } catch { /* already closing */ }
    sock.onclose({ code: 1006, reason: 'connection failed' });
  };
  sock.onmessage = (e) => {
    if (typeof e.data !== 'string') {
      const h = parseHeader(e.data);
      if (h && h.codec === CODEC_OPUS) onOpusFrame(e.data, h);
      else worklet.postMessage({ t: 'frame', bytes: new Uint8Array(e.data) }, [e.data]);
      return;
    }
    let msg;
    try { msg = JSON.parse(e.data); } catch { return; }
    const d = msg.data || {};
    switch (msg.type) {
      case 'audio_stream_start': onStreamStart(d); break;
      case 'audio_stream_end':
        if (d.reason === 'server_shutdown') {
          // The relay restarts: the socket closes next, and the reconnect resumes exactly here.
          toMain('serverclosing', d);
          break;
        }
        if (d.session === session) streamEnded = true;
        worklet.postMessage({ t: 'end', session: d.session, totalSamples: d.total_samples });
        // Opus packets the decoder refused in this stream (each concealed), if any.
        toMain('stream_end', badPackets && opusStreams.has(d.session) ? { ...d, opus_bad_packets: badPackets } : d);
        break;
      case 'audio_stream_error':
        if (startPending && d.session !== session) {
          // The play itself was refused: a queue() made after it goes with it.
          startPending = false;
          pendingQueue = null;
        }
        toMain('error', d);
        break;
      default: toMain(msg.type, d);
    }
  };
}

function send(obj) {
  const text = JSON.stringify(obj);
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(text);
  else { pending.push(text); if (!reconnectTimer || reconnectDelay === 0) openSocket(); }
}

function onWorkletMessage(e) {
  const m = e.data;
  if (m.id && replies.has(m.id)) {
    const ok = replies.get(m.id);
    replies.delete(m.id);
    ok(m.t === 'seekLocal' ? m.ok : m.pos);
    return;
  }
  if (m.t === 'stats' && m.stats[S.SESSION] === session) lastPlayPos = m.stats[S.PLAY_POS];
  if (m.t === 'stats' && ws && ws.readyState === WebSocket.OPEN && session && m.stats[S.SESSION] === session) {
    ws.send(JSON.stringify({ type: 'ack', data: { session, sample_pos: m.stats[S.PLAY_POS] } }));
  }
}

onmessage = async (e) => {
  const m = e.data;
  switch (m.cmd) {
    case 'init': {
      wsUrls = m.wsUrls && m.wsUrls.length ? m.wsUrls : [m.wsUrl];
      urlIndex = 0;
      wsUrl = wsUrls[0];
      startThresholdMs = m.startThresholdMs ?? startThresholdMs;
      liveBufferMs = m.liveBufferMs ?? liveBufferMs;
      worklet = m.port;
      worklet.onmessage = onWorkletMessage;
      openSocket();
      clearInterval(ackTimer);
      ackTimer = setInterval(() => worklet.postMessage({ t: 'poll', id: 0 }), 250);
      // Without the decoder the player falls back to pcm_s16 (web/player.js).
      if (await opusReady) toMain('capabilities', { opus: true, opusDecoder: 'wasm' });
      else toMain('capabilities', { opus: false, error: `Opus decoder did not load: ${opusLoadError}` });
      break;
    }
    case 'listen':
      live = { streamId: m.streamId, token: m.token, codec: m.codec };
      request = null;
      pendingQueue = null;
      startPending = false;
      send({ type: 'listen', data: listenData(live) });
      break;
    case 'token':
      if (live) live.token = m.token; // a renewed listen token, for rejoining after a reconnect
      break;
    case 'play':
      if (live) worklet.postMessage({ t: 'threshold', ms: startThresholdMs });
      live = null;
      request = { trackId: m.trackId, codec: m.codec, bitrate: m.bitrate, profile: m.profile };
      pendingQueue = null;
      startPending = true;
      send({ type: 'play', data: { ...playData(request), position_s: m.positionS || 0 } });
      break;
    case 'queue':
      pendingQueue = {
        crossfadeFrames: Math.round((m.crossfadeS || 0) * 48000),
        request: { trackId: m.trackId, codec: m.codec, bitrate: m.bitrate, profile: m.profile },
        sent: false,
      };
      if (!startPending) sendQueue(stream && stream.total_samples, lastPlayPos);
      break;
    case 'next':
      // Skip to the queued track now: it replaces the current one with a crossfade.
      if (pendingQueue || nextRequest) {
        const r = pendingQueue ? pendingQueue.request : nextRequest;
        pendingQueue = null;
        nextRequest = null;
        request = r;
        startPending = true;
        send({ type: 'play', data: { ...playData(r), position_s: 0 } });
      }
      break;
    case 'pause':
      worklet.postMessage({ t: 'pause' });
      send({ type: 'pause' });
      break;
    case 'resume':
      worklet.postMessage({ t: 'resume' });
      send({ type: 'resume', data: { session } });
      break;
    case 'seek': {
      if (live) {
        // A live stream: into its time-shift window or back to its edge, always by the relay
        // (what the engine holds is the live audio, not the past, and not what is to come).
        toMain('seeked', { positionS: m.positionS, local: false });
        send({ type: 'seek', data: { position_s: m.positionS } });
        break;
      }
      const pos = Math.round(m.positionS * 48000);
      const local = await ask({ t: 'seekLocal', pos });
      toMain('seeked', { positionS: m.positionS, local });
      if (!local) send({ type: 'seek', data: { position_s: m.positionS } });
      break;
    }
    case 'stop':
      session = 0;
      stream = null;
      request = null;
      live = null;
      pendingQueue = null;
      startPending = false;
      worklet.postMessage({ t: 'stop' });
      send({ type: 'stop' });
      break;
  }
};
