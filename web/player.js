// StreamPlayer: the main-thread side of the engine. It only wires things up and relays
// commands and events; audio never passes through the main thread.
//
//   main thread ──cmd──► Worker (WebSocket) ──frames (transferred)──► AudioWorklet (wasm engine)
//
// Works without COOP/COEP (no SharedArrayBuffer), without a bundler, on stable Rust.

import { S, BANDS } from './worklet/stats.js';

/** A seek to this position of a live stream goes to its live edge (any position at or past the
 * edge does: the relay answers with the latest audio). */
const LIVE_EDGE_S = 1e9;
const STATE_NAMES = ['idle', 'buffering', 'playing', 'ended', 'stopping', 'paused'];

/** The enhancement presets, in the order of their indices in the engine. */
export const PRESETS = Object.freeze(['off', 'adaptive', 'warm', 'bright', 'punchy', 'gentle']);

/** An invalid argument to the API, or a browser the player cannot run in: `code` is stable
 * (`unknown_preset`, `invalid_intensity`, `invalid_volume`, `invalid_target_lufs`,
 * `unsupported_browser`), `message` says what was wrong. */
export class StreamPlayerError extends RangeError {
  constructor(code, message) {
    super(message);
    this.name = 'StreamPlayerError';
    this.code = code;
  }
}

function checkPreset(name) {
  const i = PRESETS.indexOf(name);
  if (i < 0) throw new StreamPlayerError('unknown_preset', `unknown preset ${JSON.stringify(name)}: use one of ${PRESETS.join(', ')}`);
  return i;
}

function checkUnit(code, what, x) {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0 || x > 1) {
    throw new StreamPlayerError(code, `${what} must be a number from 0 to 1, got ${String(x)}`);
  }
  return x;
}

function checkLufs(x) {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < -60 || x > 0) {
    throw new StreamPlayerError('invalid_target_lufs', `target loudness must be a number from -60 to 0 LUFS, got ${String(x)}`);
  }
  return x;
}

/**
 * What this browser lacks that the player needs, as a sentence for people (null: nothing). The
 * player renders in an AudioWorklet (AudioContext, AudioWorkletNode: secure contexts only, i.e.
 * https or localhost) with its engine compiled to WebAssembly, and reads the socket in a Worker.
 * @returns {string|null}
 */
export function missingBrowserFeatures() {
  const g = globalThis;
  const missing = [];
  if (typeof (g.AudioContext || g.webkitAudioContext) !== 'function') missing.push('Web Audio (AudioContext)');
  if (typeof g.AudioWorkletNode !== 'function') missing.push('AudioWorklet (AudioWorkletNode)');
  if (typeof g.WebAssembly !== 'object' || g.WebAssembly === null) missing.push('WebAssembly');
  if (typeof g.Worker !== 'function') missing.push('Web Workers');
  if (!missing.length) return null;
  const insecure = g.isSecureContext === false && missing.some((m) => m.startsWith('AudioWorklet'))
    ? ' AudioWorklet exists only on secure pages: open this page over https (or on localhost).' : '';
  return `This browser cannot play the stream: it lacks ${missing.join(', ')}.${insecure} Use a current version of Chrome, Edge, Firefox or Safari.`;
}

/** A module Worker for `url`. Workers must come from the page's origin: when the package is
 * loaded from elsewhere (a CDN), a same-origin blob module imports the script (which needs CORS). */
function makeWorker(url) {
  const opts = { type: 'module', name: 'stream-socket' };
  if (url.origin === location.origin) return new Worker(url, opts);
  const shim = URL.createObjectURL(new Blob([`import ${JSON.stringify(url.href)};`], { type: 'text/javascript' }));
  return new Worker(shim, opts);
}

export class StreamPlayer extends EventTarget {
  /**
   * @param {object} opts
   * @param {string} [opts.server] base URL of the relay (default: this page's origin)
   * @param {string[]} [opts.servers] base URLs of the relays of a cluster, tried in turn: when
   *   the connection to one dies, the player moves to the next and resumes at the exact next
   *   sample (a library track or a live stream). `server` is the first when both are given.
   * @param {number} [opts.capacityMs=6000] ring buffer capacity
   * @param {number} [opts.startThresholdMs=100] audio buffered before playback starts
   * @param {number} [opts.liveBufferMs=500] the same for live streams (their audio arrives in
   *   real time; a late joiner gets a 1 s burst, so it still starts at once)
   * @param {number} [opts.fadeMs=10] fade length at starts, stops and underruns
   * @param {number} [opts.statsIntervalMs=100] how often `stats` events fire
   * @param {string} [opts.preset='off'] enhancement preset (see PRESETS)
   * @param {number} [opts.intensity=1] preset intensity, 0 (neutral) to 1 (full)
   * @param {number} [opts.volume=1] output volume, 0 to 1
   * @param {number} [opts.targetLufs=-14] loudness the `adaptive` preset aims for
   * @param {number} [opts.presetBlendMs=30] length of the blend between presets
   * @throws {StreamPlayerError} on an invalid preset, intensity, volume or target
   */
  constructor(opts = {}) {
    super();
    const servers = [...(opts.server ? [opts.server] : []), ...(opts.servers || [])];
    this.servers = (servers.length ? servers : [location.origin]).map((u) => String(u).replace(/\/$/, ''));
    this.server = this.servers[0];
    this.opts = {
      capacityMs: 6000, startThresholdMs: 100, liveBufferMs: 500, fadeMs: 10, crossfadeMs: 30, statsIntervalMs: 100,
      preset: 'off', intensity: 1, volume: 1, targetLufs: -14, presetBlendMs: 30, ...opts,
    };
    checkPreset(this.opts.preset);
    checkUnit('invalid_intensity', 'intensity', this.opts.intensity);
    checkUnit('invalid_volume', 'volume', this.opts.volume);
    checkLufs(this.opts.targetLufs);
    this.preset = this.opts.preset;
    this.intensity = this.opts.intensity;
    this.volume = this.opts.volume;
    this.targetLufs = this.opts.targetLufs;
    this._presetPerf = 0; // performance.now() of the last setPreset()
    this.context = null;
    this.output = null;
    this.state = 'idle';
    this.stats = null;
    this.live = null; // the live stream playing (stream_start of a listen)
    this.title = undefined; // its title now audible
    this.track = null;
    this._playPerf = 0; // performance.now() of the last play request
    this._ttfaMs = null;
    this._ttfaSession = -1;
    this._ready = null;
  }

  /**
   * Creates the AudioContext, worklet and worker, compiles the engine and opens the socket.
   * Call it at page load so the first play only has to ask for audio: before a user gesture the
   * context waits suspended, and play() resumes it. play() calls it if nobody did.
   *
   * In a browser without what the player needs (see {@link missingBrowserFeatures}) it fires
   * one `error` event `{ code: 'unsupported_browser', error }`, the state becomes `error`, and it
   * rejects with a StreamPlayerError of that code (so do play() and listen(), at once).
   */
  init() {
    if (!this._ready) this._ready = this._init();
    return this._ready;
  }

  async _init() {
    const missing = missingBrowserFeatures();
    if (missing) {
      this._setState('error');
      this._emit('error', { code: 'unsupported_browser', error: missing });
      throw new StreamPlayerError('unsupported_browser', missing);
    }
    const base = new URL('.', import.meta.url);
    const AudioContextClass = globalThis.AudioContext || globalThis.webkitAudioContext;
    const ctx = new AudioContextClass({ sampleRate: 48000, latencyHint: 'interactive' });
    this.context = ctx;
    const [module] = await Promise.all([
      WebAssembly.compileStreaming(fetch(new URL('pkg/engine_wasm_bg.wasm', base))),
      ctx.audioWorklet.addModule(new URL('worklet/processor.js', base)),
    ]);
    const node = new AudioWorkletNode(ctx, 'stream-processor', {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [2],
      processorOptions: {
        module,
        capacityMs: this.opts.capacityMs,
        startThresholdMs: this.opts.startThresholdMs,
        fadeMs: this.opts.fadeMs,
        crossfadeMs: this.opts.crossfadeMs,
        presetBlendMs: this.opts.presetBlendMs,
        // Whatever was set before the engine existed.
        dsp: { preset: PRESETS.indexOf(this.preset), intensity: this.intensity, volume: this.volume, targetLufs: this.targetLufs },
      },
    });
    node.onprocessorerror = () => {
      this._setState('error');
      this._emit('error', { code: 'worklet_error', error: 'The audio engine failed to start in the AudioWorklet.' });
    };
    node.connect(ctx.destination);
    this.output = node;
    node.port.onmessage = (e) => this._onWorklet(e.data);

    const worker = makeWorker(new URL('worklet/worker.js', base));
    this._opusSupported = new Promise((ok) => { this._resolveOpus = ok; });
    worker.onmessage = (e) => this._onWorker(e.data);
    worker.onerror = (e) => this._emit('error', { code: 'worker_error', error: String(e.message || e) });
    this.worker = worker;
    const channel = new MessageChannel();
    node.port.postMessage({ t: 'port', port: channel.port1 }, [channel.port1]);
    const wsUrls = this.servers.map((u) => u.replace(/^http/, 'ws') + '/ws');
    worker.postMessage({ cmd: 'init', wsUrl: wsUrls[0], wsUrls, port: channel.port2, startThresholdMs: this.opts.startThresholdMs, liveBufferMs: this.opts.liveBufferMs }, [channel.port2]);
    this._statsTimer = setInterval(() => node.port.postMessage({ t: 'poll', id: 1 }), this.opts.statsIntervalMs);
    // Ready when the Worker runs (its script loaded, its Opus decoder set up): a play() right
    // after init() then only waits for the network.
    await this._opusSupported;
  }

  /**
   * Plays a library track. Rejects (with an `error` event) when the player cannot run in this
   * browser (`unsupported_browser`); every other problem arrives as an `error` event.
   * @param {string} trackId
   * @param {{positionS?: number, codec?: 'opus'|'pcm_s16'|'pcm_f32', bitrate?: number, profile?: 'music'|'voice'}} [o]
   *   codec defaults to opus (decoded by the player's own wasm decoder in its Worker); if that decoder cannot load, the player falls back to
   *   pcm_s16 and fires a `codecfallback` event.
   */
  async play(trackId, o = {}) {
    const codec = await this._begin(trackId, o.codec);
    this.worker.postMessage({ cmd: 'play', trackId, positionS: o.positionS || 0, codec, bitrate: o.bitrate, profile: o.profile });
    this._emit('play', { trackId });
  }

  /**
   * Listens to a live stream of the relay (a listen token from whoever created the stream).
   * Playback starts at once from a short burst of the latest audio; after a lost connection the
   * player rejoins the live stream.
   * @param {string} streamId
   * @param {string} [token] listen token (none for a public stream)
   * @param {{codec?: 'opus'|'pcm_s16'|'pcm_f32'}} [o]
   */
  async listen(streamId, token, o = {}) {
    const codec = await this._begin(streamId, o.codec);
    this.worker.postMessage({ cmd: 'listen', streamId, token: token || '', codec });
    this._emit('play', { streamId });
  }

  /** What play() and listen() share: the clock for time to first audio, the engine and audio
   * permission, a loudness restart for a new programme, and the codec (with its fallback). */
  async _begin(id, wanted) {
    this._playPerf = performance.now(); // the request: time to first audio counts from here
    this._ttfaMs = null;
    this._ttfaSession = -1;
    this._playSeq = (this._playSeq || 0) + 1;
    this._awaitSeq = this._playSeq;
    const initialising = !this._ready;
    const ready = this.init();
    // Ask for audio now, while the call may still be inside the user's gesture: Safari (WebKit)
    // starts an AudioContext only from a gesture's own task, not after an await. init() creates
    // the context synchronously.
    if (this.context && this.context.state === 'suspended') this.context.resume().catch(() => {});
    try {
      await ready;
    } catch (e) {
      // An init that failed earlier said so then; this play says it again, and does not wait.
      if (!initialising && e?.code === 'unsupported_browser') {
        this._setState('error');
        this._emit('error', { code: e.code, error: e.message });
      }
      throw e;
    }
    if (this.context.state !== 'running') {
      // Without a user gesture the browser keeps the context suspended and resume() waits for
      // one: playback goes on being prepared and starts when audio is allowed.
      const resumed = this.context.resume().catch(() => {});
      await Promise.race([resumed, new Promise((ok) => setTimeout(ok, 300))]);
      if (this.context.state !== 'running') {
        this._emit('error', { code: 'audio_blocked', error: 'The browser blocked audio until you interact with the page: press play to start it.' });
      }
    }
    // A new programme: the loudness measurement of `adaptive` starts over.
    if (this.track !== id) this.output.port.postMessage({ t: 'dsp', resetLoudness: true });
    this.track = id;
    let codec = wanted || 'opus';
    if (codec === 'opus' && !(await this._opusSupported)) {
      codec = 'pcm_s16';
      this._emit('codecfallback', { requested: 'opus', used: codec, reason: 'the Opus decoder (wasm) could not be loaded' });
    }
    this.codec = codec;
    this.streamInfo = null; // until the new stream starts: the old one's stats are not its
    this._queuedInfo = null; // (a new play drops what was queued)
    this._setState('connecting');
    return codec;
  }

  /** A renewed listen token for the live stream (used when the player has to rejoin). */
  setListenToken(token) {
    if (this.worker) this.worker.postMessage({ cmd: 'token', token });
  }

  /**
   * Moves the current track to `positionS` seconds. Audio still in the buffer (ahead, or played
   * in the last seconds) is crossfaded to at once; elsewhere the old position plays on until
   * the new one has arrived, then they crossfade.
   */
  async seek(positionS) {
    if (!this.worker || !this.track) return;
    if (!Number.isFinite(positionS) || positionS < 0) {
      this._emit('error', { code: 'invalid_parameter', error: `cannot seek to ${positionS}` });
      return;
    }
    this._playPerf = performance.now();
    this._ttfaMs = null;
    this._ttfaSession = -1; // until the new stream starts: a late reply of the old one is not it
    this._playSeq = (this._playSeq || 0) + 1;
    this._awaitSeq = this._playSeq;
    this.worker.postMessage({ cmd: 'seek', positionS });
  }

  /** Skips to the queued track now, crossfading from the current one. */
  next() {
    if (this.worker) this.worker.postMessage({ cmd: 'next' });
  }

  /** Fades out and holds the position and the buffer; the server stops sending. */
  pause() {
    if (!this.worker || !['playing', 'buffering'].includes(this.state)) return;
    this.worker.postMessage({ cmd: 'pause' });
    this._setState('paused');
    this._emit('pause', {});
  }

  /** Fades back in at the exact position of the pause. */
  resume() {
    if (!this.worker || this.state !== 'paused') return;
    this.worker.postMessage({ cmd: 'resume' });
    this._setState('playing');
    this._emit('play', {});
  }

  /**
   * Queues a track to follow the current one: `crossfadeS` 0 (the default) is gapless — its
   * first sample follows the current track's last —, otherwise the two overlap by that long.
   * The next track is requested now, so the transition is exact.
   */
  queue(trackId, o = {}) {
    if (!this.worker) return;
    this.worker.postMessage({ cmd: 'queue', trackId, crossfadeS: o.crossfadeS || 0, codec: this.codec || o.codec || 'opus', bitrate: o.bitrate, profile: o.profile });
  }

  /**
   * Switches the enhancement preset. The worklet blends the old and the new chain, starting
   * with the next render quantum after the message arrives (no server round trip, no reload).
   * @param {'off'|'adaptive'|'warm'|'bright'|'punchy'|'gentle'} name
   * @throws {StreamPlayerError} `unknown_preset`; nothing changes
   */
  setPreset(name) {
    const index = checkPreset(name);
    this.preset = name;
    this._presetPerf = performance.now();
    this.output?.port.postMessage({ t: 'dsp', preset: index });
    this._emit('presetchange', { preset: name, intensity: this.intensity });
  }

  /**
   * Scales the preset from neutral (0: bit-exact bypass) to full (1), ramped without zipper noise.
   * @param {number} x 0..1
   * @throws {StreamPlayerError} `invalid_intensity` (NaN, out of range, not a number); nothing changes
   */
  setIntensity(x) {
    checkUnit('invalid_intensity', 'intensity', x);
    this.intensity = x;
    this.output?.port.postMessage({ t: 'dsp', intensity: x });
    this._emit('presetchange', { preset: this.preset, intensity: x });
  }

  /**
   * Output volume, linear 0..1 (like HTMLMediaElement.volume), ramped.
   * @param {number} x 0..1
   * @throws {StreamPlayerError} `invalid_volume`; nothing changes
   */
  setVolume(x) {
    checkUnit('invalid_volume', 'volume', x);
    this.volume = x;
    this.output?.port.postMessage({ t: 'dsp', volume: x });
    this._emit('volumechange', { volume: x });
  }

  /**
   * Loudness the `adaptive` preset aims for (default -14 LUFS).
   * @param {number} lufs -60..0
   * @throws {StreamPlayerError} `invalid_target_lufs`; nothing changes
   */
  setTargetLufs(lufs) {
    checkLufs(lufs);
    this.targetLufs = lufs;
    this.output?.port.postMessage({ t: 'dsp', targetLufs: lufs });
  }

  /** Fades out and stops. */
  stop() {
    if (!this.output) return;
    this.output.port.postMessage({ t: 'stop' });
    this.worker.postMessage({ cmd: 'stop' });
    this._setState('idle');
  }

  /**
   * Releases everything the player holds: the socket, the Worker, the AudioContext and its
   * memory. The player cannot be used afterwards.
   */
  async destroy() {
    this._destroyed = true;
    const ready = this._ready;
    this._ready = Promise.reject(new Error('the player was destroyed'));
    this._ready.catch(() => {});
    try { await ready; } catch { /* nothing was started */ }
    clearInterval(this._statsTimer);
    this.worker?.terminate();
    this.worker = null;
    if (this.output) this.output.port.onmessage = null;
    this.output = null;
    if (this.context && this.context.state !== 'closed') await this.context.close().catch(() => {});
    this._setState('idle');
  }

  _emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  _setState(s) {
    if (s === this.state) return;
    this.state = s;
    this._emit('statechange', { state: s });
  }

  _onWorker({ ev, data }) {
    if (ev === 'capabilities') { this._resolveOpus(!!data.opus); return; }
    if (ev === 'metadata') {
      // A title from its sample on: fired as `title` when that sample is rendered (_checkTitles).
      this._titles = (this._titles || []).filter((t) => !t.fired).slice(-63);
      this._titles.push({ session: data.session, sample: data.sample, title: data.title, fired: false, timer: 0 });
      this._emit('metadata', data);
      return;
    }
    if (ev === 'stream_start' && !data.queued) {
      this.live = data.live
        ? { streamId: data.track_id, session: data.session, timeshiftS: data.timeshift_s ?? 0, windowStartSample: data.window_start_sample ?? 0 }
        : null;
    }
    if (ev === 'stream_start') {
      if (data.queued) {
        // A queued stream starts arriving while the current one plays: nothing changes until it
        // plays (then its details replace the current one's, see _onWorklet).
        this._queuedInfo = data;
      } else {
        this.streamInfo = data;
        // The first stream started after the latest play() is the one its time to first audio is for.
        this._ttfaSession = this._awaitSeq === this._playSeq ? data.session : this._ttfaSession;
        this._awaitSeq = -1;
        this._setState('buffering');
      }
    }
    else if (ev === 'error') this._setState('error');
    this._emit(ev, data);
  }

  /**
   * Memory the player holds: the engine's wasm memory (ring buffers, DSP) in the audio thread
   * and, where the browser tells (Chromium), the page's JS heap.
   * @returns {Promise<{wasmBytes: number, pageJsHeapBytes: number|null}>}
   */
  async memoryUsage() {
    await this.init();
    const wasmBytes = await new Promise((ok) => {
      this._memoryReply = ok;
      this.output.port.postMessage({ t: 'memory', id: 2 });
    });
    return { wasmBytes, pageJsHeapBytes: performance.memory ? performance.memory.usedJSHeapSize : null };
  }

  /**
   * performance.now() at which the engine rendered output-clock frame `frame`: the worklet
   * stamps the quantum where a first audio or a preset blend began with the wall clock
   * (`wall`, Date.now(), at output frame `wallFrame`); frames after it follow in real time.
   * Counted to the rendered sample, without the device's output latency: asking the device
   * (getOutputTimestamp(), outputLatency) from the main thread froze Firefox's page on
   * PulseAudio while the audio stream was starting (1 start in 3 here), and Safari's
   * getOutputTimestamp() is known to be wrong.
   */
  _clockToPerf(frame, wall, wallFrame, rate) {
    return wall - performance.timeOrigin + ((frame - wallFrame) / rate) * 1000;
  }

  /**
   * Fires each pending title when its sample is rendered: the latest stats tell which stream
   * sample plays at which output frame (`clock`), and the page's clock follows the output's
   * from the first audio on (_clockToPerf); a timer fires at that moment, or at once if it has
   * passed. The event's `clock` is the output frame where the sample was rendered.
   */
  _checkTitles(v, m, rate) {
    const session = v[S.SESSION];
    const pos = v[S.PLAY_POS];
    const now = performance.now();
    for (const t of this._titles) {
      // Only while playing do stream samples and output frames advance together.
      if (t.fired || t.session !== session || STATE_NAMES[v[S.STATE]] !== 'playing') continue;
      // The enhancer delays what it renders by its look-ahead: the sample is heard that much later.
      t.clock = m.clock + ((t.sample - pos) * rate) / 48000 + v[S.DSP_LATENCY];
      const at = m.firstAudioWallFrame > 0 || m.firstAudioWall > 0
        ? this._clockToPerf(t.clock, m.firstAudioWall, m.firstAudioWallFrame, rate)
        : now + ((t.sample - pos) / 48000) * 1000;
      clearTimeout(t.timer);
      t.at = at;
      if (at <= now) this._fireTitle(t);
      else if (at - now < this.opts.statsIntervalMs * 3) t.timer = setTimeout(() => this._fireTitle(t), at - now);
    }
  }

  _fireTitle(t) {
    if (t.fired) return;
    t.fired = true;
    this.title = t.title;
    // lateMs: how long after its sample was rendered the event fired (the timer's precision).
    const lateMs = t.at != null ? performance.now() - t.at : null;
    this._emit('title', { title: t.title, sample: t.sample, session: t.session, clock: t.clock, lateMs });
  }

  /** A live stream with a time-shift window: back to its live edge (after a seek into it). */
  goLive() {
    if (!this.worker || !this.live) return;
    this._playSeq = (this._playSeq || 0) + 1;
    this.worker.postMessage({ cmd: 'seek', positionS: LIVE_EDGE_S });
  }

  _onWorklet(m) {
    if (m.t === 'memory') { this._memoryReply?.(m.wasmBytes); this._memoryReply = null; return; }
    if (m.t === 'error') {
      if (m.code === 'engine_trap') {
        // The engine stopped (a bug in it) and the node renders silence: the stream is over, so
        // the server stops sending. The next play() builds a new engine in the worklet.
        this.worker?.postMessage({ cmd: 'stop' });
      }
      this._setState('error');
      const detail = { code: m.code, error: m.error };
      if (m.clock !== undefined) detail.clock = m.clock;
      this._emit('error', detail);
      return;
    }
    if (m.t !== 'stats') return;
    const v = m.stats; // a Float64Array (see stat:: in engine-wasm), a copy of the engine's
    const rate = m.sampleRate;
    const engineState = STATE_NAMES[v[S.STATE]] || 'idle';
    // The enhancer delays its output by its look-ahead: first audio is heard that much later.
    const firstAudio = v[S.FIRST_AUDIO_CLOCK] < 0 ? -1 : v[S.FIRST_AUDIO_CLOCK] + v[S.DSP_LATENCY];
    if (this._ttfaMs == null && firstAudio >= 0 && v[S.SESSION] === this._ttfaSession) {
      // The first audible sample's frame on the page's clock, minus the moment play() was called.
      this._ttfaMs = this._clockToPerf(firstAudio, m.firstAudioWall, m.firstAudioWallFrame, rate) - this._playPerf;
      this._emit('firstaudio', { session: v[S.SESSION], timeToFirstAudioMs: this._ttfaMs });
    }
    if (this._queuedInfo && v[S.SESSION] === this._queuedInfo.session) {
      this.streamInfo = this._queuedInfo; // the queued stream is the one playing now
      this._queuedInfo = null;
    }
    const stats = {
      state: engineState,
      session: v[S.SESSION],
      positionS: v[S.PLAY_POS] / rate,
      playPos: v[S.PLAY_POS],
      bufferedMs: (v[S.BUFFERED_FRAMES] / rate) * 1000,
      capacityMs: (v[S.CAPACITY_FRAMES] / rate) * 1000,
      underruns: v[S.UNDERRUNS],
      underrunMs: (v[S.UNDERRUN_FRAMES] / rate) * 1000,
      // How far the audio thread ran behind real time and caught up in a burst, since the
      // latest first audio (ms): a live buffer smaller than this underruns, whoever plays it.
      renderCatchUpMs: m.renderCatchUpMs,
      framesRendered: v[S.FRAMES_RENDERED],
      streamFramesRendered: v[S.STREAM_FRAMES_RENDERED],
      droppedFrames: v[S.DROPPED_FRAMES],
      lateFrames: v[S.LATE_FRAMES],
      gapFrames: v[S.GAP_FRAMES],
      badFrames: v[S.BAD_FRAMES] + m.refused,
      fades: v[S.FADES],
      crossfades: v[S.CROSSFADES],
      transitions: v[S.TRANSITIONS],
      targetBufferMs: (v[S.TARGET_FRAMES] / rate) * 1000,
      transitionClock: v[S.TRANSITION_CLOCK],
      prerollFrames: v[S.PREROLL_FRAMES],
      codec: this.streamInfo?.codec ?? null,
      bitrate: this.streamInfo?.bitrate ?? null,
      startClock: v[S.START_CLOCK],
      firstAudioClock: firstAudio,
      timeToFirstAudioMs: v[S.SESSION] === this._ttfaSession ? this._ttfaMs : null,
      preset: PRESETS[v[S.PRESET]] ?? this.preset,
      intensity: v[S.INTENSITY],
      volume: v[S.VOLUME],
      gainReductionDb: v[S.COMPRESSOR_GR_DB] + v[S.LIMITER_GR_DB],
      compressorGainReductionDb: v[S.COMPRESSOR_GR_DB],
      limiterGainReductionDb: v[S.LIMITER_GR_DB],
      adaptiveGainDb: v[S.ADAPTIVE_GAIN_DB],
      loudness: { momentary: v[S.LOUDNESS_MOMENTARY], shortTerm: v[S.LOUDNESS_SHORT_TERM], integrated: v[S.LOUDNESS_INTEGRATED] },
      levels: { peak: [v[S.PEAK_L], v[S.PEAK_R]], rms: [v[S.RMS_L], v[S.RMS_R]] },
      spectrum: Array.from(v.subarray(S.SPECTRUM, S.SPECTRUM + BANDS)),
      presetSwitches: v[S.DSP_SWITCHES],
      presetBlending: v[S.DSP_BLENDING] === 1,
      dspLatencyFrames: v[S.DSP_LATENCY],
      // Output clock of the latest preset message's arrival and of the blend's first frame.
      presetMessageClock: m.dspMsgFrame,
      presetSwitchClock: v[S.DSP_SWITCH_CLOCK],
    };
    if (this._presetPerf && v[S.DSP_SWITCH_CLOCK] >= 0 && v[S.DSP_SWITCH_CLOCK] !== this._lastSwitchClock) {
      // setPreset() to the blend's first frame leaving the engine, on the page's clock.
      this._lastSwitchClock = v[S.DSP_SWITCH_CLOCK];
      const blendPerf = this._clockToPerf(v[S.DSP_SWITCH_CLOCK], m.switchWall, m.switchWallFrame, rate);
      this._emit('presetapplied', {
        preset: stats.preset,
        switchClock: v[S.DSP_SWITCH_CLOCK],
        switchMs: blendPerf - this._presetPerf,
        onsetFrames: m.dspMsgFrame >= 0 ? v[S.DSP_SWITCH_CLOCK] - m.dspMsgFrame : null,
      });
    }
    this.stats = stats;
    if (this._titles?.length) this._checkTitles(v, m, rate);
    if (this.state === 'paused') {
      // Stays paused until resume().
    } else if (this.state !== 'idle' && this.state !== 'error' && this.state !== 'connecting') {
      if (engineState === 'playing' || engineState === 'buffering' || engineState === 'ended') this._setState(engineState);
    } else if (this.state === 'connecting' && engineState === 'playing' && stats.session === this.streamInfo?.session) {
      this._setState('playing');
    }
    if (engineState === 'ended' && this.state === 'ended' && !this._endedFired) {
      this._endedFired = true;
      this._emit('ended', {});
    } else if (engineState !== 'ended') {
      this._endedFired = false;
    }
    this._emit('stats', stats);
  }
}
