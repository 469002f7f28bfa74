//! Fails if the render path allocates: a counting global allocator wraps the system one and the
//! engine's `push_frame`, `render`, `start`, `stop` and `end_at`, and the enhancer's `process`,
//! setters, meter and spectrum run between two readings.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use stream_core::dsp::{spectrum::BANDS, Enhancer, EnhancerConfig, Preset};
use stream_core::engine::{Engine, EngineConfig, PlayState, Transition};
use stream_core::wire::{encode_pcm_frame, Codec, FLAG_END_OF_STREAM};

struct Counting;

// Per thread, so tests running in parallel count only their own allocations.
thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = ARMED.try_with(|a| {
        if a.get() {
            let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

fn arm(on: bool) {
    ARMED.with(|a| a.set(on));
}

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn render_path_never_allocates() {
    // Frames are prepared up front: on the wire they arrive as bytes the engine only reads.
    let mut frames = Vec::new();
    for (i, codec) in [Codec::PcmF32, Codec::PcmS16].into_iter().cycle().take(60).enumerate() {
        let pos = i as u64 * 960;
        let samples: Vec<f32> = (0..960 * 2).map(|k| ((pos as f32 + k as f32) * 0.01).sin() * 0.5).collect();
        let flags = if i == 59 { FLAG_END_OF_STREAM } else { 0 };
        let mut f = Vec::new();
        encode_pcm_frame(codec, 2, flags, 1, pos, &samples, &mut f).expect("encode");
        frames.push(f);
    }
    let session2: Vec<Vec<u8>> = frames
        .iter()
        .take(20)
        .map(|f| {
            let mut g = f.clone();
            g[4..8].copy_from_slice(&2u32.to_le_bytes());
            g
        })
        .collect();
    let mut engine = Engine::new(EngineConfig::default());
    let (mut l, mut r) = (vec![0.0f32; 128], vec![0.0f32; 128]);

    arm(true);
    engine.start(1, 0);
    let mut clock = 0u64;
    for (i, f) in frames.iter().enumerate() {
        let _ = engine.push_frame(f);
        let _ = engine.push_frame(&f[..f.len() - 1]); // malformed: refused without allocating
                                                      // Render slower than frames arrive at first, then run dry to cover underrun and end.
        for _ in 0..if i < 40 { 4 } else { 12 } {
            engine.render(&mut l, &mut r, clock);
            clock += 128;
        }
    }
    for _ in 0..400 {
        engine.render(&mut l, &mut r, clock);
        clock += 128;
    }
    let ended = engine.state();
    // The whole transport: start, local and network seeks, pause/resume, queue, rebind, stop.
    engine.start(2, 0);
    for f in &session2 {
        let _ = engine.push_frame(f);
    }
    let pcm = [0.25f32; 2 * 960];
    let mut busy = |e: &mut Engine, quanta: usize, clock: &mut u64| {
        for _ in 0..quanta {
            e.render(&mut l, &mut r, *clock);
            *clock += 128;
        }
    };
    busy(&mut engine, 10, &mut clock);
    engine.seek_local(5_000);
    engine.seek_local(100);
    busy(&mut engine, 10, &mut clock);
    engine.pause();
    busy(&mut engine, 2, &mut clock);
    engine.resume();
    busy(&mut engine, 2, &mut clock);
    engine.start(3, 48_000);
    engine.push_pcm(3, 48_000, 2, &pcm);
    engine.push_pcm(3, 48_960, 2, &pcm);
    busy(&mut engine, 10, &mut clock);
    engine.end_at(3, 49_920);
    engine.queue(4, 0, Transition::Crossfade(480));
    engine.push_pcm(4, 0, 2, &pcm);
    engine.rebind(4, 5);
    engine.push_pcm(5, 960, 2, &pcm);
    let _ = engine.write_pos_of(5);
    busy(&mut engine, 30, &mut clock);
    engine.stop();
    busy(&mut engine, 2, &mut clock);
    let _ = engine.stats();
    arm(false);

    assert_eq!(ended, PlayState::Ended);
    assert_eq!(engine.state(), PlayState::Idle);
    let s = engine.stats();
    assert!(s.crossfades >= 2, "the transport really ran: {s:?}");
    assert_eq!(allocs(), 0, "the render path allocated");
}

#[test]
fn enhancer_never_allocates() {
    let mut e = Enhancer::new(EnhancerConfig::default());
    let src: Vec<f32> =
        (0..48_000).map(|i| ((i as f32) * 0.031).sin() * if i % 9_600 < 2_000 { 1.5 } else { 0.2 }).collect();
    let (mut l, mut r) = (vec![0.0f32; 128], vec![0.0f32; 128]);
    let mut bands = [0.0f32; BANDS];
    // The counter sees an allocation of this thread.
    arm(true);
    drop(std::hint::black_box(Vec::<u8>::with_capacity(8)));
    arm(false);
    assert_eq!(allocs(), 1);
    ALLOCS.with(|n| n.set(0));
    arm(true);
    let mut clock = 0u64;
    for (k, chunk) in src.chunks_exact(128).enumerate() {
        match k % 40 {
            0 => e.set_preset(Preset::ALL[(k / 40) % 6]),
            10 => e.set_intensity(((k / 40) % 3) as f32 * 0.5).unwrap_or(()),
            12 => e.set_preset(Preset::Punchy), // mid-blend
            14 => e.set_preset(Preset::Gentle), // three chains
            20 => e.set_volume(0.4 + 0.3 * ((k / 40) % 2) as f32).unwrap_or(()),
            25 => e.set_target_lufs(-16.0).unwrap_or(()),
            30 => {
                let _ = e.set_intensity(f32::NAN);
                e.reset_loudness();
            }
            _ => {}
        }
        l.copy_from_slice(chunk);
        r.copy_from_slice(chunk);
        e.process(&mut l, &mut r, clock);
        clock += 128;
        if k % 37 == 0 {
            let _ = e.take_levels();
            e.spectrum(&mut bands);
            let _ = e.stats();
        }
    }
    arm(false);
    assert!(e.stats().switches >= 10, "{:?}", e.stats());
    assert_eq!(allocs(), 0, "the enhancer allocated");
}
