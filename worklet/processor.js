// The AudioWorkletProcessor: copies bytes into wasm memory and samples out of it. No logic
// lives here; the engine (stream-core, compiled to wasm) owns buffering, fades and stats.
//
// Real-time rules: process() calls one wasm function and copies two 128-sample views. It
// creates no objects, posts no messages and never throws. Views over wasm memory are cached
// and rebuilt only when memory.buffer changes (it never does after construction, but a
// detached view would be silent, so the check is kept: it is one comparison).
import './polyfill.js';
import { initSync, WasmEngine } from '../pkg/engine_wasm.js';

const QUANTUM = 128;

class StreamProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions || {};
    this.refused = 0;
    this.dataPort = null;
    this.engine = null;
    try {
      const wasm = initSync({ module: o.module });
      this.memory = wasm.memory;
      this.engine = new WasmEngine(sampleRate, o.capacityMs ?? 6000, o.startThresholdMs ?? 100, o.fadeMs ?? 10, o.crossfadeMs ?? 30, o.presetBlendMs ?? 30);
      this.dspMsgFrame = -1;
      this.dsp(o.dsp || {});
      this.viewsOf = null;
      this.refreshViews();
    } catch (e) {
      // Report once, then render silence: a broken engine must not take the page down.
      this.engine = null;
      this.port.postMessage({ t: 'error', code: 'worklet_error', error: String(e && e.stack || e) });
    }
    this.port.onmessage = (e) => this.engine && this.onMessage(e.data, this.port);
  }

  refreshViews() {
    const buf = this.memory.buffer;
    this.viewsOf = buf;
    this.left = new Float32Array(buf, this.engine.left_ptr(), QUANTUM);
    this.right = new Float32Array(buf, this.engine.right_ptr(), QUANTUM);
    this.input = new Uint8Array(buf, this.engine.input_ptr(), this.engine.input_capacity());
    this.stats = new Float64Array(buf, this.engine.stats_ptr(), this.engine.stats_len());
  }

  // Enhancer settings arrive as numbers only (the main thread maps preset names to indices and
  // validates every value; the engine refuses anything out of range all the same).
  dsp(m) {
    if (m.preset !== undefined) {
      this.engine.setPreset(m.preset);
      this.dspMsgFrame = currentFrame; // the next quantum starts the blend: onset statistics
    }
    if (m.intensity !== undefined) this.engine.setIntensity(m.intensity);
    if (m.volume !== undefined) this.engine.setVolume(m.volume);
    if (m.targetLufs !== undefined) this.engine.setTargetLufs(m.targetLufs);
    if (m.resetLoudness) this.engine.resetLoudness();
  }

  // Messages from the main thread (port) and from the Worker (dataPort).
  onMessage(m, replyTo) {
    if (this.memory.buffer !== this.viewsOf) this.refreshViews();
    switch (m.t) {
      case 'frame': {
        const bytes = new Uint8Array(m.buf);
        if (bytes.length > this.input.length) { this.refused++; return; }
        this.input.set(bytes);
        if (this.engine.push_input(bytes.length) !== 0) this.refused++;
        return;
      }
      case 'pcm': {
        const bytes = new Uint8Array(m.buf);
        if (bytes.length > this.input.length) { this.refused++; return; }
        this.input.set(bytes);
        if (this.engine.push_pcm_input(m.session, m.pos, m.channels, bytes.length / 4 / m.channels) !== 0) this.refused++;
        return;
      }
      case 'start': this.engine.start(m.session, m.startSample); return;
      case 'queue': this.engine.queue(m.session, m.startSample, m.crossfadeFrames); return;
      case 'pause': this.engine.pause(); return;
      case 'resume': this.engine.resume(); return;
      case 'rebind': this.engine.rebind(m.from, m.to); return;
      case 'seekLocal': replyTo.postMessage({ t: 'seekLocal', id: m.id, ok: this.engine.seek_local(m.pos) }); return;
      case 'writePos': replyTo.postMessage({ t: 'writePos', id: m.id, pos: this.engine.write_pos_of(m.session) }); return;
      case 'end': this.engine.end_at(m.session, m.totalSamples); return;
      case 'stop': this.engine.stop(); return;
      case 'dsp': this.dsp(m); return;
      case 'threshold': this.engine.set_min_threshold_ms(m.ms); return;
      case 'port':
        this.dataPort = m.port;
        this.dataPort.onmessage = (e) => this.onMessage(e.data, this.dataPort);
        return;
      case 'memory':
        replyTo.postMessage({ t: 'memory', id: m.id, wasmBytes: this.memory.buffer.byteLength });
        return;
      case 'poll': {
        // id 1: the page's stats (meter and spectrum); id 0: the Worker's acknowledgements.
        if (m.id === 1) this.engine.update_stats(); else this.engine.update_transport_stats();
        replyTo.postMessage({ t: 'stats', id: m.id, stats: Array.from(this.stats), refused: this.refused, sampleRate, dspMsgFrame: this.dspMsgFrame });
        return;
      }
    }
  }

  process(_inputs, outputs) {
    if (this.engine === null) return true;
    if (this.memory.buffer !== this.viewsOf) this.refreshViews();
    this.engine.render(QUANTUM, currentFrame);
    const out = outputs[0];
    out[0].set(this.left);
    if (out.length > 1) out[1].set(this.right);
    return true;
  }
}

registerProcessor('stream-processor', StreamProcessor);
