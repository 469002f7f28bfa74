//! `wire_frame`: a binary audio frame from the network (`stream_core::wire`).
//!
//! Invariants checked: `FrameHeader::parse` never panics; a parsed header written back with
//! `FrameHeader::write` gives the input's 24 bytes (the header has no slack: every byte is a
//! field and every field is checked); a PCM payload decodes to exactly `frame_count x channels`
//! samples that re-encode to the same bytes (s16 and f32 are both exact that way); an Opus
//! payload splits into 1..=50 packets of 1..=4000 bytes that re-encode to the same frame.
//! Arbitrary bytes also go through `decode_pcm_into` and `OpusPackets` unparsed.

use stream_core::wire::{
    decode_pcm_into, encode_opus_frame, encode_pcm_frame, Codec, FrameHeader, OpusPackets, FLAG_DISCONTINUITY,
    FLAG_END_OF_STREAM, HEADER_LEN, MAX_CHANNELS, MAX_FRAMES_PER_PACKET, MAX_OPUS_PACKET_BYTES, MAX_PACKETS_PER_FRAME,
};

/// The decode buffer: bounded, like the engine's (larger payloads are decoded in part).
const MAX_DECODED_SAMPLES: usize = 8192;

pub fn run(data: &[u8]) {
    let mut out = vec![0.0f32; MAX_DECODED_SAMPLES];
    match FrameHeader::parse(data) {
        Ok((h, payload)) => check_frame(data, h, payload, &mut out),
        Err(e) => {
            assert_eq!(e.code(), stream_core::control::ErrorCode::CorruptAudio);
            assert!(!e.to_string().is_empty());
        }
    }
    // The payload decoders on anything, as a receiver that skipped validation would call them.
    let body = data.get(HEADER_LEN..).unwrap_or(data);
    for (codec, bps) in [(Codec::PcmS16, 2), (Codec::PcmF32, 4)] {
        let n = decode_pcm_into(codec, body, &mut out);
        assert_eq!(n, (body.len() / bps).min(out.len()));
    }
    assert_eq!(decode_pcm_into(Codec::Opus, body, &mut out), 0);
    let mut packets = OpusPackets::new(body);
    let mut count = 0;
    while let Some(p) = packets.next() {
        count += 1;
        match p {
            Ok(p) => assert!(!p.is_empty() && p.len() <= MAX_OPUS_PACKET_BYTES),
            Err(_) => {
                assert!(packets.next().is_none(), "the packet list ends at its first error");
                break;
            }
        }
    }
    assert!(count <= body.len() / 3 + 1, "{count} packets from {} bytes", body.len());
}

fn check_frame(data: &[u8], h: FrameHeader, payload: &[u8], out: &mut [f32]) {
    assert_eq!(payload.len() + HEADER_LEN, data.len());
    assert!((1..=MAX_CHANNELS).contains(&h.channels));
    assert!((1..=MAX_FRAMES_PER_PACKET).contains(&h.frame_count));
    assert_eq!(h.flags & !(FLAG_DISCONTINUITY | FLAG_END_OF_STREAM), 0);
    let mut head = [0u8; HEADER_LEN];
    h.write(payload.len(), &mut head).expect("a 24-byte buffer holds a header");
    assert_eq!(&head[..], &data[..HEADER_LEN], "write(parse(x)) == x");
    let mut again = Vec::new();
    match h.codec.pcm_bytes_per_sample() {
        Some(bps) => {
            let samples = h.frame_count as usize * h.channels as usize;
            assert_eq!(samples * bps, payload.len());
            let n = decode_pcm_into(h.codec, payload, out);
            assert_eq!(n, samples.min(out.len()));
            if n == samples {
                encode_pcm_frame(h.codec, h.channels, h.flags, h.session, h.sample_pos, &out[..n], &mut again)
                    .expect("PCM encodes");
                assert_eq!(again, data, "PCM decode then encode gives the frame back");
                assert_eq!(FrameHeader::parse(&again), Ok((h, payload)));
            }
        }
        None => {
            let packets: Vec<&[u8]> =
                OpusPackets::new(payload).map(|p| p.expect("a parsed frame has a valid packet list")).collect();
            assert!((1..=MAX_PACKETS_PER_FRAME).contains(&packets.len()));
            assert!(packets.iter().all(|p| (1..=MAX_OPUS_PACKET_BYTES).contains(&p.len())));
            encode_opus_frame(&h, &packets, &mut again).expect("a parsed packet list encodes");
            assert_eq!(again, data, "Opus packets re-encode to the frame");
            assert_eq!(FrameHeader::parse(&again), Ok((h, payload)));
        }
    }
}
