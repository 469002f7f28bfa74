//! The enhancement DSP against references: RBJ analog prototypes for the biquads, the `ebur128`
//! crate (a port of libebur128) for the loudness meter on EBU Tech 3341-style signals, and
//! invariants for the limiter, the bypass, the blends and the parameter checks.

use std::f64::consts::PI;

use stream_core::dsp::biquad::{Biquad, Coeffs, FilterKind, FilterSpec};
use stream_core::dsp::dynamics::Limiter;
use stream_core::dsp::loudness::LoudnessMeter;
use stream_core::dsp::{Enhancer, EnhancerConfig, ParamError, Preset};

const SR: f64 = 48_000.0;

// ---------------------------------------------------------------------------------------------
// Biquads

/// |H(j W)| of the cookbook's analog prototypes (s normalised to the corner frequency).
fn analog_magnitude(spec: FilterSpec, w: f64) -> f64 {
    let a = 10f64.powf(spec.gain_db as f64 / 40.0);
    let q = spec.q as f64;
    // Complex helpers on (re, im).
    let s2 = (-w * w, 0.0); // s^2
    let s = (0.0, w);
    let poly = |c2: f64, c1: f64, c0: f64| (c2 * s2.0 + c1 * s.0 + c0, c2 * s2.1 + c1 * s.1);
    let mag = |z: (f64, f64)| (z.0 * z.0 + z.1 * z.1).sqrt();
    match spec.kind {
        FilterKind::Peaking => mag(poly(1.0, a / q, 1.0)) / mag(poly(1.0, 1.0 / (a * q), 1.0)),
        FilterKind::LowShelf => a * mag(poly(1.0, a.sqrt() / q, a)) / mag(poly(a, a.sqrt() / q, 1.0)),
        FilterKind::HighShelf => a * mag(poly(a, a.sqrt() / q, 1.0)) / mag(poly(1.0, a.sqrt() / q, a)),
        FilterKind::HighPass => mag(poly(1.0, 0.0, 0.0)) / mag(poly(1.0, 1.0 / q, 1.0)),
        FilterKind::LowPass => 1.0 / mag(poly(1.0, 1.0 / q, 1.0)),
    }
}

/// Gain in dB of the real filter code at `freq`, measured with a sine: settle, then project the
/// output on sin and cos over a whole number of periods.
fn measured_gain_db(spec: FilterSpec, freq: f64) -> f64 {
    let mut bq = Biquad::new(Coeffs::rbj(spec, SR));
    let periods = (freq * 0.5).ceil().max(8.0); // about half a second, at least 8 periods
    let n = (periods * SR / freq).round() as usize;
    let settle = 48_000;
    let x: Vec<f32> = (0..settle + n).map(|i| (2.0 * PI * freq * i as f64 / SR).sin() as f32 * 0.5).collect();
    let (mut l, mut r) = (x.clone(), x.clone());
    bq.process(&mut l, &mut r);
    let (mut a, mut b, mut ia, mut ib) = (0.0, 0.0, 0.0, 0.0);
    for (i, (&y, &xi)) in l.iter().zip(&x).enumerate().skip(settle) {
        let ph = 2.0 * PI * freq * i as f64 / SR;
        a += y as f64 * ph.sin();
        b += y as f64 * ph.cos();
        ia += xi as f64 * ph.sin();
        ib += xi as f64 * ph.cos();
    }
    assert_eq!(l, r, "both channels filter alike");
    10.0 * ((a * a + b * b) / (ia * ia + ib * ib)).log10()
}

#[test]
fn every_biquad_matches_the_rbj_formula_within_0_1_db() {
    let mut specs: Vec<FilterSpec> = Preset::ALL.iter().flat_map(|p| p.params().filters.iter().copied()).collect();
    specs.extend([
        FilterSpec::new(FilterKind::LowShelf, 100.0, 0.5, -9.0),
        FilterSpec::new(FilterKind::HighShelf, 12_000.0, 1.2, 12.0),
        FilterSpec::new(FilterKind::Peaking, 40.0, 4.0, 12.0),
        FilterSpec::new(FilterKind::HighPass, 38.0, 0.5, 0.0),
        FilterSpec::new(FilterKind::LowPass, 5_000.0, 0.707, 0.0),
    ]);
    let freqs =
        [31.5, 63.0, 100.0, 250.0, 500.0, 1_000.0, 2_000.0, 3_150.0, 5_000.0, 8_000.0, 12_500.0, 16_000.0, 20_000.0];
    let mut worst = 0.0f64;
    for spec in &specs {
        let w0 = (PI * spec.freq_hz as f64 / SR).tan();
        for &f in &freqs {
            // The bilinear transform maps f to the analog frequency tan(pi f / fs) / tan(pi f0 / fs).
            let expect = 20.0 * analog_magnitude(*spec, (PI * f / SR).tan() / w0).log10();
            let got = measured_gain_db(*spec, f);
            let err = (got - expect).abs();
            worst = worst.max(err);
            assert!(err < 0.1, "{spec:?} at {f} Hz: measured {got:.3} dB, RBJ {expect:.3} dB");
        }
    }
    println!("biquads: {} filters x {} frequencies, worst deviation {worst:.4} dB", specs.len(), freqs.len());
}

// ---------------------------------------------------------------------------------------------
// Limiter

fn ceiling() -> f32 {
    10f32.powf(-1.0 / 20.0)
}

fn adversarial_inputs() -> Vec<(&'static str, Vec<f32>, Vec<f32>)> {
    let n = 48_000;
    let square = |period: usize, amp: f32| -> Vec<f32> {
        (0..n).map(|i| if (i / (period / 2).max(1)) % 2 == 0 { amp } else { -amp }).collect()
    };
    let mut seed = 7u32;
    let mut rnd = move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    };
    let mut impulses = vec![0.0f32; n];
    for (k, i) in (100..n).step_by(997).enumerate() {
        impulses[i] = if k % 2 == 0 { 8.0 } else { -1.0 };
        if i + 1 < n {
            impulses[i + 1] = -8.0; // a full-scale swing in one frame
        }
    }
    let noise_l: Vec<f32> = (0..n).map(|_| rnd() * 10.0).collect();
    let noise_r: Vec<f32> = (0..n).map(|_| rnd() * 10.0).collect();
    let bursts: Vec<f32> = (0..n).map(|i| if (i / 300) % 7 == 0 { rnd() * 4.0 } else { rnd() * 0.01 }).collect();
    let step: Vec<f32> = (0..n).map(|i| if i < n / 2 { 0.0 } else { 3.0 }).collect();
    vec![
        ("full-scale square 50 Hz", square(960, 1.0), square(960, 1.0)),
        ("full-scale square 12 kHz", square(4, 1.0), square(4, 1.0)),
        ("square +12 dB, 1 kHz", square(48, 4.0), square(48, 4.0)),
        ("square, channels in opposition", square(96, 1.0), square(96, 1.0).iter().map(|x| -x).collect()),
        ("impulses", impulses.clone(), vec![0.0; n]),
        ("impulses on the other channel", vec![0.0; n], impulses),
        (
            "one loud channel per frame",
            (0..n).map(|i| if i % 2 == 0 { 2.0 } else { 0.0 }).collect(),
            (0..n).map(|i| if i % 2 == 1 { -2.0 } else { 0.0 }).collect(),
        ),
        ("noise +20 dB", noise_l, noise_r),
        ("bursts", bursts.clone(), bursts.iter().map(|x| x * 0.5).collect()),
        ("dc step to +10 dB", step.clone(), step),
    ]
}

#[test]
fn limiter_never_exceeds_its_ceiling() {
    let c = ceiling();
    for (name, l0, r0) in adversarial_inputs() {
        for lookahead in [1usize, 16, 48, 240] {
            let mut lim = Limiter::new(-1.0, lookahead, 80.0, 48_000.0);
            let (mut l, mut r) = (l0.clone(), r0.clone());
            for (a, b) in l.chunks_mut(128).zip(r.chunks_mut(128)) {
                lim.process(a, b);
            }
            let peak = l.iter().chain(&r).fold(0.0f32, |m, x| m.max(x.abs()));
            assert!(peak <= c, "{name}, look-ahead {lookahead}: peak {peak} above the ceiling {c}");
            // The limiter is a delayed gain: the output is the input scaled down, never distorted
            // into the other sign.
            let d = lim.latency();
            for i in d..l.len() {
                assert!(l[i] * l0[i - d] >= 0.0 && l[i].abs() <= l0[i - d].abs() + 1e-6, "{name}: frame {i}");
            }
        }
    }
}

#[test]
fn every_preset_keeps_the_ceiling_on_adversarial_input_even_while_switching() {
    let c = ceiling();
    for (name, l0, r0) in adversarial_inputs() {
        let mut e = Enhancer::new(EnhancerConfig::default());
        e.set_preset(Preset::Punchy);
        // Off is a bypass (no limiter): let the blend from it end before the test input.
        let (mut z0, mut z1) = (vec![0.0f32; 4_800], vec![0.0f32; 4_800]);
        run(&mut e, &mut z0, &mut z1);
        let (mut l, mut r) = (l0.clone(), r0.clone());
        let mut clock = 4_800;
        for (k, (a, b)) in l.chunks_mut(128).zip(r.chunks_mut(128)).enumerate() {
            // A change every 4 quanta: blends overlap, three chains sound at once.
            if k % 4 == 0 {
                e.set_preset(Preset::ALL[1 + (k / 4) % 5]);
                e.set_intensity(((k / 4) % 4) as f32 / 3.0 * 0.9 + 0.1).expect("valid");
            }
            e.process(a, b, clock);
            clock += 128;
        }
        let peak = l.iter().chain(&r).fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(peak <= c, "{name}: peak {peak} above the ceiling {c}");
    }
}

// ---------------------------------------------------------------------------------------------
// Loudness

fn sine(freq: f64, dbfs: f64, seconds: f64) -> Vec<f32> {
    let amp = 10f64.powf(dbfs / 20.0);
    (0..(seconds * SR) as usize).map(|i| (amp * (2.0 * PI * freq * i as f64 / SR).sin()) as f32).collect()
}

fn segments(parts: &[(f64, f64)]) -> Vec<f32> {
    parts.iter().flat_map(|&(db, s)| sine(1000.0, db, s)).collect()
}

/// A music-like stereo test signal: a bass line, chords and noise bursts with beats.
fn music(seconds: f64, gain: f32) -> (Vec<f32>, Vec<f32>) {
    let n = (seconds * SR) as usize;
    let mut seed = 99u32;
    let mut l = Vec::with_capacity(n);
    let mut r = Vec::with_capacity(n);
    for i in 0..n {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
        let t = i as f64 / SR;
        let beat_pos = (t * 2.0).fract(); // 120 bpm
        let kick = (-beat_pos * 12.0).exp() as f32 * (2.0 * PI * 60.0 * t).sin() as f32;
        let bar = (t / 2.0) as usize % 4;
        let root = [110.0, 146.8, 130.8, 98.0][bar];
        let chord: f32 =
            [1.0, 1.26, 1.5, 2.0].iter().map(|m| (2.0 * PI * root * m * t).sin() as f32).sum::<f32>() * 0.12;
        let hat = if (t * 4.0).fract() < 0.05 { noise * 0.4 } else { noise * 0.02 };
        l.push(gain * (0.5 * kick + chord + hat));
        r.push(gain * (0.5 * kick + chord * 0.9 - hat));
    }
    (l, r)
}

fn reference(l: &[f32], r: &[f32]) -> ebur128::EbuR128 {
    let mut m =
        ebur128::EbuR128::new(2, SR as u32, ebur128::Mode::I | ebur128::Mode::S | ebur128::Mode::M).expect("ebur128");
    m.add_frames_planar_f32(&[l, r]).expect("frames");
    m
}

fn ours(l: &[f32], r: &[f32]) -> LoudnessMeter {
    let mut m = LoudnessMeter::new(SR as u32);
    for (a, b) in l.chunks(128).zip(r.chunks(128)) {
        m.process(a, b);
    }
    m
}

/// Name, left, right, the loudness EBU Tech 3341 specifies (if it does).
type Case = (&'static str, Vec<f32>, Vec<f32>, Option<f64>);

#[test]
fn loudness_meter_agrees_with_ebur128_on_tech_3341_signals() {
    let (ml, mr) = music(20.0, 0.5);
    let cases: Vec<Case> = vec![
        ("3341 #1: -23 dBFS sine", sine(1000.0, -23.0, 20.0), sine(1000.0, -23.0, 20.0), Some(-23.0)),
        ("3341 #2: -33 dBFS sine", sine(1000.0, -33.0, 20.0), sine(1000.0, -33.0, 20.0), Some(-33.0)),
        (
            "3341 #3: -36/-23/-36",
            segments(&[(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)]),
            segments(&[(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)]),
            Some(-23.0),
        ),
        (
            "3341 #4: -72/-36/-23/-36/-72",
            segments(&[(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)]),
            segments(&[(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)]),
            Some(-23.0),
        ),
        (
            "3341 #5: -26/-20/-26",
            segments(&[(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)]),
            segments(&[(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)]),
            Some(-23.0),
        ),
        ("left channel only", sine(1000.0, -20.0, 10.0), vec![0.0; 480_000], None),
        ("music", ml, mr, None),
    ];
    for (name, l, r, expect) in cases {
        let ref_m = reference(&l, &r);
        let m = ours(&l, &r);
        let (ri, rs, rm) = (
            ref_m.loudness_global().expect("I"),
            ref_m.loudness_shortterm().expect("S"),
            ref_m.loudness_momentary().expect("M"),
        );
        println!(
            "{name}: integrated {:.3} (ebur128 {ri:.3}), short-term {:.3} ({rs:.3}), momentary {:.3} ({rm:.3})",
            m.integrated(),
            m.short_term(),
            m.momentary()
        );
        assert!((m.integrated() - ri).abs() < 0.1, "{name}: integrated {} vs {ri}", m.integrated());
        assert!((m.short_term() - rs).abs() < 0.1, "{name}: short-term {} vs {rs}", m.short_term());
        assert!((m.momentary() - rm).abs() < 0.1, "{name}: momentary {} vs {rm}", m.momentary());
        if let Some(e) = expect {
            assert!((m.integrated() - e).abs() < 0.1, "{name}: {} LUFS, EBU Tech 3341 expects {e}", m.integrated());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The enhancer

fn run(e: &mut Enhancer, l: &mut [f32], r: &mut [f32]) {
    for (k, (a, b)) in l.chunks_mut(128).zip(r.chunks_mut(128)).enumerate() {
        e.process(a, b, k as u64 * 128);
    }
}

#[test]
fn adaptive_brings_quiet_and_loud_versions_within_1_lu_of_the_target() {
    let (l0, r0) = music(30.0, 1.0);
    let source = reference(&l0, &r0).loudness_global().expect("I");
    for (name, want_lufs) in [("quiet", -30.0), ("loud", -6.0)] {
        let g = 10f64.powf((want_lufs - source) / 20.0) as f32;
        let (mut l, mut r): (Vec<f32>, Vec<f32>) =
            (l0.iter().map(|x| x * g).collect(), r0.iter().map(|x| x * g).collect());
        let input = reference(&l, &r).loudness_global().expect("I");
        let mut e = Enhancer::new(EnhancerConfig::default());
        e.set_preset(Preset::Adaptive);
        // Track the adaptive gain after the first 10 s: it must hold still (no pumping).
        let (mut lo, mut hi) = (f32::MAX, f32::MIN);
        for (k, (a, b)) in l.chunks_mut(128).zip(r.chunks_mut(128)).enumerate() {
            e.process(a, b, k as u64 * 128);
            if k * 128 > 480_000 {
                let g = e.stats().adaptive_gain_db;
                lo = lo.min(g);
                hi = hi.max(g);
            }
        }
        let out = reference(&l, &r).loudness_global().expect("I");
        println!("adaptive, {name}: input {input:.2} LUFS -> output {out:.2} LUFS (target -14), gain {lo:.2}..{hi:.2} dB after 10 s");
        assert!((input - want_lufs).abs() < 0.2);
        assert!((out - -14.0).abs() < 1.0, "{name}: {out} LUFS");
        assert!(hi - lo < 1.0, "{name}: the gain moved {} dB with the music", hi - lo);
    }
}

#[test]
fn intensity_zero_and_off_are_bit_exact_bypass() {
    let (l0, r0) = music(3.0, 0.9);
    for preset in Preset::ALL {
        for intensity in [0.0f32, 1.0] {
            if intensity == 1.0 && preset != Preset::Off {
                continue;
            }
            let mut e = Enhancer::new(EnhancerConfig::default());
            e.set_preset(preset);
            e.set_intensity(intensity).expect("valid");
            let (mut l, mut r) = (l0.clone(), r0.clone());
            run(&mut e, &mut l, &mut r);
            assert!(
                l.iter().zip(&l0).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{preset:?} at {intensity}: left changed"
            );
            assert!(
                r.iter().zip(&r0).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{preset:?} at {intensity}: right changed"
            );
            assert_eq!(e.latency_frames(), 0);
        }
    }
    // Coming back to intensity 0 from a working preset is bit-exact once the blend is over.
    let mut e = Enhancer::new(EnhancerConfig::default());
    e.set_preset(Preset::Punchy);
    let (mut l, mut r) = (l0.clone(), r0.clone());
    let half = l.len() / 2 / 128 * 128;
    run(&mut e, &mut l[..half], &mut r[..half]);
    assert!(l[..half].iter().zip(&l0).any(|(a, b)| a != b), "punchy changes the audio");
    e.set_intensity(0.0).expect("valid");
    let (mut l2, mut r2) = (l0[half..].to_vec(), r0[half..].to_vec());
    for (k, (a, b)) in l2.chunks_mut(128).zip(r2.chunks_mut(128)).enumerate() {
        e.process(a, b, (half + k * 128) as u64);
    }
    let blend = 30 * 48 + 128;
    assert!(l2[blend..].iter().zip(&l0[half + blend..]).all(|(a, b)| a.to_bits() == b.to_bits()));
    assert!(r2[blend..].iter().zip(&r0[half + blend..]).all(|(a, b)| a.to_bits() == b.to_bits()));
}

fn max_step(x: &[f32]) -> f32 {
    x.windows(2).fold(0.0, |m, w| m.max((w[1] - w[0]).abs()))
}

/// A low tone, so natural sample-to-sample steps are small and a hard switch between two
/// differently processed versions stands out.
fn tone(seconds: f64) -> (Vec<f32>, Vec<f32>) {
    let n = (seconds * SR) as usize;
    let l: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f64 / SR;
            (0.4 * (2.0 * PI * 100.0 * t).sin() + 0.005 * (2.0 * PI * 9000.0 * t).sin()) as f32
        })
        .collect();
    (l.clone(), l)
}

/// A setter call made before the given quantum.
type Change<'a> = (usize, &'a dyn Fn(&mut Enhancer));

/// Plays `tone` with `changes` applied at given quanta; returns the left output.
fn play_with_changes(cfg: EnhancerConfig, changes: &[Change]) -> (Vec<f32>, Enhancer) {
    let (mut l, mut r) = tone(4.0);
    let mut e = Enhancer::new(cfg);
    e.set_preset(Preset::Warm);
    for (k, (a, b)) in l.chunks_mut(128).zip(r.chunks_mut(128)).enumerate() {
        for (at, f) in changes {
            if *at == k {
                f(&mut e);
            }
        }
        e.process(a, b, k as u64 * 128);
    }
    (l, e)
}

#[test]
fn preset_changes_start_in_the_next_quantum_and_never_click() {
    let switch_at = 200; // quantum
    let (steady, _) = play_with_changes(EnhancerConfig::default(), &[]);
    let (out, e) = play_with_changes(
        EnhancerConfig::default(),
        &[
            (switch_at, &|e: &mut Enhancer| e.set_preset(Preset::Bright)),
            (400, &|e: &mut Enhancer| e.set_intensity(0.3).expect("valid")),
            (600, &|e: &mut Enhancer| e.set_intensity(0.0).expect("valid")),
            (800, &|e: &mut Enhancer| e.set_intensity(1.0).expect("valid")),
            (1000, &|e: &mut Enhancer| e.set_preset(Preset::Punchy)),
            (1002, &|e: &mut Enhancer| e.set_preset(Preset::Gentle)), // mid-blend
            (1004, &|e: &mut Enhancer| e.set_preset(Preset::Adaptive)), // three chains
            (1300, &|e: &mut Enhancer| e.set_volume(0.5).expect("valid")),
        ],
    );
    let start = switch_at * 128;
    assert_eq!(&out[..start], &steady[..start], "identical until the switch");
    // The new chain's weight grows from the first frame (sin^2, so it is tiny there).
    assert!(
        (1..16).all(|k| out[start + k] != steady[start + k]),
        "the blend starts at the first frame after the message"
    );
    assert!(e.stats().switches >= 5, "{:?}", e.stats());
    // Each preset's steady output bounds the steps; a blend or ramp stays within 1.5x of that.
    let bound = max_step(&out[start - 9_600..start]).max(max_step(&out[start + 9_600..start + 19_200]));
    let worst = max_step(&out[start - 9_600..]);
    println!("preset switches: worst step {worst:.5}, steady {bound:.5}");
    assert!(worst <= 1.5 * bound, "a click: step {worst} vs steady {bound}");

    // The same switch made hard (no blend) is caught by the same detector.
    let hard = EnhancerConfig { blend_ms: 0.0, ..EnhancerConfig::default() };
    let (cut, _) = play_with_changes(hard, &[(switch_at, &|e: &mut Enhancer| e.set_preset(Preset::Bright))]);
    let cut_step = max_step(&cut[start - 64..start + 64]);
    println!("hard switch (no blend): step {cut_step:.5}");
    assert!(cut_step > 1.5 * bound, "the detector misses a hard switch: {cut_step} vs {bound}");
}

/// Energy of `x` in a band, through a 4th-order band-pass made of cookbook filters.
fn band_energy(x: &[f32], lo: f32, hi: f32) -> f64 {
    let mut hp = [Biquad::new(Coeffs::rbj(FilterSpec::new(FilterKind::HighPass, lo, 0.707, 0.0), SR)); 2];
    let mut lp = [Biquad::new(Coeffs::rbj(FilterSpec::new(FilterKind::LowPass, hi, 0.707, 0.0), SR)); 2];
    let mut e = 0.0;
    for (i, &s) in x.iter().enumerate() {
        let mut y = s as f64;
        for f in hp.iter_mut().chain(lp.iter_mut()) {
            y = f.tick(0, y);
        }
        if i > 4_800 {
            e += y * y;
        }
    }
    e
}

#[test]
fn presets_move_the_bands_they_promise() {
    let (l0, r0) = music(6.0, 0.25);
    let bands = [("low", 40.0, 200.0), ("high", 6_000.0, 16_000.0)];
    let source: Vec<f64> = bands.iter().map(|&(_, lo, hi)| band_energy(&l0, lo, hi)).collect();
    let change = |p: Preset| -> Vec<f64> {
        let mut e = Enhancer::new(EnhancerConfig::default());
        e.set_preset(p);
        let (mut l, mut r) = (l0.clone(), r0.clone());
        run(&mut e, &mut l, &mut r);
        bands.iter().zip(&source).map(|(&(_, lo, hi), s)| 10.0 * (band_energy(&l, lo, hi) / s).log10()).collect()
    };
    let warm = change(Preset::Warm);
    let bright = change(Preset::Bright);
    let gentle = change(Preset::Gentle);
    println!("band change dB (low, high): warm {warm:.2?}, bright {bright:.2?}, gentle {gentle:.2?}");
    assert!(warm[0] > 2.0 && warm[0] - warm[1] > 4.0, "warm raises the lows over the highs: {warm:?}");
    assert!(bright[1] > 3.0 && bright[1] - bright[0] > 4.0, "bright raises the highs: {bright:?}");
    assert!(gentle[1] - gentle[0] < -3.0, "gentle softens the highs: {gentle:?}");
}

#[test]
fn bad_parameters_are_refused_and_change_nothing() {
    let mut e = Enhancer::new(EnhancerConfig::default());
    e.set_preset(Preset::Warm);
    e.set_intensity(0.5).expect("valid");
    for bad in [f32::NAN, -0.1, 1.01, f32::INFINITY] {
        assert!(matches!(e.set_intensity(bad), Err(ParamError::Intensity(_))), "{bad}");
    }
    for bad in [f32::NAN, -0.5, 1.5, f32::NEG_INFINITY] {
        assert!(matches!(e.set_volume(bad), Err(ParamError::Volume(_))), "{bad}");
    }
    assert_eq!(e.set_preset_index(6), Err(ParamError::UnknownPreset(6)));
    assert!(matches!(e.set_target_lufs(f32::NAN), Err(ParamError::TargetLufs(_))));
    assert_eq!((e.preset(), e.intensity(), e.volume()), (Preset::Warm, 0.5, 1.0));
    assert_eq!(Preset::from_name("bright"), Some(Preset::Bright));
    assert_eq!(Preset::from_name("Bright"), None);
    // Non-finite samples from a broken source come out as silence, not as NaN that would stay
    // in the filters forever.
    let (mut l, mut r) = (vec![f32::NAN; 256], vec![f32::INFINITY; 256]);
    e.process(&mut l, &mut r, 0);
    let (mut l, mut r) = (vec![0.1f32; 4_800], vec![0.1f32; 4_800]);
    run(&mut e, &mut l, &mut r);
    assert!(l.iter().chain(&r).all(|x| x.is_finite()));
}
