//! The browser's Opus decoder: [`opus_rs`] (a pure-Rust port of libopus 1.6) behind a plain
//! C ABI, built for `wasm32-unknown-unknown` as `web/pkg/opus_decoder.wasm` and loaded by the
//! Worker (`worklet/opus.js`). No wasm-bindgen: the exports take and return numbers only, so the
//! module needs no JS glue and binaryen can optimize it.
//!
//! Real-time contract: all state — the decoder, the packet buffer and the output buffer — is
//! one fixed-size [`StreamDecoder`], allocated once (a `static` in the wasm); nothing is
//! allocated after, not even by `init`. No input panics: a packet the decoder refuses returns
//! a negative [`DecodeError`] code, and every output sample is finite and within [-1, 1].
//!
//! JS copies a packet into [`od_packet_ptr`] (at most [`OD_MAX_PACKET_BYTES`]), calls
//! [`od_decode`] and reads the interleaved `f32` frames at [`od_out_ptr`]. One decoder per
//! module instance: the Worker receives one stream at a time.
#![cfg_attr(target_arch = "wasm32", no_std)]

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;

use opus_rs::OpusDecoder;

/// The only output rate: the relay resamples everything to 48 kHz.
pub const SAMPLE_RATE: i32 = 48_000;
/// Largest packet [`od_decode`] accepts. RFC 6716 §3.2 caps a frame at 1275 bytes and a packet
/// at 120 ms; a code-3 packet of six 20 ms frames at the largest size is about 7.7 KB.
pub const OD_MAX_PACKET_BYTES: usize = 8192;
/// Largest decoded packet in frames per channel: 120 ms at 48 kHz (RFC 6716 §3.2.5).
pub const OD_MAX_FRAMES: usize = 5760;
/// Opus decodes to mono or stereo (multichannel needs the multistream layer, not used here).
pub const OD_MAX_CHANNELS: usize = 2;
/// What [`od_decode`] conceals for an empty packet: one 20 ms packet, the relay's packet size.
pub const PLC_FRAMES: usize = 960;

/// Why a call decoded nothing; the C ABI returns the negative code. The codes are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[repr(i32)]
pub enum DecodeError {
    /// `od_init` was never called, or failed.
    NotInitialized = -1,
    /// `od_init` with a channel count other than 1 or 2.
    BadChannels = -2,
    /// A packet longer than [`OD_MAX_PACKET_BYTES`].
    PacketTooLarge = -3,
    /// The packet is malformed (RFC 6716 §3 framing) or the decoder refused it.
    InvalidPacket = -4,
    /// A concealment length that is not a multiple of 2.5 ms within 2.5..120 ms.
    BadFrameCount = -5,
}

impl DecodeError {
    /// The stable code returned across the C ABI.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// One Opus stream's decoder with its Rust-owned buffers. About 230 KB: keep it in a `static`
/// or a `Box`, not on a small stack.
pub struct StreamDecoder {
    decoder: MaybeUninit<OpusDecoder>,
    /// 0 until `init` succeeded.
    channels: usize,
    packet: [u8; OD_MAX_PACKET_BYTES],
    out: [f32; OD_MAX_FRAMES * OD_MAX_CHANNELS],
}

impl Default for StreamDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamDecoder {
    /// An uninitialized decoder (`const`, so it can be a zero-filled `static`).
    pub const fn new() -> Self {
        StreamDecoder {
            decoder: MaybeUninit::uninit(),
            channels: 0,
            packet: [0; OD_MAX_PACKET_BYTES],
            out: [0.0; OD_MAX_FRAMES * OD_MAX_CHANNELS],
        }
    }

    /// (Re)starts the decoder for a stream of `channels` (1 or 2) at 48 kHz. Builds the state
    /// in place; allocates nothing.
    pub fn init(&mut self, channels: usize) -> Result<(), DecodeError> {
        if !(1..=OD_MAX_CHANNELS).contains(&channels) {
            self.channels = 0;
            return Err(DecodeError::BadChannels);
        }
        self.channels = 0;
        OpusDecoder::init(&mut self.decoder, SAMPLE_RATE, channels).map_err(|_| DecodeError::BadChannels)?;
        self.channels = channels;
        Ok(())
    }

    /// Forgets the stream (as a fresh `init` with the same channels): the next packet decodes
    /// as the first of a new stream.
    pub fn reset(&mut self) -> Result<(), DecodeError> {
        match self.channels {
            0 => Err(DecodeError::NotInitialized),
            ch => self.init(ch),
        }
    }

    /// The channel count of the stream, 0 before `init`.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Where the caller writes the next packet.
    pub fn packet_mut(&mut self) -> &mut [u8; OD_MAX_PACKET_BYTES] {
        &mut self.packet
    }

    /// The interleaved output of the last successful call (its first `frames * channels`
    /// samples are the decoded audio).
    pub fn output(&self) -> &[f32] {
        &self.out
    }

    /// Decodes the first `len` bytes of the packet buffer; `len == 0` conceals one lost 20 ms
    /// packet. Returns the frames (per channel) written to the output.
    pub fn decode(&mut self, len: usize) -> Result<usize, DecodeError> {
        if len == 0 {
            return self.conceal(PLC_FRAMES);
        }
        if self.channels == 0 {
            return Err(DecodeError::NotInitialized);
        }
        if len > OD_MAX_PACKET_BYTES {
            return Err(DecodeError::PacketTooLarge);
        }
        let packet = &self.packet[..len];
        // Size the output to the packet, so the decoder does not zero-fill 120 ms every call.
        let frames = packet_frames(packet).ok_or(DecodeError::InvalidPacket)?;
        self.run(len, frames)
    }

    /// Packet loss concealment for `frames` per channel (a multiple of 2.5 ms, at most 120 ms),
    /// continuing the previous packet's mode.
    pub fn conceal(&mut self, frames: usize) -> Result<usize, DecodeError> {
        if frames == 0 || frames > OD_MAX_FRAMES || frames % 120 != 0 {
            return Err(DecodeError::BadFrameCount);
        }
        self.run(0, frames)
    }

    /// Decodes `self.packet[..len]` (`len == 0`: conceals) into `frames` of output, clamped.
    fn run(&mut self, len: usize, frames: usize) -> Result<usize, DecodeError> {
        let StreamDecoder { decoder, channels, packet, out } = self;
        let ch = *channels;
        if ch == 0 {
            return Err(DecodeError::NotInitialized);
        }
        // SAFETY: `channels != 0` only after `OpusDecoder::init` wrote the decoder.
        let dec = unsafe { decoder.assume_init_mut() };
        let out = &mut out[..frames * ch];
        let n = dec.decode(&packet[..len], frames, out).map_err(|_| DecodeError::InvalidPacket)?;
        let n = n.min(frames);
        clamp(&mut out[..n * ch]);
        Ok(n)
    }
}

/// Frames per channel a packet decodes to at 48 kHz (libopus `opus_packet_get_nb_samples`),
/// or `None` when its ToC cannot describe 2.5..120 ms.
pub fn packet_frames(packet: &[u8]) -> Option<usize> {
    let toc = *packet.first()?;
    // RFC 6716 §3.1: the configuration's frame size.
    let size = ((toc >> 3) & 3) as usize;
    let per_frame = if toc & 0x80 != 0 {
        120 << size // CELT: 2.5, 5, 10, 20 ms
    } else if toc & 0x60 == 0x60 {
        480 << (size & 1) // Hybrid: 10, 20 ms
    } else {
        [480, 960, 1920, 2880][size] // SILK: 10, 20, 40, 60 ms
    };
    // RFC 6716 §3.2: frames in the packet by its code.
    let count = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => (*packet.get(1)? & 0x3f) as usize,
    };
    let frames = per_frame * count;
    (1..=OD_MAX_FRAMES).contains(&frames).then_some(frames)
}

/// Garbage input can decode to anything: keep every sample finite and within [-1, 1].
fn clamp(samples: &mut [f32]) {
    for s in samples {
        *s = if s.is_nan() { 0.0 } else { s.clamp(-1.0, 1.0) };
    }
}

// ---- The C ABI: one decoder per module instance. ----
//
// Natively these work too (the tests call them), but they share one static: call them from one
// thread at a time. In wasm there is only one thread.

/// The module's one decoder. `Sync` only so it can be a `static`: see the note above.
struct Global(UnsafeCell<StreamDecoder>);
// SAFETY: wasm32-unknown-unknown is single-threaded; native callers use one thread at a time.
unsafe impl Sync for Global {}
static STATE: Global = Global(UnsafeCell::new(StreamDecoder::new()));

fn state() -> &'static mut StreamDecoder {
    // SAFETY: one thread at a time (above), and every export takes this reference once and
    // drops it before returning, so no two are alive together.
    unsafe { &mut *STATE.0.get() }
}

fn result(r: Result<usize, DecodeError>) -> i32 {
    match r {
        Ok(n) => n as i32,
        Err(e) => e.code(),
    }
}

/// Starts the decoder for `channels` (1 or 2) at 48 kHz: 0, or a negative [`DecodeError`] code.
#[unsafe(no_mangle)]
pub extern "C" fn od_init(channels: i32) -> i32 {
    let ch = usize::try_from(channels).unwrap_or(0);
    result(state().init(ch).map(|()| 0))
}

/// Forgets the current stream (same channels): 0, or [`DecodeError::NotInitialized`].
#[unsafe(no_mangle)]
pub extern "C" fn od_reset() -> i32 {
    result(state().reset().map(|()| 0))
}

/// The packet buffer ([`od_packet_max`] bytes). Fixed for the module's life.
#[unsafe(no_mangle)]
pub extern "C" fn od_packet_ptr() -> *mut u8 {
    state().packet_mut().as_mut_ptr()
}

/// The packet buffer's size, [`OD_MAX_PACKET_BYTES`].
#[unsafe(no_mangle)]
pub extern "C" fn od_packet_max() -> i32 {
    OD_MAX_PACKET_BYTES as i32
}

/// The output: interleaved `f32`, room for [`OD_MAX_FRAMES`] x 2. Fixed for the module's life.
#[unsafe(no_mangle)]
pub extern "C" fn od_out_ptr() -> *const f32 {
    state().output().as_ptr()
}

/// The channel count given to `od_init` (0 before).
#[unsafe(no_mangle)]
pub extern "C" fn od_channels() -> i32 {
    state().channels() as i32
}

/// Decodes the `len` bytes at [`od_packet_ptr`] (`len == 0`: conceals one lost 20 ms packet).
/// Returns the frames per channel now at [`od_out_ptr`], or a negative [`DecodeError`] code.
#[unsafe(no_mangle)]
pub extern "C" fn od_decode(len: i32) -> i32 {
    match usize::try_from(len) {
        Ok(len) => result(state().decode(len)),
        Err(_) => DecodeError::PacketTooLarge.code(),
    }
}

/// Conceals `frames` lost frames per channel (a multiple of 120, at most 5760): the frames
/// written, or a negative [`DecodeError`] code.
#[unsafe(no_mangle)]
pub extern "C" fn od_conceal(frames: i32) -> i32 {
    match usize::try_from(frames) {
        Ok(frames) => result(state().conceal(frames)),
        Err(_) => DecodeError::BadFrameCount.code(),
    }
}

/// A panic cannot unwind out of wasm: it traps (`unreachable`), and the JS side re-inits.
#[cfg(all(target_arch = "wasm32", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
