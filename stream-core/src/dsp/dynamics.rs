//! Dynamics: a stereo-linked feed-forward compressor and a look-ahead peak limiter.
//!
//! Both allocate only in `new` (the limiter's delay line and window, sized by its look-ahead)
//! and never in `process`. Gains are computed in decibels with short polynomial `log2`/`exp2`
//! (accurate to about 1e-6 relative, far below audibility) because the standard library's
//! versions cost several times more in wasm.

/// `log2(x)` for finite `x > 0`, about 1e-7 absolute error.
#[inline(always)]
pub fn fast_log2(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000); // [1, 2)
    if m > core::f32::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    // ln(m) = 2 atanh(y), y = (m - 1) / (m + 1), |y| < 0.172: the odd series to y^9.
    let y = (m - 1.0) / (m + 1.0);
    let y2 = y * y;
    let ln_m = 2.0 * y * (1.0 + y2 * (1.0 / 3.0 + y2 * (1.0 / 5.0 + y2 * (1.0 / 7.0 + y2 * (1.0 / 9.0)))));
    e as f32 + ln_m * core::f32::consts::LOG2_E
}

/// `2^x`, about 1e-6 relative error; saturates to 0 below -126 and to 2^127 above 127.
#[inline(always)]
pub fn fast_exp2(x: f32) -> f32 {
    let x = x.clamp(-126.0, 127.0);
    let i = x.floor();
    // 2^f = sqrt(2) e^((f - 1/2) ln 2), |(f - 1/2) ln 2| <= 0.347: Taylor to the 6th power.
    let t = (x - i - 0.5) * core::f32::consts::LN_2;
    let p = 1.0 + t * (1.0 + t * (0.5 + t * (1.0 / 6.0 + t * (1.0 / 24.0 + t * (1.0 / 120.0 + t * (1.0 / 720.0))))));
    let scale = f32::from_bits(((i as i32 + 127) as u32) << 23);
    core::f32::consts::SQRT_2 * p * scale
}

/// The larger of two samples. `f32::max` handles NaN, which wasm's `f32.max` does differently,
/// so in wasm it becomes a call to `fmaxf`; samples here are finite (the enhancer sanitises its
/// input), and a comparison is one instruction everywhere.
#[inline(always)]
pub fn fmax(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// The smaller of two samples (see [`fmax`]).
#[inline(always)]
pub fn fmin(a: f32, b: f32) -> f32 {
    if a < b {
        a
    } else {
        b
    }
}

/// Decibels of a linear magnitude (`-inf` never: floor at -200 dB).
#[inline(always)]
pub fn lin_to_db(x: f32) -> f32 {
    // 20 log10(x) = 20 log10(2) log2(x)
    6.020_6 * fast_log2(fmax(x, 1e-10))
}

/// Linear gain of decibels.
#[inline(always)]
pub fn db_to_lin(db: f32) -> f32 {
    fast_exp2(db * (1.0 / 6.020_6))
}

/// The one-pole coefficient that moves `1 - 1/e` of the way in `ms` milliseconds.
pub fn one_pole(ms: f32, sample_rate: f32) -> f32 {
    if ms <= 0.0 {
        0.0
    } else {
        (-1.0 / (ms * 0.001 * sample_rate)).exp()
    }
}

/// Compressor settings; `ratio` 1 is no compression.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompressorParams {
    pub threshold_db: f32,
    pub ratio: f32,
    pub knee_db: f32,
    pub attack_ms: f32,
    pub release_ms: f32,
    pub makeup_db: f32,
}

impl CompressorParams {
    /// Scales from neutral (intensity 0: ratio 1, no make-up) to these settings (intensity 1).
    pub fn scaled(self, k: f32) -> Self {
        CompressorParams { ratio: 1.0 + (self.ratio - 1.0) * k, makeup_db: self.makeup_db * k, ..self }
    }
}

/// Frames per gain-computer step of the compressor: the peak of each block of 4 frames sets its
/// gain, interpolated linearly across the block (attack times are 10 ms and more, 100 times
/// longer, so this is inaudible and costs a quarter of the logarithms).
const CONTROL_FRAMES: usize = 4;

/// Stereo-linked feed-forward compressor: peak level of the louder channel, a soft-knee gain
/// computer, and attack/release smoothing of the gain reduction in dB (so the release is a
/// straight line in dB, the way ears hear it).
#[derive(Clone, Copy, Debug)]
pub struct Compressor {
    p: CompressorParams,
    slope: f32,
    attack: f32,
    release: f32,
    /// Smoothed gain reduction in dB (<= 0).
    env_db: f32,
    makeup_db: f32,
    /// Linear gain applied at the end of the last block.
    gain: f32,
}

impl Compressor {
    pub fn new(p: CompressorParams, sample_rate: f32) -> Self {
        let mut c = Compressor { p, slope: 0.0, attack: 0.0, release: 0.0, env_db: 0.0, makeup_db: 0.0, gain: 1.0 };
        c.set_params(p, sample_rate);
        c
    }

    /// Changes the settings, keeping the envelope (for smooth parameter ramps).
    pub fn set_params(&mut self, p: CompressorParams, sample_rate: f32) {
        self.p = p;
        self.slope = 1.0 / p.ratio.max(1.0) - 1.0;
        self.attack = one_pole(p.attack_ms, sample_rate / CONTROL_FRAMES as f32);
        self.release = one_pole(p.release_ms, sample_rate / CONTROL_FRAMES as f32);
        self.makeup_db = p.makeup_db;
    }

    pub fn reset(&mut self) {
        self.env_db = 0.0;
        self.gain = db_to_lin(self.makeup_db);
    }

    /// Current gain reduction in dB (positive).
    pub fn gain_reduction_db(&self) -> f32 {
        -self.env_db
    }

    /// Static curve: gain change in dB for a level in dB.
    #[inline(always)]
    pub fn curve_db(&self, level_db: f32) -> f32 {
        let over = level_db - self.p.threshold_db;
        let knee = self.p.knee_db;
        if 2.0 * over <= -knee {
            0.0
        } else if 2.0 * over < knee {
            let d = over + knee * 0.5;
            self.slope * d * d / (2.0 * knee)
        } else {
            self.slope * over
        }
    }

    pub fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        if self.slope == 0.0 && self.makeup_db == 0.0 && self.env_db == 0.0 && self.gain == 1.0 {
            return;
        }
        // Levels this far below the knee cannot compress: skip the logarithm.
        let quiet = db_to_lin(self.p.threshold_db - self.p.knee_db * 0.5);
        for (bl, br) in left.chunks_mut(CONTROL_FRAMES).zip(right.chunks_mut(CONTROL_FRAMES)) {
            let mut peak = 0.0f32;
            for (l, r) in bl.iter().zip(br.iter()) {
                peak = fmax(peak, fmax(l.abs(), r.abs()));
            }
            let target = if peak <= quiet { 0.0 } else { self.curve_db(lin_to_db(peak)) };
            let k = if target < self.env_db { self.attack } else { self.release };
            self.env_db = target + k * (self.env_db - target);
            let to = db_to_lin(self.env_db + self.makeup_db);
            let from = self.gain;
            let inc = (to - from) / bl.len() as f32;
            for (i, (l, r)) in bl.iter_mut().zip(br.iter_mut()).enumerate() {
                let g = from + inc * (i + 1) as f32;
                *l *= g;
                *r *= g;
            }
            self.gain = to;
        }
        if self.env_db > -1e-6 {
            self.env_db = 0.0;
        }
    }
}

/// Look-ahead peak limiter that keeps every output sample at or below its ceiling.
///
/// For each input frame it needs the gain `g = ceiling / max(|l|, |r|)` (1 when under the
/// ceiling). The gain applied is the minimum of `g` over the last `L` frames (a sliding minimum),
/// followed by a release that recovers towards 1, then a moving average over `L` frames; the
/// audio is delayed by `L - 1` frames. Every one of the `L` averaged values is a minimum over a
/// window that contains the delayed frame, so the average is never above that frame's `g`: the
/// ceiling holds by construction, with a gain curve that starts `L` frames before the peak and
/// has no corners (no distortion from a hard clip).
#[derive(Clone, Debug)]
pub struct Limiter {
    ceiling: f32,
    release: f32,
    len: usize,
    /// Delay line of `len` stereo frames (ring).
    delay_l: Vec<f32>,
    delay_r: Vec<f32>,
    /// Sliding-minimum deque over the last `len` gains: (frame index, gain), increasing gains.
    dq_idx: Vec<u64>,
    dq_val: Vec<f32>,
    dq_head: usize,
    dq_len: usize,
    /// The release-smoothed minimum.
    env: f32,
    /// Moving average of `env` over `len` frames.
    box_vals: Vec<f32>,
    box_sum: f64,
    pos: usize,
    frame: u64,
    /// Gain applied to the last output frame.
    gain: f32,
}

impl Limiter {
    /// `lookahead` frames (at least 1) of delay and attack.
    pub fn new(ceiling_db: f32, lookahead: usize, release_ms: f32, sample_rate: f32) -> Self {
        let len = lookahead.max(1);
        Limiter {
            // A margin of 1e-5 (0.0001 dB) absorbs the rounding of the gain arithmetic, so the
            // bound is strict in f32.
            ceiling: 10f32.powf(ceiling_db / 20.0) * (1.0 - 1e-5),
            release: one_pole(release_ms, sample_rate),
            len,
            delay_l: vec![0.0; len],
            delay_r: vec![0.0; len],
            dq_idx: vec![0; len],
            dq_val: vec![1.0; len],
            dq_head: 0,
            dq_len: 0,
            env: 1.0,
            box_vals: vec![1.0; len],
            box_sum: len as f64,
            pos: 0,
            frame: 0,
            gain: 1.0,
        }
    }

    /// Frames of delay between input and output.
    pub fn latency(&self) -> usize {
        self.len - 1
    }

    pub fn ceiling(&self) -> f32 {
        self.ceiling
    }

    /// Current gain reduction in dB (positive).
    pub fn gain_reduction_db(&self) -> f32 {
        -lin_to_db(self.gain)
    }

    pub fn reset(&mut self) {
        self.delay_l.fill(0.0);
        self.delay_r.fill(0.0);
        self.dq_head = 0;
        self.dq_len = 0;
        self.env = 1.0;
        self.box_vals.fill(1.0);
        self.box_sum = self.len as f64;
        self.pos = 0;
        self.gain = 1.0;
    }

    /// Whether the gain is 1 and no frame within the window needs less: the state a block under
    /// the ceiling leaves unchanged (except for the delay line).
    fn idle(&self) -> bool {
        self.dq_len == 0 && self.env == 1.0 && self.gain == 1.0 && self.box_sum == self.len as f64
    }

    pub fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        // Fast path, most of the time in most music: nothing near the ceiling.
        if self.idle() {
            let mut peak = 0.0f32;
            for (l, r) in left.iter().zip(right.iter()) {
                peak = fmax(peak, fmax(l.abs(), r.abs()));
            }
            if peak <= self.ceiling {
                self.delay_only(left, right);
                return;
            }
        }
        self.limit(left, right);
    }

    /// Runs the delay line alone (gain 1 throughout).
    fn delay_only(&mut self, left: &mut [f32], right: &mut [f32]) {
        let len = self.len;
        let mut pos = self.pos;
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let out_pos = if pos + 1 >= len { pos + 1 - len } else { pos + 1 };
            self.delay_l[pos] = *l;
            self.delay_r[pos] = *r;
            *l = self.delay_l[out_pos];
            *r = self.delay_r[out_pos];
            pos = out_pos;
        }
        self.frame += left.len().min(right.len()) as u64;
        self.pos = pos;
    }

    fn limit(&mut self, left: &mut [f32], right: &mut [f32]) {
        let len = self.len;
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let peak = fmax(l.abs(), r.abs());
            let need = if peak > self.ceiling { self.ceiling / peak } else { 1.0 };
            // Sliding minimum: drop the expired gain from the front, larger ones from the back.
            // (Ring indices wrap by one subtraction: `%` by a variable is a division.)
            let wrap = |i: usize| if i >= len { i - len } else { i };
            if self.dq_len > 0 && self.dq_idx[self.dq_head] + len as u64 <= self.frame {
                self.dq_head = wrap(self.dq_head + 1);
                self.dq_len -= 1;
            }
            while self.dq_len > 0 {
                let back = wrap(self.dq_head + self.dq_len - 1);
                if self.dq_val[back] >= need {
                    self.dq_len -= 1;
                } else {
                    break;
                }
            }
            // A gain of 1 only matters as the window's minimum when nothing else is in it.
            if need < 1.0 {
                let slot = wrap(self.dq_head + self.dq_len);
                self.dq_idx[slot] = self.frame;
                self.dq_val[slot] = need;
                self.dq_len += 1;
            }
            let min = if self.dq_len > 0 { self.dq_val[self.dq_head] } else { 1.0 };
            self.env = fmin(min, 1.0 - self.release * (1.0 - self.env));
            // Moving average of the envelope.
            self.box_sum += (self.env - self.box_vals[self.pos]) as f64;
            self.box_vals[self.pos] = self.env;
            // The delay line: the oldest frame (len - 1 frames ago) goes out, the new one in.
            let out_pos = wrap(self.pos + 1);
            self.delay_l[self.pos] = *l;
            self.delay_r[self.pos] = *r;
            let g = fmin((self.box_sum / len as f64) as f32, 1.0);
            *l = self.delay_l[out_pos] * g;
            *r = self.delay_r[out_pos] * g;
            self.gain = g;
            self.pos = out_pos;
            self.frame += 1;
            if self.pos == 0 {
                // Re-sum once per lap so rounding never accumulates.
                self.box_sum = self.box_vals.iter().map(|&v| v as f64).sum();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_math_is_accurate() {
        let mut worst_log = 0.0f32;
        let mut x = 1e-9f32;
        while x < 1e9 {
            worst_log = worst_log.max((fast_log2(x) - x.log2()).abs());
            x *= 1.0137;
        }
        assert!(worst_log < 2e-6, "log2 error {worst_log}");
        let mut worst_exp = 0.0f32;
        let mut y = -60.0f32;
        while y < 60.0 {
            worst_exp = worst_exp.max((fast_exp2(y) / y.exp2() - 1.0).abs());
            y += 0.0173;
        }
        assert!(worst_exp < 2e-6, "exp2 error {worst_exp}");
    }

    #[test]
    fn compressor_curve_matches_its_definition() {
        let p = CompressorParams {
            threshold_db: -20.0,
            ratio: 4.0,
            knee_db: 0.0,
            attack_ms: 1.0,
            release_ms: 1.0,
            makeup_db: 0.0,
        };
        let c = Compressor::new(p, 48_000.0);
        assert_eq!(c.curve_db(-30.0), 0.0);
        assert!((c.curve_db(-10.0) - (-7.5)).abs() < 1e-5); // 10 dB over at 4:1 -> 2.5 dB over
        let soft = Compressor::new(CompressorParams { knee_db: 10.0, ..p }, 48_000.0);
        assert_eq!(soft.curve_db(-25.0), 0.0);
        assert!((soft.curve_db(-5.0) - (-11.25)).abs() < 1e-5);
        assert!(soft.curve_db(-20.0) < 0.0 && soft.curve_db(-20.0) > -1.0);
    }

    #[test]
    fn steady_tone_settles_at_the_static_curve() {
        let p = CompressorParams {
            threshold_db: -20.0,
            ratio: 4.0,
            knee_db: 0.0,
            attack_ms: 5.0,
            release_ms: 50.0,
            makeup_db: 3.0,
        };
        let mut c = Compressor::new(p, 48_000.0);
        // A full-scale square wave: constant peak at 0 dBFS -> -15 dB + 3 dB make-up.
        let mut l: Vec<f32> = (0..48_000).map(|i| if (i / 50) % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let mut r = l.clone();
        c.process(&mut l, &mut r);
        let out_db = 20.0 * l[47_999].abs().log10();
        assert!((out_db - (-12.0)).abs() < 0.01, "{out_db}");
    }
}
