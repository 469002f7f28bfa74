//! What crosses the bus for a live stream: each frame as its node encoded it (Opus, PCM s16 and
//! f32 wire frames, the Ogg page), the end, a failure. One message a frame, on the stream's
//! subject, in a small binary envelope; a node that receives one checks it as strictly as any
//! ingest before its listeners get it.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use stream_core::control::ErrorCode;
use stream_core::wire::{Codec, FrameHeader};

use crate::live::{LiveEvent, LiveFrame, LiveStream, LIVE_FRAME_FRAMES};

const MAGIC: &[u8; 4] = b"RLB1";
const KIND_FRAME: u8 = 1;
const KIND_END: u8 = 2;
const KIND_ERROR: u8 = 3;
/// NATS' default largest message (1 MiB): a 200 ms stereo frame in every encoding is ~125 kB.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// A live event with the producer's epoch and the stream's format, as it goes on the bus.
#[derive(Debug)]
pub struct BusEvent {
    pub epoch: u32,
    pub session: u32,
    pub channels: u8,
    pub pre_skip: u32,
    pub event: LiveEvent,
}

/// Why a message from the bus was refused (counted, logged once per stream, never passed on).
#[derive(Debug, PartialEq, Eq)]
pub struct Refused(pub String);

/// The envelope of `ev` (`None` for nothing worth sending).
pub fn encode(stream: &LiveStream, ev: &LiveEvent) -> Bytes {
    let (channels, pre_skip) = stream.format();
    let epoch = stream.epoch.load(std::sync::atomic::Ordering::Acquire);
    let mut b = BytesMut::with_capacity(64);
    b.put_slice(MAGIC);
    let kind = match ev {
        LiveEvent::Frame(_) => KIND_FRAME,
        LiveEvent::End { .. } => KIND_END,
        LiveEvent::Error { .. } => KIND_ERROR,
    };
    b.put_u8(kind);
    b.put_u32_le(epoch);
    b.put_u32_le(stream.session);
    b.put_u8(channels);
    b.put_u32_le(pre_skip);
    match ev {
        LiveEvent::Frame(f) => {
            b.reserve(f.opus.len() + f.pcm_s16.len() + f.pcm_f32.len() + f.ogg.len() + 40);
            b.put_u64_le(f.pos);
            b.put_u32_le(f.frames);
            b.put_u32_le(f.ogg_seq);
            for part in [&f.opus, &f.pcm_s16, &f.pcm_f32, &f.ogg] {
                b.put_u32_le(part.len() as u32);
            }
            for part in [&f.opus, &f.pcm_s16, &f.pcm_f32, &f.ogg] {
                b.put_slice(part);
            }
        }
        LiveEvent::End { total_samples } => b.put_u64_le(*total_samples),
        LiveEvent::Error { code, message } => {
            let code = code.as_str().as_bytes();
            b.put_u8(code.len() as u8);
            b.put_slice(code);
            let m = &message.as_bytes()[..message.len().min(1024)];
            b.put_u16_le(m.len() as u16);
            b.put_slice(m);
        }
    }
    b.freeze()
}

struct Reader {
    b: Bytes,
    at: usize,
}

impl Reader {
    fn take(&mut self, n: usize) -> Result<Bytes, Refused> {
        if self.b.len() - self.at < n {
            return Err(Refused(format!("message cut short at byte {}", self.at)));
        }
        let out = self.b.slice(self.at..self.at + n);
        self.at += n;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, Refused> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, Refused> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, Refused> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, Refused> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&b);
        Ok(u64::from_le_bytes(a))
    }
}

/// Parses and checks a message for `stream`: its session and Ogg serial, every wire frame's
/// header against the envelope (codec, channels, session, position, length), the Ogg page's
/// checksum and sequence. A message that fails any of these is refused whole.
pub fn decode(stream: &LiveStream, payload: Bytes) -> Result<BusEvent, Refused> {
    if payload.len() > MAX_MESSAGE_BYTES {
        return Err(Refused(format!("{} bytes", payload.len())));
    }
    let mut r = Reader { b: payload, at: 0 };
    if &r.take(4)?[..] != MAGIC {
        return Err(Refused("not a relay bus message".into()));
    }
    let kind = r.u8()?;
    let epoch = r.u32()?;
    let session = r.u32()?;
    let channels = r.u8()?;
    let pre_skip = r.u32()?;
    if session != stream.session {
        return Err(Refused(format!("session {session:#x} is not the stream's")));
    }
    if !(1..=2).contains(&channels) || pre_skip > 48_000 {
        return Err(Refused(format!("{channels} channels, pre-skip {pre_skip}")));
    }
    let event = match kind {
        KIND_FRAME => {
            let pos = r.u64()?;
            let frames = r.u32()?;
            let ogg_seq = r.u32()?;
            if frames as usize > LIVE_FRAME_FRAMES {
                return Err(Refused(format!("a frame of {frames} frames")));
            }
            let lens = [r.u32()?, r.u32()?, r.u32()?, r.u32()?];
            let mut parts = Vec::with_capacity(4);
            for n in lens {
                parts.push(r.take(n as usize)?);
            }
            let ogg = parts.pop().unwrap_or_default();
            let pcm_f32 = parts.pop().unwrap_or_default();
            let pcm_s16 = parts.pop().unwrap_or_default();
            let opus = parts.pop().unwrap_or_default();
            check_wire(&opus, Codec::Opus, channels, session, pos, None)?;
            if frames > 0 {
                check_wire(&pcm_s16, Codec::PcmS16, channels, session, pos, Some(frames))?;
                check_wire(&pcm_f32, Codec::PcmF32, channels, session, pos, Some(frames))?;
            }
            check_page(&ogg, stream.serial, ogg_seq)?;
            LiveEvent::Frame(Arc::new(LiveFrame { pos, frames, opus, pcm_s16, pcm_f32, ogg, ogg_seq }))
        }
        KIND_END => LiveEvent::End { total_samples: r.u64()? },
        KIND_ERROR => {
            let n = r.u8()? as usize;
            let code = r.take(n)?;
            let code = ErrorCode::ALL
                .iter()
                .copied()
                .find(|c| c.as_str().as_bytes() == &code[..])
                .ok_or_else(|| Refused("an unknown error code".into()))?;
            let n = r.u16()? as usize;
            let message = String::from_utf8_lossy(&r.take(n)?).into_owned();
            LiveEvent::Error { code, message }
        }
        k => return Err(Refused(format!("unknown kind {k}"))),
    };
    if r.at != r.b.len() {
        return Err(Refused(format!("{} bytes after the message", r.b.len() - r.at)));
    }
    Ok(BusEvent { epoch, session, channels, pre_skip, event })
}

fn check_wire(
    bytes: &[u8],
    codec: Codec,
    channels: u8,
    session: u32,
    pos: u64,
    frames: Option<u32>,
) -> Result<(), Refused> {
    let (h, _): (FrameHeader, _) =
        FrameHeader::parse(bytes).map_err(|e| Refused(format!("{} frame: {e}", codec.name())))?;
    let ok = h.codec == codec
        && h.channels == channels
        && h.session == session
        && h.sample_pos == pos
        && frames.is_none_or(|n| h.frame_count == n);
    if ok {
        Ok(())
    } else {
        Err(Refused(format!("{} frame header does not match its envelope", codec.name())))
    }
}

/// One whole Ogg page of the stream's serial, sequence `seq`, with a right checksum.
fn check_page(page: &[u8], serial: u32, seq: u32) -> Result<(), Refused> {
    let bad = |why: &str| Err(Refused(format!("Ogg page: {why}")));
    if page.len() < 27 || &page[..4] != b"OggS" || page[4] != 0 {
        return bad("no page header");
    }
    let segments = page[26] as usize;
    if page.len() < 27 + segments {
        return bad("cut short");
    }
    let body: usize = page[27..27 + segments].iter().map(|&n| n as usize).sum();
    if page.len() != 27 + segments + body {
        return bad("length does not match its segment table");
    }
    let word = |i: usize| u32::from_le_bytes([page[i], page[i + 1], page[i + 2], page[i + 3]]);
    if word(14) != serial || word(18) != seq {
        return bad("not the stream's serial or sequence");
    }
    let mut copy = page.to_vec();
    copy[22..26].fill(0);
    let table = crc_table();
    if stream_core::ogg::ogg_crc(table, &copy) != word(22) {
        return bad("checksum");
    }
    Ok(())
}

fn crc_table() -> &'static [u32; 256] {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(stream_core::ogg::crc_table)
}
