//! What `fetch` and `listen` share as listeners: Opus decoding, frame checks and the WAV output.

use std::path::PathBuf;

use anyhow::{bail, Context};
use stream_core::control::StreamStart;
use stream_core::wire::{Codec, FrameHeader, OpusPackets};

/// Decodes Opus frames to PCM positioned on the track: drops the pre-skip and pre-roll before
/// the start position (RFC 7845 §4.2, §4.6).
pub(crate) struct OpusOut {
    decoder: opus::Decoder,
    pcm: Vec<f32>,
    channels: usize,
}

impl OpusOut {
    pub(crate) fn new(channels: u8) -> anyhow::Result<Self> {
        let ch = if channels == 1 { opus::Channels::Mono } else { opus::Channels::Stereo };
        Ok(OpusOut { decoder: opus::Decoder::new(48_000, ch)?, pcm: vec![0.0; 5760 * 2], channels: channels as usize })
    }

    /// Appends the decoded frames of `payload` that fall at or after `start` to `samples`;
    /// `decoded_pos` is the track position of the next decoded frame (may start negative).
    pub(crate) fn decode(
        &mut self,
        payload: &[u8],
        start: i64,
        decoded_pos: &mut i64,
        samples: &mut Vec<f32>,
    ) -> anyhow::Result<()> {
        for packet in OpusPackets::new(payload) {
            let packet = packet.map_err(|e| anyhow::anyhow!("bad opus payload: {e}"))?;
            let n = self.decoder.decode_float(packet, &mut self.pcm, false)?;
            let skip = (start - *decoded_pos).clamp(0, n as i64) as usize;
            samples.extend_from_slice(&self.pcm[skip * self.channels..n * self.channels]);
            *decoded_pos += n as i64;
        }
        Ok(())
    }
}

/// Parses a binary frame of stream `s` and checks it belongs to it.
pub(crate) fn parse_frame<'a>(
    bytes: &'a [u8],
    s: &StreamStart,
    codec: Codec,
) -> anyhow::Result<(FrameHeader, &'a [u8])> {
    let (h, payload) = FrameHeader::parse(bytes).map_err(|e| anyhow::anyhow!("bad frame: {e}"))?;
    if h.session != s.session || h.codec != codec || h.channels != s.channels {
        bail!("frame does not match the stream: {h:?}");
    }
    Ok((h, payload))
}

/// Writes what a listener received: 16-bit integer or 32-bit float WAV.
pub(crate) fn write_wav(out: &PathBuf, s: &StreamStart, s16: bool, samples: &[f32]) -> anyhow::Result<()> {
    let spec = hound::WavSpec {
        channels: s.channels as u16,
        sample_rate: s.sample_rate,
        bits_per_sample: if s16 { 16 } else { 32 },
        sample_format: if s16 { hound::SampleFormat::Int } else { hound::SampleFormat::Float },
    };
    let mut w = hound::WavWriter::create(out, spec).with_context(|| format!("create {}", out.display()))?;
    for &x in samples {
        if s16 {
            w.write_sample(stream_core::wire::f32_to_s16(x))?;
        } else {
            w.write_sample(x)?;
        }
    }
    w.finalize()?;
    Ok(())
}
