//! Opus encoder settings (libopus): what a stream is encoded with, from a client's profile.

use opus::{Application, Bitrate, Channels, Encoder, Signal};
use stream_core::control::{ErrorCode, OpusParams};

use super::MediaError;

/// Frames per Opus packet: 20 ms at 48 kHz.
pub const PACKET_FRAMES: u64 = 960;
/// Largest packet libopus may produce for one 20 ms frame.
pub(crate) const MAX_PACKET_BYTES: usize = 4000;

/// How a stream is encoded: part of the cache key. Never includes presets (those are
/// client-side).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpusSettings {
    pub channels: u8,
    pub bitrate: u32,
    pub complexity: u8,
    pub voice: bool,
}

impl OpusSettings {
    /// The profile's defaults, overridden by what the client asked for: music keeps up to two
    /// source channels at 64 kbit/s each (128 kbit/s stereo); voice is mono at 32 kbit/s.
    pub fn resolve(p: &OpusParams, source_channels: usize) -> Self {
        let channels = if p.voice { 1 } else { source_channels.clamp(1, 2) as u8 };
        let default_bitrate = if p.voice { 32_000 } else { 64_000 * channels as u32 };
        OpusSettings {
            channels,
            bitrate: p.bitrate.unwrap_or(default_bitrate),
            complexity: p.complexity.unwrap_or(10),
            voice: p.voice,
        }
    }

    pub(crate) fn encoder(&self) -> Result<Encoder, MediaError> {
        let err = |e: opus::Error| MediaError::new(ErrorCode::Internal, format!("opus encoder: {e}"));
        let ch = if self.channels == 1 { Channels::Mono } else { Channels::Stereo };
        let mut enc = Encoder::new(stream_core::STREAM_SAMPLE_RATE, ch, Application::Audio).map_err(err)?;
        enc.set_bitrate(Bitrate::Bits(self.bitrate as i32)).map_err(err)?;
        enc.set_complexity(self.complexity as i32).map_err(err)?;
        enc.set_vbr(true).map_err(err)?;
        enc.set_signal(if self.voice { Signal::Voice } else { Signal::Music }).map_err(err)?;
        Ok(enc)
    }

    /// The encoder's delay in frames (the Ogg Opus pre-skip).
    pub fn pre_skip(&self) -> Result<u32, MediaError> {
        let mut enc = self.encoder()?;
        enc.get_lookahead()
            .map(|l| l as u32)
            .map_err(|e| MediaError::new(ErrorCode::Internal, format!("opus lookahead: {e}")))
    }
}

/// Most samples per channel one Opus packet decodes to (120 ms at 48 kHz, RFC 6716 §2).
pub const MAX_FRAME_SAMPLES: usize = 5760;

/// A libopus decoder at the stream rate for 1 or 2 channels (more decode as stereo).
pub fn opus_decoder(channels: u8) -> Result<opus::Decoder, MediaError> {
    let ch = if channels == 1 { Channels::Mono } else { Channels::Stereo };
    opus::Decoder::new(stream_core::STREAM_SAMPLE_RATE, ch)
        .map_err(|e| MediaError::new(ErrorCode::Internal, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_resolve_to_documented_settings() {
        let music = OpusSettings::resolve(&OpusParams::default(), 2);
        assert_eq!((music.channels, music.bitrate, music.complexity, music.voice), (2, 128_000, 10, false));
        let voice = OpusSettings::resolve(&OpusParams { voice: true, ..Default::default() }, 2);
        assert_eq!((voice.channels, voice.bitrate), (1, 32_000));
        let custom = OpusSettings::resolve(&OpusParams { bitrate: Some(96_000), complexity: Some(5), voice: false }, 6);
        assert_eq!((custom.channels, custom.bitrate, custom.complexity), (2, 96_000, 5));
        assert_eq!(music.pre_skip().expect("lookahead"), 312);
    }
}
