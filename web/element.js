// <stream-player>: the player as an element any page can drop in, from a plain
// <script type="module"> (no bundler, no COOP/COEP):
//
//   <script type="module" src="https://example.com/player/element.js"></script>
//   <stream-player server="https://relay.example.com" track="t2829d1cd57bf5a2b" preset="adaptive"></stream-player>
//
// Everything it draws lives in its shadow root (styled with CSS custom properties and ::part);
// it installs nothing global but the element's name, and touches navigator.mediaSession only
// while it plays (attribute `no-media-session` turns that off). Its errors are shown in the
// element and fired as `error` events with a stable `code`; nothing it does throws into the page.
import { StreamPlayer, StreamPlayerError, PRESETS, missingBrowserFeatures } from './player.js';

const CODECS = ['opus', 'pcm_s16', 'pcm_f32'];
const PRESET_LABELS = { off: 'Off (source)', adaptive: 'Adaptive', warm: 'Warm', bright: 'Bright', punchy: 'Punchy', gentle: 'Gentle' };
const STATE_LABELS = {
  idle: 'Ready', connecting: 'Connecting…', buffering: 'Buffering…', playing: 'Playing', paused: 'Paused',
  ended: 'Ended', stopping: 'Stopping', error: 'Error',
};
// Player events the element fires as its own (same `detail`).
const FORWARDED = ['play', 'pause', 'ended', 'statechange', 'stats', 'firstaudio', 'presetchange', 'presetapplied',
  'volumechange', 'codecfallback', 'reconnecting', 'reconnected', 'title', 'metadata'];
/** How close to the live edge counts as live (the live buffer plus a frame in flight). */
const LIVE_SLACK_S = 2;
const SEEK_STEP_S = 5;
const SEEK_PAGE_S = 30;

const fmtTime = (s) => {
  if (!Number.isFinite(s) || s < 0) s = 0;
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s - m * 60)).padStart(2, '0')}`;
};

const ICON_PLAY = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M8 5v14l11-7z"/></svg>';
const ICON_PAUSE = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M7 5h4v14H7zM13 5h4v14h-4z"/></svg>';

const STYLE = `
:host { display: block; max-width: 760px; color: var(--stream-player-fg, #e8ecf1);
  color-scheme: var(--stream-player-color-scheme, dark);
  font: 14px/1.4 var(--stream-player-font, system-ui, -apple-system, "Segoe UI", sans-serif);
  --_accent: var(--stream-player-accent, #4fd1a5); --_accent2: var(--stream-player-accent-2, #63b3ed);
  --_muted: var(--stream-player-muted, #8a94a3); --_track: var(--stream-player-rail, #2a313c);
  --_err: var(--stream-player-error, #fc8181); --_warn: var(--stream-player-warn, #f6ad55); }
:host([hidden]) { display: none; }
* { box-sizing: border-box; }
.player { background: var(--stream-player-bg, #171b21); border-radius: var(--stream-player-radius, 12px); padding: 16px 18px; }
.top { display: flex; align-items: center; gap: 14px; }
button.play { flex: none; width: 48px; height: 48px; border-radius: 50%; border: 0; cursor: pointer; padding: 0;
  appearance: none; -webkit-appearance: none; background-color: var(--_accent); color: var(--stream-player-on-accent, #062a1e);
  display: grid; place-items: center; }
button.play svg { width: 26px; height: 26px; fill: currentColor; }
button.play:disabled { opacity: .45; cursor: default; }
.now { flex: 1; min-width: 0; }
.title { font-size: 16px; font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.artist { color: var(--_muted); font-size: 13px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.status { display: flex; align-items: center; gap: 6px; font-size: 12px; letter-spacing: .6px; text-transform: uppercase;
  color: var(--_muted); padding: 3px 9px; border-radius: 99px; background: var(--_track); }
.status[data-state=playing] { color: var(--_accent); }
.status[data-state=buffering], .status[data-state=connecting] { color: var(--_warn); }
.status[data-state=error] { color: var(--_err); }
.spinner { width: 10px; height: 10px; border-radius: 50%; border: 2px solid currentColor; border-right-color: transparent; display: none; }
.status[data-state=buffering] .spinner, .status[data-state=connecting] .spinner { display: inline-block; animation: spin .8s linear infinite; }
@keyframes spin { to { transform: rotate(360deg); } }
.seekrow { display: flex; align-items: center; gap: 10px; margin: 14px 0 6px; }
.time { font-variant-numeric: tabular-nums; font-size: 12px; color: var(--_muted); min-width: 3.2em; }
.time.total { text-align: right; }
.seek { position: relative; flex: 1; height: 20px; cursor: pointer; touch-action: none; border-radius: 4px; }
.seek[aria-disabled=true] { cursor: default; opacity: .6; }
button.live { flex: none; border: 0; border-radius: 99px; padding: 2px 9px; font: inherit; font-size: 11px; font-weight: 600;
  letter-spacing: .6px; cursor: pointer; background: var(--_track); color: var(--_muted); }
button.live[hidden] { display: none; }
button.live::before { content: ""; display: inline-block; width: 7px; height: 7px; border-radius: 50%; margin-right: 5px;
  background: currentColor; vertical-align: 1px; }
button.live[aria-pressed=true] { color: var(--_err); }
.rail { position: absolute; left: 0; right: 0; top: 8px; height: 4px; border-radius: 2px; background: var(--_track); overflow: hidden; }
.buffered, .played { position: absolute; top: 0; bottom: 0; left: 0; width: 0; }
.buffered { background: var(--stream-player-buffered, #4a5568); }
.played { background: var(--_accent); }
.thumb { position: absolute; top: 4px; width: 12px; height: 12px; margin-left: -6px; border-radius: 50%; background: var(--stream-player-fg, #e8ecf1); left: 0; }
.controls { display: flex; flex-wrap: wrap; align-items: center; gap: 10px 18px; margin-top: 8px; }
.field { display: flex; align-items: center; gap: 6px; color: var(--_muted); font-size: 13px; }
/* Form controls get every colour explicitly: engines draw them with the system theme otherwise
   (WebKitGTK: our light text on its white field). appearance: none makes WebKit honour them; the
   arrow is drawn back as an image. */
select { appearance: none; -webkit-appearance: none; color: var(--stream-player-fg, #e8ecf1);
  background-color: var(--stream-player-control-bg, var(--_track)); border: 1px solid var(--stream-player-control-border, #3a4350);
  border-radius: 6px; padding: 4px 24px 4px 8px; font: inherit; line-height: 1.3; cursor: pointer;
  background-image: url("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 10 6'%3E%3Cpath d='M1 1l4 4 4-4' fill='none' stroke='%238a94a3' stroke-width='1.5'/%3E%3C/svg%3E");
  background-repeat: no-repeat; background-position: right 8px center; background-size: 10px 6px; }
option { color: var(--stream-player-fg, #e8ecf1); background-color: var(--stream-player-control-bg, var(--_track)); }
input[type=range] { width: 110px; accent-color: var(--_accent); margin: 0; color: var(--stream-player-fg, #e8ecf1); background-color: transparent; }
output { font-variant-numeric: tabular-nums; min-width: 2.6em; color: var(--stream-player-fg, #e8ecf1); font-size: 12px; }
.viz { display: flex; gap: 10px; margin: 12px 0 8px; height: 64px; }
canvas { background: var(--stream-player-canvas, #11151a); border-radius: 8px; height: 100%; display: block; }
canvas.meter { width: 84px; flex: none; }
canvas.spectrum { flex: 1; min-width: 0; width: 100%; }
.stats { display: grid; grid-template-columns: repeat(4, auto 1fr); gap: 2px 8px; margin: 0; font-size: 12px; }
.stats dt { color: var(--_muted); }
.stats dd { margin: 0; font-variant-numeric: tabular-nums; white-space: nowrap; }
.message { margin: 10px 0 0; padding: 8px 10px; border-radius: 6px; background: rgba(252, 129, 129, .12); color: var(--_err); font-size: 13px; }
.message[data-kind=info] { background: rgba(246, 173, 85, .12); color: var(--_warn); }
.tracks { list-style: none; margin: 12px 0 0; padding: 0; border-top: 1px solid var(--_track); max-height: 280px; overflow: auto; outline-offset: 2px; }
.tracks li { display: grid; grid-template-columns: 1fr auto auto; gap: 12px; padding: 7px 8px; border-bottom: 1px solid #1f252e; cursor: pointer; }
.tracks li .a { color: var(--_muted); }
.tracks li .d { font-variant-numeric: tabular-nums; color: var(--_muted); }
.tracks li:hover { background: rgba(255, 255, 255, .03); }
.tracks li.active { box-shadow: inset 2px 0 0 var(--_accent2); background: rgba(99, 179, 237, .08); }
.tracks li[aria-selected=true] { color: var(--_accent); }
.tracks li[aria-disabled=true] { color: var(--_muted); cursor: not-allowed; }
:host([compact]) .tracks, :host([compact]) .stats, :host([compact]) .viz { display: none; }
:focus-visible { outline: 2px solid var(--_accent2); outline-offset: 2px; }
@media (max-width: 520px) { .stats { grid-template-columns: repeat(2, auto 1fr); } }
`;

const TEMPLATE = `
<style>${STYLE}</style>
<div class="player" part="player">
  <div class="top">
    <button class="play" part="play-button" type="button" aria-label="Play">${ICON_PLAY}</button>
    <div class="now"><div class="title" part="title">No track</div><div class="artist" part="artist"></div></div>
    <div class="status" part="status" role="status" data-state="idle"><span class="spinner" aria-hidden="true"></span><span class="status-text">Ready</span></div>
  </div>
  <div class="seekrow">
    <span class="time elapsed" part="time elapsed" aria-hidden="true">0:00</span>
    <div class="seek" part="seek" role="slider" tabindex="0" aria-label="Seek" aria-valuemin="0" aria-valuemax="0"
      aria-valuenow="0" aria-valuetext="0:00 of 0:00" aria-disabled="true">
      <div class="rail"><div class="buffered" part="seek-buffered"></div><div class="played" part="seek-played"></div></div>
      <div class="thumb" part="seek-thumb"></div>
    </div>
    <span class="time total" part="time total" aria-hidden="true">0:00</span>
    <button class="live" part="live-button" type="button" aria-pressed="false" hidden
      title="Go to the live edge">LIVE</button>
  </div>
  <div class="controls">
    <label class="field">Sound <select class="preset" part="preset" aria-label="Enhancement preset">
      ${PRESETS.map((p) => `<option value="${p}">${PRESET_LABELS[p]}</option>`).join('')}</select></label>
    <label class="field">Intensity <input class="intensity" part="intensity" type="range" min="0" max="1" step="0.05" value="1"
      aria-label="Preset intensity"><output class="intensity-out" aria-hidden="true">100%</output></label>
    <label class="field">Volume <input class="volume" part="volume" type="range" min="0" max="1" step="0.05" value="1"
      aria-label="Volume"><output class="volume-out" aria-hidden="true">100%</output></label>
  </div>
  <div class="viz" part="visualizer">
    <canvas class="meter" part="meter" width="84" height="64" role="img" aria-label="Output level meter"></canvas>
    <canvas class="spectrum" part="spectrum" width="480" height="64" role="img" aria-label="Output spectrum"></canvas>
  </div>
  <dl class="stats" part="stats">
    <dt>First audio</dt><dd class="st-ttfa">–</dd>
    <dt>Buffer</dt><dd class="st-buffer">–</dd>
    <dt>Underruns</dt><dd class="st-underruns">0</dd>
    <dt>Stream</dt><dd class="st-stream">–</dd>
  </dl>
  <p class="message" part="message" role="alert" hidden></p>
  <ol class="tracks" part="tracklist" role="listbox" tabindex="0" aria-label="Tracks"></ol>
</div>`;

/** Thrown nowhere: describes what the element reports through its `error` event. */
function problem(code, error) { return { code, error }; }

export class StreamPlayerElement extends HTMLElement {
  static get observedAttributes() { return ['server', 'track', 'stream', 'preset', 'intensity', 'volume', 'codec', 'target-lufs']; }

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open', delegatesFocus: false });
    root.innerHTML = TEMPLATE;
    const q = (s) => root.querySelector(s);
    this._ui = {
      play: q('.play'), title: q('.title'), artist: q('.artist'), status: q('.status'), statusText: q('.status-text'),
      elapsed: q('.elapsed'), total: q('.total'), seek: q('.seek'), buffered: q('.buffered'), played: q('.played'),
      thumb: q('.thumb'), preset: q('.preset'), intensity: q('.intensity'), intensityOut: q('.intensity-out'),
      volume: q('.volume'), volumeOut: q('.volume-out'), meter: q('.meter'), spectrum: q('.spectrum'),
      ttfa: q('.st-ttfa'), buffer: q('.st-buffer'), underruns: q('.st-underruns'), stream: q('.st-stream'),
      message: q('.message'), tracks: q('.tracks'), live: q('.live'),
    };
    this._live = null; // { id, token, name, windowStartS, edgeS, edgeAt } while a live stream plays
    this._player = null;
    this._tracks = [];
    this._current = null; // the track shown as playing (follows gapless transitions)
    this._selected = -1; // the track list's active option
    this._sessionTracks = new Map(); // session -> track id, from audio_stream_start
    this._queuedAfter = new Set(); // sessions a following track was queued for
    this._seekPreview = null; // seconds while dragging or stepping with keys
    this._seekTimer = 0;
    this._positionS = 0;
    this._state = 'idle';
    this._lastStats = null;
    this._msPositionAt = 0;
    this._loadSeq = 0;
    this._wire();
  }

  // ---- public API (mirrors StreamPlayer) ----

  /** The StreamPlayer behind the element (created when it is connected). */
  get player() { return this._player; }
  /** Its AudioContext and output node (after the DSP), once `init()` resolved: attach analysers here. */
  get context() { return this._player?.context ?? null; }
  get output() { return this._player?.output ?? null; }
  get state() { return this._state; }
  get stats() { return this._player?.stats ?? null; }
  /** The relay's library (`GET /api/tracks`), once loaded. */
  get tracks() { return this._tracks; }
  get currentTrack() { return this._current; }
  get currentTime() { return this._positionS; }
  get duration() { return (this._shown ?? this._current)?.duration_s ?? 0; }

  get server() { return this.getAttribute('server') ?? ''; }
  set server(v) { this.setAttribute('server', v); }
  get track() { return this.getAttribute('track') ?? ''; }
  set track(v) { this.setAttribute('track', v); }
  get preset() { return this._player?.preset ?? this.getAttribute('preset') ?? 'off'; }
  set preset(v) { this.setAttribute('preset', v); }
  get intensity() { return this._player?.intensity ?? 1; }
  set intensity(v) { this.setAttribute('intensity', String(v)); }
  get volume() { return this._player?.volume ?? 1; }
  set volume(v) { this.setAttribute('volume', String(v)); }
  get codec() { return this._codec || 'opus'; }
  set codec(v) { this.setAttribute('codec', v); }

  /** Creates the AudioContext and engine (call from a user gesture; play() does it too).
   * Resolves to true when ready, false (with an `error` event) when it could not start. */
  async init() {
    const p = this._ensurePlayer();
    if (!p) return false;
    const reported = this._playerErrors;
    try {
      await p.init();
      if (!this._readyFired) {
        this._readyFired = true;
        this._fire('ready', { context: p.context, output: p.output });
      }
      return true;
    } catch (e) {
      // The player's own `error` event may have said it already (an unsupported browser does,
      // the first time): say it once per attempt.
      if (p !== this._player || this._playerErrors !== reported) return false;
      if (e?.code === 'unsupported_browser') this._onPlayerError({ code: e.code, error: e.message });
      else this._fail(problem('engine_failed', `the audio engine could not start: ${e?.message || e}`));
      return false;
    }
  }

  /** Plays `trackId` (default: the `track` attribute, else the selected or first track). */
  async play(trackId, o = {}) {
    const p = this._ensurePlayer();
    if (!p) return;
    const id = trackId || this.getAttribute('track') || this._tracks[Math.max(0, this._selected)]?.id;
    if (!id) { this._fail(problem('no_track', 'no track to play: set the track attribute or pick one from the list')); return; }
    if (this._tracksLoaded && !this._tracks.some((t) => t.id === id)) {
      this._fail(problem('unknown_track', `track ${JSON.stringify(id)} is not in the library of ${this._serverUrl()}`));
      return;
    }
    this._hideMessage();
    this._live = null;
    this._liveTitle = null;
    this._showTrack(this._tracks.find((t) => t.id === id) || { id, title: id, duration_s: 0 });
    this._queuedAfter.clear();
    if (!(await this.init())) return;
    try {
      this._ownRequest = id;
      await p.play(id, { codec: this.codec, positionS: o.positionS || 0 });
    } catch (e) {
      if (p === this._player) this._fail(problem('engine_failed', String(e?.message || e)));
    }
  }

  /**
   * Listens to live stream `streamId` of the relay (a public one needs no token). The element
   * shows the stream's title as it changes with the song (and gives it to MediaSession); with a
   * time-shift window its seek bar spans the window, and the LIVE button returns to the edge.
   * @param {string} streamId
   * @param {{token?: string, name?: string}} [o]
   */
  async listen(streamId, o = {}) {
    const p = this._ensurePlayer();
    if (!p || !streamId) return;
    this._hideMessage();
    this._live = { id: streamId, token: o.token || '', name: o.name || 'Live', windowStartS: 0, edgeS: 0, edgeAt: 0, timeshiftS: 0 };
    this._showTrack({ id: streamId, title: o.name || streamId, artist: 'Live', duration_s: 0, live: true });
    this._queuedAfter.clear();
    if (!(await this.init())) return;
    try {
      await p.listen(streamId, o.token || '', { codec: this.codec });
    } catch (e) {
      if (p === this._player) this._fail(problem('engine_failed', String(e?.message || e)));
    }
  }

  /** Back to the live edge of the live stream (after a seek into its time-shift window). */
  goLive() {
    if (!this._live || !this._player) return;
    this._player.goLive();
    this._positionS = this._liveEdgeS();
    this._render();
  }

  /** The live stream's current title (from the song that is playing), or null. */
  get streamTitle() { return this._live ? this._liveTitle ?? null : null; }

  pause() { this._player?.pause(); }
  resume() { this._player?.resume(); }
  /** Play, pause or resume, as the play button does. */
  togglePlay() {
    const ctx = this.context;
    if (this._blocked && ctx) {
      // The browser held audio back until a gesture: this press is that gesture. Playback was
      // prepared meanwhile, so it starts now.
      ctx.resume().catch(() => {});
      return;
    }
    if (['playing', 'buffering', 'connecting'].includes(this._state)) this.pause();
    else if (this._state === 'paused') this.resume();
    else if (this._live) this.listen(this._live.id, this._live);
    else this.play((this._shown ?? this._current)?.id);
  }
  stop() { this._player?.stop(); }
  seek(positionS) {
    if (typeof positionS !== 'number' || !Number.isFinite(positionS) || positionS < 0) {
      this._fail(problem('invalid_parameter', `cannot seek to ${String(positionS)}: give seconds from 0`));
      return;
    }
    if (!this._player || !this._current) return;
    if (this._live) {
      // Within the time-shift window; at the live edge (or past it) is live.
      const edge = this._liveEdgeS();
      const s = Math.max(this._live.windowStartS, positionS);
      this._positionS = Math.min(s, edge);
      if (s >= edge - LIVE_SLACK_S) this._player.goLive();
      else this._player.seek(s);
      this._render();
      return;
    }
    const d = this.duration;
    const s = d > 0 ? Math.min(positionS, Math.max(0, d - 0.05)) : positionS;
    this._positionS = s;
    this._player.seek(s);
    this._render();
  }
  /** The next (or previous) playable track of the list. */
  next() { const t = this._neighbour(1); if (t) this.play(t.id); }
  previous() {
    if (this._positionS > 3) { this.seek(0); return; }
    const t = this._neighbour(-1);
    if (t) this.play(t.id);
  }

  // ---- lifecycle ----

  connectedCallback() {
    this._connected = true;
    if (this._destroyTimer) { clearTimeout(this._destroyTimer); this._destroyTimer = 0; }
    for (const a of StreamPlayerElement.observedAttributes) this._applyAttribute(a, this.getAttribute(a), true);
    this._ensurePlayer();
    if (!this._tracksLoaded && !this._loading) this._loadTracks();
    // A browser the player cannot run in is told at once, not at the first press of play.
    if (this.hasAttribute('preload') || missingBrowserFeatures()) this.init();
  }

  disconnectedCallback() {
    // Moving the element in the document disconnects and reconnects it: only a removal that
    // lasts releases the audio.
    this._destroyTimer = setTimeout(() => {
      if (!this.isConnected) this._teardown();
    }, 0);
  }

  attributeChangedCallback(name, old, value) {
    // Attributes present at creation are applied by connectedCallback.
    if (old === value || !this._connected) return;
    this._applyAttribute(name, value, false);
  }

  // ---- internals ----

  /** The relays of `server`: one URL, or a cluster's, comma-separated (tried in turn). */
  _serverList() {
    const list = (this.getAttribute('server') || '').split(',').map((u) => u.trim().replace(/\/+$/, '')).filter(Boolean);
    return list.length ? list : [location.origin];
  }

  _serverUrl() {
    return this._serverList()[0];
  }

  _validServer() {
    if (!this.getAttribute('server')) return true;
    return this._serverList().every((s) => {
      try {
        const u = new URL(s, location.href);
        return u.protocol === 'http:' || u.protocol === 'https:';
      } catch { return false; }
    });
  }

  _ensurePlayer() {
    if (this._player) return this._player;
    if (!this._validServer()) return null;
    const opts = { servers: this._serverList(), statsIntervalMs: 50 };
    if (this._presetOk) opts.preset = this.getAttribute('preset');
    else opts.preset = this._ui.preset.value;
    const num = (a) => Number(this.getAttribute(a));
    if (this._intensityOk) opts.intensity = num('intensity');
    if (this._volumeOk) opts.volume = num('volume');
    if (this._lufsOk) opts.targetLufs = num('target-lufs');
    let p;
    try { p = new StreamPlayer(opts); } catch (e) { this._fail(problem(e.code || 'invalid_attribute', e.message)); return null; }
    this._player = p;
    this._readyFired = false;
    for (const type of FORWARDED) p.addEventListener(type, (e) => this._onPlayerEvent(type, e.detail));
    p.addEventListener('error', (e) => this._onPlayerError(e.detail));
    p.addEventListener('stream_start', (e) => this._onStreamStart(e.detail));
    this._syncControls();
    return p;
  }

  async _teardown() {
    const p = this._player;
    this._player = null;
    this._clearMediaSession();
    if (p) await p.destroy().catch(() => {});
    this._setState('idle');
  }

  _applyAttribute(name, value, initial) {
    const p = this._player;
    switch (name) {
      case 'server':
        if (!this._validServer()) {
          this._fail(problem('invalid_server', `server ${JSON.stringify(value)} is not an http(s) URL`));
          return;
        }
        if (!initial) {
          // Another relay: a new player and library.
          this._teardown().then(() => { this._ensurePlayer(); this._loadTracks(); });
        }
        return;
      case 'stream': {
        // A live stream (its listen token in the `token` attribute, none for a public one): the
        // play button listens to it.
        if (!value) return;
        const o = { token: this.getAttribute('token') || '', name: this.getAttribute('stream-name') || value };
        if (['playing', 'buffering', 'paused', 'connecting'].includes(this._state)) { this.listen(value, o); return; }
        this._live = { id: value, token: o.token, name: o.name, windowStartS: 0, edgeS: 0, edgeAt: 0, timeshiftS: 0 };
        this._showTrack({ id: value, title: o.name, artist: 'Live', duration_s: 0, live: true });
        return;
      }
      case 'track': {
        if (initial || !value) { this._selectTrackId(value); return; }
        this._selectTrackId(value);
        if (['playing', 'buffering', 'paused', 'connecting'].includes(this._state)) this.play(value);
        else if (this._tracksLoaded) this._showTrack(this._tracks.find((t) => t.id === value), true);
        return;
      }
      case 'preset':
        this._presetOk = false;
        if (value == null) return;
        if (!PRESETS.includes(value)) {
          this._fail(problem('unknown_preset', `preset ${JSON.stringify(value)} is not one of ${PRESETS.join(', ')}`));
          return;
        }
        this._presetOk = true;
        if (p && p.preset !== value) p.setPreset(value);
        this._ui.preset.value = value;
        return;
      case 'intensity':
      case 'volume':
      case 'target-lufs': {
        const key = name === 'intensity' ? '_intensityOk' : name === 'volume' ? '_volumeOk' : '_lufsOk';
        this[key] = false;
        if (value == null) return;
        const x = value.trim() === '' ? NaN : Number(value);
        const lufs = name === 'target-lufs';
        if (!Number.isFinite(x) || (lufs ? x < -60 || x > 0 : x < 0 || x > 1)) {
          const code = lufs ? 'invalid_target_lufs' : `invalid_${name}`;
          const range = lufs ? 'from -60 to 0 (LUFS)' : 'from 0 to 1';
          this._fail(problem(code, `${name}=${JSON.stringify(value)}: must be a number ${range}`));
          return;
        }
        this[key] = true;
        if (p) {
          if (name === 'intensity') p.setIntensity(x);
          else if (name === 'volume') p.setVolume(x);
          else p.setTargetLufs(x);
        }
        this._syncControls();
        return;
      }
      case 'codec':
        if (value == null) { this._codec = null; return; }
        if (!CODECS.includes(value)) {
          this._fail(problem('invalid_codec', `codec ${JSON.stringify(value)} is not one of ${CODECS.join(', ')}`));
          return;
        }
        this._codec = value;
        return;
    }
  }

  async _loadTracks() {
    const seq = ++this._loadSeq;
    this._loading = true;
    this._tracksLoaded = false;
    if (!this._validServer()) { this._loading = false; return; }
    const url = `${this._serverUrl()}/api/tracks`;
    let list;
    try {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      list = await res.json();
      if (!Array.isArray(list)) throw new Error('not a track list');
    } catch (e) {
      if (seq !== this._loadSeq) return;
      this._loading = false;
      this._fail(problem('server_unreachable', `cannot load the library from ${url} (${e?.message || e}): the relay is not running there, or it does not allow this page's origin (relay-server --allow-origin ${location.origin})`));
      return;
    }
    if (seq !== this._loadSeq) return;
    this._loading = false;
    this._tracksLoaded = true;
    this._tracks = list;
    this._renderTrackList();
    const want = this.getAttribute('track');
    if (want && !list.some((t) => t.id === want)) {
      this._fail(problem('unknown_track', `track ${JSON.stringify(want)} is not in the library of ${this._serverUrl()}`));
    }
    const first = list.findIndex((t) => t.id === want && t.playable !== false);
    this._selected = first >= 0 ? first : list.findIndex((t) => t.playable !== false);
    if (this._selected >= 0) this._showTrack(list[this._selected], true);
    this._renderTrackList();
    this._fire('tracksloaded', { tracks: list });
    if (this.hasAttribute('autoplay') && first >= 0) this.play(list[first].id);
  }

  _renderTrackList() {
    const ol = this._ui.tracks;
    ol.textContent = '';
    this._tracks.forEach((t, i) => {
      const li = document.createElement('li');
      li.id = `track-${i}`;
      li.setAttribute('role', 'option');
      li.setAttribute('part', 'track');
      li.dataset.id = t.id;
      const playable = t.playable !== false;
      if (!playable) li.setAttribute('aria-disabled', 'true');
      li.setAttribute('aria-selected', String(i === this._selected));
      if (this._current && this._current.id === t.id) li.classList.add('active');
      const cell = (cls, text) => { const s = document.createElement('span'); s.className = cls; s.textContent = text; li.append(s); };
      cell('t', t.title || t.id);
      cell('a', t.artist || '');
      cell('d', playable ? fmtTime(t.duration_s) : 'unplayable');
      li.setAttribute('aria-label', `${t.title || t.id}${t.artist ? ', ' + t.artist : ''}, ${playable ? fmtTime(t.duration_s) : 'not playable'}`);
      ol.append(li);
    });
    if (this._selected >= 0) ol.setAttribute('aria-activedescendant', `track-${this._selected}`);
    else ol.removeAttribute('aria-activedescendant');
  }

  _selectTrackId(id) {
    const i = this._tracks.findIndex((t) => t.id === id);
    if (i >= 0) this._selectIndex(i);
  }

  _selectIndex(i) {
    if (i < 0 || i >= this._tracks.length) return;
    this._selected = i;
    const ol = this._ui.tracks;
    for (const li of ol.children) li.setAttribute('aria-selected', String(li.id === `track-${i}`));
    ol.setAttribute('aria-activedescendant', `track-${i}`);
    ol.children[i]?.scrollIntoView?.({ block: 'nearest' });
  }

  _neighbour(dir) {
    const from = this._tracks.findIndex((t) => t.id === this._current?.id);
    for (let i = from + dir; i >= 0 && i < this._tracks.length; i += dir) {
      if (this._tracks[i].playable !== false) return this._tracks[i];
    }
    return null;
  }

  /** Shows `t` as the element's track: the one playing, or (`selectOnly`, while nothing plays)
   * the one the play button will start. */
  _showTrack(t, selectOnly = false) {
    if (!t || (selectOnly && this._current && this._state !== 'idle') || (selectOnly && this._live)) return;
    this._shown = t;
    if (!selectOnly) this._current = t;
    this._ui.title.textContent = t.title || t.id;
    this._ui.artist.textContent = [t.artist, t.album].filter(Boolean).join(' · ');
    this._ui.total.textContent = fmtTime(t.duration_s);
    if (!selectOnly) {
      for (const li of this._ui.tracks.children) li.classList.toggle('active', li.dataset.id === t.id);
      this._positionS = 0;
      this._updateMediaSession(true);
    }
    this._render();
  }

  _wire() {
    const u = this._ui;
    // The first gesture in the element creates (or resumes) the AudioContext, before the click lands.
    this.shadowRoot.addEventListener('pointerdown', () => { this.init(); }, { capture: true });
    u.play.addEventListener('click', () => this.togglePlay());
    u.live.addEventListener('click', () => this.goLive());
    u.preset.addEventListener('change', () => this.setAttribute('preset', u.preset.value));
    u.intensity.addEventListener('input', () => this.setAttribute('intensity', u.intensity.value));
    u.volume.addEventListener('input', () => this.setAttribute('volume', u.volume.value));

    // Track list: a listbox with one tab stop; arrows move, Enter or Space plays.
    u.tracks.addEventListener('click', (e) => {
      const li = e.target.closest('li[role=option]');
      if (!li || li.getAttribute('aria-disabled') === 'true') return;
      this._selectIndex(Number(li.id.slice(6)));
      this.play(li.dataset.id);
    });
    u.tracks.addEventListener('keydown', (e) => {
      const n = this._tracks.length;
      if (!n) return;
      let i = this._selected;
      if (e.key === 'ArrowDown') i = Math.min(n - 1, i + 1);
      else if (e.key === 'ArrowUp') i = Math.max(0, i - 1);
      else if (e.key === 'Home') i = 0;
      else if (e.key === 'End') i = n - 1;
      else if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        const t = this._tracks[i];
        if (t && t.playable !== false) { this.init(); this.play(t.id); }
        return;
      } else return;
      e.preventDefault();
      this._selectIndex(i);
      const t = this._tracks[i];
      if (t.playable !== false) this._showTrack(t, true);
    });

    // Seek bar: drag with pointer (the position follows, the seek happens on release) or keys.
    const valueAt = (e) => {
      const r = u.seek.getBoundingClientRect();
      const f = Math.min(1, Math.max(0, (e.clientX - r.left) / Math.max(1, r.width)));
      const [from, to] = this._seekRange();
      return from + f * (to - from);
    };
    u.seek.addEventListener('pointerdown', (e) => {
      if (!this._seekable()) return;
      u.seek.setPointerCapture(e.pointerId);
      this._dragging = true;
      this._seekPreview = valueAt(e);
      this._render();
    });
    u.seek.addEventListener('pointermove', (e) => {
      if (!this._dragging) return;
      this._seekPreview = valueAt(e);
      this._render();
    });
    const endDrag = () => {
      if (!this._dragging) return;
      this._dragging = false;
      const s = this._seekPreview;
      this._seekPreview = null;
      if (s != null) this.seek(s);
    };
    u.seek.addEventListener('pointerup', endDrag);
    u.seek.addEventListener('pointercancel', () => { this._dragging = false; this._seekPreview = null; this._render(); });
    u.seek.addEventListener('keydown', (e) => {
      if (!this._seekable()) return;
      const base = this._seekPreview ?? this._positionS;
      const [from, to] = this._seekRange();
      const steps = { ArrowRight: SEEK_STEP_S, ArrowUp: SEEK_STEP_S, ArrowLeft: -SEEK_STEP_S, ArrowDown: -SEEK_STEP_S, PageUp: SEEK_PAGE_S, PageDown: -SEEK_PAGE_S };
      let s;
      if (e.key in steps) s = base + steps[e.key];
      else if (e.key === 'Home') s = from;
      else if (e.key === 'End') s = this._live ? to : Math.max(0, to - 1);
      else return;
      e.preventDefault();
      this._seekPreview = Math.min(this._live ? to : Math.max(0, to - 0.05), Math.max(from, s));
      this._render();
      // Repeated keys move the preview; the seek happens once they stop.
      clearTimeout(this._seekTimer);
      this._seekTimer = setTimeout(() => {
        const v = this._seekPreview;
        this._seekPreview = null;
        if (v != null) this.seek(v);
      }, 250);
    });
    // Space and Enter on the element's own controls are theirs; nothing leaks to the page.
  }

  _seekable() {
    const active = ['playing', 'buffering', 'paused'].includes(this._state);
    if (this._live) return active && this._live.timeshiftS > 0;
    return !!this._current && this.duration > 0 && active;
  }

  /** What the seek bar spans, in seconds: the track, or a live stream's time-shift window. */
  _seekRange() {
    if (!this._live) return [0, this.duration];
    const edge = this._liveEdgeS();
    return [Math.max(this._live.windowStartS, edge - this._live.timeshiftS), edge];
  }

  /** The live edge now (seconds of stream time): where it was last seen, moved on in real time. */
  _liveEdgeS() {
    const l = this._live;
    if (!l || !l.edgeAt) return this._positionS;
    return l.edgeS + (performance.now() - l.edgeAt) / 1000;
  }

  _fire(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  _fail({ code, error }, kind = 'error') {
    const m = this._ui.message;
    m.hidden = false;
    m.dataset.kind = kind;
    m.textContent = error;
    m.dataset.code = code;
    this._fire('error', { code, error });
  }

  _hideMessage() { this._ui.message.hidden = true; this._ui.message.textContent = ''; }

  _onPlayerError(d) {
    this._playerErrors = (this._playerErrors || 0) + 1;
    const code = d?.code || 'error';
    let error = d?.error || String(code);
    if (code === 'audio_blocked') {
      this._blocked = true;
      const ctx = this.context;
      if (ctx && !this._watchingContext) {
        this._watchingContext = true;
        ctx.addEventListener('statechange', () => {
          if (ctx.state === 'running' && this._blocked) {
            this._blocked = false;
            if (this._ui.message.dataset.code === 'audio_blocked') this._hideMessage();
          }
        });
      }
      this._fail({ code, error }, 'info');
      return;
    }
    if (code === 'unknown_track') error = `The relay has no track ${JSON.stringify(this._current?.id ?? '')}: ${error}`;
    this._setState('error');
    this._fail({ code, error });
  }

  _onPlayerEvent(type, detail) {
    if (type === 'statechange') {
      this._setState(detail.state);
      return; // _setState fires it
    }
    if (type === 'stats') this._onStats(detail);
    if (type === 'firstaudio') this._ui.ttfa.textContent = `${Math.round(detail.timeToFirstAudioMs)} ms`;
    if (type === 'presetchange') {
      this._ui.preset.value = detail.preset;
      this._syncControls();
    }
    if (type === 'volumechange') this._syncControls();
    if (type === 'play' && (detail.trackId || detail.streamId)) {
      // Whoever started this programme: the element continues with the next track only after
      // its own play(), not when a script drives the player directly.
      this._owns = detail.trackId != null && detail.trackId === this._ownRequest;
      this._ownRequest = null;
    }
    if (type === 'play' || type === 'pause') this._updateMediaSession(false);
    if (type === 'title' && this._live) {
      this._liveTitle = detail.title;
      this._ui.title.textContent = detail.title;
      this._ui.artist.textContent = this._live.name;
      if (this._current) { this._current.title = detail.title; this._current.artist = this._live.name; }
      this._updateMediaSession(true);
    }
    this._fire(type, detail);
  }

  _onStreamStart(d) {
    if (d.live && this._live && d.track_id === this._live.id) {
      const l = this._live;
      l.timeshiftS = d.timeshift_s || 0;
      if (d.window_start_sample != null) l.windowStartS = d.window_start_sample / 48000;
      // A start at the live edge (not a time-shifted part: that starts far behind it).
      const start = d.start_sample / 48000;
      if (!l.edgeAt || start > this._liveEdgeS() - 5) {
        l.edgeS = start;
        l.edgeAt = performance.now();
        l.session = d.session;
      }
    }
    this._sessionTracks.set(d.session, d.track_id);
    if (this._sessionTracks.size > 16) this._sessionTracks.delete(this._sessionTracks.keys().next().value);
    const bitrate = d.bitrate ? ` ${Math.round(d.bitrate / 1000)} kbit/s` : '';
    this._ui.stream.textContent = `${d.codec}${bitrate}`;
  }

  _setState(s) {
    if (s === this._state) return;
    this._state = s;
    const u = this._ui;
    u.status.dataset.state = s;
    u.statusText.textContent = STATE_LABELS[s] || s;
    const active = ['playing', 'buffering', 'connecting'].includes(s);
    // Touched only when it changes: replacing the icon between a key's (or the mouse's) down and
    // up cancels the button's activation in Firefox, and the element renders 10 times a second.
    const label = active ? 'Pause' : s === 'paused' ? 'Resume' : 'Play';
    if (u.play.getAttribute('aria-label') !== label) {
      u.play.innerHTML = active ? ICON_PAUSE : ICON_PLAY;
      u.play.setAttribute('aria-label', label);
    }
    this.setAttribute('state', s);
    // A trapped engine was replaced by the next play: its message has done its job.
    if (s === 'playing' && this._ui.message.dataset.code === 'engine_trap') this._hideMessage();
    if (navigator.mediaSession && this._ownsMediaSession) {
      navigator.mediaSession.playbackState = s === 'paused' ? 'paused' : active ? 'playing' : 'none';
    }
    this._render();
    this._fire('statechange', { state: s });
  }

  _onStats(s) {
    this._lastStats = s;
    // Gapless transitions: the stream now audible may be a queued one.
    const id = this._sessionTracks.get(s.session);
    if (id && id !== this._current?.id && s.state === 'playing') {
      const t = this._tracks.find((x) => x.id === id);
      if (t) { this._showTrack(t); this._selectIndex(this._tracks.indexOf(t)); this._fire('trackchange', { track: t }); }
    }
    if (s.state === 'playing' || s.state === 'buffering') this._positionS = s.positionS;
    if (this._live && s.session === this._live.session && s.state === 'playing') {
      // Playing at the edge: what is buffered ends where the stream stands.
      this._live.edgeS = s.positionS + s.bufferedMs / 1000;
      this._live.edgeAt = performance.now();
    }
    if (this._live && this._live.timeshiftS > 0) {
      // The window slides with the edge.
      this._live.windowStartS = Math.max(this._live.windowStartS, this._liveEdgeS() - this._live.timeshiftS);
    }
    // The following track, queued near the end of this one so it starts gapless.
    if (this._owns && id && s.state === 'playing' && !this._queuedAfter.has(s.session) && this.duration - s.positionS < 15) {
      this._queuedAfter.add(s.session);
      const nextTrack = this._neighbour(1);
      if (nextTrack && !this.hasAttribute('no-advance')) this._player.queue(nextTrack.id, { codec: this.codec });
    }
    const u = this._ui;
    u.buffer.textContent = `${Math.round(s.bufferedMs)} ms`;
    u.underruns.textContent = String(s.underruns);
    if (s.timeToFirstAudioMs != null) u.ttfa.textContent = `${Math.round(s.timeToFirstAudioMs)} ms`;
    this._render();
    this._draw(s);
    if (this._ownsMediaSession && performance.now() - this._msPositionAt > 1000) this._updatePositionState();
  }

  _syncControls() {
    const p = this._player;
    if (!p) return;
    const u = this._ui;
    u.preset.value = p.preset;
    u.intensity.value = String(p.intensity);
    u.intensityOut.textContent = `${Math.round(p.intensity * 100)}%`;
    u.intensity.setAttribute('aria-valuetext', `${Math.round(p.intensity * 100)}%`);
    u.volume.value = String(p.volume);
    u.volumeOut.textContent = `${Math.round(p.volume * 100)}%`;
    u.volume.setAttribute('aria-valuetext', `${Math.round(p.volume * 100)}%`);
  }

  _render() {
    const u = this._ui;
    u.live.hidden = !this._live;
    if (this._live) { this._renderLive(); return; }
    const d = this.duration;
    const pos = this._seekPreview ?? this._positionS;
    const frac = d > 0 ? Math.min(1, pos / d) : 0;
    const bufferedS = this._lastStats && this._state !== 'idle' ? this._lastStats.bufferedMs / 1000 : 0;
    const bufEnd = d > 0 ? Math.min(1, (this._positionS + bufferedS) / d) : 0;
    u.played.style.width = `${frac * 100}%`;
    u.buffered.style.width = `${bufEnd * 100}%`;
    u.thumb.style.left = `${frac * 100}%`;
    u.elapsed.textContent = fmtTime(pos);
    u.total.textContent = fmtTime(d);
    u.seek.setAttribute('aria-valuemax', String(Math.round(d)));
    u.seek.setAttribute('aria-valuenow', String(Math.round(pos)));
    u.seek.setAttribute('aria-valuetext', `${fmtTime(pos)} of ${fmtTime(d)}`);
    u.seek.setAttribute('aria-disabled', String(!this._seekable()));
  }

  /** The seek bar of a live stream: its time-shift window, the position in it, behind-live time. */
  _renderLive() {
    const u = this._ui;
    const l = this._live;
    const edge = this._liveEdgeS();
    const from = l.timeshiftS > 0 ? Math.max(l.windowStartS, edge - l.timeshiftS) : edge;
    const span = Math.max(0.001, edge - from);
    const pos = Math.min(edge, this._seekPreview ?? this._positionS);
    const behind = Math.max(0, edge - pos);
    const atEdge = behind < LIVE_SLACK_S;
    const frac = l.timeshiftS > 0 ? Math.min(1, Math.max(0, (pos - from) / span)) : 1;
    u.played.style.width = `${frac * 100}%`;
    u.buffered.style.width = `${frac * 100}%`;
    u.thumb.style.left = `${frac * 100}%`;
    u.elapsed.textContent = atEdge ? 'live' : `-${fmtTime(behind)}`;
    u.total.textContent = l.timeshiftS > 0 ? `${fmtTime(span)} kept` : '';
    u.live.setAttribute('aria-pressed', String(atEdge));
    u.seek.setAttribute('aria-valuemin', String(Math.round(from)));
    u.seek.setAttribute('aria-valuemax', String(Math.round(edge)));
    u.seek.setAttribute('aria-valuenow', String(Math.round(pos)));
    u.seek.setAttribute('aria-valuetext', atEdge ? 'live' : `${fmtTime(behind)} behind live`);
    u.seek.setAttribute('aria-disabled', String(!this._seekable()));
  }

  _draw(s) {
    const accent = getComputedStyle(this).getPropertyValue('--stream-player-accent').trim() || '#4fd1a5';
    const dbToY = (db, h, floor) => h * Math.min(1, Math.max(0, db / floor));
    {
      const c = this._ui.meter;
      const g = c.getContext('2d');
      const { width: w, height: h } = c;
      g.clearRect(0, 0, w, h);
      const barW = (w - 24) / 2;
      for (let ch = 0; ch < 2; ch++) {
        const x = 8 + ch * (barW + 8);
        const rms = 20 * Math.log10(Math.max(1e-6, s.levels.rms[ch]));
        const peak = 20 * Math.log10(Math.max(1e-6, s.levels.peak[ch]));
        g.fillStyle = '#222a33';
        g.fillRect(x, 4, barW, h - 8);
        g.fillStyle = accent;
        const y = 4 + dbToY(rms, h - 8, -60);
        g.fillRect(x, y, barW, h - 4 - y);
        g.fillStyle = peak > -1.5 ? '#f6ad55' : '#e8ecf1';
        g.fillRect(x, 4 + dbToY(peak, h - 8, -60), barW, 2);
      }
    }
    {
      const c = this._ui.spectrum;
      const g = c.getContext('2d');
      const { width: w, height: h } = c;
      g.clearRect(0, 0, w, h);
      const n = s.spectrum.length;
      const bw = w / n;
      g.fillStyle = accent;
      for (let i = 0; i < n; i++) {
        const y = 4 + dbToY(s.spectrum[i], h - 8, -80);
        g.fillRect(i * bw + 2, y, bw - 4, h - 4 - y);
      }
    }
  }

  // ---- MediaSession: lock screen, media keys, headset buttons ----

  _updateMediaSession(metadata) {
    const ms = navigator.mediaSession;
    if (!ms || this.hasAttribute('no-media-session') || !this._current || !this._player) return;
    this._ownsMediaSession = true;
    if (metadata && typeof MediaMetadata !== 'undefined') {
      const t = this._current;
      ms.metadata = new MediaMetadata({ title: t.title || t.id, artist: t.artist || '', album: t.album || '' });
    }
    const set = (action, fn) => { try { ms.setActionHandler(action, fn); } catch { /* not supported here */ } };
    set('play', () => (this._state === 'paused' ? this.resume() : this.play(this._current?.id)));
    set('pause', () => this.pause());
    set('stop', () => this.stop());
    set('seekto', (d) => this.seek(d.seekTime));
    set('seekbackward', (d) => this.seek(Math.max(0, this._positionS - (d.seekOffset || 10))));
    set('seekforward', (d) => this.seek(this._positionS + (d.seekOffset || 10)));
    set('nexttrack', () => this.next());
    set('previoustrack', () => this.previous());
    this._updatePositionState();
  }

  _updatePositionState() {
    const ms = navigator.mediaSession;
    this._msPositionAt = performance.now();
    const d = this.duration;
    if (!ms?.setPositionState || !(d > 0) || this._live) return;
    try { ms.setPositionState({ duration: d, playbackRate: 1, position: Math.min(d, this._positionS) }); } catch { /* ignore */ }
  }

  _clearMediaSession() {
    const ms = navigator.mediaSession;
    if (!ms || !this._ownsMediaSession) return;
    this._ownsMediaSession = false;
    ms.metadata = null;
    for (const a of ['play', 'pause', 'stop', 'seekto', 'seekbackward', 'seekforward', 'nexttrack', 'previoustrack']) {
      try { ms.setActionHandler(a, null); } catch { /* ignore */ }
    }
  }
}

/** Registers the element under `name` (once; a second call with the same name does nothing). */
export function defineStreamPlayer(name = 'stream-player') {
  if (!customElements.get(name)) customElements.define(name, class extends StreamPlayerElement {});
  return customElements.get(name);
}

defineStreamPlayer();

export { StreamPlayer, StreamPlayerError, PRESETS, missingBrowserFeatures };
