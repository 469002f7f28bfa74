//! A short spectrum for the UI and a per-quantum level meter.
//!
//! The render path only copies the output's mono sum into a ring and accumulates peaks and
//! squares, in one pass ([`push`]); the FFT runs when the UI asks, at its
//! low rate ([`Spectrum::compute`]). All tables and buffers are allocated in `new`.

use core::f32::consts::PI;

/// FFT length: 2048 frames is 43 ms at 48 kHz, 23 Hz bins (the lowest bands still get some).
pub const FFT_LEN: usize = 2048;
/// Bands of the UI spectrum, log-spaced from [`BAND_LOW_HZ`] to [`BAND_HIGH_HZ`].
pub const BANDS: usize = 16;
pub const BAND_LOW_HZ: f32 = 40.0;
pub const BAND_HIGH_HZ: f32 = 16_000.0;
/// Level reported for silence, dB.
pub const FLOOR_DB: f32 = -120.0;

#[derive(Clone, Debug)]
pub struct Spectrum {
    ring: Vec<f32>,
    pos: usize,
    window: Vec<f32>,
    cos: Vec<f32>,
    sin: Vec<f32>,
    re: Vec<f32>,
    im: Vec<f32>,
    /// First FFT bin of each band, plus the end of the last.
    edges: [usize; BANDS + 1],
}

impl Spectrum {
    pub fn new(sample_rate: u32) -> Self {
        let n = FFT_LEN;
        let window = (0..n).map(|i| 0.5 - 0.5 * (2.0 * PI * i as f32 / n as f32).cos()).collect();
        let cos = (0..n / 2).map(|i| (2.0 * PI * i as f32 / n as f32).cos()).collect();
        let sin = (0..n / 2).map(|i| -(2.0 * PI * i as f32 / n as f32).sin()).collect();
        let bin_hz = sample_rate as f32 / n as f32;
        let mut edges = [0usize; BANDS + 1];
        for (k, e) in edges.iter_mut().enumerate() {
            let f = BAND_LOW_HZ * (BAND_HIGH_HZ / BAND_LOW_HZ).powf(k as f32 / BANDS as f32);
            *e = ((f / bin_hz).round() as usize).clamp(1, n / 2);
        }
        // Every band gets at least one bin of its own.
        for k in 1..=BANDS {
            if edges[k] <= edges[k - 1] {
                edges[k] = (edges[k - 1] + 1).min(n / 2);
            }
        }
        Spectrum { ring: vec![0.0; n], pos: 0, window, cos, sin, re: vec![0.0; n], im: vec![0.0; n], edges }
    }

    /// The spectrum of the last [`FFT_LEN`] frames in [`BANDS`] bands: the power in each band,
    /// dB relative to a full-scale sine (which reads 0 dB in its band).
    pub fn compute(&mut self, out: &mut [f32; BANDS]) {
        let n = FFT_LEN;
        for i in 0..n {
            self.re[i] = self.ring[(self.pos + i) % n] * self.window[i];
            self.im[i] = 0.0;
        }
        fft_in_place(&mut self.re, &mut self.im, &self.cos, &self.sin);
        // A full-scale sine through a Hann window peaks at n/4 in magnitude and spreads 1.5
        // bins' worth of power (the window's equivalent noise bandwidth).
        let norm = 1.0 / (1.5 * (n / 4) as f32 * (n / 4) as f32);
        for (k, o) in out.iter_mut().enumerate() {
            let (a, b) = (self.edges[k], self.edges[k + 1]);
            let mut p = 0.0;
            for i in a..b.max(a + 1) {
                p += self.re[i] * self.re[i] + self.im[i] * self.im[i];
            }
            let p = p * norm;
            *o = if p > 1e-12 { (10.0 * p.log10()).max(FLOOR_DB) } else { FLOOR_DB };
        }
    }

    /// Centre frequency of band `k` (geometric), Hz.
    pub fn band_center_hz(k: usize) -> f32 {
        BAND_LOW_HZ * (BAND_HIGH_HZ / BAND_LOW_HZ).powf((k as f32 + 0.5) / BANDS as f32)
    }
}

/// Feeds the level meter and the spectrum's ring with the same output in one pass.
#[inline]
pub fn push(meter: &mut LevelMeter, spectrum: &mut Spectrum, left: &[f32], right: &[f32]) {
    use super::dynamics::fmax;
    let (mut pl, mut pr) = (meter.peak[0], meter.peak[1]);
    let (mut sl, mut sr) = (0.0f32, 0.0f32);
    let mut pos = spectrum.pos;
    for (&l, &r) in left.iter().zip(right.iter()) {
        pl = fmax(pl, l.abs());
        pr = fmax(pr, r.abs());
        sl += l * l;
        sr += r * r;
        spectrum.ring[pos] = 0.5 * (l + r);
        pos = (pos + 1) & (FFT_LEN - 1);
    }
    spectrum.pos = pos;
    meter.peak = [pl, pr];
    meter.sum_sq[0] += sl as f64;
    meter.sum_sq[1] += sr as f64;
    meter.frames += left.len().min(right.len()) as u64;
}

/// Iterative radix-2 FFT; `cos`/`sin` hold the `n/2` twiddles `e^(-2 pi i k / n)`.
fn fft_in_place(re: &mut [f32], im: &mut [f32], cos: &[f32], sin: &[f32]) {
    let n = re.len();
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if j > i {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut size = 2;
    while size <= n {
        let half = size / 2;
        let step = n / size;
        for start in (0..n).step_by(size) {
            for k in 0..half {
                let (wr, wi) = (cos[k * step], sin[k * step]);
                let (a, b) = (start + k, start + k + half);
                let tr = re[b] * wr - im[b] * wi;
                let ti = re[b] * wi + im[b] * wr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        size *= 2;
    }
}

/// Peak and RMS per channel, accumulated (by [`push`]) over the quanta since the last
/// [`LevelMeter::take`].
#[derive(Clone, Copy, Debug, Default)]
pub struct LevelMeter {
    peak: [f32; 2],
    sum_sq: [f64; 2],
    frames: u64,
}

/// One reading of the meter, linear (1.0 = full scale).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Levels {
    pub peak: [f32; 2],
    pub rms: [f32; 2],
}

impl LevelMeter {
    /// Peak and RMS since the previous call; starts a new interval.
    pub fn take(&mut self) -> Levels {
        let n = self.frames.max(1) as f64;
        let l =
            Levels { peak: self.peak, rms: [(self.sum_sq[0] / n).sqrt() as f32, (self.sum_sq[1] / n).sqrt() as f32] };
        *self = LevelMeter::default();
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sine_lands_in_its_band_at_0_db() {
        let mut s = Spectrum::new(48_000);
        let f = 1000.0;
        let x: Vec<f32> = (0..FFT_LEN * 2).map(|i| (2.0 * PI * f * i as f32 / 48_000.0).sin()).collect();
        push(&mut LevelMeter::default(), &mut s, &x, &x);
        let mut out = [0.0; BANDS];
        s.compute(&mut out);
        let (best, _) = out.iter().enumerate().fold((0, f32::MIN), |a, (i, &v)| if v > a.1 { (i, v) } else { a });
        let lo = Spectrum::band_center_hz(best) / (BAND_HIGH_HZ / BAND_LOW_HZ).powf(0.5 / BANDS as f32);
        let hi = Spectrum::band_center_hz(best) * (BAND_HIGH_HZ / BAND_LOW_HZ).powf(0.5 / BANDS as f32);
        assert!(lo <= f && f <= hi, "1 kHz in band {best} ({lo}..{hi} Hz): {out:?}");
        assert!(out[best] > -1.0 && out[best] < 0.5, "{out:?}");
        assert!(out[0] < out[best] - 40.0 && out[BANDS - 1] < out[best] - 40.0, "{out:?}");
    }

    #[test]
    fn meter_reads_peak_and_rms() {
        let mut m = LevelMeter::default();
        let x: Vec<f32> = (0..4800).map(|i| 0.5 * (2.0 * PI * 100.0 * i as f32 / 48_000.0).sin()).collect();
        let z = vec![0.0f32; 4800];
        push(&mut m, &mut Spectrum::new(48_000), &x, &z);
        let l = m.take();
        assert!((l.peak[0] - 0.5).abs() < 1e-3 && l.peak[1] == 0.0);
        assert!((l.rms[0] - 0.5 / 2f32.sqrt()).abs() < 1e-3, "{l:?}");
        assert_eq!(m.take(), Levels::default());
    }
}
