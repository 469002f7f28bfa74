//! `engine-wasm`: the stream engine as the AudioWorklet sees it.
//!
//! Real-time contract: every buffer is allocated in the constructor and owned by Rust; JS gets
//! pointers and keeps cached typed-array views over wasm memory (rebuilt only if memory grows).
//! No call made per render quantum passes a slice, `Vec` or `String` across the boundary, so the
//! generated glue never mallocs or copies on the audio path. Positions cross as `f64` (exact
//! up to 2^53 frames) to keep `BigInt` out of the worklet.

use stream_core::dsp::spectrum::BANDS;
use stream_core::dsp::{Enhancer, EnhancerConfig};
use stream_core::engine::{Engine, EngineConfig, PushError, Transition};
use wasm_bindgen::prelude::*;

/// Largest wire frame the worklet accepts (library frames are 20 ms, about 8 KB; live frames
/// 200 ms, 77 KB as pcm_f32 stereo).
pub const INPUT_CAPACITY_BYTES: usize = 128 * 1024;
/// Most frames one `render` call produces (a render quantum is 128).
pub const MAX_RENDER_FRAMES: usize = stream_core::engine::MAX_RENDER_FRAMES;

/// Indices of the stats array returned by [`WasmEngine::stats_ptr`].
pub mod stat {
    pub const STATE: usize = 0;
    pub const SESSION: usize = 1;
    pub const BUFFERED_FRAMES: usize = 2;
    pub const PLAY_POS: usize = 3;
    pub const WRITE_POS: usize = 4;
    pub const UNDERRUNS: usize = 5;
    pub const UNDERRUN_FRAMES: usize = 6;
    pub const FRAMES_RENDERED: usize = 7;
    pub const STREAM_FRAMES_RENDERED: usize = 8;
    pub const DROPPED_FRAMES: usize = 9;
    pub const LATE_FRAMES: usize = 10;
    pub const GAP_FRAMES: usize = 11;
    pub const BAD_FRAMES: usize = 12;
    pub const STALE_FRAMES: usize = 13;
    pub const FADES: usize = 14;
    /// -1 until the session's first frame is rendered.
    pub const START_CLOCK: usize = 15;
    /// -1 until the first audible sample.
    pub const FIRST_AUDIO_CLOCK: usize = 16;
    pub const CAPACITY_FRAMES: usize = 17;
    pub const PREROLL_FRAMES: usize = 18;
    pub const CROSSFADES: usize = 19;
    pub const TRANSITIONS: usize = 20;
    /// The adaptive start threshold.
    pub const TARGET_FRAMES: usize = 21;
    /// -1 until a queued track change happened.
    pub const TRANSITION_CLOCK: usize = 22;
    /// The enhancer: preset index (`stream_core::dsp::Preset`), intensity, volume.
    pub const PRESET: usize = 23;
    pub const INTENSITY: usize = 24;
    pub const VOLUME: usize = 25;
    /// Gain reduction of the playing chain's compressor and limiter, dB.
    pub const COMPRESSOR_GR_DB: usize = 26;
    pub const LIMITER_GR_DB: usize = 27;
    /// `adaptive`'s gain at full intensity, dB.
    pub const ADAPTIVE_GAIN_DB: usize = 28;
    /// Programme loudness before the volume, LUFS (-120 for silence).
    pub const LOUDNESS_MOMENTARY: usize = 29;
    pub const LOUDNESS_SHORT_TERM: usize = 30;
    pub const LOUDNESS_INTEGRATED: usize = 31;
    /// Output peak and RMS per channel since the previous `update_stats`, linear.
    pub const PEAK_L: usize = 32;
    pub const PEAK_R: usize = 33;
    pub const RMS_L: usize = 34;
    pub const RMS_R: usize = 35;
    /// Preset blends started; output clock of the first frame of the latest (-1: none yet).
    pub const DSP_SWITCHES: usize = 36;
    pub const DSP_SWITCH_CLOCK: usize = 37;
    /// Frames of delay the enhancer adds (its limiter's look-ahead; 0 in bypass).
    pub const DSP_LATENCY: usize = 38;
    /// 1 while a preset blend runs.
    pub const DSP_BLENDING: usize = 39;
    /// Output spectrum in `BANDS` bands (40 Hz to 16 kHz, log-spaced), dB.
    pub const SPECTRUM: usize = 40;
    pub const LEN: usize = SPECTRUM + super::BANDS;
}

/// Setters of the enhancer return 0 or one of these (the value was refused, nothing changed).
pub mod param {
    pub const OK: i32 = 0;
    pub const UNKNOWN_PRESET: i32 = -1;
    pub const OUT_OF_RANGE: i32 = -2;
}

/// Result codes of [`WasmEngine::push_input`].
pub mod push {
    pub const OK: i32 = 0;
    pub const BAD_FRAME: i32 = -1;
    pub const NOT_PCM: i32 = -2;
    pub const TOO_LONG: i32 = -3;
}

/// [`WasmEngine::render`]'s result: the stream's first audible frame was in this quantum.
pub const MARK_FIRST_AUDIO: u32 = 1;
/// [`WasmEngine::render`]'s result: a preset blend began in this quantum.
pub const MARK_PRESET_SWITCH: u32 = 2;

/// A real wasm trap: the `unreachable` instruction, which aborts the call with a
/// `WebAssembly.RuntimeError` in JS. Not a panic: a panic would format its message first (the
/// crate builds with wasm32-unknown-unknown's default `panic = "abort"`, so a panic ends in this
/// same instruction, but only after the panic machinery ran). Native builds abort the process.
#[cold]
fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

/// The engine with its Rust-owned I/O buffers.
#[wasm_bindgen]
pub struct WasmEngine {
    engine: Engine,
    enhancer: Enhancer,
    bands: [f32; BANDS],
    input: Vec<u8>,
    left: Vec<f32>,
    right: Vec<f32>,
    stats: Vec<f64>,
    /// Decoded PCM copied out of `input` (which has no f32 alignment guarantee).
    pcm: Vec<f32>,
    /// Test hook: the next [`Self::render`] traps (see [`Self::debug_trap_next_render`]).
    trap_next_render: bool,
}

#[wasm_bindgen]
impl WasmEngine {
    /// Allocates everything the engine will ever use. `preset_blend_ms` is the length of the
    /// blend between presets (0 switches hard, for tests).
    #[wasm_bindgen(constructor)]
    pub fn new(
        sample_rate: u32,
        capacity_ms: u32,
        start_threshold_ms: u32,
        fade_ms: f32,
        crossfade_ms: f32,
        preset_blend_ms: f32,
    ) -> WasmEngine {
        let engine = Engine::new(EngineConfig {
            sample_rate,
            capacity_ms,
            start_threshold_ms,
            fade_ms,
            crossfade_ms,
            ..EngineConfig::default()
        });
        let enhancer = Enhancer::new(EnhancerConfig {
            sample_rate,
            blend_ms: if preset_blend_ms.is_finite() { preset_blend_ms.clamp(0.0, 1000.0) } else { 30.0 },
            ..EnhancerConfig::default()
        });
        let mut e = WasmEngine {
            engine,
            enhancer,
            bands: [0.0; BANDS],
            input: vec![0; INPUT_CAPACITY_BYTES],
            left: vec![0.0; MAX_RENDER_FRAMES],
            right: vec![0.0; MAX_RENDER_FRAMES],
            stats: vec![0.0; stat::LEN],
            pcm: vec![0.0; INPUT_CAPACITY_BYTES / 4],
            trap_next_render: false,
        };
        e.update_stats();
        e
    }

    /// Where JS copies one wire frame before calling [`Self::push_input`].
    pub fn input_ptr(&self) -> *const u8 {
        self.input.as_ptr()
    }

    /// Size of the input buffer in bytes.
    pub fn input_capacity(&self) -> usize {
        self.input.len()
    }

    /// Takes the wire frame of `len` bytes that JS wrote at [`Self::input_ptr`].
    pub fn push_input(&mut self, len: usize) -> i32 {
        let Some(bytes) = self.input.get(..len) else {
            return push::TOO_LONG;
        };
        match self.engine.push_frame(bytes) {
            Ok(()) => push::OK,
            Err(PushError::Wire(_)) => push::BAD_FRAME,
            Err(PushError::NotPcm) => push::NOT_PCM,
        }
    }

    /// Takes decoded PCM that JS wrote at [`Self::input_ptr`]: `frames` interleaved f32 frames
    /// of `channels` channels (native byte order, as a `Float32Array` writes them), first frame
    /// at `sample_pos` of `session`. What the Worker posts after decoding Opus.
    pub fn push_pcm_input(&mut self, session: u32, sample_pos: f64, channels: usize, frames: usize) -> i32 {
        let n = frames * channels;
        if channels == 0 || n * 4 > self.input.len() {
            return push::TOO_LONG;
        }
        for (dst, b) in self.pcm[..n].iter_mut().zip(self.input.chunks_exact(4)) {
            *dst = f32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
        }
        self.engine.push_pcm(session, sample_pos.max(0.0) as u64, channels, &self.pcm[..n]);
        push::OK
    }

    /// Starts session `session` whose first frame is at `start_pos` (frames from the track start).
    pub fn start(&mut self, session: u32, start_pos: f64) {
        self.engine.start(session, start_pos.max(0.0) as u64);
    }

    /// The stream of `session` ends at `end_pos`.
    pub fn end_at(&mut self, session: u32, end_pos: f64) {
        self.engine.end_at(session, end_pos.max(0.0) as u64);
    }

    /// Lowest start threshold in ms (live streams ask for more than files; see the engine).
    pub fn set_min_threshold_ms(&mut self, ms: u32) {
        self.engine.set_min_threshold_ms(ms);
    }

    /// Fades out and goes idle.
    pub fn stop(&mut self) {
        self.engine.stop();
    }

    /// Fades out, keeping position and buffer. `false` if nothing was playing.
    pub fn pause(&mut self) -> bool {
        self.engine.pause()
    }

    /// Fades back in at the exact paused position. `false` if not paused.
    pub fn resume(&mut self) -> bool {
        self.engine.resume()
    }

    /// Seeks within what is buffered (crossfade, no network); `false` if the audio at `pos`
    /// must come from the server.
    pub fn seek_local(&mut self, pos: f64) -> bool {
        self.engine.seek_local(pos.max(0.0) as u64)
    }

    /// Queues `session` (first frame at `start_pos`) after the current stream: gapless when
    /// `crossfade_frames` is 0, else crossfaded over that many frames.
    pub fn queue(&mut self, session: u32, start_pos: f64, crossfade_frames: u32) {
        let t = if crossfade_frames == 0 { Transition::Gapless } else { Transition::Crossfade(crossfade_frames) };
        self.engine.queue(session, start_pos.max(0.0) as u64, t);
    }

    /// A reconnect: the stream of `old` continues as `new`.
    pub fn rebind(&mut self, old: u32, new: u32) -> bool {
        self.engine.rebind(old, new)
    }

    /// Where the stream of `session` needs its next frame; -1 if no such stream.
    pub fn write_pos_of(&self, session: u32) -> f64 {
        self.engine.write_pos_of(session).map_or(-1.0, |p| p as f64)
    }

    /// Renders `frames` (at most [`MAX_RENDER_FRAMES`]) into the buffers at [`Self::left_ptr`]
    /// and [`Self::right_ptr`]; `clock_frame` is the worklet's `currentFrame`.
    ///
    /// Returns what began in this quantum, for the worklet to stamp with the wall clock (the
    /// page maps engine clocks to its own time with those stamps): bit 0 ([`MARK_FIRST_AUDIO`])
    /// the stream's first audible frame, bit 1 ([`MARK_PRESET_SWITCH`]) a preset blend.
    pub fn render(&mut self, frames: usize, clock_frame: f64) -> u32 {
        if self.trap_next_render {
            trap();
        }
        let n = frames.min(MAX_RENDER_FRAMES);
        let clock = clock_frame.max(0.0) as u64;
        let first_before = self.engine.first_audio_clock();
        let switch_before = self.enhancer.switch_clock();
        self.engine.render(&mut self.left[..n], &mut self.right[..n], clock);
        self.enhancer.process(&mut self.left[..n], &mut self.right[..n], clock);
        let mut marks = 0;
        if self.engine.first_audio_clock() != first_before {
            marks |= MARK_FIRST_AUDIO;
        }
        if self.enhancer.switch_clock() != switch_before {
            marks |= MARK_PRESET_SWITCH;
        }
        marks
    }

    /// TEST HOOK, not for applications: makes the next [`Self::render`] trap, the way a bug in
    /// the engine would, so the end-to-end tests can check that the worklet survives one
    /// (worklet/processor.js reports `engine_trap`, renders silence and builds a new engine at
    /// the next start; the message `{ t: 'debugTrap' }` on the worklet's port calls this). After
    /// the trap this object is unusable: wasm-bindgen's borrow flag stays set.
    pub fn debug_trap_next_render(&mut self) {
        self.trap_next_render = true;
    }

    /// Runs only the enhancer over what is in the output buffers (for the DSP benchmark).
    pub fn process_dsp(&mut self, frames: usize, clock_frame: f64) {
        let n = frames.min(MAX_RENDER_FRAMES);
        self.enhancer.process(&mut self.left[..n], &mut self.right[..n], clock_frame.max(0.0) as u64);
    }

    /// Selects the preset of index `preset` (`off` 0, `adaptive` 1, `warm` 2, `bright` 3,
    /// `punchy` 4, `gentle` 5); it is heard from the next render quantum. See [`param`].
    #[wasm_bindgen(js_name = setPreset)]
    pub fn set_preset(&mut self, preset: u32) -> i32 {
        match self.enhancer.set_preset_index(preset) {
            Ok(()) => param::OK,
            Err(_) => param::UNKNOWN_PRESET,
        }
    }

    /// Intensity 0..=1 of the preset; NaN or out of range is refused.
    #[wasm_bindgen(js_name = setIntensity)]
    pub fn set_intensity(&mut self, intensity: f32) -> i32 {
        self.enhancer.set_intensity(intensity).map_or(param::OUT_OF_RANGE, |()| param::OK)
    }

    /// Volume 0..=1 (linear, ramped); NaN or out of range is refused.
    #[wasm_bindgen(js_name = setVolume)]
    pub fn set_volume(&mut self, volume: f32) -> i32 {
        self.enhancer.set_volume(volume).map_or(param::OUT_OF_RANGE, |()| param::OK)
    }

    /// The loudness `adaptive` aims for, -60..=0 LUFS.
    #[wasm_bindgen(js_name = setTargetLufs)]
    pub fn set_target_lufs(&mut self, lufs: f32) -> i32 {
        self.enhancer.set_target_lufs(lufs).map_or(param::OUT_OF_RANGE, |()| param::OK)
    }

    /// A new programme (another track): the loudness measurement starts over.
    #[wasm_bindgen(js_name = resetLoudness)]
    pub fn reset_loudness(&mut self) {
        self.enhancer.reset_loudness();
    }

    pub fn left_ptr(&self) -> *const f32 {
        self.left.as_ptr()
    }

    pub fn right_ptr(&self) -> *const f32 {
        self.right.as_ptr()
    }

    /// The engine state as a small integer (`PlayState` discriminant).
    pub fn state(&self) -> u8 {
        self.engine.state() as u8
    }

    /// Refreshes the stats array (see [`stat`]) at [`Self::stats_ptr`]. It reads and restarts
    /// the level meter and computes the spectrum (one FFT): call it at the UI's rate. Other
    /// readers (the Worker's acknowledgements) use [`Self::update_transport_stats`], which leaves
    /// the meter's interval running.
    pub fn update_stats(&mut self) {
        self.update_transport_stats();
        let v = &mut self.stats;
        let levels = self.enhancer.take_levels();
        v[stat::PEAK_L] = levels.peak[0] as f64;
        v[stat::PEAK_R] = levels.peak[1] as f64;
        v[stat::RMS_L] = levels.rms[0] as f64;
        v[stat::RMS_R] = levels.rms[1] as f64;
        self.enhancer.spectrum(&mut self.bands);
        for (dst, &b) in v[stat::SPECTRUM..stat::SPECTRUM + BANDS].iter_mut().zip(&self.bands) {
            *dst = b as f64;
        }
    }

    /// Refreshes everything but the level meter and the spectrum.
    pub fn update_transport_stats(&mut self) {
        let s = self.engine.stats();
        let v = &mut self.stats;
        v[stat::STATE] = self.engine.state() as u8 as f64;
        v[stat::SESSION] = s.session as f64;
        v[stat::BUFFERED_FRAMES] = s.buffered_frames as f64;
        v[stat::PLAY_POS] = s.play_pos as f64;
        v[stat::WRITE_POS] = s.write_pos as f64;
        v[stat::UNDERRUNS] = s.underruns as f64;
        v[stat::UNDERRUN_FRAMES] = s.underrun_frames as f64;
        v[stat::FRAMES_RENDERED] = s.frames_rendered as f64;
        v[stat::STREAM_FRAMES_RENDERED] = s.stream_frames_rendered as f64;
        v[stat::DROPPED_FRAMES] = s.dropped_frames as f64;
        v[stat::LATE_FRAMES] = s.late_frames as f64;
        v[stat::GAP_FRAMES] = s.gap_frames as f64;
        v[stat::BAD_FRAMES] = s.bad_frames as f64;
        v[stat::STALE_FRAMES] = s.stale_frames as f64;
        v[stat::FADES] = s.fades as f64;
        v[stat::START_CLOCK] = s.start_clock.map_or(-1.0, |c| c as f64);
        v[stat::FIRST_AUDIO_CLOCK] = s.first_audio_clock.map_or(-1.0, |c| c as f64);
        v[stat::CAPACITY_FRAMES] = self.engine.capacity_frames() as f64;
        v[stat::PREROLL_FRAMES] = s.preroll_frames as f64;
        v[stat::CROSSFADES] = s.crossfades as f64;
        v[stat::TRANSITIONS] = s.transitions as f64;
        v[stat::TARGET_FRAMES] = s.target_frames as f64;
        v[stat::TRANSITION_CLOCK] = s.transition_clock.map_or(-1.0, |c| c as f64);
        let d = self.enhancer.stats();
        v[stat::PRESET] = d.preset as f64;
        v[stat::INTENSITY] = d.intensity as f64;
        v[stat::VOLUME] = d.volume as f64;
        v[stat::COMPRESSOR_GR_DB] = d.compressor_gr_db as f64;
        v[stat::LIMITER_GR_DB] = d.limiter_gr_db as f64;
        v[stat::ADAPTIVE_GAIN_DB] = d.adaptive_gain_db as f64;
        v[stat::LOUDNESS_MOMENTARY] = d.momentary_lufs;
        v[stat::LOUDNESS_SHORT_TERM] = d.short_term_lufs;
        v[stat::LOUDNESS_INTEGRATED] = d.integrated_lufs;
        v[stat::DSP_SWITCHES] = d.switches as f64;
        v[stat::DSP_SWITCH_CLOCK] = d.switch_clock.map_or(-1.0, |c| c as f64);
        v[stat::DSP_LATENCY] = d.latency_frames as f64;
        v[stat::DSP_BLENDING] = if d.blending { 1.0 } else { 0.0 };
    }

    pub fn stats_ptr(&self) -> *const f64 {
        self.stats.as_ptr()
    }

    pub fn stats_len(&self) -> usize {
        self.stats.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `stat`'s layout is the JS one (worklet/stats.js, read by the page and the Worker): every
    /// constant with the same name and index there, indices 0..=SPECTRUM each once, the same
    /// number of spectrum bands.
    #[test]
    fn stats_layout_matches_the_js_one() {
        let rust_src = include_str!("lib.rs");
        let rust_mod = &rust_src[rust_src.find("pub mod stat {").expect("mod stat")..];
        let rust_mod = &rust_mod[..rust_mod.find("pub const LEN").expect("LEN")];
        let rust: Vec<(&str, usize)> = rust_mod
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub const "))
            .filter_map(|l| {
                let (name, rest) = l.split_once(": usize = ")?;
                Some((name, rest.trim_end_matches(';').parse().ok()?))
            })
            .collect();
        let js_src = include_str!("../../worklet/stats.js");
        let js_obj = &js_src[js_src.find("export const S = Object.freeze({").expect("S")..];
        let js_obj = &js_obj[..js_obj.find("});").expect("end of S")];
        let js: Vec<(&str, usize)> = js_obj
            .split([',', '\n', '{'])
            .filter_map(|kv| {
                let (k, v) = kv.split_once(':')?;
                Some((k.trim(), v.trim().parse().ok()?))
            })
            .collect();
        assert_eq!(rust, js, "engine-wasm `stat` and worklet/stats.js disagree");
        let mut indices: Vec<usize> = rust.iter().map(|&(_, i)| i).collect();
        indices.sort_unstable();
        assert_eq!(indices, (0..=stat::SPECTRUM).collect::<Vec<_>>());
        assert!(js_src.contains(&format!("export const BANDS = {BANDS};")));
        assert_eq!(stat::LEN, stat::SPECTRUM + BANDS);
    }
}
