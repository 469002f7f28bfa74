//! The enhancement DSP the AudioWorklet runs at render time: presets `off`, `adaptive`, `warm`,
//! `bright`, `punchy` and `gentle`, an intensity that scales a preset from neutral to full, and a
//! volume.
//!
//! Real-time contract: [`Enhancer::new`] allocates everything (three chains with their limiter
//! delay lines, scratch buffers, the loudness meters' histograms, the spectrum's FFT tables);
//! [`Enhancer::process`] and every setter never allocate, lock, log or panic.
//!
//! How changes sound:
//! - Intensity changes within a preset ramp every parameter linearly over `ramp_ms` (filter
//!   coefficients recomputed every 32 frames, steps far below audibility: no zipper noise).
//! - A preset change, or intensity reaching or leaving 0, starts a new chain beside the old one
//!   (warmed up on the last 32 ms of input, so its filters and compressor are settled) and blends
//!   them over `blend_ms`, starting at the first frame of the next render quantum. The blend
//!   uses the equal-power fade's curve squared (`sin^2`, `cos^2`): both chains carry the same
//!   music, so the signals are correlated and constant loudness needs gains that sum to 1 in
//!   amplitude; the squares of the equal-power pair do exactly that, and so never exceed the
//!   limiters' ceiling either.
//! - Volume ramps linearly over `volume_ramp_ms`.
//! - `off`, or intensity 0, is a bit-exact bypass (volume 1): the input is not touched.
//!
//! Every preset except `off` ends in a look-ahead limiter at `ceiling_db` (default -1 dBFS), so
//! its output is delayed by [`Enhancer::latency_frames`] (1 ms). `adaptive` steers a slow gain
//! toward `target_lufs` from a BS.1770 measurement of its own output (see [`Agc`]).

pub mod biquad;
pub mod dynamics;
mod lanes;
pub mod loudness;
pub mod spectrum;

use crate::engine::MAX_RENDER_FRAMES;
use crate::fade::{gain as fade_gain, FadeDir};
use biquad::{Biquad, Coeffs, FilterKind, FilterSpec};
use dynamics::{db_to_lin, Compressor, CompressorParams, Limiter};
use loudness::{energy_to_lufs, LoudnessMeter, ABSOLUTE_GATE_LUFS};
use spectrum::{LevelMeter, Levels, Spectrum, BANDS};

/// The presets. The discriminant is what crosses to the worklet (no strings on the render path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Preset {
    Off = 0,
    Adaptive = 1,
    Warm = 2,
    Bright = 3,
    Punchy = 4,
    Gentle = 5,
}

/// Most filters a preset uses.
pub const MAX_FILTERS: usize = 4;

/// One preset at full intensity.
#[derive(Clone, Copy, Debug)]
pub struct PresetParams {
    pub filters: &'static [FilterSpec],
    pub compressor: Option<CompressorParams>,
    /// Stereo width: 1 unchanged, above 1 wider (side channel gain).
    pub width: f32,
    /// Steers loudness toward the target.
    pub adaptive: bool,
}

use FilterKind::{HighShelf, LowShelf, Peaking};

const fn f(kind: FilterKind, freq_hz: f32, q: f32, gain_db: f32) -> FilterSpec {
    FilterSpec::new(kind, freq_hz, q, gain_db)
}

const fn comp(
    threshold_db: f32,
    ratio: f32,
    knee_db: f32,
    attack_ms: f32,
    release_ms: f32,
    makeup_db: f32,
) -> CompressorParams {
    CompressorParams { threshold_db, ratio, knee_db, attack_ms, release_ms, makeup_db }
}

const OFF: PresetParams = PresetParams { filters: &[], compressor: None, width: 1.0, adaptive: false };
/// Loudness to the target, a light compressor for the peaks that normalisation raises.
const ADAPTIVE: PresetParams = PresetParams {
    filters: &[],
    compressor: Some(comp(-12.0, 2.0, 6.0, 10.0, 200.0, 0.0)),
    width: 1.0,
    adaptive: true,
};
/// More body, softer top.
const WARM: PresetParams = PresetParams {
    filters: &[f(LowShelf, 220.0, 0.7, 4.0), f(Peaking, 3200.0, 0.9, -1.5), f(HighShelf, 9000.0, 0.7, -3.0)],
    compressor: Some(comp(-18.0, 1.5, 8.0, 20.0, 250.0, 1.0)),
    width: 1.0,
    adaptive: false,
};
/// Presence and air, a little less boom, slightly wider.
const BRIGHT: PresetParams = PresetParams {
    filters: &[f(LowShelf, 120.0, 0.7, -1.5), f(Peaking, 3000.0, 1.0, 2.0), f(HighShelf, 7000.0, 0.7, 5.0)],
    compressor: None,
    width: 1.1,
    adaptive: false,
};
/// Kick and attack: sub-bass and presence up, mud down, compression that lets transients through.
const PUNCHY: PresetParams = PresetParams {
    filters: &[
        f(Peaking, 70.0, 1.0, 4.0),
        f(Peaking, 350.0, 1.2, -2.5),
        f(Peaking, 2800.0, 1.0, 2.5),
        f(HighShelf, 10_000.0, 0.7, 1.5),
    ],
    compressor: Some(comp(-20.0, 3.5, 6.0, 25.0, 120.0, 5.0)),
    width: 1.15,
    adaptive: false,
};
/// For long or quiet listening: harshness and sibilance down, dynamics evened out.
const GENTLE: PresetParams = PresetParams {
    filters: &[f(LowShelf, 180.0, 0.7, 1.5), f(Peaking, 3500.0, 1.2, -2.5), f(HighShelf, 8000.0, 0.7, -4.0)],
    compressor: Some(comp(-26.0, 2.0, 10.0, 30.0, 400.0, 4.0)),
    width: 0.9,
    adaptive: false,
};

impl Preset {
    pub const ALL: [Preset; 6] =
        [Preset::Off, Preset::Adaptive, Preset::Warm, Preset::Bright, Preset::Punchy, Preset::Gentle];

    pub fn from_index(i: u32) -> Option<Preset> {
        Preset::ALL.get(i as usize).copied()
    }

    pub fn from_name(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Off => "off",
            Preset::Adaptive => "adaptive",
            Preset::Warm => "warm",
            Preset::Bright => "bright",
            Preset::Punchy => "punchy",
            Preset::Gentle => "gentle",
        }
    }

    pub fn params(self) -> &'static PresetParams {
        match self {
            Preset::Off => &OFF,
            Preset::Adaptive => &ADAPTIVE,
            Preset::Warm => &WARM,
            Preset::Bright => &BRIGHT,
            Preset::Punchy => &PUNCHY,
            Preset::Gentle => &GENTLE,
        }
    }
}

/// Why a setter refused its argument (nothing changes).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum ParamError {
    UnknownPreset(u32),
    /// Intensity must be finite and within 0..=1.
    Intensity(f32),
    /// Volume must be finite and within 0..=1.
    Volume(f32),
    /// Target loudness must be finite and within -60..=0 LUFS.
    TargetLufs(f32),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EnhancerConfig {
    pub sample_rate: u32,
    /// Loudness `adaptive` steers toward, LUFS.
    pub target_lufs: f32,
    /// Limiter ceiling, dBFS.
    pub ceiling_db: f32,
    pub lookahead_ms: f32,
    pub limiter_release_ms: f32,
    /// Length of a preset blend; 0 switches hard (for tests that must hear the difference).
    pub blend_ms: f32,
    /// Length of an intensity ramp.
    pub ramp_ms: f32,
    pub volume_ramp_ms: f32,
    /// Largest boost and cut `adaptive` applies, dB.
    pub max_boost_db: f32,
    pub max_cut_db: f32,
}

impl Default for EnhancerConfig {
    fn default() -> Self {
        EnhancerConfig {
            sample_rate: crate::STREAM_SAMPLE_RATE,
            target_lufs: -14.0,
            ceiling_db: -1.0,
            lookahead_ms: 1.0,
            limiter_release_ms: 80.0,
            blend_ms: 30.0,
            ramp_ms: 50.0,
            volume_ramp_ms: 20.0,
            max_boost_db: 18.0,
            max_cut_db: 18.0,
        }
    }
}

/// Frames between coefficient updates during an intensity ramp.
const RAMP_BLOCK: usize = 32;
/// Input a new chain is warmed up on before it is blended in (32 ms at 48 kHz).
const WARMUP_FRAMES: usize = 1536;
/// The ring that keeps it (a power of two).
const HISTORY_FRAMES: usize = 2048;
/// Chains: the one playing, one fading out, one fading in.
const SLOTS: usize = 3;

/// One preset's processing at one intensity.
#[derive(Clone, Debug)]
struct Chain {
    preset: Preset,
    bypass: bool,
    intensity: f32,
    target: f32,
    step: f32,
    filters: [Biquad; MAX_FILTERS],
    n_filters: usize,
    comp: Compressor,
    has_comp: bool,
    width: f32,
    adaptive: bool,
    /// Linear adaptive gain applied at the end of the last block.
    adaptive_gain: f32,
    limiter: Limiter,
    sample_rate: f32,
}

impl Chain {
    fn new(cfg: &EnhancerConfig) -> Self {
        let sr = cfg.sample_rate as f32;
        let lookahead = ((cfg.lookahead_ms * 0.001 * sr).round() as usize).max(1);
        Chain {
            preset: Preset::Off,
            bypass: true,
            intensity: 0.0,
            target: 0.0,
            step: 0.0,
            filters: [Biquad::default(); MAX_FILTERS],
            n_filters: 0,
            comp: Compressor::new(comp(0.0, 1.0, 0.0, 1.0, 1.0, 0.0), sr),
            has_comp: false,
            width: 1.0,
            adaptive: false,
            adaptive_gain: 1.0,
            limiter: Limiter::new(cfg.ceiling_db, lookahead, cfg.limiter_release_ms, sr),
            sample_rate: sr,
        }
    }

    /// Starts over as `preset` at `intensity` (0 or `off` is the bypass), with cleared state.
    fn configure(&mut self, preset: Preset, intensity: f32, adaptive_db: f32) {
        self.preset = preset;
        self.bypass = preset == Preset::Off || intensity == 0.0;
        self.intensity = intensity;
        self.target = intensity;
        self.step = 0.0;
        let p = preset.params();
        self.n_filters = p.filters.len().min(MAX_FILTERS);
        self.has_comp = p.compressor.is_some();
        self.adaptive = p.adaptive;
        self.filters.iter_mut().for_each(Biquad::reset);
        self.comp.reset();
        self.limiter.reset();
        self.set_params(intensity);
        self.adaptive_gain = db_to_lin(adaptive_db * intensity);
    }

    fn set_params(&mut self, k: f32) {
        let p = self.preset.params();
        for (bq, spec) in self.filters.iter_mut().zip(p.filters) {
            bq.c = Coeffs::rbj(spec.scaled(k), self.sample_rate as f64);
        }
        if let Some(c) = p.compressor {
            self.comp.set_params(c.scaled(k), self.sample_rate);
        }
        self.width = 1.0 + (p.width - 1.0) * k;
    }

    fn ramp_to(&mut self, intensity: f32, frames: f32) {
        self.target = intensity;
        self.step = (intensity - self.intensity).abs() / frames.max(1.0);
        if self.step == 0.0 {
            self.intensity = intensity;
        }
    }

    /// Processes in place; the adaptive gain (dB at full intensity) moves from `agc_from` at the
    /// first frame to `agc_to` at the last.
    fn process(&mut self, left: &mut [f32], right: &mut [f32], agc_from: f32, agc_to: f32) {
        if self.bypass {
            return;
        }
        let n = left.len();
        let mut start = 0;
        while start < n {
            let ramping = self.intensity != self.target;
            let end = if ramping { (start + RAMP_BLOCK).min(n) } else { n };
            if ramping {
                let d = self.step * (end - start) as f32;
                self.intensity = if self.target > self.intensity {
                    (self.intensity + d).min(self.target)
                } else {
                    (self.intensity - d).max(self.target)
                };
                let k = self.intensity;
                self.set_params(k);
            }
            let (l, r) = (&mut left[start..end], &mut right[start..end]);
            if self.adaptive {
                let agc_end = agc_from + (agc_to - agc_from) * end as f32 / n as f32;
                let to = db_to_lin(agc_end * self.intensity);
                let from = self.adaptive_gain;
                let inc = (to - from) / l.len() as f32;
                for (i, (a, b)) in l.iter_mut().zip(r.iter_mut()).enumerate() {
                    let g = from + inc * (i + 1) as f32;
                    *a *= g;
                    *b *= g;
                }
                self.adaptive_gain = to;
            }
            match self.n_filters {
                0 => {}
                1 => Biquad::cascade::<1>(first_n(&mut self.filters), l, r),
                2 => Biquad::cascade::<2>(first_n(&mut self.filters), l, r),
                3 => Biquad::cascade::<3>(first_n(&mut self.filters), l, r),
                _ => Biquad::cascade::<4>(&mut self.filters, l, r),
            }
            if self.has_comp {
                self.comp.process(l, r);
            }
            if self.width != 1.0 {
                let w = self.width;
                for (a, b) in l.iter_mut().zip(r.iter_mut()) {
                    let mid = 0.5 * (*a + *b);
                    let side = 0.5 * (*a - *b) * w;
                    *a = mid + side;
                    *b = mid - side;
                }
            }
            self.limiter.process(l, r);
            start = end;
        }
        for bq in &mut self.filters[..self.n_filters] {
            bq.flush_denormals();
        }
    }
}

/// The first `N` filters of a chain as an array.
fn first_n<const N: usize>(filters: &mut [Biquad; MAX_FILTERS]) -> &mut [Biquad; N] {
    let (head, _) = filters.split_first_chunk_mut::<N>().expect("N <= MAX_FILTERS");
    head
}

/// The slow loudness steering of `adaptive`. It estimates the programme's loudness as a gated,
/// exponentially weighted mean of 400 ms block energies (time constant 10 s; blocks below -70
/// LUFS or 20 LU under the current estimate are ignored, so pauses and quiet passages never pull
/// the gain up), bias corrected so the first blocks of a programme count fully. The blocks are
/// measured at the output with the adaptive gain in force divided out: what the compressor and
/// limiter take away is then part of the estimate, and the output settles on the target rather
/// than below it. The gain follows `target - estimate` at no more than 6 dB/s up and 20 dB/s
/// down: it never pumps with the music.
#[derive(Clone, Copy, Debug)]
struct Agc {
    num: f64,
    weight: f64,
    alpha: f64,
    gain_db: f32,
    desired_db: f32,
}

const AGC_TIME_CONSTANT_S: f64 = 10.0;
const AGC_RELATIVE_GATE_LU: f64 = -20.0;
const AGC_UP_DB_PER_S: f32 = 6.0;
const AGC_DOWN_DB_PER_S: f32 = 20.0;

impl Agc {
    fn new() -> Self {
        Agc { num: 0.0, weight: 0.0, alpha: 1.0 - (-0.1 / AGC_TIME_CONSTANT_S).exp(), gain_db: 0.0, desired_db: 0.0 }
    }

    fn estimate(&self) -> Option<f64> {
        (self.weight > 0.0).then(|| energy_to_lufs(self.num / self.weight))
    }

    /// One output block of `energy`, measured while `applied_db` of adaptive gain was in force.
    fn block(&mut self, energy: f64, applied_db: f32, cfg: &EnhancerConfig) {
        let energy = energy * 10f64.powf(-applied_db as f64 / 10.0);
        let lufs = energy_to_lufs(energy);
        if lufs < ABSOLUTE_GATE_LUFS || self.estimate().is_some_and(|e| lufs < e + AGC_RELATIVE_GATE_LU) {
            return;
        }
        self.num += self.alpha * (energy - self.num);
        self.weight += self.alpha * (1.0 - self.weight);
        if let Some(est) = self.estimate() {
            self.desired_db = (cfg.target_lufs - est as f32).clamp(-cfg.max_cut_db, cfg.max_boost_db);
        }
    }

    fn advance(&mut self, frames: usize, sample_rate: f32) {
        let t = frames as f32 / sample_rate;
        let d = (self.desired_db - self.gain_db).clamp(-AGC_DOWN_DB_PER_S * t, AGC_UP_DB_PER_S * t);
        self.gain_db += d;
    }
}

/// The weight at blend position `pos` of a chain that had weight `w0` when the blend began and
/// ends at 1 (`target`) or 0: `w0 cos^2 + target sin^2` of the equal-power fade's angle. The
/// weights of all chains sum to 1 at every frame.
#[inline(always)]
fn blend_weight(w0: f32, target: bool, pos: u32, len: u32) -> f32 {
    let g = fade_gain(FadeDir::In, pos, len);
    let a = g * g;
    w0 * (1.0 - a) + if target { a } else { 0.0 }
}

/// What the enhancer reports for the UI and the stats.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EnhancerStats {
    pub preset: u8,
    pub intensity: f32,
    pub volume: f32,
    /// Gain reduction of the playing chain's compressor and limiter, dB (positive).
    pub compressor_gr_db: f32,
    pub limiter_gr_db: f32,
    /// The adaptive gain at full intensity, dB.
    pub adaptive_gain_db: f32,
    /// Loudness of the enhanced programme before the volume control, LUFS (-120 for silence).
    pub momentary_lufs: f64,
    pub short_term_lufs: f64,
    pub integrated_lufs: f64,
    /// Preset blends started, and the output clock frame where the latest began.
    pub switches: u64,
    pub switch_clock: Option<u64>,
    pub latency_frames: usize,
    pub blending: bool,
}

/// The enhancement chain of the player: presets with intensity, blends between them, volume,
/// loudness, level meter and spectrum.
#[derive(Clone, Debug)]
pub struct Enhancer {
    cfg: EnhancerConfig,
    sr: f32,
    chains: [Chain; SLOTS],
    active: [bool; SLOTS],
    weight0: [f32; SLOTS],
    /// The chain the latest change started (the one that plays when blends are done).
    current: usize,
    blend_len: u32,
    blend_pos: u32,
    blending: bool,
    pending: bool,
    preset: Preset,
    intensity: f32,
    /// The volume in force (ramping toward `volume_target`).
    gain: f32,
    volume_target: f32,
    volume_step: f32,
    agc: Agc,
    /// Adaptive gain in force, dB, averaged like a 400 ms block weighs it (one-pole, 200 ms).
    applied_db: f32,
    output_loudness: LoudnessMeter,
    history: [Vec<f32>; 2],
    history_pos: usize,
    scratch: [[Vec<f32>; 2]; SLOTS],
    input: [Vec<f32>; 2],
    meter: LevelMeter,
    spectrum: Spectrum,
    switches: u64,
    switch_clock: Option<u64>,
}

impl Enhancer {
    /// Allocates everything; starts at `off`, intensity 1, volume 1.
    pub fn new(cfg: EnhancerConfig) -> Self {
        let cfg = EnhancerConfig { sample_rate: cfg.sample_rate.max(8_000), ..cfg };
        let sr = cfg.sample_rate as f32;
        let chains = [Chain::new(&cfg), Chain::new(&cfg), Chain::new(&cfg)];
        let buf = || vec![0.0f32; MAX_RENDER_FRAMES];
        Enhancer {
            cfg,
            sr,
            chains,
            active: [true, false, false],
            weight0: [1.0, 0.0, 0.0],
            current: 0,
            blend_len: (cfg.blend_ms.max(0.0) * 0.001 * sr).round() as u32,
            blend_pos: 0,
            blending: false,
            pending: false,
            preset: Preset::Off,
            intensity: 1.0,
            gain: 1.0,
            volume_target: 1.0,
            volume_step: 0.0,
            agc: Agc::new(),
            applied_db: 0.0,
            output_loudness: LoudnessMeter::new(cfg.sample_rate),
            history: [vec![0.0; HISTORY_FRAMES], vec![0.0; HISTORY_FRAMES]],
            history_pos: 0,
            scratch: [[buf(), buf()], [buf(), buf()], [buf(), buf()]],
            input: [buf(), buf()],
            meter: LevelMeter::default(),
            spectrum: Spectrum::new(cfg.sample_rate),
            switches: 0,
            switch_clock: None,
        }
    }

    pub fn config(&self) -> &EnhancerConfig {
        &self.cfg
    }

    pub fn preset(&self) -> Preset {
        self.preset
    }

    pub fn intensity(&self) -> f32 {
        self.intensity
    }

    pub fn volume(&self) -> f32 {
        self.volume_target
    }

    /// Selects a preset by its index ([`Preset`] discriminant). The change is heard from the first
    /// frame of the next [`Self::process`].
    pub fn set_preset_index(&mut self, index: u32) -> Result<(), ParamError> {
        let p = Preset::from_index(index).ok_or(ParamError::UnknownPreset(index))?;
        self.set_preset(p);
        Ok(())
    }

    pub fn set_preset(&mut self, preset: Preset) {
        self.preset = preset;
        self.apply();
    }

    /// Sets the intensity (0..=1); NaN and out-of-range values are refused.
    pub fn set_intensity(&mut self, intensity: f32) -> Result<(), ParamError> {
        if !(0.0..=1.0).contains(&intensity) {
            return Err(ParamError::Intensity(intensity));
        }
        self.intensity = intensity;
        self.apply();
        Ok(())
    }

    /// Sets the output volume (0..=1, linear), ramped.
    pub fn set_volume(&mut self, volume: f32) -> Result<(), ParamError> {
        if !(0.0..=1.0).contains(&volume) {
            return Err(ParamError::Volume(volume));
        }
        self.volume_target = volume;
        let frames = (self.cfg.volume_ramp_ms * 0.001 * self.sr).max(1.0);
        self.volume_step = (volume - self.gain).abs() / frames;
        if self.volume_step == 0.0 {
            self.gain = volume;
        }
        Ok(())
    }

    /// Sets the loudness `adaptive` aims for.
    pub fn set_target_lufs(&mut self, lufs: f32) -> Result<(), ParamError> {
        if !(-60.0..=0.0).contains(&lufs) {
            return Err(ParamError::TargetLufs(lufs));
        }
        self.cfg.target_lufs = lufs;
        if let Some(est) = self.agc.estimate() {
            self.agc.desired_db = (lufs - est as f32).clamp(-self.cfg.max_cut_db, self.cfg.max_boost_db);
        }
        Ok(())
    }

    /// A new programme: loudness measurements start over (the adaptive gain in force stays and
    /// moves once the new programme has been measured for 400 ms).
    pub fn reset_loudness(&mut self) {
        self.output_loudness.reset();
        self.agc.num = 0.0;
        self.agc.weight = 0.0;
    }

    /// Frames of delay the playing chain adds (0 in bypass).
    pub fn latency_frames(&self) -> usize {
        let c = &self.chains[self.current];
        if c.bypass {
            0
        } else {
            c.limiter.latency()
        }
    }

    fn wants_bypass(&self) -> bool {
        self.preset == Preset::Off || self.intensity == 0.0
    }

    fn apply(&mut self) {
        let bypass = self.wants_bypass();
        let cur = &mut self.chains[self.current];
        let same = if bypass { cur.bypass } else { !cur.bypass && cur.preset == self.preset };
        if same {
            self.pending = false;
            if !bypass {
                let frames = self.cfg.ramp_ms * 0.001 * self.sr;
                cur.ramp_to(self.intensity, frames);
            }
        } else {
            self.pending = true;
        }
    }

    /// The weight of chain `i` at blend position `pos`.
    fn weight(&self, i: usize, pos: u32) -> f32 {
        if !self.blending {
            return if i == self.current { 1.0 } else { 0.0 };
        }
        blend_weight(self.weight0[i], i == self.current, pos, self.blend_len)
    }

    fn start_blend(&mut self, clock: u64) {
        let Some(free) = (0..SLOTS).find(|&i| !self.active[i]) else {
            return; // three chains already sound: starts when the oldest is faded out
        };
        for i in 0..SLOTS {
            self.weight0[i] = if self.active[i] { self.weight(i, self.blend_pos) } else { 0.0 };
        }
        let intensity = if self.preset == Preset::Off { 0.0 } else { self.intensity };
        let agc = self.agc.gain_db;
        let chain = &mut self.chains[free];
        chain.configure(self.preset, intensity, agc);
        if chain.adaptive && !chain.bypass {
            // Measured from now on through the adaptive chain itself.
            self.agc.num = 0.0;
            self.agc.weight = 0.0;
        }
        // Warm up on the recent input, oldest first, so the new chain starts settled.
        if !chain.bypass {
            let [sl, sr] = &mut self.scratch[free];
            let mut done = 0;
            while done < WARMUP_FRAMES {
                let n = (WARMUP_FRAMES - done).min(MAX_RENDER_FRAMES);
                for k in 0..n {
                    let h = (self.history_pos + HISTORY_FRAMES - WARMUP_FRAMES + done + k) & (HISTORY_FRAMES - 1);
                    sl[k] = self.history[0][h];
                    sr[k] = self.history[1][h];
                }
                chain.process(&mut sl[..n], &mut sr[..n], agc, agc);
                done += n;
            }
        }
        self.active[free] = true;
        self.current = free;
        self.pending = false;
        self.switches += 1;
        self.switch_clock = Some(clock);
        self.blend_pos = 0;
        self.blending = self.blend_len > 0;
        if !self.blending {
            for i in 0..SLOTS {
                self.active[i] = i == free;
            }
        }
    }

    /// Processes planar stereo in place; `clock_frame` is the output clock of the first frame
    /// (recorded for the switch-onset statistics). Never allocates.
    pub fn process(&mut self, left: &mut [f32], right: &mut [f32], clock_frame: u64) {
        let n = left.len().min(right.len());
        let mut done = 0;
        while done < n {
            let m = (n - done).min(MAX_RENDER_FRAMES);
            self.process_block(&mut left[done..done + m], &mut right[done..done + m], clock_frame + done as u64);
            done += m;
        }
    }

    fn process_block(&mut self, left: &mut [f32], right: &mut [f32], clock: u64) {
        let n = left.len();
        if self.pending {
            self.start_blend(clock);
        }
        self.sanitize_and_remember(left, right);
        let agc_from = self.agc.gain_db;
        self.agc.advance(n, self.sr);
        let agc_to = self.agc.gain_db;

        if !self.blending {
            self.chains[self.current].process(left, right, agc_from, agc_to);
        } else {
            self.input[0][..n].copy_from_slice(left);
            self.input[1][..n].copy_from_slice(right);
            left.fill(0.0);
            right.fill(0.0);
            for i in 0..SLOTS {
                if !self.active[i] {
                    continue;
                }
                let [sl, sr] = &mut self.scratch[i];
                let (sl, sr) = (&mut sl[..n], &mut sr[..n]);
                sl.copy_from_slice(&self.input[0][..n]);
                sr.copy_from_slice(&self.input[1][..n]);
                self.chains[i].process(sl, sr, agc_from, agc_to);
                let (w0, target) = (self.weight0[i], i == self.current);
                for k in 0..n {
                    let w = blend_weight(w0, target, self.blend_pos + k as u32, self.blend_len);
                    left[k] += w * sl[k];
                    right[k] += w * sr[k];
                }
            }
            self.blend_pos += n as u32;
            if self.blend_pos >= self.blend_len {
                self.blending = false;
                for i in 0..SLOTS {
                    self.active[i] = i == self.current;
                }
            }
        }

        // The programme's loudness, before the volume control.
        self.output_loudness.process(left, right);
        let c = &self.chains[self.current];
        let applied = if c.adaptive && !c.bypass { agc_to * c.intensity } else { 0.0 };
        self.applied_db += (applied - self.applied_db) * (n as f32 / (0.2 * self.sr)).min(1.0);
        while let Some(e) = self.output_loudness.take_block() {
            self.agc.block(e, self.applied_db, &self.cfg);
        }

        if self.gain != 1.0 || self.volume_target != 1.0 {
            for (l, r) in left.iter_mut().zip(right.iter_mut()) {
                if self.gain < self.volume_target {
                    self.gain = (self.gain + self.volume_step).min(self.volume_target);
                } else if self.gain > self.volume_target {
                    self.gain = (self.gain - self.volume_step).max(self.volume_target);
                }
                *l *= self.gain;
                *r *= self.gain;
            }
        }
        spectrum::push(&mut self.meter, &mut self.spectrum, left, right);
    }

    /// Keeps the last [`WARMUP_FRAMES`] input frames for warming up new chains.
    /// Replaces non-finite samples (a broken source) with silence, which would otherwise stay in
    /// the filters' state for good, and keeps the input for warming up new chains.
    fn sanitize_and_remember(&mut self, left: &mut [f32], right: &mut [f32]) {
        let [hl, hr] = &mut self.history;
        let mut pos = self.history_pos;
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            if !l.is_finite() {
                *l = 0.0;
            }
            if !r.is_finite() {
                *r = 0.0;
            }
            hl[pos] = *l;
            hr[pos] = *r;
            pos = (pos + 1) & (HISTORY_FRAMES - 1);
        }
        self.history_pos = pos;
    }

    /// Output clock of the first frame of the latest preset blend (cheap: read after every
    /// quantum).
    pub fn switch_clock(&self) -> Option<u64> {
        self.switch_clock
    }

    pub fn stats(&self) -> EnhancerStats {
        let c = &self.chains[self.current];
        EnhancerStats {
            preset: self.preset as u8,
            intensity: self.intensity,
            volume: self.volume_target,
            compressor_gr_db: if c.bypass || !c.has_comp { 0.0 } else { c.comp.gain_reduction_db() },
            limiter_gr_db: if c.bypass { 0.0 } else { c.limiter.gain_reduction_db() },
            adaptive_gain_db: self.agc.gain_db,
            momentary_lufs: self.output_loudness.momentary(),
            short_term_lufs: self.output_loudness.short_term(),
            integrated_lufs: self.output_loudness.integrated(),
            switches: self.switches,
            switch_clock: self.switch_clock,
            latency_frames: self.latency_frames(),
            blending: self.blending || self.pending,
        }
    }

    /// Peak and RMS of the output since the last call.
    pub fn take_levels(&mut self) -> Levels {
        self.meter.take()
    }

    /// The output spectrum of the last 43 ms in [`BANDS`] bands, dB. Costs an FFT: call it at the
    /// UI's rate, not per quantum.
    pub fn spectrum(&mut self, out: &mut [f32; BANDS]) {
        self.spectrum.compute(out);
    }
}
