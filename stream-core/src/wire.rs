//! The binary audio frame: a fixed 24-byte little-endian header followed by the payload.
//!
//! One implementation for the server (encode), the wasm engine and the relay client (decode).
//! Documented byte by byte in `docs/wire.md`; golden frames under test keep every side in step.
//! Decoding never panics and never allocates: every length read from the wire is checked
//! against a named maximum before it is used.

use core::fmt;

use crate::control::ErrorCode;

/// First byte of every frame: the version of this layout.
pub const WIRE_VERSION: u8 = 1;
/// Size of the fixed header in bytes.
pub const HEADER_LEN: usize = 24;
/// Most frames (samples per channel) one binary frame may carry: 1 s at 48 kHz.
pub const MAX_FRAMES_PER_PACKET: u32 = 48_000;
/// Most channels a stream may have.
pub const MAX_CHANNELS: u8 = 8;
/// Largest payload a frame may carry (1 s of 8-channel f32).
pub const MAX_PAYLOAD_LEN: usize = MAX_FRAMES_PER_PACKET as usize * MAX_CHANNELS as usize * core::mem::size_of::<f32>();

/// Most Opus packets one binary frame may carry.
pub const MAX_PACKETS_PER_FRAME: usize = 50;
/// Largest Opus packet (RFC 6716 3.4: 1275 bytes per frame, up to 3 frames of repacketization
/// headroom kept modest).
pub const MAX_OPUS_PACKET_BYTES: usize = 4000;

/// Flag bit: this frame starts a new run (first frame after start or seek); the position jumps.
pub const FLAG_DISCONTINUITY: u8 = 0b0000_0001;
/// Flag bit: this is the last frame of the stream.
pub const FLAG_END_OF_STREAM: u8 = 0b0000_0010;

/// The codec of a frame's payload. The discriminants are the wire values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Codec {
    /// Interleaved signed 16-bit little-endian PCM.
    PcmS16 = 1,
    /// Interleaved 32-bit IEEE float little-endian PCM.
    PcmF32 = 2,
    /// One or more Opus packets (RFC 6716), each prefixed by its u16 LE length.
    Opus = 3,
}

impl Codec {
    /// Reads the wire value.
    pub fn from_wire(v: u8) -> Option<Codec> {
        match v {
            1 => Some(Codec::PcmS16),
            2 => Some(Codec::PcmF32),
            3 => Some(Codec::Opus),
            _ => None,
        }
    }

    /// The name used in control messages (`pcm_s16`, `pcm_f32`, `opus`).
    pub fn name(self) -> &'static str {
        match self {
            Codec::PcmS16 => "pcm_s16",
            Codec::PcmF32 => "pcm_f32",
            Codec::Opus => "opus",
        }
    }

    /// Parses the name used in control messages.
    pub fn from_name(name: &str) -> Option<Codec> {
        match name {
            "pcm_s16" => Some(Codec::PcmS16),
            "pcm_f32" => Some(Codec::PcmF32),
            "opus" => Some(Codec::Opus),
            _ => None,
        }
    }

    /// Bytes per sample for PCM codecs; `None` for compressed ones.
    pub fn pcm_bytes_per_sample(self) -> Option<usize> {
        match self {
            Codec::PcmS16 => Some(2),
            Codec::PcmF32 => Some(4),
            Codec::Opus => None,
        }
    }
}

/// The fixed header of a binary audio frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Codec of the payload.
    pub codec: Codec,
    /// Interleaved channels of the payload (1..=[`MAX_CHANNELS`]).
    pub channels: u8,
    /// [`FLAG_DISCONTINUITY`], [`FLAG_END_OF_STREAM`]; other bits are reserved and zero.
    pub flags: u8,
    /// The playback session this frame belongs to (from `audio_stream_start`); frames of an
    /// older session that are still in flight are dropped by the client.
    pub session: u32,
    /// Position of the first frame of the payload, in frames at 48 kHz from the start of the
    /// track or live stream.
    pub sample_pos: u64,
    /// Frames (samples per channel) the payload decodes to.
    pub frame_count: u32,
}

/// Why a binary frame was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// Fewer bytes than the header or than the header announces.
    Truncated { len: usize, needed: usize },
    /// More bytes than the header announces.
    TrailingBytes { len: usize, expected: usize },
    /// A version this code does not speak.
    UnsupportedVersion { version: u8 },
    /// An unknown codec byte.
    UnknownCodec { value: u8 },
    /// Zero channels or more than [`MAX_CHANNELS`].
    BadChannels { channels: u8 },
    /// More frames than [`MAX_FRAMES_PER_PACKET`], or zero.
    BadFrameCount { frame_count: u32 },
    /// A payload larger than [`MAX_PAYLOAD_LEN`].
    TooLarge { len: usize, max: usize },
    /// A PCM payload whose size does not match frames x channels x sample size.
    PayloadMismatch { len: usize, expected: usize },
    /// Reserved flag bits set.
    ReservedFlags { flags: u8 },
    /// An Opus payload whose packet lengths do not add up, or with too many or too large packets.
    BadPacketList { len: usize },
}

impl WireError {
    /// Stable error code, as used in `audio_stream_error`.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::CorruptAudio
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WireError::Truncated { len, needed } => {
                write!(f, "frame truncated: {len} bytes, {needed} needed")
            }
            WireError::TrailingBytes { len, expected } => {
                write!(f, "frame has {len} bytes, header announces {expected}")
            }
            WireError::UnsupportedVersion { version } => {
                write!(f, "unsupported frame version {version}")
            }
            WireError::UnknownCodec { value } => write!(f, "unknown codec byte {value}"),
            WireError::BadChannels { channels } => {
                write!(f, "bad channel count {channels} (1..={MAX_CHANNELS})")
            }
            WireError::BadFrameCount { frame_count } => {
                write!(f, "bad frame count {frame_count} (1..={MAX_FRAMES_PER_PACKET})")
            }
            WireError::TooLarge { len, max } => write!(f, "payload of {len} bytes exceeds {max}"),
            WireError::PayloadMismatch { len, expected } => {
                write!(f, "PCM payload of {len} bytes, {expected} expected")
            }
            WireError::ReservedFlags { flags } => write!(f, "reserved flag bits set: {flags:#04x}"),
            WireError::BadPacketList { len } => write!(f, "malformed Opus packet list in a {len}-byte payload"),
        }
    }
}

impl std::error::Error for WireError {}

const KNOWN_FLAGS: u8 = FLAG_DISCONTINUITY | FLAG_END_OF_STREAM;

impl FrameHeader {
    /// Writes the header into the first [`HEADER_LEN`] bytes of `out`, announcing
    /// `payload_len` payload bytes. Returns `None` if `out` is too short.
    pub fn write(&self, payload_len: usize, out: &mut [u8]) -> Option<()> {
        let out = out.get_mut(..HEADER_LEN)?;
        out[0] = WIRE_VERSION;
        out[1] = self.codec as u8;
        out[2] = self.channels;
        out[3] = self.flags;
        out[4..8].copy_from_slice(&self.session.to_le_bytes());
        out[8..16].copy_from_slice(&self.sample_pos.to_le_bytes());
        out[16..20].copy_from_slice(&self.frame_count.to_le_bytes());
        out[20..24].copy_from_slice(&(payload_len as u32).to_le_bytes());
        Some(())
    }

    /// Parses and validates a whole frame, returning its header and payload.
    pub fn parse(frame: &[u8]) -> Result<(FrameHeader, &[u8]), WireError> {
        if frame.len() < HEADER_LEN {
            return Err(WireError::Truncated { len: frame.len(), needed: HEADER_LEN });
        }
        let le32 = |at: usize| u32::from_le_bytes([frame[at], frame[at + 1], frame[at + 2], frame[at + 3]]);
        if frame[0] != WIRE_VERSION {
            return Err(WireError::UnsupportedVersion { version: frame[0] });
        }
        let codec = Codec::from_wire(frame[1]).ok_or(WireError::UnknownCodec { value: frame[1] })?;
        let channels = frame[2];
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(WireError::BadChannels { channels });
        }
        let flags = frame[3];
        if flags & !KNOWN_FLAGS != 0 {
            return Err(WireError::ReservedFlags { flags });
        }
        let session = le32(4);
        let mut pos = [0u8; 8];
        pos.copy_from_slice(&frame[8..16]);
        let sample_pos = u64::from_le_bytes(pos);
        let frame_count = le32(16);
        if frame_count == 0 || frame_count > MAX_FRAMES_PER_PACKET {
            return Err(WireError::BadFrameCount { frame_count });
        }
        let payload_len = le32(20) as usize;
        if payload_len > MAX_PAYLOAD_LEN {
            return Err(WireError::TooLarge { len: payload_len, max: MAX_PAYLOAD_LEN });
        }
        let expected = HEADER_LEN + payload_len;
        if frame.len() < expected {
            return Err(WireError::Truncated { len: frame.len(), needed: expected });
        }
        if frame.len() > expected {
            return Err(WireError::TrailingBytes { len: frame.len(), expected });
        }
        if let Some(bps) = codec.pcm_bytes_per_sample() {
            let pcm_len = frame_count as usize * channels as usize * bps;
            if pcm_len != payload_len {
                return Err(WireError::PayloadMismatch { len: payload_len, expected: pcm_len });
            }
        } else {
            let mut n = 0;
            for p in OpusPackets::new(&frame[HEADER_LEN..]) {
                p?;
                n += 1;
            }
            if n == 0 || n > MAX_PACKETS_PER_FRAME {
                return Err(WireError::BadPacketList { len: payload_len });
            }
        }
        let header = FrameHeader { codec, channels, flags, session, sample_pos, frame_count };
        Ok((header, &frame[HEADER_LEN..]))
    }
}

/// Encodes interleaved f32 samples as a PCM frame of `codec` into `out` (cleared first).
///
/// `pcm_s16` rounds to nearest and saturates; `pcm_f32` is bit-exact. Panics never; returns
/// `None` for `Opus` (encoded elsewhere) or an inconsistent sample count.
pub fn encode_pcm_frame(
    codec: Codec,
    channels: u8,
    flags: u8,
    session: u32,
    sample_pos: u64,
    interleaved: &[f32],
    out: &mut Vec<u8>,
) -> Option<()> {
    let bps = codec.pcm_bytes_per_sample()?;
    if channels == 0 || interleaved.len() % channels as usize != 0 {
        return None;
    }
    let frame_count = (interleaved.len() / channels as usize) as u32;
    let header = FrameHeader { codec, channels, flags, session, sample_pos, frame_count };
    out.clear();
    out.resize(HEADER_LEN, 0);
    header.write(interleaved.len() * bps, out)?;
    out.reserve(interleaved.len() * bps);
    match codec {
        Codec::PcmS16 => {
            for &s in interleaved {
                out.extend_from_slice(&f32_to_s16(s).to_le_bytes());
            }
        }
        Codec::PcmF32 => {
            for &s in interleaved {
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
        Codec::Opus => return None,
    }
    Some(())
}

/// Encodes Opus packets as one frame into `out` (cleared first): each packet is prefixed by its
/// length as u16 LE. Returns `None` for an empty list, too many packets or an oversized packet.
pub fn encode_opus_frame<P: AsRef<[u8]>>(header: &FrameHeader, packets: &[P], out: &mut Vec<u8>) -> Option<()> {
    if packets.is_empty() || packets.len() > MAX_PACKETS_PER_FRAME {
        return None;
    }
    let payload_len: usize = packets.iter().map(|p| 2 + p.as_ref().len()).sum();
    out.clear();
    out.resize(HEADER_LEN, 0);
    header.write(payload_len, out)?;
    for p in packets {
        let p = p.as_ref();
        if p.is_empty() || p.len() > MAX_OPUS_PACKET_BYTES {
            return None;
        }
        out.extend_from_slice(&(p.len() as u16).to_le_bytes());
        out.extend_from_slice(p);
    }
    Some(())
}

/// Iterates over the packets of an Opus frame payload without allocating.
pub struct OpusPackets<'a> {
    rest: &'a [u8],
    len: usize,
}

impl<'a> OpusPackets<'a> {
    pub fn new(payload: &'a [u8]) -> Self {
        OpusPackets { rest: payload, len: payload.len() }
    }
}

impl<'a> Iterator for OpusPackets<'a> {
    type Item = Result<&'a [u8], WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let bad = WireError::BadPacketList { len: self.len };
        if self.rest.len() < 2 {
            self.rest = &[];
            return Some(Err(bad));
        }
        let n = u16::from_le_bytes([self.rest[0], self.rest[1]]) as usize;
        if n == 0 || n > MAX_OPUS_PACKET_BYTES || self.rest.len() < 2 + n {
            self.rest = &[];
            return Some(Err(bad));
        }
        let (p, rest) = self.rest[2..].split_at(n);
        self.rest = rest;
        Some(Ok(p))
    }
}

/// Converts a float sample to s16: scale by 32768, round to nearest, saturate.
#[inline]
pub fn f32_to_s16(s: f32) -> i16 {
    let v = (s * 32768.0).round();
    if v >= 32767.0 {
        32767
    } else if v <= -32768.0 {
        -32768
    } else {
        v as i16
    }
}

/// Converts an s16 sample to float by dividing by 32768 (exact; the inverse of [`f32_to_s16`]
/// for every value it produces).
#[inline]
pub fn s16_to_f32(s: i16) -> f32 {
    s as f32 / 32768.0
}

/// Decodes a PCM payload to interleaved f32 into `out` without allocating (writes
/// `min(out.len(), samples)` values and returns how many). Opus payloads return 0.
pub fn decode_pcm_into(codec: Codec, payload: &[u8], out: &mut [f32]) -> usize {
    match codec {
        Codec::PcmS16 => {
            let mut n = 0;
            for (dst, b) in out.iter_mut().zip(payload.chunks_exact(2)) {
                *dst = s16_to_f32(i16::from_le_bytes([b[0], b[1]]));
                n += 1;
            }
            n
        }
        Codec::PcmF32 => {
            let mut n = 0;
            for (dst, b) in out.iter_mut().zip(payload.chunks_exact(4)) {
                *dst = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                n += 1;
            }
            n
        }
        Codec::Opus => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_f32_round_trip_is_bit_exact() {
        let samples: Vec<f32> = (0..480 * 2).map(|i| ((i as f32) * 0.001).sin() * 0.9).collect();
        let mut buf = Vec::new();
        encode_pcm_frame(Codec::PcmF32, 2, FLAG_DISCONTINUITY, 7, 96_000, &samples, &mut buf).expect("encode");
        let (h, payload) = FrameHeader::parse(&buf).expect("parse");
        assert_eq!(
            h,
            FrameHeader {
                codec: Codec::PcmF32,
                channels: 2,
                flags: FLAG_DISCONTINUITY,
                session: 7,
                sample_pos: 96_000,
                frame_count: 480
            }
        );
        let mut out = vec![0.0; samples.len()];
        assert_eq!(decode_pcm_into(h.codec, payload, &mut out), samples.len());
        assert!(out.iter().zip(&samples).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn pcm_s16_round_trip_within_half_lsb_and_saturates() {
        let samples = [0.0f32, 0.5, -0.5, 1.0, -1.0, 1.5, -1.5, 0.123_456];
        let mut buf = Vec::new();
        encode_pcm_frame(Codec::PcmS16, 1, 0, 1, 0, &samples, &mut buf).expect("encode");
        let (h, payload) = FrameHeader::parse(&buf).expect("parse");
        let mut out = [0.0f32; 8];
        decode_pcm_into(h.codec, payload, &mut out);
        assert_eq!(out[3], 32767.0 / 32768.0);
        assert_eq!(out[4], -1.0);
        assert_eq!(out[5], 32767.0 / 32768.0);
        assert_eq!(out[6], -1.0);
        for (a, b) in out.iter().zip(&samples).filter(|(_, b)| b.abs() < 1.0) {
            assert!((a - b).abs() <= 0.5 / 32768.0 + f32::EPSILON, "{a} vs {b}");
        }
    }

    #[test]
    fn s16_values_survive_f32_and_back() {
        for v in [i16::MIN, -12345, -1, 0, 1, 12345, i16::MAX] {
            assert_eq!(f32_to_s16(s16_to_f32(v)), v);
        }
    }

    /// The golden frames of `docs/wire.md`, byte for byte. The wasm engine test checks the same
    /// bytes, so server and client cannot drift apart.
    #[test]
    fn golden_frames() {
        let mut buf = Vec::new();
        encode_pcm_frame(Codec::PcmS16, 2, FLAG_DISCONTINUITY, 0x0102_0304, 48_000, &[0.5, -0.5], &mut buf)
            .expect("encode");
        assert_eq!(buf, GOLDEN_S16);
        encode_pcm_frame(Codec::PcmF32, 1, FLAG_END_OF_STREAM, 9, 1, &[1.0, -0.25], &mut buf).expect("encode");
        assert_eq!(buf, GOLDEN_F32);
        let header =
            FrameHeader { codec: Codec::Opus, channels: 2, flags: 0, session: 1, sample_pos: 960, frame_count: 960 };
        encode_opus_frame(&header, &[[0xfc, 0xff, 0xfe]], &mut buf).expect("encode");
        assert_eq!(buf, GOLDEN_OPUS);
        for g in [GOLDEN_S16, GOLDEN_F32, GOLDEN_OPUS] {
            assert!(FrameHeader::parse(g).is_ok());
        }
    }

    pub const GOLDEN_S16: &[u8] = &[
        0x01, 0x01, 0x02, 0x01, 0x04, 0x03, 0x02, 0x01, // version, codec, channels, flags, session
        0x80, 0xbb, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // sample_pos = 48000
        0x01, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, // frame_count = 1, payload_len = 4
        0x00, 0x40, 0x00, 0xc0, // 16384, -16384
    ];
    pub const GOLDEN_F32: &[u8] = &[
        0x01, 0x02, 0x01, 0x02, 0x09, 0x00, 0x00, 0x00, //
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x02, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x80, 0xbe, // 1.0, -0.25
    ];
    pub const GOLDEN_OPUS: &[u8] = &[
        0x01, 0x03, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, //
        0xc0, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0xc0, 0x03, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, //
        0x03, 0x00, 0xfc, 0xff, 0xfe, // one packet of 3 bytes
    ];

    #[test]
    fn opus_packet_lists_round_trip_and_bad_lists_are_refused() {
        let packets: Vec<Vec<u8>> = (1..=5u8).map(|i| vec![i; 10 * i as usize]).collect();
        let header =
            FrameHeader { codec: Codec::Opus, channels: 2, flags: 0, session: 3, sample_pos: 0, frame_count: 4800 };
        let mut buf = Vec::new();
        encode_opus_frame(&header, &packets, &mut buf).expect("encode");
        let (h, payload) = FrameHeader::parse(&buf).expect("parse");
        assert_eq!(h, header);
        let got: Vec<&[u8]> = OpusPackets::new(payload).map(|p| p.expect("packet")).collect();
        assert_eq!(got.len(), 5);
        for (g, p) in got.iter().zip(&packets) {
            assert_eq!(*g, &p[..]);
        }
        let mut bad = buf.clone();
        bad[HEADER_LEN] = 0xff; // first length now exceeds the payload
        assert!(matches!(FrameHeader::parse(&bad), Err(WireError::BadPacketList { .. })));
        let mut bad = buf.clone();
        bad[HEADER_LEN] = 0;
        bad[HEADER_LEN + 1] = 0; // zero-length packet
        assert!(matches!(FrameHeader::parse(&bad), Err(WireError::BadPacketList { .. })));
        assert!(encode_opus_frame::<&[u8]>(&header, &[], &mut buf).is_none());
    }

    #[test]
    fn rejects_bad_frames_with_precise_errors() {
        let ok = GOLDEN_S16;
        assert_eq!(FrameHeader::parse(&ok[..10]), Err(WireError::Truncated { len: 10, needed: HEADER_LEN }));
        assert_eq!(FrameHeader::parse(&ok[..26]), Err(WireError::Truncated { len: 26, needed: 28 }));
        let mut long = ok.to_vec();
        long.push(0);
        assert_eq!(FrameHeader::parse(&long), Err(WireError::TrailingBytes { len: 29, expected: 28 }));
        let mut f = ok.to_vec();
        f[0] = 2;
        assert_eq!(FrameHeader::parse(&f), Err(WireError::UnsupportedVersion { version: 2 }));
        let mut f = ok.to_vec();
        f[1] = 9;
        assert_eq!(FrameHeader::parse(&f), Err(WireError::UnknownCodec { value: 9 }));
        let mut f = ok.to_vec();
        f[2] = 0;
        assert_eq!(FrameHeader::parse(&f), Err(WireError::BadChannels { channels: 0 }));
        let mut f = ok.to_vec();
        f[3] = 0x80;
        assert_eq!(FrameHeader::parse(&f), Err(WireError::ReservedFlags { flags: 0x80 }));
        let mut f = ok.to_vec();
        f[16..20].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(FrameHeader::parse(&f), Err(WireError::BadFrameCount { frame_count: 0 }));
        let mut f = ok.to_vec();
        f[16..20].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(FrameHeader::parse(&f), Err(WireError::PayloadMismatch { len: 4, expected: 8 }));
        let mut f = ok.to_vec();
        f[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(FrameHeader::parse(&f), Err(WireError::TooLarge { len: u32::MAX as usize, max: MAX_PAYLOAD_LEN }));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // A seeded xorshift walk over lengths and contents (fuzzing proper is issue 8).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|i| (x >> (i % 8 * 8)) as u8).collect();
            if len > 3 && x % 3 == 0 {
                bytes[0] = WIRE_VERSION;
                bytes[1] = 1 + (x % 3) as u8;
            }
            let _ = FrameHeader::parse(&bytes);
        }
    }
}
