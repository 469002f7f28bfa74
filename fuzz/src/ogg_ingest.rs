//! `ogg_ingest`: an Icecast source client's Ogg/Opus body (`stream_core::ogg`), as the relay's
//! live ingest (`relay_server::live::ingest`) reads it.
//!
//! Input: bytes 0 and 1 choose how the rest is cut into the pieces `OggDemuxer::push` gets (as a
//! socket delivers them); the rest is the body. After each piece every packet is drained, as the
//! ingest does. Invariants checked: never a panic; every error has a stable code and the demuxer
//! is not used after one (it is spent); no packet exceeds the limit; the packets hold no more
//! bytes than went in; `OpusHead::parse` only accepts mono or stereo; `opus_packet_samples`
//! stays within 120..=5760 (2.5 ms to 120 ms, RFC 6716 3.2.5).

use stream_core::control::ErrorCode;
use stream_core::ogg::{opus_packet_samples, OggDemuxer, OpusHead};

/// The relay's packet limit, `MAX_OPUS_PACKET` of `relay_server::live::ingest` (RFC 6716: 1275
/// bytes per frame, up to 6 frames; 8 kept as headroom).
pub const MAX_OPUS_PACKET: usize = 8 * 1275;

/// Piece sizes (cycled): socket reads are anything from one byte to many pages.
const PIECES: [usize; 8] = [1, 2, 7, 27, 28, 255, 4096, 65_536];

pub fn run(data: &[u8]) {
    let (cut, body) = match data {
        [a, b, rest @ ..] => ((*a, *b), rest),
        _ => return,
    };
    let mut demux = OggDemuxer::new(MAX_OPUS_PACKET);
    let mut packets_in = 0usize;
    let mut bytes_out = 0usize;
    let mut head: Option<OpusHead> = None;
    let mut rest = body;
    // Byte 1 with its top bit set: one piece size throughout; else byte 0 seeds a sequence
    // (an LCG of full period mod 256) that picks each piece's size.
    let mut state = cut.0;
    while !rest.is_empty() {
        state = state.wrapping_mul(5).wrapping_add(1);
        let k = if cut.1 & 0x80 != 0 { cut.1 & 7 } else { state >> 5 };
        let take = PIECES[k as usize].min(rest.len());
        let (piece, tail) = rest.split_at(take);
        rest = tail;
        if let Err(e) = demux.push(piece) {
            assert!(matches!(e.code(), ErrorCode::NotOgg | ErrorCode::CorruptAudio), "{e:?}");
            assert!(!e.to_string().is_empty());
            break; // the ingest fails the stream: a spent demuxer is never pushed again
        }
        while let Some(p) = demux.next_packet() {
            assert!(p.data.len() <= MAX_OPUS_PACKET, "packet of {} bytes", p.data.len());
            bytes_out += p.data.len();
            packets_in += 1;
            match OpusHead::parse(&p.data) {
                Ok(h) => {
                    assert!((1..=2).contains(&h.channels));
                    head.get_or_insert(h);
                }
                Err(e) => assert!(!e.0.is_empty()),
            }
            if let Some(n) = opus_packet_samples(&p.data) {
                assert!((120..=5760).contains(&n), "{n} samples");
            }
        }
    }
    assert!(bytes_out <= body.len(), "{bytes_out} packet bytes from {} input bytes", body.len());
    assert!(packets_in as u64 <= demux.pages() * 255);
    assert!(demux.started() || packets_in == 0);
}
