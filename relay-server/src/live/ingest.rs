//! Ingest: what a producer sends, checked and decoded to the PCM its pipeline takes.
//!
//! [`OggIngest`]: Ogg/Opus (an Icecast source client's body, or a `PUT`): Ogg pages in.
//! The first packet must be an `OpusHead` (mono or stereo), the second `OpusTags`; audio
//! packets are checked (TOC, duration) and decoded with libopus, the pre-skip dropped and the end
//! trimmed to the last granule position, so listeners get exactly the source's samples.
//!
//! [`FrameIngest`]: the relay's own wire frames (a producer on `/ws`), PCM or Opus.

use std::sync::Arc;

use stream_core::control::ErrorCode;
use stream_core::ogg::{opus_packet_samples, OggDemuxer, OggError, OpusHead};
use stream_core::wire::{decode_pcm_into, Codec, FrameHeader, OpusPackets};
use stream_core::STREAM_SAMPLE_RATE;

use crate::live::{start_pipeline, IngestError, LiveRegistry, LiveStream, Producer};
use crate::media::opus::{opus_decoder, MAX_FRAME_SAMPLES};

/// Largest Opus packet accepted (RFC 6716 allows 1275 bytes per frame, 6 frames per packet).
const MAX_OPUS_PACKET: usize = 8 * 1275;

fn ogg_error(e: OggError) -> IngestError {
    IngestError::new(e.code(), e.to_string())
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
            pcm: vec![0.0; MAX_FRAME_SAMPLES * 2],
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
                self.decoder = Some(opus_decoder(head.channels).map_err(|e| IngestError::new(e.code, e.message))?);
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

/// Producer frames over `/ws` (`publish`): each checked against the announced codec and
/// channels and the position so far, and decoded to interleaved PCM.
pub struct FrameIngest {
    codec: Codec,
    channels: u8,
    expected: u64,
    opus: Option<opus::Decoder>,
    scratch: Vec<f32>,
}

impl FrameIngest {
    /// For a publish of `codec` with `channels` channels (1 or 2) whose first frame goes to
    /// `start` (0, or where the stream stands when this producer takes it over).
    pub fn new(codec: Codec, channels: u8, start: u64) -> Result<Self, IngestError> {
        let opus = match codec {
            Codec::Opus => Some(opus_decoder(channels).map_err(|e| IngestError::new(e.code, e.message))?),
            _ => None,
        };
        Ok(FrameIngest {
            codec,
            channels,
            expected: start,
            opus,
            scratch: vec![0.0; MAX_FRAME_SAMPLES * channels as usize],
        })
    }

    /// Checks one producer frame and decodes it to interleaved PCM. A frame may start after the
    /// expected position (the gap becomes silence, up to 1 s), never before.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<f32>, IngestError> {
        let (codec, channels, expected) = (self.codec, self.channels, self.expected);
        let (h, payload) = FrameHeader::parse(bytes)
            .map_err(|e| IngestError::new(ErrorCode::CorruptAudio, format!("bad frame: {e}")))?;
        if h.codec != codec || h.channels != channels {
            return Err(IngestError::new(
                ErrorCode::CorruptAudio,
                format!(
                    "frame of {} with {} channels; the publish announced {} with {channels}",
                    h.codec.name(),
                    h.channels,
                    codec.name()
                ),
            ));
        }
        if h.sample_pos < expected {
            return Err(IngestError::new(
                ErrorCode::CorruptAudio,
                format!("frame at {} overlaps audio up to {}", h.sample_pos, expected),
            ));
        }
        let gap = h.sample_pos - expected;
        if gap > STREAM_SAMPLE_RATE as u64 {
            return Err(IngestError::new(ErrorCode::CorruptAudio, format!("a gap of {gap} frames")));
        }
        let ch = channels as usize;
        let mut out = vec![0f32; gap as usize * ch];
        match codec {
            Codec::PcmS16 | Codec::PcmF32 => {
                let start = out.len();
                out.resize(start + h.frame_count as usize * ch, 0.0);
                decode_pcm_into(codec, payload, &mut out[start..]);
            }
            Codec::Opus => {
                let dec = self.opus.as_mut().ok_or_else(|| IngestError::new(ErrorCode::Internal, "no decoder"))?;
                for p in OpusPackets::new(payload) {
                    let p = p.map_err(|e| IngestError::new(ErrorCode::CorruptAudio, e.to_string()))?;
                    let n = dec.decode_float(p, &mut self.scratch, false).map_err(|e| {
                        IngestError::new(ErrorCode::CorruptAudio, format!("Opus packet does not decode: {e}"))
                    })?;
                    out.extend_from_slice(&self.scratch[..n * ch]);
                }
            }
        }
        self.expected = h.sample_pos + h.frame_count as u64;
        Ok(out)
    }
}
