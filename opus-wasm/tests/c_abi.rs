//! The exports the Worker calls (`od_*`), natively: the same sequence worklet/opus.js runs, the
//! stable error codes, and no allocation in any call. One test, because the exports share one
//! static decoder.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use opus::{Application, Bitrate, Channels, Encoder};
use opus_wasm::{
    od_channels, od_conceal, od_decode, od_init, od_out_ptr, od_packet_max, od_packet_ptr, od_reset, DecodeError,
    OD_MAX_FRAMES, OD_MAX_PACKET_BYTES,
};

/// Counts this thread's allocations.
struct Counting;
thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}
#[global_allocator]
static ALLOC: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(|n| n.get())
}

/// Writes `packet` where the Worker writes it and decodes it.
fn decode(packet: &[u8]) -> i32 {
    assert!(packet.len() <= od_packet_max() as usize);
    // SAFETY: the buffer holds od_packet_max() bytes and lives as long as the program.
    unsafe { std::slice::from_raw_parts_mut(od_packet_ptr(), packet.len()) }.copy_from_slice(packet);
    od_decode(packet.len() as i32)
}

fn output(samples: usize) -> &'static [f32] {
    // SAFETY: the output holds OD_MAX_FRAMES * 2 samples and lives as long as the program.
    unsafe { std::slice::from_raw_parts(od_out_ptr(), samples) }
}

#[test]
fn exports_decode_conceal_and_report_stable_codes() {
    // A second of a stereo sweep, encoded by libopus.
    let mut enc = Encoder::new(48_000, Channels::Stereo, Application::Audio).expect("encoder");
    enc.set_bitrate(Bitrate::Bits(128_000)).expect("bitrate");
    let pcm: Vec<f32> = (0..48_000 * 2)
        .map(|i| {
            let t = (i / 2) as f32 / 48_000.0;
            0.5 * (2.0 * std::f32::consts::PI * (200.0 + 800.0 * t) * t).sin()
        })
        .collect();
    let packets: Vec<Vec<u8>> =
        pcm.chunks_exact(1920).map(|f| enc.encode_vec_float(f, 4000).expect("encode")).collect();

    // The codes are part of the ABI: worklet/opus.js names them.
    assert_eq!(od_packet_max(), OD_MAX_PACKET_BYTES as i32);
    assert_eq!(od_decode(10), DecodeError::NotInitialized.code());
    assert_eq!(od_decode(10), -1);
    assert_eq!(od_reset(), -1);
    assert_eq!(od_init(3), DecodeError::BadChannels.code());
    assert_eq!(od_init(3), -2);
    assert_eq!(od_channels(), 0);

    let before = allocations();
    assert_eq!(od_init(2), 0);
    assert_eq!(od_channels(), 2);
    assert_eq!(od_decode(OD_MAX_PACKET_BYTES as i32 + 1), -3);
    assert_eq!(od_decode(-1), -3);
    assert_eq!(od_conceal(100), -5);
    assert_eq!(decode(&[0xfb, 0x00]), -4);

    let mut energy = 0f64;
    for (i, p) in packets.iter().enumerate() {
        // Every tenth packet lost: od_decode(0) conceals 20 ms.
        let n = if i % 10 == 9 { od_decode(0) } else { decode(p) };
        assert_eq!(n, 960, "packet {i}");
        let out = output(n as usize * 2);
        assert!(out.iter().all(|s| s.is_finite() && s.abs() <= 1.0));
        energy += out.iter().map(|s| (*s as f64).powi(2)).sum::<f64>();
    }
    assert_eq!(od_conceal(OD_MAX_FRAMES as i32), OD_MAX_FRAMES as i32);
    assert_eq!(od_reset(), 0);
    assert_eq!(decode(&packets[0]), 960);
    assert_eq!(od_init(1), 0);
    assert_eq!(decode(&packets[1]), 960, "a mono decoder downmixes a stereo packet");
    assert_eq!(allocations(), before, "the exports allocated");

    // The sweep at -6 dBFS comes out at about its level (RMS 0.35).
    let rms = (energy / (packets.len() * 1920) as f64).sqrt();
    assert!((0.25..0.45).contains(&rms), "RMS {rms}");
}
