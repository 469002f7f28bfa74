// Type declarations of the public API of `player.js`.

/** Enhancement presets, in the order of their indices in the engine. */
export declare const PRESETS: readonly ['off', 'adaptive', 'warm', 'bright', 'punchy', 'gentle'];
export type Preset = (typeof PRESETS)[number];
export type Codec = 'opus' | 'pcm_s16' | 'pcm_f32';
export type PlayerState = 'idle' | 'connecting' | 'buffering' | 'playing' | 'paused' | 'ended' | 'stopping' | 'error';

/** An invalid argument, or a browser the player cannot run in; `code` is stable. */
export declare class StreamPlayerError extends RangeError {
  readonly code: 'unknown_preset' | 'invalid_intensity' | 'invalid_volume' | 'invalid_target_lufs' | 'unsupported_browser';
  constructor(code: string, message: string);
}

/**
 * What this browser lacks that the player needs (Web Audio, AudioWorklet, WebAssembly,
 * Workers), as a sentence for people; null when nothing is missing.
 */
export declare function missingBrowserFeatures(): string | null;

/**
 * Detail of `error` events. Codes the player itself sends besides the relay's: `unsupported_browser`
 * (init() and play() reject too), `engine_trap` (the audio engine stopped on an internal error; the
 * node renders silence and the next play() starts a new engine; `clock` is the AudioContext frame
 * from which the output is silent), `worklet_error`, `worker_error`, `connection_failed`,
 * `audio_blocked`, `invalid_parameter`.
 */
export interface StreamPlayerErrorDetail {
  code: string;
  error: string;
  clock?: number;
}

export interface StreamPlayerOptions {
  /** Base URL of the relay (default: this page's origin). */
  server?: string;
  /** The relays of a cluster, tried in turn; the player resumes on the next at the exact next sample. */
  servers?: string[];
  /** Ring buffer capacity, ms (6000). */
  capacityMs?: number;
  /** Audio buffered before playback starts, ms (100); live streams use `liveBufferMs` (500). */
  startThresholdMs?: number;
  liveBufferMs?: number;
  /** Fade at starts, stops and underruns, ms (10); crossfade at seeks and track changes (30). */
  fadeMs?: number;
  crossfadeMs?: number;
  /** How often `stats` events fire, ms (100). */
  statsIntervalMs?: number;
  preset?: Preset;
  /** 0 (neutral, bit-exact bypass) to 1 (full). */
  intensity?: number;
  /** 0 to 1, linear. */
  volume?: number;
  /** Loudness `adaptive` aims for, LUFS (-14). */
  targetLufs?: number;
  /** Blend between presets, ms (30); 0 switches hard. */
  presetBlendMs?: number;
}

export interface PlayOptions {
  positionS?: number;
  codec?: Codec;
  bitrate?: number;
  profile?: 'music' | 'voice';
}

export interface StreamStats {
  state: string;
  session: number;
  positionS: number;
  playPos: number;
  bufferedMs: number;
  capacityMs: number;
  underruns: number;
  underrunMs: number;
  framesRendered: number;
  streamFramesRendered: number;
  droppedFrames: number;
  lateFrames: number;
  gapFrames: number;
  badFrames: number;
  fades: number;
  crossfades: number;
  transitions: number;
  targetBufferMs: number;
  codec: Codec | null;
  bitrate: number | null;
  timeToFirstAudioMs: number | null;
  preset: Preset;
  intensity: number;
  volume: number;
  /** Compressor plus limiter, dB. */
  gainReductionDb: number;
  compressorGainReductionDb: number;
  limiterGainReductionDb: number;
  adaptiveGainDb: number;
  /** LUFS, before the volume; -120 for silence. */
  loudness: { momentary: number; shortTerm: number; integrated: number };
  /** Per channel since the previous stats, linear. */
  levels: { peak: [number, number]; rms: [number, number] };
  /** 16 bands, 40 Hz to 16 kHz, dB re a full-scale sine. */
  spectrum: number[];
  presetSwitches: number;
  presetBlending: boolean;
  dspLatencyFrames: number;
}

export interface StreamPlayerEventMap {
  statechange: CustomEvent<{ state: PlayerState }>;
  stats: CustomEvent<StreamStats>;
  firstaudio: CustomEvent<{ session: number; timeToFirstAudioMs: number }>;
  error: CustomEvent<StreamPlayerErrorDetail>;
  /** Playback was asked for: play(), listen() or resume(). */
  play: CustomEvent<{ trackId?: string; streamId?: string }>;
  pause: CustomEvent<Record<string, never>>;
  ended: CustomEvent<Record<string, never>>;
  codecfallback: CustomEvent<{ requested: Codec; used: Codec; reason: string }>;
  presetchange: CustomEvent<{ preset: Preset; intensity: number }>;
  presetapplied: CustomEvent<{ preset: Preset; switchClock: number; switchMs: number; onsetFrames: number | null }>;
  volumechange: CustomEvent<{ volume: number }>;
  reconnecting: CustomEvent<{ inMs: number }>;
  reconnected: CustomEvent<unknown>;
  stream_start: CustomEvent<unknown>;
  stream_end: CustomEvent<{ session: number; total_samples: number; duration: number }>;
  /** A live stream's title arrived (ahead of its audio): from stream sample `sample` on. */
  metadata: CustomEvent<{ session: number; sample: number; title: string }>;
  /** A live stream's title now audible: fired when its sample is rendered (`clock`: the output
   * frame, on the AudioContext's clock, where it was; `lateMs`, how long after that it fired). */
  title: CustomEvent<{ title: string; sample: number; session: number; clock: number; lateMs: number | null }>;
}

/** The player: a Worker owns the socket, a wasm engine in an AudioWorklet owns the audio. */
export declare class StreamPlayer extends EventTarget {
  constructor(opts?: StreamPlayerOptions);
  /** The AudioContext (after init()). */
  readonly context: AudioContext | null;
  /** The engine's output node, after the enhancement DSP: connect analysers or route it. */
  readonly output: AudioWorkletNode | null;
  readonly state: PlayerState;
  readonly stats: StreamStats | null;
  readonly preset: Preset;
  readonly intensity: number;
  readonly volume: number;
  /** Rejects with a StreamPlayerError `unsupported_browser` where the player cannot run. */
  init(): Promise<void>;
  /** Releases the socket, Worker and AudioContext; the player cannot be used afterwards. */
  destroy(): Promise<void>;
  /** The engine's wasm memory and (Chromium) the page's JS heap, bytes. */
  memoryUsage(): Promise<{ wasmBytes: number; pageJsHeapBytes: number | null }>;
  /** Rejects (and fires `error`) only when the browser is unsupported; other problems are `error` events. */
  play(trackId: string, o?: PlayOptions): Promise<void>;
  /** A live stream; a public one needs no token. */
  listen(streamId: string, token?: string, o?: { codec?: Codec }): Promise<void>;
  /** Back to the live edge after a seek into a live stream's time-shift window. */
  goLive(): void;
  /** The live stream's title now audible (after the first `title` event). */
  readonly title: string | undefined;
  /** The live stream playing: its id, session, and time-shift window (seconds kept, first sample). */
  readonly live: { streamId: string; session: number; timeshiftS: number; windowStartSample: number } | null;
  setListenToken(token: string): void;
  seek(positionS: number): Promise<void>;
  pause(): void;
  resume(): void;
  queue(trackId: string, o?: PlayOptions & { crossfadeS?: number }): void;
  next(): void;
  stop(): void;
  /** @throws {StreamPlayerError} */
  setPreset(name: Preset): void;
  /** @throws {StreamPlayerError} */
  setIntensity(x: number): void;
  /** @throws {StreamPlayerError} */
  setVolume(x: number): void;
  /** @throws {StreamPlayerError} */
  setTargetLufs(lufs: number): void;
  addEventListener<K extends keyof StreamPlayerEventMap>(type: K, listener: (ev: StreamPlayerEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
}
