//! Resampling of decoded audio to the 48 kHz stream rate with rubato's synchronous FFT
//! resampler, delay-compensated so output frame 0 lines up with input frame 0 and the output
//! length is exactly `ceil(input_frames * 48000 / rate)`.

use rubato::{FftFixedInOut, Resampler};
use stream_core::STREAM_SAMPLE_RATE;

/// Input frames per resampler chunk (rounded by rubato to a multiple of the rate ratio).
const CHUNK_FRAMES: usize = 1024;

/// Output frames for `input_frames` at `rate`: `ceil(n * 48000 / rate)`.
pub fn output_frames_for(input_frames: u64, rate: u32) -> u64 {
    (input_frames * STREAM_SAMPLE_RATE as u64).div_ceil(rate as u64)
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A streaming resampler from `rate` to 48 kHz for interleaved f32.
pub struct To48k {
    inner: FftFixedInOut<f32>,
    channels: usize,
    rate: u32,
    pending: Vec<Vec<f32>>,
    out_planar: Vec<Vec<f32>>,
    delay_left: usize,
    in_total: u64,
    out_total: u64,
}

impl To48k {
    /// A resampler for `channels` channels at `rate` Hz (not 48 kHz: no resampler is needed).
    pub fn new(rate: u32, channels: usize) -> Result<Self, String> {
        // rubato's FFT filter is a sinc centred on input sample `fft_size_in / 2`: with an even
        // FFT size that centre is exactly `output_delay()` output frames, so dropping those
        // aligns output frame 0 with input frame 0 to the sample. Pick an even multiple of the
        // rate ratio's input unit near CHUNK_FRAMES.
        let unit_in = (rate / gcd(rate, STREAM_SAMPLE_RATE)) as usize;
        let mut units = CHUNK_FRAMES.div_ceil(unit_in);
        if (units * unit_in) % 2 == 1 {
            units += 1;
        }
        let inner = FftFixedInOut::<f32>::new(rate as usize, STREAM_SAMPLE_RATE as usize, units * unit_in, channels)
            .map_err(|e| format!("resampler for {rate} Hz: {e}"))?;
        let delay_left = inner.output_delay();
        let out_max = inner.output_frames_max();
        Ok(To48k {
            channels,
            rate,
            pending: vec![Vec::with_capacity(inner.input_frames_max()); channels],
            out_planar: vec![vec![0.0; out_max]; channels],
            inner,
            delay_left,
            in_total: 0,
            out_total: 0,
        })
    }

    /// Feeds interleaved input; appends whatever output is ready to `out` (interleaved).
    pub fn push(&mut self, interleaved: &[f32], out: &mut Vec<f32>) -> Result<(), String> {
        let ch = self.channels;
        self.in_total += (interleaved.len() / ch) as u64;
        let mut frames = interleaved.chunks_exact(ch);
        loop {
            let need = self.inner.input_frames_next() - self.pending[0].len();
            let mut took = 0;
            for frame in frames.by_ref().take(need) {
                for (c, s) in frame.iter().enumerate() {
                    self.pending[c].push(*s);
                }
                took += 1;
            }
            if took < need {
                return Ok(());
            }
            self.run_chunk(false, out)?;
        }
    }

    /// Flushes the tail: pads with silence until the output reaches its exact length.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), String> {
        let target = output_frames_for(self.in_total, self.rate);
        while self.out_total < target {
            let need = self.inner.input_frames_next();
            for p in &mut self.pending {
                p.resize(need, 0.0);
            }
            self.run_chunk(true, out)?;
        }
        Ok(())
    }

    fn run_chunk(&mut self, flushing: bool, out: &mut Vec<f32>) -> Result<(), String> {
        let (_, produced) = self
            .inner
            .process_into_buffer(&self.pending, &mut self.out_planar, None)
            .map_err(|e| format!("resampler: {e}"))?;
        for p in &mut self.pending {
            p.clear();
        }
        let skip = self.delay_left.min(produced);
        self.delay_left -= skip;
        let mut end = produced;
        if flushing {
            let target = output_frames_for(self.in_total, self.rate);
            end = skip + ((produced - skip) as u64).min(target - self.out_total) as usize;
        }
        for i in skip..end {
            for c in 0..self.channels {
                out.push(self.out_planar[c][i]);
            }
        }
        self.out_total += (end - skip) as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_exact_and_a_sine_keeps_its_phase() {
        for f in [100.0, 1000.0, 5000.0, 10_000.0, 15_000.0, 19_000.0] {
            sine_case(f);
        }
    }

    fn sine_case(f: f64) {
        let rate = 44_100;
        let n = 44_100 + 123;
        let input: Vec<f32> = (0..n)
            .flat_map(|i| {
                let s = (2.0 * std::f64::consts::PI * f * i as f64 / rate as f64).sin() as f32 * 0.5;
                [s, -s]
            })
            .collect();
        let mut r = To48k::new(rate, 2).expect("resampler");
        let mut out = Vec::new();
        for piece in input.chunks(2 * 777) {
            r.push(piece, &mut out).expect("push");
        }
        r.finish(&mut out).expect("finish");
        assert_eq!(out.len() as u64 / 2, output_frames_for(n as u64, rate));
        // Away from the edges the output is the same sine at 48 kHz, aligned to the input.
        let mut err = 0.0f64;
        let mut sig = 0.0f64;
        for i in 2000..(out.len() / 2 - 2000) {
            let want = (2.0 * std::f64::consts::PI * f * i as f64 / 48_000.0).sin() * 0.5;
            err += (out[2 * i] as f64 - want).powi(2);
            sig += want * want;
            assert_eq!(out[2 * i], -out[2 * i + 1]);
        }
        let snr_db = 10.0 * (sig / err).log10();
        println!("{f} Hz: SNR {snr_db:.1} dB");
        assert!(snr_db > 90.0, "{f} Hz: SNR {snr_db} dB");
    }
}
