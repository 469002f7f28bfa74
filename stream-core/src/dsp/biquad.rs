//! Second-order IIR sections with coefficients from Robert Bristow-Johnson's "Cookbook formulae
//! for audio EQ biquad filter coefficients" (the RBJ cookbook).
//!
//! Coefficients and state are `f64` (as fast as `f32` in wasm and native scalar code, and exact
//! enough for low shelves near the unit circle); samples stay `f32`. A [`Biquad`] holds the
//! transposed direct form II state of two channels, so a stereo chain needs one per filter. No
//! allocation anywhere; coefficients can change between blocks (the state carries over, which is
//! smooth for the small steps of a parameter ramp).

use core::f64::consts::PI;

/// The filter shapes the presets and the loudness meter use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterKind {
    LowShelf,
    HighShelf,
    Peaking,
    HighPass,
    LowPass,
}

/// One filter of a preset: shape, corner or centre frequency, Q and gain (shelves and peaking).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FilterSpec {
    pub kind: FilterKind,
    pub freq_hz: f32,
    pub q: f32,
    pub gain_db: f32,
}

impl FilterSpec {
    pub const fn new(kind: FilterKind, freq_hz: f32, q: f32, gain_db: f32) -> Self {
        FilterSpec { kind, freq_hz, q, gain_db }
    }

    /// The same filter with its gain scaled (intensity 0 makes a shelf or peak flat).
    pub fn scaled(self, k: f32) -> Self {
        FilterSpec { gain_db: self.gain_db * k, ..self }
    }
}

/// Normalised coefficients (`a0` = 1): `y = b0 x + b1 x[-1] + b2 x[-2] - a1 y[-1] - a2 y[-2]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coeffs {
    pub b0: f64,
    pub b1: f64,
    pub b2: f64,
    pub a1: f64,
    pub a2: f64,
}

impl Coeffs {
    /// Passes everything unchanged.
    pub const IDENTITY: Coeffs = Coeffs { b0: 1.0, b1: 0.0, b2: 0.0, a1: 0.0, a2: 0.0 };

    /// The RBJ cookbook design of `spec` at `sample_rate`. The frequency is kept below Nyquist
    /// and Q above zero so no parameter can make the filter unstable.
    pub fn rbj(spec: FilterSpec, sample_rate: f64) -> Coeffs {
        let f0 = (spec.freq_hz as f64).clamp(1.0, sample_rate * 0.49);
        let q = (spec.q as f64).max(0.01);
        let w0 = 2.0 * PI * f0 / sample_rate;
        let (sin, cos) = w0.sin_cos();
        let alpha = sin / (2.0 * q);
        // A = 10^(dBgain/40): the square root of the linear gain (cookbook, shelves and peaking).
        let a = 10f64.powf(spec.gain_db as f64 / 40.0);
        let (b0, b1, b2, a0, a1, a2) = match spec.kind {
            FilterKind::Peaking => {
                (1.0 + alpha * a, -2.0 * cos, 1.0 - alpha * a, 1.0 + alpha / a, -2.0 * cos, 1.0 - alpha / a)
            }
            FilterKind::LowShelf => {
                let k = 2.0 * a.sqrt() * alpha;
                (
                    a * ((a + 1.0) - (a - 1.0) * cos + k),
                    2.0 * a * ((a - 1.0) - (a + 1.0) * cos),
                    a * ((a + 1.0) - (a - 1.0) * cos - k),
                    (a + 1.0) + (a - 1.0) * cos + k,
                    -2.0 * ((a - 1.0) + (a + 1.0) * cos),
                    (a + 1.0) + (a - 1.0) * cos - k,
                )
            }
            FilterKind::HighShelf => {
                let k = 2.0 * a.sqrt() * alpha;
                (
                    a * ((a + 1.0) + (a - 1.0) * cos + k),
                    -2.0 * a * ((a - 1.0) + (a + 1.0) * cos),
                    a * ((a + 1.0) + (a - 1.0) * cos - k),
                    (a + 1.0) - (a - 1.0) * cos + k,
                    2.0 * ((a - 1.0) - (a + 1.0) * cos),
                    (a + 1.0) - (a - 1.0) * cos - k,
                )
            }
            FilterKind::HighPass => {
                ((1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0, 1.0 + alpha, -2.0 * cos, 1.0 - alpha)
            }
            FilterKind::LowPass => {
                ((1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0, 1.0 + alpha, -2.0 * cos, 1.0 - alpha)
            }
        };
        Coeffs { b0: b0 / a0, b1: b1 / a0, b2: b2 / a0, a1: a1 / a0, a2: a2 / a0 }
    }

    /// Magnitude of the response at `freq_hz`, evaluated from the coefficients.
    pub fn magnitude(&self, freq_hz: f64, sample_rate: f64) -> f64 {
        let w = 2.0 * PI * freq_hz / sample_rate;
        let (s1, c1) = w.sin_cos();
        let (s2, c2) = (2.0 * w).sin_cos();
        let (nr, ni) = (self.b0 + self.b1 * c1 + self.b2 * c2, -(self.b1 * s1 + self.b2 * s2));
        let (dr, di) = (1.0 + self.a1 * c1 + self.a2 * c2, -(self.a1 * s1 + self.a2 * s2));
        ((nr * nr + ni * ni) / (dr * dr + di * di)).sqrt()
    }
}

/// A stereo biquad: one set of coefficients, transposed direct form II state per channel.
#[derive(Clone, Copy, Debug)]
pub struct Biquad {
    pub c: Coeffs,
    pub(crate) s1: [f64; 2],
    pub(crate) s2: [f64; 2],
}

impl Default for Biquad {
    fn default() -> Self {
        Biquad::new(Coeffs::IDENTITY)
    }
}

impl Biquad {
    pub const fn new(c: Coeffs) -> Self {
        Biquad { c, s1: [0.0; 2], s2: [0.0; 2] }
    }

    /// Clears the state (silence in the past).
    pub fn reset(&mut self) {
        self.s1 = [0.0; 2];
        self.s2 = [0.0; 2];
    }

    /// Filters one sample of channel `ch` (0 or 1).
    #[inline(always)]
    pub fn tick(&mut self, ch: usize, x: f64) -> f64 {
        let c = &self.c;
        let y = c.b0 * x + self.s1[ch];
        self.s1[ch] = c.b1 * x - c.a1 * y + self.s2[ch];
        self.s2[ch] = c.b2 * x - c.a2 * y;
        y
    }

    /// Filters planar stereo in place (the cascade of one).
    pub fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        Biquad::cascade(core::array::from_mut(self), left, right);
    }

    /// Runs a cascade of `N` stereo filters over planar stereo in place, in one pass: every
    /// frame goes through all of them before the next, so the `2 N` recursions are independent
    /// work the CPU overlaps (one filter per pass would wait on each multiply-add in turn).
    pub fn cascade<const N: usize>(filters: &mut [Biquad; N], left: &mut [f32], right: &mut [f32]) {
        use super::lanes::F2;
        let sp = |i: usize| {
            let c = filters[i].c;
            [F2::splat(c.b0), F2::splat(c.b1), F2::splat(c.b2), F2::splat(c.a1), F2::splat(c.a2)]
        };
        let c: [[F2; 5]; N] = core::array::from_fn(sp);
        let mut s1: [F2; N] = core::array::from_fn(|i| F2::new(filters[i].s1[0], filters[i].s1[1]));
        let mut s2: [F2; N] = core::array::from_fn(|i| F2::new(filters[i].s2[0], filters[i].s2[1]));
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let mut x = F2::new(*l as f64, *r as f64);
            for k in 0..N {
                let [b0, b1, b2, a1, a2] = c[k];
                // y = b0 x + s1; s1 = b1 x - a1 y + s2; s2 = b2 x - a2 y (same order as `tick`)
                let y = x.mul_add(b0, s1[k]);
                s1[k] = y.mul_sub(a1, x.mul(b1)).add(s2[k]);
                s2[k] = y.mul_sub(a2, x.mul(b2));
                x = y;
            }
            let [a, b] = x.lanes();
            *l = a as f32;
            *r = b as f32;
        }
        for (k, f) in filters.iter_mut().enumerate() {
            f.s1 = s1[k].lanes();
            f.s2 = s2[k].lanes();
        }
    }

    /// Zeroes state that has decayed below audibility, so silence after music never runs the
    /// recursion on subnormal numbers (slow on x86, natively and in wasm).
    pub fn flush_denormals(&mut self) {
        for s in self.s1.iter_mut().chain(self.s2.iter_mut()) {
            if s.abs() < 1e-30 {
                *s = 0.0;
            }
        }
    }
}
