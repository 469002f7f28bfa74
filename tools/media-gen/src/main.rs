//! `media-gen OUT.wav RATE SECONDS`: writes "Aurora", a short synthesized piece (pad, bass,
//! arpeggiated lead with ping-pong delay, drums) as 16-bit stereo WAV at RATE. The same score is
//! rendered at each rate, so 44.1 and 48 kHz files are the same music. Deterministic: the noise
//! comes from a fixed-seed xorshift.

use std::f64::consts::PI;
use std::io::Write;

const BPM: f64 = 112.0;

fn midi_hz(n: f64) -> f64 {
    440.0 * 2f64.powf((n - 69.0) / 12.0)
}

struct Noise(u64);
impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: media-gen OUT.wav RATE SECONDS");
        std::process::exit(2);
    }
    let rate: f64 = args[2].parse().expect("rate");
    let seconds: f64 = args[3].parse().expect("seconds");
    let n = (rate * seconds) as usize;
    let beat = 60.0 / BPM;
    // Am - F - C - G, one bar (4 beats) each.
    let chords: [[f64; 3]; 4] = [[57.0, 60.0, 64.0], [53.0, 57.0, 60.0], [48.0, 52.0, 55.0], [55.0, 59.0, 62.0]];
    let mut left = vec![0f64; n];
    let mut right = vec![0f64; n];
    let mut noise = Noise(0x2545_f491_4f6c_dd1d);
    let mut hat_state = 0f64;
    let (mut hat_lp1, mut hat_lp2) = (0f64, 0f64);
    let one_pole = |fc: f64| 1.0 - (-2.0 * PI * fc / rate).exp();
    let (hat_hp_a, hat_lp_a) = (one_pole(7000.0), one_pole(14_000.0));
    let mut snare_lp = 0f64;
    for i in 0..n {
        let t = i as f64 / rate;
        let beat_pos = t / beat;
        let bar = (beat_pos / 4.0) as usize;
        let chord = chords[bar % 4];
        let in_beat = beat_pos.fract() * beat; // seconds since the beat
        let beat_idx = beat_pos as usize % 4;
        // Pad: detuned additive saws, slow swell per bar, wide.
        let bar_t = (beat_pos % 4.0) * beat;
        let swell = (bar_t / 0.6).min(1.0) * (1.0 - 0.3 * (bar_t / (4.0 * beat)));
        let (mut pl, mut pr) = (0.0, 0.0);
        for (k, &note) in chord.iter().enumerate() {
            let f = midi_hz(note);
            for h in 1..=5 {
                let amp = 1.0 / h as f64;
                pl += amp * (2.0 * PI * f * h as f64 * t * 0.9983 + k as f64).sin();
                pr += amp * (2.0 * PI * f * h as f64 * t * 1.0017 + 2.0 * k as f64).sin();
            }
        }
        left[i] += 0.035 * swell * pl;
        right[i] += 0.035 * swell * pr;
        // Bass: root an octave down, on every beat, sine plus second harmonic.
        let fb = midi_hz(chord[0] - 12.0);
        let env_b = (-in_beat * 5.0).exp() * (in_beat * 400.0).min(1.0);
        let bass = env_b * ((2.0 * PI * fb * t).sin() + 0.3 * (4.0 * PI * fb * t).sin());
        left[i] += 0.22 * bass;
        right[i] += 0.22 * bass;
        // Lead: 8th-note arpeggio, FM pluck, slowly panned.
        let eighth = (beat_pos * 2.0) as usize;
        let in_eighth = (beat_pos * 2.0).fract() * beat / 2.0;
        let step = [0usize, 1, 2, 1, 2, 0, 1, 2][eighth % 8];
        let fl = midi_hz(chord[step] + 12.0 + if eighth % 16 >= 8 { 12.0 } else { 0.0 });
        let env_l = (-in_eighth * 9.0).exp() * (in_eighth * 800.0).min(1.0);
        let lead = env_l * (2.0 * PI * fl * t + 1.5 * env_l * (2.0 * PI * 2.0 * fl * t).sin()).sin();
        let pan = 0.5 + 0.35 * (2.0 * PI * t / 7.0).sin();
        left[i] += 0.16 * lead * (1.0 - pan).sqrt();
        right[i] += 0.16 * lead * pan.sqrt();
        // Kick on 1 and 3, snare on 2 and 4, hats on 8ths.
        if beat_idx % 2 == 0 {
            let f = 45.0 + 80.0 * (-in_beat * 30.0).exp();
            let ph = 2.0 * PI * (45.0 * in_beat + 80.0 / 30.0 * (1.0 - (-in_beat * 30.0).exp()));
            let _ = f;
            let k = (-in_beat * 9.0).exp() * ph.sin();
            left[i] += 0.35 * k;
            right[i] += 0.35 * k;
        } else {
            let nz = noise.next();
            snare_lp += 0.35 * (nz - snare_lp);
            let s = (-in_beat * 18.0).exp() * (0.6 * snare_lp + 0.4 * (2.0 * PI * 190.0 * in_beat).sin());
            left[i] += 0.2 * s;
            right[i] += 0.2 * s;
        }
        // Hats: noise high-passed around 7 kHz and low-passed around 14 kHz, as real cymbals
        // recorded through real microphones are, rather than peaking at the Nyquist frequency.
        let nz = noise.next();
        hat_state += hat_hp_a * (nz - hat_state);
        let hp = nz - hat_state;
        hat_lp1 += hat_lp_a * (hp - hat_lp1);
        hat_lp2 += hat_lp_a * (hat_lp1 - hat_lp2);
        let h = 2.5 * (-in_eighth * 60.0).exp() * hat_lp2;
        left[i] += 0.03 * h;
        right[i] += 0.05 * h;
    }
    // Ping-pong delay of the whole mix at a dotted eighth, for depth.
    let d = (beat * 0.75 * rate) as usize;
    for i in d..n {
        let (l, r) = (left[i - d], right[i - d]);
        left[i] += 0.22 * r;
        right[i] += 0.22 * l;
    }
    // Band-limit the master to 18 kHz (255-tap Blackman-windowed sinc), as mastering and
    // delivery chains do: no content is left in the transition bands of resamplers.
    let taps = 255usize;
    let fc = 18_000.0 / rate;
    let h: Vec<f64> = (0..taps)
        .map(|k| {
            let m = k as f64 - (taps - 1) as f64 / 2.0;
            let sinc = if m == 0.0 { 2.0 * fc } else { (2.0 * PI * fc * m).sin() / (PI * m) };
            let w = 0.42 - 0.5 * (2.0 * PI * k as f64 / (taps - 1) as f64).cos()
                + 0.08 * (4.0 * PI * k as f64 / (taps - 1) as f64).cos();
            sinc * w
        })
        .collect();
    let gain: f64 = h.iter().sum();
    let filt = |x: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| {
                let mut acc = 0.0;
                for (k, hk) in h.iter().enumerate() {
                    let j = i as isize + (taps / 2) as isize - k as isize;
                    if j >= 0 && (j as usize) < n {
                        acc += hk * x[j as usize];
                    }
                }
                acc / gain
            })
            .collect()
    };
    let mut left = filt(&left);
    let mut right = filt(&right);
    // Fade the last two seconds, soft-clip, normalize to -1 dBFS peak.
    let fade = (2.0 * rate) as usize;
    for i in n.saturating_sub(fade)..n {
        let g = (n - i) as f64 / fade as f64;
        left[i] *= g;
        right[i] *= g;
    }
    let peak = left.iter().chain(right.iter()).fold(0f64, |m, x| m.max(x.abs()));
    let norm = 0.891 / peak.max(1e-9);
    let mut data = Vec::with_capacity(n * 4);
    for i in 0..n {
        for x in [left[i], right[i]] {
            let v = ((x * norm).tanh() / 0.891f64.tanh() * 0.891 * 32767.0).round() as i16;
            data.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut out = Vec::with_capacity(44 + data.len());
    let r = rate as u32;
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&r.to_le_bytes());
    out.extend_from_slice(&(r * 4).to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    std::fs::File::create(&args[1]).and_then(|mut f| f.write_all(&out)).expect("write wav");
}
