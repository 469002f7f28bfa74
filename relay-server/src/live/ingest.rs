//! Ingest: what a producer sends, checked and decoded to the PCM its pipeline takes.
//!
//! An Icecast source's body (MP3, AAC, Ogg Vorbis/FLAC/Opus) is [`super::source::SourceIngest`].
//!
//! [`FrameIngest`]: the relay's own wire frames (a producer on `/ws`), PCM or Opus.

use stream_core::control::ErrorCode;
use stream_core::wire::{decode_pcm_into, Codec, FrameHeader, OpusPackets};
use stream_core::STREAM_SAMPLE_RATE;

use crate::live::IngestError;
use crate::media::opus::{opus_decoder, MAX_FRAME_SAMPLES};

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
