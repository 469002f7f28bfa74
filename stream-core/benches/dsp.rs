//! Cost of the enhancement chain per 128-frame render quantum, natively (`dsp_native_ns` in
//! `make bench`). The strongest preset is `punchy` (four biquads, compressor, width, limiter);
//! the input is loud music-like material so the compressor and limiter work.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use stream_core::dsp::{Enhancer, EnhancerConfig, Preset};

const QUANTUM: usize = 128;

fn music(frames: usize) -> (Vec<f32>, Vec<f32>) {
    let mut seed = 0x1234_5678u32;
    let mut l = Vec::with_capacity(frames);
    let mut r = Vec::with_capacity(frames);
    for i in 0..frames {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
        let t = i as f32 / 48_000.0;
        let beat = if (i % 24_000) < 2_400 { 1.0 } else { 0.3 };
        let tone =
            (2.0 * std::f32::consts::PI * 55.0 * t).sin() * 0.6 + (2.0 * std::f32::consts::PI * 440.0 * t).sin() * 0.2;
        l.push((tone + noise * 0.3) * beat);
        r.push((tone * 0.9 - noise * 0.3) * beat);
    }
    (l, r)
}

fn bench(c: &mut Criterion) {
    let (src_l, src_r) = music(48_000);
    for (name, preset) in [("dsp_punchy_quantum", Preset::Punchy), ("dsp_adaptive_quantum", Preset::Adaptive)] {
        let mut e = Enhancer::new(EnhancerConfig::default());
        e.set_preset(preset);
        let (mut l, mut r) = (vec![0.0f32; QUANTUM], vec![0.0f32; QUANTUM]);
        let mut pos = 0usize;
        let mut clock = 0u64;
        c.bench_function(name, |b| {
            b.iter(|| {
                l.copy_from_slice(&src_l[pos..pos + QUANTUM]);
                r.copy_from_slice(&src_r[pos..pos + QUANTUM]);
                e.process(black_box(&mut l), black_box(&mut r), clock);
                pos = (pos + QUANTUM) % (src_l.len() - QUANTUM);
                clock += QUANTUM as u64;
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
