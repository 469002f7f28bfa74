//! An incremental Ogg demuxer (RFC 3533) and the Opus headers (RFC 7845) for live ingest: bytes
//! arrive in arbitrary pieces from a socket, packets come out.
//!
//! Untrusted input, bounded resources: at most one page is buffered (an Ogg page is at most
//! [`MAX_PAGE_BYTES`]), a packet longer than the caller's limit is an error, every page's CRC is
//! checked, and every error has a stable code ([`OggError::code`]). One logical stream is
//! followed (the first one to begin); pages of other streams are skipped, and a new stream may
//! begin after the current one ended (a chained stream, as a source client restarting).

use crate::control::ErrorCode;

/// Largest possible Ogg page: 27-byte header, 255 lacing values, 255 segments of 255 bytes.
pub const MAX_PAGE_BYTES: usize = 27 + 255 + 255 * 255;

const HEADER_BYTES: usize = 27;
/// Header type flags (RFC 3533 6).
pub const FLAG_CONTINUED: u8 = 0x01;
pub const FLAG_BOS: u8 = 0x02;
pub const FLAG_EOS: u8 = 0x04;

/// Why the input was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OggError {
    /// The bytes are not an Ogg stream (no capture pattern where a page must begin).
    NotOgg,
    /// A page's stream structure version is not 0.
    BadVersion(u8),
    /// A page's checksum does not match its bytes.
    BadChecksum { page: u64 },
    /// A packet exceeds the limit.
    PacketTooLarge { len: usize, max: usize },
    /// A continued packet where none was started, or a lost page in the middle of a packet.
    BrokenPacket { page: u64 },
}

impl OggError {
    /// Stable code for errors on the wire.
    pub fn code(&self) -> ErrorCode {
        match self {
            OggError::NotOgg | OggError::BadVersion(_) => ErrorCode::NotOgg,
            OggError::BadChecksum { .. } | OggError::BrokenPacket { .. } | OggError::PacketTooLarge { .. } => {
                ErrorCode::CorruptAudio
            }
        }
    }
}

impl std::fmt::Display for OggError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OggError::NotOgg => write!(f, "not an Ogg stream (no OggS capture pattern)"),
            OggError::BadVersion(v) => write!(f, "Ogg stream structure version {v}, expected 0"),
            OggError::BadChecksum { page } => write!(f, "Ogg page {page} fails its CRC check"),
            OggError::PacketTooLarge { len, max } => write!(f, "packet of {len} bytes exceeds {max}"),
            OggError::BrokenPacket { page } => write!(f, "Ogg page {page} continues a packet that was never started"),
        }
    }
}

impl std::error::Error for OggError {}

/// One packet of the followed logical stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OggPacket {
    pub data: Vec<u8>,
    /// The first packet of a logical stream (its page has the BOS flag).
    pub bos: bool,
    /// The last packet of the logical stream (EOS page, last packet on it).
    pub eos: bool,
    /// The page's granule position when this packet is the last one completed on its page.
    pub granule: Option<u64>,
}

/// CRC-32 of Ogg: polynomial 0x04c11db7, no reflection, initial value 0, no final xor.
pub fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    for (i, e) in t.iter_mut().enumerate() {
        let mut r = (i as u32) << 24;
        for _ in 0..8 {
            r = if r & 0x8000_0000 != 0 { (r << 1) ^ 0x04c1_1db7 } else { r << 1 };
        }
        *e = r;
    }
    t
}

/// The Ogg checksum of `bytes` (with the checksum field zeroed by the caller).
pub fn ogg_crc(table: &[u32; 256], bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |crc, &b| (crc << 8) ^ table[((crc >> 24) as u8 ^ b) as usize])
}

/// One complete page holding `packets` (each whole, at most 255 x 255 bytes together), with
/// `flags`, the granule position, serial and sequence number, and its checksum.
pub fn write_page<P: AsRef<[u8]>>(
    table: &[u32; 256],
    serial: u32,
    seq: u32,
    granule: u64,
    flags: u8,
    packets: &[P],
) -> Vec<u8> {
    let mut lacing = Vec::new();
    for p in packets {
        let mut n = p.as_ref().len();
        while n >= 255 {
            lacing.push(255u8);
            n -= 255;
        }
        lacing.push(n as u8);
    }
    let body: usize = packets.iter().map(|p| p.as_ref().len()).sum();
    let mut v = Vec::with_capacity(HEADER_BYTES + lacing.len() + body);
    v.extend_from_slice(b"OggS");
    v.push(0);
    v.push(flags);
    v.extend_from_slice(&granule.to_le_bytes());
    v.extend_from_slice(&serial.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(&[0; 4]);
    v.push(lacing.len() as u8);
    v.extend_from_slice(&lacing);
    for p in packets {
        v.extend_from_slice(p.as_ref());
    }
    let c = ogg_crc(table, &v);
    v[22..26].copy_from_slice(&c.to_le_bytes());
    v
}

/// Feeds on bytes, yields packets.
#[derive(Debug)]
pub struct OggDemuxer {
    crc: [u32; 256],
    buf: Vec<u8>,
    max_packet: usize,
    serial: Option<u32>,
    ended: bool,
    packet: Vec<u8>,
    packet_open: bool,
    packet_bos: bool,
    out: std::collections::VecDeque<OggPacket>,
    pages: u64,
    started: bool,
}

impl OggDemuxer {
    /// A demuxer refusing packets longer than `max_packet` bytes.
    pub fn new(max_packet: usize) -> Self {
        OggDemuxer {
            crc: crc_table(),
            buf: Vec::with_capacity(MAX_PAGE_BYTES),
            max_packet,
            serial: None,
            ended: false,
            packet: Vec::new(),
            packet_open: false,
            packet_bos: false,
            out: Default::default(),
            pages: 0,
            started: false,
        }
    }

    /// Pages read so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Takes more input; complete pages are parsed at once. After an error the demuxer is spent.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<(), OggError> {
        while !bytes.is_empty() {
            // Never hold more than one page: take only what the current page can still need.
            let need = self.bytes_needed();
            let take = need.min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() >= 4 && &self.buf[..4] != b"OggS" {
                return Err(OggError::NotOgg);
            }
            if let Some(len) = self.page_len() {
                if self.buf.len() >= len {
                    let mut page = std::mem::take(&mut self.buf);
                    let r = self.page(&mut page[..len]);
                    page.clear();
                    self.buf = page;
                    r?;
                }
            }
        }
        Ok(())
    }

    /// Bytes the buffered page still lacks (at least 1, to make progress).
    fn bytes_needed(&self) -> usize {
        match self.page_len() {
            Some(len) => len.saturating_sub(self.buf.len()).max(1),
            None if self.buf.len() < HEADER_BYTES => HEADER_BYTES - self.buf.len(),
            None => HEADER_BYTES + self.buf[26] as usize - self.buf.len(),
        }
    }

    /// Length of the buffered page once its header and lacing values are in.
    fn page_len(&self) -> Option<usize> {
        if self.buf.len() < HEADER_BYTES {
            return None;
        }
        let segments = self.buf[26] as usize;
        if self.buf.len() < HEADER_BYTES + segments {
            return None;
        }
        let body: usize = self.buf[HEADER_BYTES..HEADER_BYTES + segments].iter().map(|&l| l as usize).sum();
        Some(HEADER_BYTES + segments + body)
    }

    fn page(&mut self, p: &mut [u8]) -> Result<(), OggError> {
        let page_no = self.pages;
        self.pages += 1;
        if p[4] != 0 {
            return Err(OggError::BadVersion(p[4]));
        }
        let stored = u32::from_le_bytes([p[22], p[23], p[24], p[25]]);
        p[22..26].fill(0);
        if ogg_crc(&self.crc, p) != stored {
            return Err(OggError::BadChecksum { page: page_no });
        }
        let p = &*p;
        let flags = p[5];
        let granule = u64::from_le_bytes([p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13]]);
        let serial = u32::from_le_bytes([p[14], p[15], p[16], p[17]]);
        let segments = p[26] as usize;
        let bos = flags & FLAG_BOS != 0;
        match self.serial {
            None if bos => {}
            None => return Ok(()), // a page before any stream began: skip
            Some(s) if s == serial => {}
            Some(_) if bos && self.ended => {
                self.packet.clear();
                self.packet_open = false;
            }
            Some(_) => return Ok(()), // another multiplexed stream: not ours
        }
        if bos {
            self.serial = Some(serial);
            self.ended = false;
            self.started = true;
        }
        if flags & FLAG_CONTINUED != 0 {
            if !self.packet_open {
                return Err(OggError::BrokenPacket { page: page_no });
            }
        } else if self.packet_open {
            // The previous page promised a continuation that never came.
            return Err(OggError::BrokenPacket { page: page_no });
        }
        let lacing = &p[HEADER_BYTES..HEADER_BYTES + segments];
        let mut at = HEADER_BYTES + segments;
        // Index of the last lacing value that ends a packet: that packet carries the granule.
        let last_end = lacing.iter().rposition(|&l| l < 255);
        let mut completed = Vec::new();
        for (i, &l) in lacing.iter().enumerate() {
            let seg = &p[at..at + l as usize];
            at += l as usize;
            if self.packet.len() + seg.len() > self.max_packet {
                return Err(OggError::PacketTooLarge { len: self.packet.len() + seg.len(), max: self.max_packet });
            }
            if !self.packet_open {
                self.packet_open = true;
                self.packet_bos = bos && completed.is_empty();
            }
            self.packet.extend_from_slice(seg);
            if l < 255 {
                let last = Some(i) == last_end;
                completed.push(OggPacket {
                    data: std::mem::take(&mut self.packet),
                    bos: self.packet_bos,
                    eos: last && flags & FLAG_EOS != 0,
                    granule: (last && granule != u64::MAX).then_some(granule),
                });
                self.packet_open = false;
                self.packet_bos = false;
            }
        }
        self.out.extend(completed);
        if flags & FLAG_EOS != 0 {
            self.ended = true;
        }
        Ok(())
    }

    /// The next complete packet, in order.
    pub fn next_packet(&mut self) -> Option<OggPacket> {
        self.out.pop_front()
    }

    /// Whether the followed stream has ended (its EOS page was read).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Whether any stream began.
    pub fn started(&self) -> bool {
        self.started
    }
}

/// The Opus identification header (RFC 7845 5.1), for mapping family 0 (mono or stereo).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpusHead {
    pub channels: u8,
    pub pre_skip: u16,
    pub input_sample_rate: u32,
    pub output_gain_q8: i16,
}

/// Why an Opus header was refused (code `unsupported_format`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpusHeadError(pub String);

impl OpusHead {
    pub fn parse(p: &[u8]) -> Result<OpusHead, OpusHeadError> {
        let err = |m: &str| Err(OpusHeadError(m.to_owned()));
        if p.len() < 19 || &p[..8] != b"OpusHead" {
            return err("the first packet is not an OpusHead (an Ogg stream of Opus is expected)");
        }
        if p[8] >> 4 != 0 {
            return err("OpusHead version is not 0.x");
        }
        let channels = p[9];
        let mapping = p[18];
        if mapping != 0 || !(1..=2).contains(&channels) {
            return err("only mono or stereo Opus (channel mapping family 0) is accepted");
        }
        Ok(OpusHead {
            channels,
            pre_skip: u16::from_le_bytes([p[10], p[11]]),
            input_sample_rate: u32::from_le_bytes([p[12], p[13], p[14], p[15]]),
            output_gain_q8: i16::from_le_bytes([p[16], p[17]]),
        })
    }
}

/// Samples (at 48 kHz) an Opus packet decodes to, from its TOC byte (RFC 6716 3.1); `None` for
/// a malformed packet.
pub fn opus_packet_samples(p: &[u8]) -> Option<u32> {
    let toc = *p.first()?;
    let config = toc >> 3;
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][(config & 3) as usize],
        12..=15 => [480, 960][(config & 1) as usize],
        _ => [120, 240, 480, 960][(config & 3) as usize],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => (*p.get(1)? & 0x3f) as u32,
    };
    let n = frame * frames;
    (frames > 0 && n <= 5760).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(flags: u8, granule: u64, serial: u32, seq: u32, packets: &[&[u8]]) -> Vec<u8> {
        write_page(&crc_table(), serial, seq, granule, flags, packets)
    }

    fn head() -> Vec<u8> {
        let mut h = b"OpusHead".to_vec();
        h.extend_from_slice(&[1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0]);
        h
    }

    #[test]
    fn packets_come_out_whatever_the_pieces() {
        let big = vec![7u8; 600]; // spans lacing values of 255
        let mut bytes = page(FLAG_BOS, 0, 42, 0, &[&head()]);
        bytes.extend(page(0, 0, 42, 1, &[b"OpusTags"]));
        bytes.extend(page(0, 1920, 42, 2, &[&big, &[0xfc, 1, 2]]));
        bytes.extend(page(FLAG_EOS, 2880, 42, 3, &[&[0xfc, 3]]));
        for piece in [1usize, 7, 100, bytes.len()] {
            let mut d = OggDemuxer::new(4096);
            for c in bytes.chunks(piece) {
                d.push(c).expect("valid");
            }
            let got: Vec<OggPacket> = std::iter::from_fn(|| d.next_packet()).collect();
            assert_eq!(got.len(), 5, "pieces of {piece}");
            assert!(got[0].bos && !got[1].bos);
            assert_eq!(OpusHead::parse(&got[0].data).expect("head").pre_skip, 312);
            assert_eq!(got[2].data, big);
            assert_eq!((got[2].granule, got[3].granule), (None, Some(1920)));
            assert!(got[4].eos && d.ended());
        }
    }

    #[test]
    fn bad_input_gets_its_code() {
        let mut d = OggDemuxer::new(4096);
        assert_eq!(d.push(b"ID3\x04 not an ogg stream").map_err(|e| e.code()), Err(ErrorCode::NotOgg));
        let mut p = page(FLAG_BOS, 0, 1, 0, &[&head()]);
        p[40] ^= 0xff;
        assert_eq!(OggDemuxer::new(4096).push(&p).map_err(|e| e.code()), Err(ErrorCode::CorruptAudio));
        let p = page(FLAG_BOS, 0, 1, 0, &[&[0u8; 3000]]);
        assert_eq!(OggDemuxer::new(1000).push(&p).map_err(|e| e.code()), Err(ErrorCode::CorruptAudio));
        let p = page(FLAG_BOS | FLAG_CONTINUED, 0, 1, 0, &[b"x"]);
        assert_eq!(OggDemuxer::new(1000).push(&p).map_err(|e| e.code()), Err(ErrorCode::CorruptAudio));
        assert!(OpusHead::parse(b"OpusHead\x01\x06\0\0\0\0\0\0\0\0\x01").is_err(), "surround refused");
    }

    #[test]
    fn other_streams_are_skipped_and_a_chain_may_follow() {
        let mut bytes = page(FLAG_BOS, 0, 1, 0, &[b"a"]);
        bytes.extend(page(FLAG_BOS, 0, 2, 0, &[b"other"]));
        bytes.extend(page(FLAG_EOS, 0, 1, 1, &[b"b"]));
        bytes.extend(page(FLAG_BOS, 0, 3, 0, &[b"c"]));
        let mut d = OggDemuxer::new(100);
        d.push(&bytes).expect("valid");
        let got: Vec<Vec<u8>> = std::iter::from_fn(|| d.next_packet()).map(|p| p.data).collect();
        assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn toc_gives_packet_durations() {
        assert_eq!(opus_packet_samples(&[0xfc]), Some(960)); // CELT FB 20 ms, one frame
        assert_eq!(opus_packet_samples(&[0xfd, 0]), Some(1920)); // two frames
        assert_eq!(opus_packet_samples(&[0x18]), Some(2880)); // config 3: SILK NB 60 ms
        assert_eq!(opus_packet_samples(&[0xff, 0x03]), Some(2880)); // code 3, three 20 ms frames
        assert_eq!(opus_packet_samples(&[0xff, 0x3f]), None); // 63 x 20 ms is too long
        assert_eq!(opus_packet_samples(&[]), None);
    }
}
