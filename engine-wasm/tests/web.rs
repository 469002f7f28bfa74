#![cfg(target_arch = "wasm32")]
//! Runs in headless Chromium (`wasm-pack test --headless --chrome`): the engine as the worklet
//! drives it, through raw pointers into wasm memory, with the golden frames of docs/wire.md.

use engine_wasm::{param, push, stat, WasmEngine, INPUT_CAPACITY_BYTES};
use stream_core::wire::{encode_pcm_frame, Codec, FLAG_END_OF_STREAM};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The same bytes as stream-core's golden f32 frame (docs/wire.md): mono, session 9, pos 1.
const GOLDEN_F32: &[u8] = &[
    0x01, 0x02, 0x01, 0x02, 0x09, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00,
    0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x80, 0xbe,
];

fn write_input(e: &WasmEngine, bytes: &[u8]) {
    // What the worklet does: copy into the Rust-owned input buffer through its pointer.
    let dst = unsafe { std::slice::from_raw_parts_mut(e.input_ptr() as *mut u8, e.input_capacity()) };
    dst[..bytes.len()].copy_from_slice(bytes);
}

fn out(e: &WasmEngine, n: usize) -> (Vec<f32>, Vec<f32>) {
    let l = unsafe { std::slice::from_raw_parts(e.left_ptr(), n) }.to_vec();
    let r = unsafe { std::slice::from_raw_parts(e.right_ptr(), n) }.to_vec();
    (l, r)
}

fn stats(e: &mut WasmEngine) -> Vec<f64> {
    e.update_stats();
    unsafe { std::slice::from_raw_parts(e.stats_ptr(), e.stats_len()) }.to_vec()
}

#[wasm_bindgen_test]
fn golden_frame_plays_through_wasm_memory() {
    let mut e = WasmEngine::new(48_000, 1000, 0, 1.0, 2.0, 30.0);
    e.start(9, 1.0);
    write_input(&e, GOLDEN_F32);
    assert_eq!(e.push_input(GOLDEN_F32.len()), push::OK);
    e.render(128, 0.0);
    let (l, r) = out(&e, 128);
    // A mid-track start fades in: the first frame is scaled by the first fade gain, > 0.
    assert!(l[0] > 0.0 && l[0] < 1.0, "{}", l[0]);
    assert_eq!(l[0], r[0]);
    assert!(l[2..].iter().all(|&x| x == 0.0));
    let s = stats(&mut e);
    assert_eq!(s[stat::STATE], 3.0, "ended after the end-of-stream frame");
    assert_eq!(s[stat::PLAY_POS], 3.0);
    assert_eq!(s[stat::START_CLOCK], 0.0);
}

#[wasm_bindgen_test]
fn counter_is_exact_and_memory_never_grows_while_rendering() {
    let mut e = WasmEngine::new(48_000, 6000, 50, 10.0, 30.0, 30.0);
    e.start(1, 0.0);
    let frames: Vec<Vec<u8>> = (0..50u64)
        .map(|k| {
            let samples: Vec<f32> = (0..960u64).flat_map(|i| [(k * 960 + i) as f32, -((k * 960 + i) as f32)]).collect();
            let mut f = Vec::new();
            let flags = if k == 49 { FLAG_END_OF_STREAM } else { 0 };
            encode_pcm_frame(Codec::PcmF32, 2, flags, 1, k * 960, &samples, &mut f).expect("encode");
            f
        })
        .collect();
    // Output is collected into room reserved up front, so only the engine could grow memory.
    let mut rendered: Vec<f32> = Vec::with_capacity(400 * 128 * 2);
    let pages_before = core::arch::wasm32::memory_size(0);
    let mut next_frame = 0;
    for q in 0..400u64 {
        while next_frame < frames.len() && next_frame as u64 * 960 < q * 128 + 4800 {
            write_input(&e, &frames[next_frame]);
            assert_eq!(e.push_input(frames[next_frame].len()), push::OK);
            next_frame += 1;
        }
        e.render(128, (q * 128) as f64);
        let l = unsafe { std::slice::from_raw_parts(e.left_ptr(), 128) };
        let r = unsafe { std::slice::from_raw_parts(e.right_ptr(), 128) };
        for i in 0..128 {
            rendered.push(l[i]);
            rendered.push(r[i]);
        }
    }
    let pages_after = core::arch::wasm32::memory_size(0);
    let start = stats(&mut e)[stat::START_CLOCK] as usize;
    assert!(rendered[..2 * start].iter().all(|&x| x == 0.0), "silence before the start");
    let mut expected = 0u64;
    for pair in rendered[2 * start..2 * (start + 48_000)].chunks_exact(2) {
        assert_eq!(pair, [expected as f32, -(expected as f32)]);
        expected += 1;
    }
    assert!(rendered[2 * (start + 48_000)..].iter().all(|&x| x == 0.0), "silence after the end");
    assert_eq!(pages_after, pages_before, "wasm memory grew on the render path");
    assert_eq!(expected, 48_000);
    let s = stats(&mut e);
    assert_eq!(s[stat::UNDERRUNS], 0.0);
    assert_eq!(s[stat::STATE], 3.0);
    assert!(INPUT_CAPACITY_BYTES >= frames[0].len());
}

#[wasm_bindgen_test]
fn decoded_pcm_lands_at_its_position_after_preroll() {
    let mut e = WasmEngine::new(48_000, 1000, 0, 1.0, 2.0, 30.0);
    e.start(2, 1000.0);
    // 1200 stereo frames from position 400: 600 frames of pre-roll, then 600 from 1000.
    let pcm: Vec<f32> = (400..1600).flat_map(|p| [p as f32, -(p as f32)]).collect();
    let bytes: Vec<u8> = pcm.iter().flat_map(|x| x.to_ne_bytes()).collect();
    write_input(&e, &bytes);
    assert_eq!(e.push_pcm_input(2, 400.0, 2, 1200), push::OK);
    let s = stats(&mut e);
    assert_eq!((s[stat::PREROLL_FRAMES], s[stat::WRITE_POS], s[stat::BUFFERED_FRAMES]), (600.0, 1600.0, 600.0));
    for _ in 0..2 {
        e.render(128, 0.0); // through the 1 ms start fade
    }
    let (l, r) = out(&e, 128);
    assert_eq!((l[0], r[0]), (1128.0, -1128.0));
}

#[wasm_bindgen_test]
fn malformed_and_oversized_input_is_refused() {
    let mut e = WasmEngine::new(48_000, 1000, 0, 1.0, 2.0, 30.0);
    e.start(1, 0.0);
    write_input(&e, &[1, 2, 3]);
    assert_eq!(e.push_input(3), push::BAD_FRAME);
    assert_eq!(e.push_input(INPUT_CAPACITY_BYTES + 1), push::TOO_LONG);
    assert_eq!(stats(&mut e)[stat::BAD_FRAMES], 1.0);
}

fn write_output(e: &WasmEngine, l: &[f32], r: &[f32]) {
    let dl = unsafe { std::slice::from_raw_parts_mut(e.left_ptr() as *mut f32, l.len()) };
    let dr = unsafe { std::slice::from_raw_parts_mut(e.right_ptr() as *mut f32, r.len()) };
    dl.copy_from_slice(l);
    dr.copy_from_slice(r);
}

#[wasm_bindgen_test]
fn presets_switch_in_the_next_quantum_and_bad_values_are_refused() {
    let mut e = WasmEngine::new(48_000, 1000, 0, 1.0, 2.0, 30.0);
    assert_eq!(e.set_preset(6), param::UNKNOWN_PRESET);
    assert_eq!(e.set_intensity(f32::NAN), param::OUT_OF_RANGE);
    assert_eq!(e.set_intensity(1.5), param::OUT_OF_RANGE);
    assert_eq!(e.set_volume(-0.1), param::OUT_OF_RANGE);
    assert_eq!(e.set_target_lufs(f32::INFINITY), param::OUT_OF_RANGE);
    let s = stats(&mut e);
    assert_eq!((s[stat::PRESET], s[stat::INTENSITY], s[stat::VOLUME]), (0.0, 1.0, 1.0));

    // A loud 100 Hz tone: `off` passes it bit-exact, `punchy` reshapes and limits it.
    // 100 Hz has a whole number of periods in 480 frames: quantum q starts at (q * 128) % 480.
    let long: Vec<f32> = (0..480 + 128).map(|i| (i as f32 * 2.0 * core::f32::consts::PI / 480.0).sin() * 1.2).collect();
    let tone_at = |clock: f64| &long[(clock as usize) % 480..(clock as usize) % 480 + 128];
    let pages_before = core::arch::wasm32::memory_size(0);
    let mut clock = 0.0;
    for _ in 0..10 {
        let tone = tone_at(clock);
        write_output(&e, tone, tone);
        e.process_dsp(128, clock);
        clock += 128.0;
        assert_eq!(out(&e, 128).0, tone, "off is a bypass");
    }
    assert_eq!(e.set_preset(4), param::OK);
    let mut peak = 0.0f32;
    for q in 0..40 {
        let tone = tone_at(clock);
        write_output(&e, tone, tone);
        e.process_dsp(128, clock);
        clock += 128.0;
        let (l, r) = out(&e, 128);
        if q == 0 {
            assert_ne!(l, tone, "the blend starts in the first quantum after setPreset");
        }
        if q > 20 {
            peak = l.iter().chain(&r).fold(peak, |m, x| m.max(x.abs()));
        }
    }
    let s = stats(&mut e);
    assert_eq!(core::arch::wasm32::memory_size(0), pages_before, "wasm memory grew");
    assert!(peak <= 10f32.powf(-1.0 / 20.0), "limited to -1 dBFS: {peak}");
    assert_eq!(s[stat::PRESET], 4.0);
    assert_eq!(s[stat::DSP_SWITCHES], 1.0);
    assert_eq!(s[stat::DSP_SWITCH_CLOCK], 1280.0);
    assert_eq!(s[stat::DSP_LATENCY], 47.0);
    assert!(s[stat::LIMITER_GR_DB] + s[stat::COMPRESSOR_GR_DB] > 1.0, "{s:?}");
    assert!(s[stat::PEAK_L] > 0.5 && s[stat::RMS_L] > 0.3, "{s:?}");
    let spectrum = &s[stat::SPECTRUM..stat::LEN];
    let loudest = spectrum.iter().enumerate().fold((0, f64::MIN), |a, (i, &v)| if v > a.1 { (i, v) } else { a }).0;
    assert!((2..=4).contains(&loudest), "100 Hz is in the third to fifth band: {spectrum:?}");
}
