//! Framing of the byte streams Icecast source clients send besides Ogg: MPEG audio (MP3, MP2)
//! and AAC in ADTS. Only headers are read here (frame lengths, rates, channels), and the tags
//! that travel in the stream: ID3v2 (a file's title when a client sends files as they are) and
//! the LAME/Xing info frame (the encoder delay and padding that make files join gaplessly). The
//! audio itself is decoded by symphonia.

/// The header of one MPEG audio frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpegFrame {
    /// 1 (MPEG-1), 2 (MPEG-2) or 25 (MPEG-2.5).
    pub version: u8,
    /// 1, 2 or 3.
    pub layer: u8,
    pub sample_rate: u32,
    pub channels: u8,
    /// The whole frame, header included.
    pub len: usize,
    /// Samples per channel the frame decodes to.
    pub samples: u32,
}

const MPEG1_RATES: [u32; 3] = [44_100, 48_000, 32_000];
const BITRATES_V1: [[u32; 15]; 3] = [
    [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
    [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
];
const BITRATES_V2: [[u32; 15]; 2] = [
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];

/// Parses an MPEG audio frame header (4 bytes). Free-format frames (bitrate index 0) are not
/// accepted: no streaming encoder produces them.
pub fn mpeg_frame(h: &[u8]) -> Option<MpegFrame> {
    if h.len() < 4 || h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = match (h[1] >> 3) & 3 {
        0 => 25,
        2 => 2,
        3 => 1,
        _ => return None,
    };
    let layer = match (h[1] >> 1) & 3 {
        1 => 3,
        2 => 2,
        3 => 1,
        _ => return None,
    };
    let br_idx = (h[2] >> 4) as usize;
    let sr_idx = ((h[2] >> 2) & 3) as usize;
    if br_idx == 0 || br_idx == 15 || sr_idx == 3 {
        return None;
    }
    let padding = ((h[2] >> 1) & 1) as usize;
    let sample_rate = match version {
        1 => MPEG1_RATES[sr_idx],
        2 => MPEG1_RATES[sr_idx] / 2,
        _ => MPEG1_RATES[sr_idx] / 4,
    };
    let bitrate = 1000
        * if version == 1 {
            BITRATES_V1[layer as usize - 1][br_idx]
        } else {
            BITRATES_V2[if layer == 1 { 0 } else { 1 }][br_idx]
        } as usize;
    let channels = if h[3] >> 6 == 3 { 1 } else { 2 };
    let sr = sample_rate as usize;
    let (len, samples) = match (layer, version) {
        (1, _) => ((12 * bitrate / sr + padding) * 4, 384),
        (2, _) | (3, 1) => (144 * bitrate / sr + padding, 1152),
        _ => (72 * bitrate / sr + padding, 576),
    };
    (len > 4).then_some(MpegFrame { version, layer, sample_rate, channels, len, samples })
}

/// Whether two frames can belong to one stream (a resync must find the same kind twice).
pub fn same_kind(a: &MpegFrame, b: &MpegFrame) -> bool {
    a.version == b.version && a.layer == b.layer && a.sample_rate == b.sample_rate
}

/// Encoder delay and padding from a LAME (or Xing "Info") header frame, in samples per channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gapless {
    pub delay: u32,
    pub padding: u32,
}

/// Whether `frame` (a whole MP3 frame) is a Xing/Info header frame (no audio), and its LAME
/// delay and padding when it has them.
pub fn xing(frame: &[u8], f: &MpegFrame) -> Option<Gapless> {
    if f.layer != 3 {
        return None;
    }
    let crc = if frame[1] & 1 == 0 { 2 } else { 0 };
    let side = match (f.version, f.channels) {
        (1, 1) => 17,
        (1, _) => 32,
        (_, 1) => 9,
        _ => 17,
    };
    let at = 4 + crc + side;
    let tag = frame.get(at..at + 4)?;
    if tag != b"Xing" && tag != b"Info" {
        return None;
    }
    // The Xing fields present (frames, bytes, TOC, quality), then the LAME extension.
    let flags = u32::from_be_bytes(frame.get(at + 4..at + 8)?.try_into().ok()?);
    let mut p = at + 8;
    for (bit, len) in [(1, 4), (2, 4), (4, 100), (8, 4)] {
        if flags & bit != 0 {
            p += len;
        }
    }
    let lame = frame.get(p..p + 24);
    let gapless = match lame {
        Some(l) if l[..4].iter().all(u8::is_ascii_alphanumeric) => {
            let d = &l[21..24];
            Gapless {
                delay: ((d[0] as u32) << 4) | ((d[1] as u32) >> 4),
                padding: (((d[1] & 0x0F) as u32) << 8) | d[2] as u32,
            }
        }
        _ => Gapless::default(),
    };
    Some(gapless)
}

/// The length of an ID3v2 tag starting at `b` (header, body and footer), once its 10-byte header
/// is there.
pub fn id3v2_len(b: &[u8]) -> Option<usize> {
    if b.len() < 10 || &b[..3] != b"ID3" || b[3] == 0xFF || b[6..10].iter().any(|&x| x & 0x80 != 0) {
        return None;
    }
    let size = b[6..10].iter().fold(0usize, |acc, &x| (acc << 7) | x as usize);
    let footer = if b[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + size + footer)
}

/// The title of an ID3v2 tag ("artist - title" as Icecast shows a song, or the title alone).
pub fn id3v2_title(tag: &[u8]) -> Option<String> {
    let version = *tag.get(3)?;
    if !(3..=4).contains(&version) || tag[5] & 0x80 != 0 {
        return None; // ID3v2.2, or unsynchronised: not worth it for a title
    }
    let mut at = 10;
    if tag[5] & 0x40 != 0 {
        let n = u32::from_be_bytes(tag.get(10..14)?.try_into().ok()?) as usize;
        at += if version == 4 { syncsafe(n) } else { n + 4 };
    }
    let (mut title, mut artist) = (None, None);
    while at + 10 <= tag.len() {
        let id = &tag[at..at + 4];
        if id[0] == 0 {
            break;
        }
        let raw = u32::from_be_bytes(tag[at + 4..at + 8].try_into().ok()?) as usize;
        let len = if version == 4 { syncsafe(raw) } else { raw };
        let body = tag.get(at + 10..at + 10 + len)?;
        match id {
            b"TIT2" => title = text_frame(body),
            b"TPE1" => artist = text_frame(body),
            _ => {}
        }
        at += 10 + len;
    }
    song(artist, title)
}

fn syncsafe(n: usize) -> usize {
    ((n & 0x7F00_0000) >> 3) | ((n & 0x7F_0000) >> 2) | ((n & 0x7F00) >> 1) | (n & 0x7F)
}

fn text_frame(body: &[u8]) -> Option<String> {
    let (&enc, text) = body.split_first()?;
    let s = match enc {
        0 => text.iter().map(|&c| c as char).collect(),
        3 => String::from_utf8_lossy(text).into_owned(),
        1 | 2 => {
            let mut units: Vec<u16> = text.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            let little = enc == 1 && units.first() == Some(&0xFFFE);
            if little {
                units = units.iter().map(|u| u.swap_bytes()).collect();
            }
            if units.first() == Some(&0xFEFF) {
                units.remove(0);
            }
            String::from_utf16_lossy(&units)
        }
        _ => return None,
    };
    let s = s.trim_end_matches('\0').trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// "Artist - Title", the way Icecast builds a song name from tags.
pub fn song(artist: Option<String>, title: Option<String>) -> Option<String> {
    match (artist, title) {
        (Some(a), Some(t)) => Some(format!("{a} - {t}")),
        (None, Some(t)) => Some(t),
        (Some(a), None) => Some(a),
        (None, None) => None,
    }
}

/// The header of one ADTS frame (AAC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdtsFrame {
    /// Audio object type (2 = AAC LC).
    pub profile: u8,
    pub sample_rate: u32,
    pub channels: u8,
    /// The whole frame, header included.
    pub len: usize,
    /// Header bytes (7, or 9 with a CRC).
    pub header: usize,
    /// Raw data blocks in the frame (each decodes to 1024 samples).
    pub blocks: u8,
}

const ADTS_RATES: [u32; 13] = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/// Parses an ADTS header (7 bytes).
pub fn adts_frame(h: &[u8]) -> Option<AdtsFrame> {
    if h.len() < 7 || h[0] != 0xFF || h[1] & 0xF6 != 0xF0 {
        return None;
    }
    let header = if h[1] & 1 == 0 { 9 } else { 7 };
    let profile = (h[2] >> 6) + 1;
    let sample_rate = *ADTS_RATES.get(((h[2] >> 2) & 0xF) as usize)?;
    let channels = ((h[2] & 1) << 2) | (h[3] >> 6);
    let len = (((h[3] & 3) as usize) << 11) | ((h[4] as usize) << 3) | ((h[5] >> 5) as usize);
    let blocks = (h[6] & 3) + 1;
    (len > header && (1..=2).contains(&channels)).then_some(AdtsFrame {
        profile,
        sample_rate,
        channels,
        len,
        header,
        blocks,
    })
}

/// The AudioSpecificConfig of an ADTS stream (what an AAC decoder is set up with).
pub fn audio_specific_config(f: &AdtsFrame) -> [u8; 2] {
    let idx = ADTS_RATES.iter().position(|&r| r == f.sample_rate).unwrap_or(4) as u16;
    let v = ((f.profile as u16) << 11) | (idx << 7) | ((f.channels as u16) << 3);
    v.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mp3_headers() {
        // MPEG-1 layer III, 128 kbit/s, 44.1 kHz, no padding, joint stereo.
        let f = mpeg_frame(&[0xFF, 0xFB, 0x90, 0x64]).expect("a frame");
        assert_eq!((f.version, f.layer, f.sample_rate, f.channels, f.len, f.samples), (1, 3, 44_100, 2, 417, 1152));
        // With padding: one byte more.
        assert_eq!(mpeg_frame(&[0xFF, 0xFB, 0x92, 0x64]).map(|f| f.len), Some(418));
        // MPEG-2 layer III, 64 kbit/s, 22.05 kHz, mono: 576 samples, 72 * 64000 / 22050 = 208.
        let f = mpeg_frame(&[0xFF, 0xF3, 0x80, 0xC4]).expect("a frame");
        assert_eq!((f.version, f.sample_rate, f.channels, f.len, f.samples), (2, 22_050, 1, 208, 576));
        // Layer II, 48 kHz, 192 kbit/s: 576 bytes.
        assert_eq!(mpeg_frame(&[0xFF, 0xFD, 0xA4, 0x04]).map(|f| (f.layer, f.len)), Some((2, 576)));
        // Not frames: free format, bad rate index, reserved version, not a sync word.
        for h in [[0xFF, 0xFB, 0x00, 0x64], [0xFF, 0xFB, 0x9C, 0x64], [0xFF, 0xEB, 0x90, 0x64], [0x49, 0x44, 0x33, 3]] {
            assert_eq!(mpeg_frame(&h), None, "{h:02x?}");
        }
    }

    #[test]
    fn adts_headers() {
        // AAC LC, 44.1 kHz, stereo, 371 bytes, no CRC, one block.
        let len = 371usize;
        let h = [
            0xFF,
            0xF1,
            (1 << 6) | (4 << 2),
            (2 << 6) | ((len >> 11) as u8 & 3),
            (len >> 3) as u8,
            ((len & 7) as u8) << 5 | 0x1F,
            0xFC,
        ];
        let f = adts_frame(&h).expect("a frame");
        assert_eq!((f.profile, f.sample_rate, f.channels, f.len, f.header, f.blocks), (2, 44_100, 2, 371, 7, 1));
        assert_eq!(audio_specific_config(&f), [0x12, 0x10]);
        // An MP3 header is not ADTS (layer bits set).
        assert_eq!(adts_frame(&[0xFF, 0xFB, 0x90, 0x64, 0, 0, 0]), None);
    }

    #[test]
    fn id3_titles() {
        let mut tag = b"ID3\x03\x00\x00".to_vec();
        let mut body = Vec::new();
        for (id, text) in [(b"TPE1", "Tone Lab"), (b"TIT2", "Four forty")] {
            body.extend_from_slice(id);
            body.extend_from_slice(&(text.len() as u32 + 1).to_be_bytes());
            body.extend_from_slice(&[0, 0, 3]);
            body.extend_from_slice(text.as_bytes());
        }
        let n = body.len();
        tag.extend_from_slice(&[(n >> 21) as u8 & 0x7F, (n >> 14) as u8 & 0x7F, (n >> 7) as u8 & 0x7F, n as u8 & 0x7F]);
        tag.extend_from_slice(&body);
        assert_eq!(id3v2_len(&tag), Some(tag.len()));
        assert_eq!(id3v2_title(&tag).as_deref(), Some("Tone Lab - Four forty"));
        // UTF-16 with a byte-order mark.
        let mut t16 = vec![1u8, 0xFF, 0xFE];
        for u in "Ünï".encode_utf16() {
            t16.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(text_frame(&t16).as_deref(), Some("Ünï"));
    }
}
