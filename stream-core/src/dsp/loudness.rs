//! Loudness after ITU-R BS.1770-4 (K-weighting, 400 ms gating blocks with 75 % overlap,
//! absolute gate at -70 LUFS, relative gate at -10 LU) with EBU R 128 momentary (400 ms) and
//! short-term (3 s) loudness.
//!
//! Everything is allocated in [`LoudnessMeter::new`]: the integrated loudness keeps a
//! histogram of block energies (0.05 LU bins from -70 to +10 LUFS, each with its energy sum and
//! count), so it runs for any length of programme in fixed memory; only the relative gate's bin
//! is approximated, far inside 0.1 LU.

use super::biquad::{Biquad, Coeffs};

/// BS.1770's offset: `L = -0.691 + 10 log10(sum of channel mean squares)`.
const OFFSET: f64 = -0.691;
pub const ABSOLUTE_GATE_LUFS: f64 = -70.0;
const RELATIVE_GATE_LU: f64 = -10.0;
const HIST_MIN: f64 = -70.0;
const HIST_STEP: f64 = 0.05;
const HIST_BINS: usize = 1600;
/// Sub-blocks of 100 ms; a gating block is 4 of them, short-term 30.
const SUB_BLOCKS: usize = 30;
/// Loudness reported for silence.
pub const SILENCE_LUFS: f64 = -120.0;

/// The two K-weighting stages for `sample_rate`: the head-model high shelf (+4 dB above about
/// 1.7 kHz) and the RLB high-pass (about 38 Hz). BS.1770 tabulates them for 48 kHz; these are
/// the analog designs behind that table taken through the bilinear transform, so they equal
/// the table at 48 kHz and hold at other rates.
pub fn k_weighting(sample_rate: f64) -> [Coeffs; 2] {
    let shelf = {
        let (f0, gain_db, q) = (1_681.974_450_955_533, 3.999_843_853_973_347, 0.707_175_236_955_419_6);
        let k = (core::f64::consts::PI * f0 / sample_rate).tan();
        let vh = 10f64.powf(gain_db / 20.0);
        let vb = vh.powf(0.499_666_774_154_541_6);
        let a0 = 1.0 + k / q + k * k;
        Coeffs {
            b0: (vh + vb * k / q + k * k) / a0,
            b1: 2.0 * (k * k - vh) / a0,
            b2: (vh - vb * k / q + k * k) / a0,
            a1: 2.0 * (k * k - 1.0) / a0,
            a2: (1.0 - k / q + k * k) / a0,
        }
    };
    let highpass = {
        let (f0, q) = (38.135_470_876_024_44, 0.500_327_037_323_877_3);
        let k = (core::f64::consts::PI * f0 / sample_rate).tan();
        let a0 = 1.0 + k / q + k * k;
        Coeffs { b0: 1.0, b1: -2.0, b2: 1.0, a1: 2.0 * (k * k - 1.0) / a0, a2: (1.0 - k / q + k * k) / a0 }
    };
    [shelf, highpass]
}

/// Loudness of a mean-square energy sum.
pub fn energy_to_lufs(energy: f64) -> f64 {
    if energy <= 0.0 {
        SILENCE_LUFS
    } else {
        (OFFSET + 10.0 * energy.log10()).max(SILENCE_LUFS)
    }
}

fn lufs_to_energy(lufs: f64) -> f64 {
    10f64.powf((lufs - OFFSET) / 10.0)
}

/// A running BS.1770 / R 128 meter of a stereo signal.
#[derive(Clone, Debug)]
pub struct LoudnessMeter {
    k: [Biquad; 2],
    sub_len: usize,
    sub_fill: usize,
    sub_acc: f64,
    /// Energies (mean square, channels summed) of the last 30 sub-blocks, ring.
    subs: [f64; SUB_BLOCKS],
    sub_pos: usize,
    subs_seen: u64,
    hist_energy: Vec<f64>,
    hist_count: Vec<u32>,
    /// Blocks completed since the last reset.
    blocks: u64,
    /// Energy of the latest gating block, if one completed since the last `take_block`.
    new_block: Option<f64>,
}

impl LoudnessMeter {
    pub fn new(sample_rate: u32) -> Self {
        let [a, b] = k_weighting(sample_rate as f64);
        LoudnessMeter {
            k: [Biquad::new(a), Biquad::new(b)],
            sub_len: (sample_rate as usize / 10).max(1),
            sub_fill: 0,
            sub_acc: 0.0,
            subs: [0.0; SUB_BLOCKS],
            sub_pos: 0,
            subs_seen: 0,
            hist_energy: vec![0.0; HIST_BINS],
            hist_count: vec![0; HIST_BINS],
            blocks: 0,
            new_block: None,
        }
    }

    /// Forgets everything measured (a new programme).
    pub fn reset(&mut self) {
        self.k.iter_mut().for_each(Biquad::reset);
        self.sub_fill = 0;
        self.sub_acc = 0.0;
        self.subs = [0.0; SUB_BLOCKS];
        self.sub_pos = 0;
        self.subs_seen = 0;
        self.hist_energy.fill(0.0);
        self.hist_count.fill(0);
        self.blocks = 0;
        self.new_block = None;
    }

    /// Measures planar stereo (left and right weighted 1.0, as BS.1770 weights them).
    pub fn process(&mut self, left: &[f32], right: &[f32]) {
        let n = left.len().min(right.len());
        let mut done = 0;
        while done < n {
            // Up to the end of the current 100 ms sub-block.
            let run = (n - done).min(self.sub_len - self.sub_fill);
            self.sub_acc += self.weigh(&left[done..done + run], &right[done..done + run]);
            self.sub_fill += run;
            done += run;
            if self.sub_fill == self.sub_len {
                self.end_sub_block();
            }
        }
        self.k.iter_mut().for_each(Biquad::flush_denormals);
    }

    /// K-weights a run of frames; returns the sum of squares of both channels.
    fn weigh(&mut self, left: &[f32], right: &[f32]) -> f64 {
        use super::lanes::F2;
        let [s, h] = &mut self.k;
        let coeffs = |c: Coeffs| [F2::splat(c.b0), F2::splat(c.b1), F2::splat(c.b2), F2::splat(c.a1), F2::splat(c.a2)];
        let ([sb0, sb1, sb2, sa1, sa2], [hb0, hb1, hb2, ha1, ha2]) = (coeffs(s.c), coeffs(h.c));
        let lanes = |v: [f64; 2]| F2::new(v[0], v[1]);
        let (mut s1, mut s2, mut h1, mut h2) = (lanes(s.s1), lanes(s.s2), lanes(h.s1), lanes(h.s2));
        let mut acc = F2::splat(0.0);
        for (&l, &r) in left.iter().zip(right.iter()) {
            let x = F2::new(l as f64, r as f64);
            let a = x.mul_add(sb0, s1);
            s1 = a.mul_sub(sa1, x.mul(sb1)).add(s2);
            s2 = a.mul_sub(sa2, x.mul(sb2));
            let y = a.mul_add(hb0, h1);
            h1 = y.mul_sub(ha1, a.mul(hb1)).add(h2);
            h2 = y.mul_sub(ha2, a.mul(hb2));
            acc = y.mul_add(y, acc);
        }
        (s.s1, s.s2, h.s1, h.s2) = (s1.lanes(), s2.lanes(), h1.lanes(), h2.lanes());
        let [el, er] = acc.lanes();
        el + er
    }

    fn end_sub_block(&mut self) {
        self.subs[self.sub_pos] = self.sub_acc / self.sub_len as f64;
        self.sub_pos = (self.sub_pos + 1) % SUB_BLOCKS;
        self.subs_seen += 1;
        self.sub_acc = 0.0;
        self.sub_fill = 0;
        if self.subs_seen >= 4 {
            let e = self.mean_of_last(4);
            self.blocks += 1;
            self.new_block = Some(e);
            let lufs = energy_to_lufs(e);
            if lufs >= ABSOLUTE_GATE_LUFS {
                let bin = (((lufs - HIST_MIN) / HIST_STEP) as usize).min(HIST_BINS - 1);
                self.hist_energy[bin] += e;
                self.hist_count[bin] += 1;
            }
        }
    }

    fn mean_of_last(&self, n: usize) -> f64 {
        let mut sum = 0.0;
        for i in 1..=n {
            sum += self.subs[(self.sub_pos + SUB_BLOCKS - i) % SUB_BLOCKS];
        }
        sum / n as f64
    }

    /// The energy of the gating block that completed since the last call, if any (blocks
    /// complete every 100 ms once 400 ms were measured).
    pub fn take_block(&mut self) -> Option<f64> {
        self.new_block.take()
    }

    /// Momentary loudness (last 400 ms), LUFS.
    pub fn momentary(&self) -> f64 {
        if self.subs_seen < 4 {
            return SILENCE_LUFS;
        }
        energy_to_lufs(self.mean_of_last(4))
    }

    /// Short-term loudness (last 3 s), LUFS.
    pub fn short_term(&self) -> f64 {
        if self.subs_seen < SUB_BLOCKS as u64 {
            return SILENCE_LUFS;
        }
        energy_to_lufs(self.mean_of_last(SUB_BLOCKS))
    }

    /// Integrated (gated) loudness since the last reset, LUFS.
    pub fn integrated(&self) -> f64 {
        let (mut e, mut n) = (0.0, 0u64);
        for (&he, &hc) in self.hist_energy.iter().zip(&self.hist_count) {
            e += he;
            n += hc as u64;
        }
        if n == 0 {
            return SILENCE_LUFS;
        }
        let gate = energy_to_lufs(e / n as f64) + RELATIVE_GATE_LU;
        let gate_e = lufs_to_energy(gate);
        let (mut e, mut n) = (0.0, 0u64);
        for (&he, &hc) in self.hist_energy.iter().zip(&self.hist_count) {
            if hc > 0 && he / hc as f64 > gate_e {
                e += he;
                n += hc as u64;
            }
        }
        if n == 0 {
            SILENCE_LUFS
        } else {
            energy_to_lufs(e / n as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At 48 kHz the derived filters equal the coefficient table of BS.1770-4.
    #[test]
    fn k_weighting_matches_the_bs1770_table_at_48k() {
        let [s, h] = k_weighting(48_000.0);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(s.b0, 1.535_124_859_586_97), "{s:?}");
        assert!(close(s.b1, -2.691_696_189_406_38));
        assert!(close(s.b2, 1.198_392_810_852_85));
        assert!(close(s.a1, -1.690_659_293_182_41));
        assert!(close(s.a2, 0.732_480_774_215_85));
        assert!(close(h.a1, -1.990_047_454_833_98), "{h:?}");
        assert!(close(h.a2, 0.990_072_250_366_21));
    }
}
