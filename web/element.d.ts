// Type declarations of `element.js`: the <stream-player> custom element.
import type { Codec, PlayerState, Preset, StreamPlayer, StreamPlayerEventMap, StreamStats } from './index.js';

export { StreamPlayer, StreamPlayerError, PRESETS, missingBrowserFeatures } from './index.js';

/** A library track as `GET /api/tracks` lists it. */
export interface Track {
  id: string;
  title: string;
  artist?: string;
  album?: string;
  duration_s: number;
  sample_rate?: number;
  channels?: number;
  codec?: string;
  playable?: boolean;
  file_name?: string;
}

/** Codes of the element's own `error` events (the player's and the relay's codes come too). */
export type StreamPlayerElementErrorCode =
  | 'invalid_server' | 'unknown_preset' | 'invalid_intensity' | 'invalid_volume' | 'invalid_target_lufs'
  | 'invalid_codec' | 'server_unreachable' | 'unknown_track' | 'no_track' | 'connection_failed'
  | 'audio_blocked' | 'engine_failed' | 'invalid_parameter' | 'unsupported_browser' | 'engine_trap';

export interface StreamPlayerElementEventMap extends StreamPlayerEventMap {
  ready: CustomEvent<{ context: AudioContext; output: AudioWorkletNode }>;
  tracksloaded: CustomEvent<{ tracks: Track[] }>;
  trackchange: CustomEvent<{ track: Track }>;
  error: CustomEvent<{ code: StreamPlayerElementErrorCode | string; error: string; clock?: number }>;
}

/**
 * `<stream-player server track preset intensity volume codec target-lufs autoplay preload compact
 * no-media-session no-advance>`. Attributes mirror the API; invalid values are shown in the
 * element and fired as `error` events, never thrown. Style it with the CSS custom properties
 * `--stream-player-{bg,fg,muted,accent,accent-2,rail,buffered,canvas,error,warn,radius,font,on-accent,
 * control-bg,control-border,color-scheme}` (color-scheme: `dark` by default; `light` with light colours)
 * and the parts `player play-button title artist status time elapsed total seek seek-played
 * seek-buffered seek-thumb live-button preset intensity volume visualizer meter spectrum stats message
 * tracklist track`.
 */
export declare class StreamPlayerElement extends HTMLElement {
  /** The player behind the element (exists once the element is connected). */
  readonly player: StreamPlayer | null;
  /** After `init()` (or the `ready` event): the AudioContext and the output node after the DSP. */
  readonly context: AudioContext | null;
  readonly output: AudioWorkletNode | null;
  readonly state: PlayerState;
  readonly stats: StreamStats | null;
  readonly tracks: Track[];
  readonly currentTrack: Track | null;
  /** Seconds. */
  readonly currentTime: number;
  readonly duration: number;
  server: string;
  track: string;
  preset: Preset;
  intensity: number;
  volume: number;
  codec: Codec;
  /** Creates (or resumes) the AudioContext and engine; false (and an `error` event) when it cannot. */
  init(): Promise<boolean>;
  play(trackId?: string, o?: { positionS?: number }): Promise<void>;
  /** Listens to a live stream (no token for a public one): the title follows the song, the seek
   * bar spans the stream's time-shift window, the LIVE button (part `live-button`) returns to
   * the edge. The `stream` attribute (with `token`, `stream-name`) does the same on play. */
  listen(streamId: string, o?: { token?: string; name?: string }): Promise<void>;
  goLive(): void;
  /** The live stream's title now audible, or null (`title` is the element's HTML attribute). */
  readonly streamTitle: string | null;
  pause(): void;
  resume(): void;
  togglePlay(): void;
  stop(): void;
  seek(positionS: number): void;
  next(): void;
  previous(): void;
  addEventListener<K extends keyof StreamPlayerElementEventMap>(type: K, listener: (ev: StreamPlayerElementEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
}

/** Registers the element under `name` (default `stream-player`; element.js does this on import). */
export declare function defineStreamPlayer(name?: string): CustomElementConstructor;

declare global {
  interface HTMLElementTagNameMap {
    'stream-player': StreamPlayerElement;
  }
}
