// The Worker: owns the WebSocket, forwards binary frames to the worklet (transferred, never
// copied), forwards control to the worklet and events to the main thread, and acknowledges
// what the worklet has played so the server's send-ahead window follows real playback.
// Nothing here runs on the main thread, so a janky page never starves the audio.

let ws = null;
let wsUrl = '';
let worklet = null; // MessagePort to the AudioWorkletProcessor
let session = 0;
let pending = []; // control messages waiting for the socket to open
let ackTimer = 0;

function toMain(ev, data) { postMessage({ ev, data }); }

function openSocket() {
  if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) return;
  ws = new WebSocket(wsUrl);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => { for (const m of pending) ws.send(m); pending = []; toMain('socket', { open: true }); };
  ws.onclose = (e) => { toMain('socket', { open: false, code: e.code, reason: e.reason }); ws = null; };
  ws.onerror = () => toMain('error', { code: 'socket_error', error: 'WebSocket error' });
  ws.onmessage = (e) => {
    if (typeof e.data !== 'string') {
      worklet.postMessage({ t: 'frame', buf: e.data }, [e.data]);
      return;
    }
    let msg;
    try { msg = JSON.parse(e.data); } catch { return; }
    const d = msg.data || {};
    switch (msg.type) {
      case 'audio_stream_start':
        session = d.session;
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
  if (m.t === 'stats' && ws && ws.readyState === WebSocket.OPEN && session) {
    const playPos = m.stats[3];
    if (m.stats[1] === session) send({ type: 'ack', data: { session, sample_pos: playPos } });
  }
}

onmessage = (e) => {
  const m = e.data;
  switch (m.cmd) {
    case 'init':
      wsUrl = m.wsUrl;
      worklet = m.port;
      worklet.onmessage = onWorkletMessage;
      openSocket();
      clearInterval(ackTimer);
      ackTimer = setInterval(() => worklet.postMessage({ t: 'poll', id: 0 }), 250);
      break;
    case 'play':
      send({ type: 'play', data: { track_id: m.trackId, position_s: m.positionS || 0, codec: m.codec || 'pcm_f32' } });
      break;
    case 'stop':
      session = 0;
      send({ type: 'stop' });
      break;
  }
};
