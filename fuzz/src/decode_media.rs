//! `decode_media`: arbitrary bytes as a library file, through the relay's decode path
//! (`relay_server::media::decode`: symphonia probe and decode, rubato to 48 kHz).
//!
//! Input: byte 0 picks the extension hint (`wav`, `flac`, `mp3`, `ogg`, `m4a`; bit 7: start
//! half a second in, as a `play` with `position_s` does); the rest is the file. The file is
//! read to its end, at most [`MAX_OUTPUT_FRAMES`]. Invariants checked: never a panic; errors
//! carry a stable code; the stream has 1..=8 channels, a sane rate, and `read` returns whole
//! frames, never more than asked.

use std::io::Cursor;

use relay_server::media::decode::{PcmReader, SourceDecoder};

/// The extension hints, as library files have them.
pub const EXTENSIONS: [&str; 5] = ["wav", "flac", "mp3", "ogg", "m4a"];
/// Output frames (48 kHz) after which a run stops: 1 M frames (~21 s) keeps an execution short
/// while a file whose few bytes claim hours still gets decoded for a while.
pub const MAX_OUTPUT_FRAMES: u64 = 1_000_000;
/// Frames asked per `read` (100 ms, the relay's packet size).
const READ_FRAMES: usize = 4800;
/// Where a run starts when byte 0 has bit 7 set: 0.5 s at 48 kHz.
const SEEK_FRAMES: u64 = 24_000;

/// The first byte of a corpus file for `extension` (a seed for a file of that kind).
pub fn selector(extension: &str) -> u8 {
    EXTENSIONS.iter().position(|&e| e == extension).unwrap_or(0) as u8
}

pub fn run(data: &[u8]) {
    let Some((&sel, file)) = data.split_first() else { return };
    let ext = EXTENSIONS[(sel & 0x7f) as usize % EXTENSIONS.len()];
    let start = if sel & 0x80 != 0 { SEEK_FRAMES } else { 0 };
    let opened = SourceDecoder::open_source(Box::new(Cursor::new(file.to_vec())), Some(ext))
        .and_then(|src| PcmReader::from_decoder(src, start));
    let mut reader = match opened {
        Ok(r) => r,
        Err(e) => {
            assert!(!e.code.as_str().is_empty() && !e.message.is_empty());
            return;
        }
    };
    let ch = reader.channels;
    assert!((1..=8).contains(&ch));
    assert!((1000..=768_000).contains(&reader.info().sample_rate));
    let mut out = Vec::with_capacity(READ_FRAMES * ch);
    let mut frames = 0u64;
    while frames < MAX_OUTPUT_FRAMES {
        out.clear();
        match reader.read(READ_FRAMES, &mut out) {
            Ok(0) => break,
            Ok(n) => {
                assert!(n <= READ_FRAMES);
                assert_eq!(out.len(), n * ch);
                frames += n as u64;
            }
            Err(e) => {
                assert!(!e.message.is_empty());
                break;
            }
        }
    }
    assert_eq!(reader.position(), start + frames);
}
