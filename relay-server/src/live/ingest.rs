//! Ogg/Opus ingest (an Icecast source client's body): Ogg pages in, the producer's PCM out.
//!
//! The first packet must be an `OpusHead` (mono or stereo), the second `OpusTags`; audio
//! packets are checked (TOC, duration) and decoded with libopus, the pre-skip dropped and the end
//! trimmed to the last granule position, so listeners get exactly the source's samples.

use std::sync::Arc;

use stream_core::control::ErrorCode;
use stream_core::ogg::{opus_packet_samples, OggDemuxer, OggError, OpusHead};

use crate::live::{start_pipeline, IngestError, LiveRegistry, LiveStream, Producer};

/// Largest Opus packet accepted (RFC 6716 allows 1275 bytes per frame, 6 frames per packet).
const MAX_OPUS_PACKET: usize = 8 * 1275;

fn ogg_error(e: OggError) -> IngestError {
    let code = match e {
        OggError::NotOgg | OggError::BadVersion(_) => ErrorCode::NotOgg,
        _ => ErrorCode::CorruptAudio,
    };
    IngestError::new(code, e.to_string())
}

/// The state of one ingest body.
pub struct OggIngest {
    demux: OggDemuxer,
    head: Option<OpusHead>,
    tags: bool,
    decoder: Option<opus::Decoder>,
    producer: Option<Producer>,
    to_skip: u64,
    decoded: u64,
    pcm: Vec<f32>,
    ended: bool,
}

impl Default for OggIngest {
    fn default() -> Self {
        Self::new()
    }
}

impl OggIngest {
    pub fn new() -> Self {
        OggIngest {
            demux: OggDemuxer::new(MAX_OPUS_PACKET),
            head: None,
            tags: false,
            decoder: None,
            producer: None,
            to_skip: 0,
            decoded: 0,
            pcm: vec![0.0; 5760 * 2],
            ended: false,
        }
    }

    /// Whether the Ogg stream ended (EOS page).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Takes body bytes. The stream's producer must already be attached by the caller.
    pub fn push(&mut self, live: &LiveRegistry, stream: &Arc<LiveStream>, bytes: &[u8]) -> Result<(), IngestError> {
        if self.ended {
            return Ok(()); // after EOS: ignore (a chained stream would be a new publish)
        }
        self.demux.push(bytes).map_err(ogg_error)?;
        while let Some(p) = self.demux.next_packet() {
            if self.head.is_none() {
                let head = OpusHead::parse(&p.data).map_err(|e| {
                    let code =
                        if p.data.starts_with(b"OpusHead") { ErrorCode::UnsupportedFormat } else { ErrorCode::NotOgg };
                    IngestError::new(code, e.0)
                })?;
                let ch = if head.channels == 1 { opus::Channels::Mono } else { opus::Channels::Stereo };
                self.decoder = Some(
                    opus::Decoder::new(48_000, ch).map_err(|e| IngestError::new(ErrorCode::Internal, e.to_string()))?,
                );
                self.producer = Some(start_pipeline(live, stream.clone(), head.channels)?);
                self.to_skip = head.pre_skip as u64;
                self.head = Some(head);
                continue;
            }
            if !self.tags {
                if !p.data.starts_with(b"OpusTags") {
                    return Err(IngestError::new(ErrorCode::CorruptAudio, "the second packet is not OpusTags"));
                }
                self.tags = true;
                continue;
            }
            let ch = self.head.map_or(2, |h| h.channels as usize);
            if opus_packet_samples(&p.data).is_none() {
                return Err(IngestError::new(
                    ErrorCode::CorruptAudio,
                    format!("malformed Opus packet of {} bytes", p.data.len()),
                ));
            }
            let dec = self.decoder.as_mut().ok_or_else(|| IngestError::new(ErrorCode::Internal, "no decoder"))?;
            let n = dec
                .decode_float(&p.data, &mut self.pcm, false)
                .map_err(|e| IngestError::new(ErrorCode::CorruptAudio, format!("Opus packet does not decode: {e}")))?;
            let mut frames = &self.pcm[..n * ch];
            // Pre-skip: the encoder's priming samples are not audio.
            let skip = (self.to_skip as usize).min(n);
            self.to_skip -= skip as u64;
            frames = &frames[skip * ch..];
            let mut count = (n - skip) as u64;
            if p.eos {
                // The last granule trims the padding of the final packet.
                if let (Some(g), Some(h)) = (p.granule, self.head) {
                    let total = g.saturating_sub(h.pre_skip as u64);
                    count = count.min(total.saturating_sub(self.decoded));
                    frames = &frames[..count as usize * ch];
                }
            }
            self.decoded += count;
            let producer =
                self.producer.as_mut().ok_or_else(|| IngestError::new(ErrorCode::Internal, "no producer"))?;
            producer.push(frames.to_vec())?;
            if p.eos {
                self.ended = true;
                break;
            }
        }
        Ok(())
    }

    /// The body is over: a stream that reached its EOS page ends normally; one cut short lost its
    /// producer. With `err`, the stream fails with that error.
    pub fn finish(mut self, stream: &LiveStream, err: Option<&IngestError>) {
        match (self.producer.take(), err) {
            (Some(p), Some(e)) => p.fail(e),
            (Some(p), None) if self.ended => p.end(),
            (Some(p), None) => drop(p), // producer_lost
            // Nothing was ever streamed: the stream waits for another producer.
            (None, _) => stream.release_producer(),
        }
    }

    /// The server shuts down: the stream ends normally where the audio received so far ends
    /// (listeners get the end, Ogg listeners the EOS page).
    pub fn end_here(&mut self) {
        self.ended = true;
    }

    /// Whether any audio format was seen (a producer pipeline runs).
    pub fn started(&self) -> bool {
        self.producer.is_some()
    }
}
