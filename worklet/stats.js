// The layout of the engine's stats array (engine-wasm `stat`): the index of each value the
// worklet copies out of wasm memory on a poll. One layout for the page (player.js) and the
// Worker (worker.js); engine-wasm's test `stats_layout_matches_the_js_one` checks that this
// file and the Rust constants agree, name for name and index for index.

/** Indices into the stats array. */
export const S = Object.freeze({
  STATE: 0, SESSION: 1, BUFFERED_FRAMES: 2, PLAY_POS: 3, WRITE_POS: 4, UNDERRUNS: 5,
  UNDERRUN_FRAMES: 6, FRAMES_RENDERED: 7, STREAM_FRAMES_RENDERED: 8, DROPPED_FRAMES: 9,
  LATE_FRAMES: 10, GAP_FRAMES: 11, BAD_FRAMES: 12, STALE_FRAMES: 13, FADES: 14, START_CLOCK: 15,
  FIRST_AUDIO_CLOCK: 16, CAPACITY_FRAMES: 17, PREROLL_FRAMES: 18, CROSSFADES: 19, TRANSITIONS: 20,
  TARGET_FRAMES: 21, TRANSITION_CLOCK: 22, PRESET: 23, INTENSITY: 24, VOLUME: 25,
  COMPRESSOR_GR_DB: 26, LIMITER_GR_DB: 27, ADAPTIVE_GAIN_DB: 28, LOUDNESS_MOMENTARY: 29,
  LOUDNESS_SHORT_TERM: 30, LOUDNESS_INTEGRATED: 31, PEAK_L: 32, PEAK_R: 33, RMS_L: 34, RMS_R: 35,
  DSP_SWITCHES: 36, DSP_SWITCH_CLOCK: 37, DSP_LATENCY: 38, DSP_BLENDING: 39, SPECTRUM: 40,
});

/** Bands of the output spectrum, from S.SPECTRUM on. */
export const BANDS = 16;
