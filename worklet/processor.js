// The AudioWorkletProcessor: copies bytes into wasm memory and samples out of it. No logic
// lives here; the engine (stream-core, compiled to wasm) owns buffering, fades and stats.
//
// Real-time rules: process() calls one wasm function and copies two 128-sample views. It
// creates no objects, posts no messages (but the one report of a trap) and never throws. Views
// over wasm memory are cached and rebuilt only when memory.buffer changes (it does when a new
// engine is built after a trap; a detached view would be silent, so the check is one
// comparison per quantum).
//
// The message path follows the same rule: nothing that arrives once per frame or once per
// stats poll makes this code create an object. A frame arrives as a Uint8Array (`bytes`) and is
// copied straight into wasm memory with set(); a poll copies the stats into one preallocated
// Float64Array and posts one reply object per poll id, filled in place (the structured clone
// postMessage makes of it is the browser's, on its side of the call). Rare replies (seekLocal,
// writePos, memory) and the transitional `buf: ArrayBuffer` frames may allocate.
//
// A trap in the engine (a bug: a wasm `unreachable`, an out-of-bounds access) is caught: it is
// reported once as `engine_trap`, the node renders silence, and the next start (a new play)
// builds a fresh engine. The trapped one cannot be called again (wasm-bindgen left its borrow
// flag set) and its memory stays allocated (its reference count too): a few MB per trap.
import './polyfill.js';
import { initSync, WasmEngine } from '../pkg/engine_wasm.js';

const QUANTUM = 128;

class StreamProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions || {};
    this.refused = 0;
    // Wall clock (Date.now()) of the quanta where the latest first audio and preset blend began.
    this.firstAudioWall = 0; this.firstAudioWallFrame = 0; this.switchWall = 0; this.switchWallFrame = 0;
    // Starvation of the audio thread since the latest first audio: the most the audio clock ran
    // ahead of the wall clock after falling behind it (a stall, then the missed quanta rendered
    // in a burst, which drains the buffer that much faster than real time). A live stream's
    // buffer cannot cover more than it holds; the stats tell when that was the cause.
    this.msPerFrame = 1000 / sampleRate; this.leadMin = Infinity; this.catchUpMs = 0;
    this.dataPort = null;
    this.engine = null;
    this.trapped = false;
    // What a rebuilt engine is given: the constructor's arguments and the settings last accepted.
    this.engineArgs = [sampleRate, o.capacityMs ?? 6000, o.startThresholdMs ?? 100, o.fadeMs ?? 10, o.crossfadeMs ?? 30, o.presetBlendMs ?? 30];
    this.settings = { preset: undefined, intensity: undefined, volume: undefined, targetLufs: undefined };
    this.thresholdMs = -1;
    // One reply per poll id, reused (see the rule above); `stats` is a copy, not a view over wasm
    // memory (which cannot be cloned without copying all of it).
    this.statsReplies = [];
    try {
      const wasm = initSync({ module: o.module });
      this.memory = wasm.memory;
      this.engine = new WasmEngine(...this.engineArgs);
      this.statsCopy = new Float64Array(this.engine.stats_len());
      this.dspMsgFrame = -1;
      this.dsp(o.dsp || {});
      this.viewsOf = null;
      this.refreshViews();
    } catch (e) {
      // Report once, then render silence: a broken engine must not take the page down.
      this.engine = null;
      this.port.postMessage({ t: 'error', code: 'worklet_error', error: String(e && e.stack || e) });
    }
    this.port.onmessage = (e) => this.engine && this.guarded(e.data, this.port);
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
  // validates every value; the engine refuses anything out of range all the same). What the
  // engine accepted is kept for a rebuilt one.
  dsp(m) {
    const s = this.settings;
    if (m.preset !== undefined) {
      if (this.engine.setPreset(m.preset) === 0) s.preset = m.preset;
      this.dspMsgFrame = currentFrame; // the next quantum starts the blend: onset statistics
    }
    if (m.intensity !== undefined && this.engine.setIntensity(m.intensity) === 0) s.intensity = m.intensity;
    if (m.volume !== undefined && this.engine.setVolume(m.volume) === 0) s.volume = m.volume;
    if (m.targetLufs !== undefined && this.engine.setTargetLufs(m.targetLufs) === 0) s.targetLufs = m.targetLufs;
    if (m.resetLoudness) this.engine.resetLoudness();
  }

  // A trap anywhere in the engine (in a message as in process()) leaves it unusable.
  guarded(m, replyTo) {
    try {
      this.onMessage(m, replyTo);
    } catch (e) {
      this.onTrap(e);
    }
  }

  onTrap(e) {
    if (this.trapped) return;
    this.trapped = true;
    this.port.postMessage({
      t: 'error',
      code: 'engine_trap',
      error: `The audio engine stopped on an internal error (${String(e && e.message || e)}); it restarts with the next play.`,
      clock: currentFrame,
    });
  }

  // A new engine in the same wasm instance, with the old one's options and settings.
  rebuild() {
    this.engine = null; // the trapped one is left to its finalizer
    let engine;
    try {
      engine = new WasmEngine(...this.engineArgs);
    } catch (e) {
      // No memory left for a second engine: say so; the node stays silent.
      this.port.postMessage({ t: 'error', code: 'worklet_error', error: `The audio engine could not restart: ${String(e && e.message || e)}` });
      return false;
    }
    const s = this.settings;
    if (s.preset !== undefined) engine.setPreset(s.preset);
    if (s.intensity !== undefined) engine.setIntensity(s.intensity);
    if (s.volume !== undefined) engine.setVolume(s.volume);
    if (s.targetLufs !== undefined) engine.setTargetLufs(s.targetLufs);
    if (this.thresholdMs >= 0) engine.set_min_threshold_ms(this.thresholdMs);
    this.engine = engine;
    this.refreshViews();
    this.trapped = false;
    return true;
  }

  // While trapped: only a start (which rebuilds), settings to keep, and answers someone awaits.
  onMessageTrapped(m, replyTo) {
    switch (m.t) {
      case 'start': if (this.rebuild()) this.onMessage(m, replyTo); return;
      case 'dsp': {
        const s = this.settings;
        for (const k of ['preset', 'intensity', 'volume', 'targetLufs']) if (m[k] !== undefined) s[k] = m[k];
        return;
      }
      case 'threshold': this.thresholdMs = m.ms; return;
      case 'seekLocal': replyTo.postMessage({ t: 'seekLocal', id: m.id, ok: false }); return;
      case 'writePos': replyTo.postMessage({ t: 'writePos', id: m.id, pos: -1 }); return;
      case 'port': this.setDataPort(m.port); return;
      case 'memory': this.replyMemory(m, replyTo); return;
      default: return; // frames, polls, transport: nothing plays
    }
  }

  // Messages from the main thread (port) and from the Worker (dataPort).
  onMessage(m, replyTo) {
    if (this.trapped) { this.onMessageTrapped(m, replyTo); return; }
    if (this.memory.buffer !== this.viewsOf) this.refreshViews();
    switch (m.t) {
      case 'frame': {
        // `bytes` (a Uint8Array); `buf` (an ArrayBuffer) until every sender has moved over.
        const bytes = m.bytes !== undefined ? m.bytes : new Uint8Array(m.buf);
        const len = bytes.length;
        if (len > this.input.length) { this.refused++; return; }
        this.input.set(bytes);
        if (this.engine.push_input(len) !== 0) this.refused++;
        return;
      }
      case 'pcm': {
        // Interleaved f32 in native byte order, as bytes.
        const bytes = m.bytes !== undefined ? m.bytes : new Uint8Array(m.buf);
        const len = bytes.length;
        if (len > this.input.length) { this.refused++; return; }
        this.input.set(bytes);
        if (this.engine.push_pcm_input(m.session, m.pos, m.channels, len / 4 / m.channels) !== 0) this.refused++;
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
      case 'threshold': this.thresholdMs = m.ms; this.engine.set_min_threshold_ms(m.ms); return;
      case 'port': this.setDataPort(m.port); return;
      case 'memory': this.replyMemory(m, replyTo); return;
      case 'poll': {
        // id 1: the page's stats (meter and spectrum); id 0: the Worker's acknowledgements.
        if (m.id === 1) this.engine.update_stats(); else this.engine.update_transport_stats();
        const r = this.statsReplies[m.id] || this.statsReply(m.id);
        this.statsCopy.set(this.stats);
        r.refused = this.refused;
        r.dspMsgFrame = this.dspMsgFrame;
        r.clock = currentFrame;
        r.firstAudioWall = this.firstAudioWall;
        r.firstAudioWallFrame = this.firstAudioWallFrame;
        r.switchWall = this.switchWall;
        r.switchWallFrame = this.switchWallFrame;
        r.renderCatchUpMs = this.catchUpMs;
        replyTo.postMessage(r);
        return;
      }
      // TEST HOOK (tests/e2e/robust.test.mjs): the next render traps, as a bug in the engine would.
      case 'debugTrap': this.engine.debug_trap_next_render(); return;
    }
  }

  // The Worker's channel (frames, transport, its polls).
  setDataPort(port) {
    this.dataPort = port;
    port.onmessage = (e) => this.engine && this.guarded(e.data, port);
  }

  replyMemory(m, replyTo) {
    replyTo.postMessage({ t: 'memory', id: m.id, wasmBytes: this.memory.buffer.byteLength });
  }

  // Made once per poll id (the page's and the Worker's): see the rule at the top.
  statsReply(id) {
    const r = { t: 'stats', id, stats: this.statsCopy, refused: 0, sampleRate, dspMsgFrame: -1, clock: 0,
      firstAudioWall: 0, firstAudioWallFrame: 0, switchWall: 0, switchWallFrame: 0, renderCatchUpMs: 0 };
    this.statsReplies[id] = r;
    return r;
  }

  process(_inputs, outputs) {
    if (this.engine === null || this.trapped) return true; // outputs are silence unless written
    if (this.memory.buffer !== this.viewsOf) this.refreshViews();
    let marks;
    try {
      marks = this.engine.render(QUANTUM, currentFrame);
    } catch (e) {
      this.onTrap(e);
      return true;
    }
    // The wall clock of this quantum's render (Date.now() is a number: no allocation).
    const now = Date.now();
    if (marks !== 0) {
      // For what began in this quantum: the page maps the engine's clocks to its own time.
      if (marks & 1) {
        this.firstAudioWall = now; this.firstAudioWallFrame = currentFrame;
        this.leadMin = Infinity; this.catchUpMs = 0;
      }
      if (marks & 2) { this.switchWall = now; this.switchWallFrame = currentFrame; }
    }
    const lead = currentFrame * this.msPerFrame - now;
    if (lead < this.leadMin) this.leadMin = lead;
    else if (lead - this.leadMin > this.catchUpMs) this.catchUpMs = lead - this.leadMin;
    const out = outputs[0];
    out[0].set(this.left);
    if (out.length > 1) out[1].set(this.right);
    return true;
  }
}

registerProcessor('stream-processor', StreamProcessor);
