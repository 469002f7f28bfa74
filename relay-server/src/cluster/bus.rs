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
        LiveEvent::Frame(_) | LiveEvent::Title(_) => KIND_FRAME,
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
            b.reserve(f.opus.len() + f.pcm_s16.len() + f.pcm_f32.len() + f.ogg.len() + f.ogg_chain.len() + 64);
            b.put_u64_le(f.pos);
            b.put_u32_le(f.frames);
            b.put_u32_le(f.ogg_seq);
            b.put_u32_le(f.ogg_serial);
            for part in [&f.opus, &f.pcm_s16, &f.pcm_f32, &f.ogg, &f.ogg_chain] {
                b.put_u32_le(part.len() as u32);
            }
            for part in [&f.opus, &f.pcm_s16, &f.pcm_f32, &f.ogg, &f.ogg_chain] {
                b.put_slice(part);
            }
            // Titles beginning in the frame: count, then (sample, length, UTF-8) each.
            b.put_u8(f.meta.len().min(8) as u8);
            for t in f.meta.iter().take(8) {
                let title = &t.title.as_bytes()[..t.title.len().min(crate::live::source::MAX_TITLE_BYTES)];
                b.put_u64_le(t.sample);
                b.put_u16_le(title.len() as u16);
                b.put_slice(title);
            }
        }
        LiveEvent::End { total_samples } => b.put_u64_le(*total_samples),
        // Never sent alone (a frame carries its titles): see cluster::publish_frames.
        LiveEvent::Title(_) => {}
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
            let ogg_serial = r.u32()?;
            if frames as usize > LIVE_FRAME_FRAMES {
                return Err(Refused(format!("a frame of {frames} frames")));
            }
            let lens = [r.u32()?, r.u32()?, r.u32()?, r.u32()?, r.u32()?];
            let mut parts = Vec::with_capacity(5);
            for n in lens {
                parts.push(r.take(n as usize)?);
            }
            let ogg_chain = parts.pop().unwrap_or_default();
            let ogg = parts.pop().unwrap_or_default();
            let pcm_f32 = parts.pop().unwrap_or_default();
            let pcm_s16 = parts.pop().unwrap_or_default();
            let opus = parts.pop().unwrap_or_default();
            check_wire(&opus, Codec::Opus, channels, session, pos, frames)?;
            if frames > 0 {
                check_wire(&pcm_s16, Codec::PcmS16, channels, session, pos, frames)?;
                check_wire(&pcm_f32, Codec::PcmF32, channels, session, pos, frames)?;
            }
            // A chained logical stream's serial follows the stream's (one more per title).
            if ogg_serial.wrapping_sub(stream.serial) > 1 << 24 {
                return Err(Refused(format!("Ogg serial {ogg_serial:#x} is not of the stream")));
            }
            check_page(&ogg, ogg_serial, ogg_seq)?;
            check_chain(&ogg_chain, ogg_serial)?;
            let count = r.u8()?;
            let mut meta = Vec::with_capacity(count as usize);
            for _ in 0..count.min(8) {
                let sample = r.u64()?;
                let n = r.u16()? as usize;
                let title = String::from_utf8(r.take(n)?.to_vec()).map_err(|_| Refused("a title not UTF-8".into()))?;
                if n > crate::live::source::MAX_TITLE_BYTES || sample < pos || sample > pos + frames as u64 {
                    return Err(Refused(format!("a title at {sample} outside its frame")));
                }
                meta.push(Arc::new(crate::live::Title { sample, title }));
            }
            LiveEvent::Frame(Arc::new(LiveFrame {
                pos,
                frames,
                opus,
                pcm_s16,
                pcm_f32,
                ogg,
                ogg_seq,
                ogg_serial,
                ogg_chain,
                meta,
            }))
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

/// A wire frame of `codec` at `pos` with `frames` frames: PCM exactly; Opus in whole 20 ms
/// packets, padded at the stream's end.
fn check_wire(bytes: &[u8], codec: Codec, channels: u8, session: u32, pos: u64, frames: u32) -> Result<(), Refused> {
    let (h, _): (FrameHeader, _) =
        FrameHeader::parse(bytes).map_err(|e| Refused(format!("{} frame: {e}", codec.name())))?;
    let count_ok = match codec {
        Codec::Opus => {
            let packet = crate::media::opus::PACKET_FRAMES as u32;
            h.frame_count >= frames && h.frame_count as usize <= LIVE_FRAME_FRAMES && h.frame_count % packet == 0
        }
        _ => h.frame_count == frames,
    };
    let ok = h.codec == codec && h.channels == channels && h.session == session && h.sample_pos == pos && count_ok;
    if ok {
        Ok(())
    } else {
        Err(Refused(format!("{} frame header does not match its envelope", codec.name())))
    }
}

/// A chain's pages (the previous logical stream's end, the new one's headers): whole pages with
/// right checksums, the last two of logical stream `serial`.
fn check_chain(chain: &[u8], serial: u32) -> Result<(), Refused> {
    if chain.is_empty() {
        return Ok(());
    }
    let mut at = 0;
    let mut seen = 0;
    while at < chain.len() {
        let rest = &chain[at..];
        if rest.len() < 27 {
            return Err(Refused("a chain page cut short".into()));
        }
        let segs = rest[26] as usize;
        let len = 27 + segs + rest.get(27..27 + segs).map_or(0, |l| l.iter().map(|&x| x as usize).sum());
        let page = rest.get(..len).ok_or_else(|| Refused("a chain page cut short".into()))?;
        let page_serial = u32::from_le_bytes([page[14], page[15], page[16], page[17]]);
        let seq = u32::from_le_bytes([page[18], page[19], page[20], page[21]]);
        let want = if seen == 0 { page_serial } else { serial };
        check_page(page, want, seq)?;
        at += len;
        seen += 1;
    }
    if seen != 3 {
        return Err(Refused(format!("a chain of {seen} pages")));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use stream_core::wire::{encode_opus_frame, encode_pcm_frame};

    use super::*;
    use crate::live::{LiveConfig, LiveRegistry};

    fn stream() -> Arc<LiveStream> {
        let s = LiveRegistry::new(stream_config()).adopt("s1", 0x4000_0001, 77);
        s.set_format(2, 312);
        s
    }

    fn frame(s: &LiveStream, pos: u64, seq: u32) -> LiveEvent {
        let pcm = vec![0.25f32; 960 * 2];
        let header = FrameHeader {
            codec: Codec::Opus,
            channels: 2,
            flags: 0,
            session: s.session,
            sample_pos: pos,
            frame_count: 960,
        };
        let packets = [vec![0xfcu8, 0x01, 0x02]];
        let (mut opus, mut s16, mut f32s) = (Vec::new(), Vec::new(), Vec::new());
        encode_opus_frame(&header, &packets, &mut opus).expect("opus");
        encode_pcm_frame(Codec::PcmS16, 2, 0, s.session, pos, &pcm, &mut s16).expect("s16");
        encode_pcm_frame(Codec::PcmF32, 2, 0, s.session, pos, &pcm, &mut f32s).expect("f32");
        let ogg = stream_core::ogg::write_page(crc_table(), s.serial, seq, pos + 960, 0, &packets);
        LiveEvent::Frame(Arc::new(LiveFrame {
            pos,
            frames: 960,
            opus: opus.into(),
            pcm_s16: s16.into(),
            pcm_f32: f32s.into(),
            ogg: ogg.into(),
            ogg_seq: seq,
            ogg_serial: s.serial,
            ogg_chain: Default::default(),
            meta: Vec::new(),
        }))
    }

    #[test]
    fn a_frame_crosses_whole_and_every_forgery_is_refused() {
        let s = stream();
        let bytes = encode(&s, &frame(&s, 9600, 3));
        let ev = decode(&s, bytes.clone()).expect("a frame of the stream");
        let LiveEvent::Frame(f) = &ev.event else { panic!("not a frame") };
        assert_eq!((f.pos, f.frames, f.ogg_seq, ev.channels, ev.pre_skip, ev.epoch), (9600, 960, 3, 2, 312, 0));
        let LiveEvent::Frame(orig) = frame(&s, 9600, 3) else { unreachable!() };
        assert_eq!((&f.opus, &f.pcm_f32, &f.ogg), (&orig.opus, &orig.pcm_f32, &orig.ogg));

        // Another stream's session, the same bytes.
        let other = LiveRegistry::new(stream_config()).adopt("s2", 0x4000_0002, 77);
        assert!(decode(&other, bytes.clone()).is_err());
        // Every single-byte change is caught, but in the epoch and the pre-skip (which the
        // receiver checks against the stream's: `Cluster::take`), and so is every cut.
        for i in (0..bytes.len()).filter(|&i| !(5..9).contains(&i) && !(14..18).contains(&i)) {
            let mut b = bytes.to_vec();
            b[i] ^= 0x40;
            let r = decode(&s, Bytes::from(b));
            // A flipped bit inside a PCM sample or an Opus packet's payload changes audio, not
            // structure: those bytes are the producer's to send (as in any ingest).
            if r.is_ok() {
                assert!(payload_byte(&bytes, i), "byte {i} changed and still accepted as structure");
            }
        }
        for n in [0, 3, 10, 30, bytes.len() - 1] {
            assert!(decode(&s, bytes.slice(..n)).is_err(), "cut to {n} bytes");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(decode(&s, Bytes::from(longer)).is_err());

        // End and error round-trip; an unknown error code does not.
        let end = decode(&s, encode(&s, &LiveEvent::End { total_samples: 123 })).expect("end");
        assert!(matches!(end.event, LiveEvent::End { total_samples: 123 }));
        let err = LiveEvent::Error { code: ErrorCode::ProducerLost, message: "gone".into() };
        let back = decode(&s, encode(&s, &err)).expect("error");
        assert!(
            matches!(back.event, LiveEvent::Error { code: ErrorCode::ProducerLost, ref message } if message == "gone")
        );
    }

    fn stream_config() -> LiveConfig {
        let second = Duration::from_secs(1);
        LiveConfig {
            api_key: None,
            max_streams: 1,
            max_listeners: 1,
            publish_token_ttl: second,
            listen_token_ttl: second,
            create_per_minute: 1,
            burst_ms: 1000,
            max_ahead: second,
            send_timeout: second,
            linger: second,
            idle_timeout: second,
            timeshift: second,
            source_grace: second,
        }
    }

    /// Whether byte `i` of an encoded frame lies in audio data (a PCM sample, an Opus packet)
    /// rather than in a header, a length or the Ogg page's structure.
    fn payload_byte(bytes: &[u8], i: usize) -> bool {
        let lens: Vec<usize> = (0..5)
            .map(|k| {
                let at = 38 + 4 * k;
                u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
            })
            .collect();
        let mut at = 58;
        let opus = at..at + lens[0];
        at += lens[0];
        let s16 = at..at + lens[1];
        at += lens[1];
        let f32s = at..at + lens[2];
        // Wire frame headers are 24 bytes; an Opus frame's packet length (2 bytes) follows.
        let hdr = stream_core::wire::HEADER_LEN;
        (opus.start + hdr + 2 <= i && i < opus.end)
            || (s16.start + hdr <= i && i < s16.end)
            || (f32s.start + hdr <= i && i < f32s.end)
    }
}
