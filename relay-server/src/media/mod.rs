//! Media: decoding files (symphonia), resampling to 48 kHz (rubato), Opus settings (libopus)
//! and Ogg/Opus framing. No sockets, no HTTP, no shared server state: the library and live
//! layers build on this, the transport never reaches into it directly.

pub mod decode;
pub mod ogg;
pub mod opus;
pub mod resample;

use stream_core::control::ErrorCode;

/// A decode failure with its stable code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaError {
    pub code: ErrorCode,
    pub message: String,
}

impl MediaError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        MediaError { code, message: message.into() }
    }
}

impl std::fmt::Display for MediaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

/// What a stream's producer thread sends to its session (or HTTP response).
#[derive(Debug)]
pub enum StreamEvent {
    /// Interleaved f32 at 48 kHz, first frame at `sample_pos`.
    Pcm { sample_pos: u64, samples: Vec<f32> },
    /// Opus packets, the first being global packet `first_packet` (its encoder input starts at
    /// `first_packet * 960`).
    Packets { first_packet: u64, packets: Vec<Vec<u8>> },
    /// The track ended after `total_samples` frames (48 kHz, from the track start).
    End { total_samples: u64 },
    /// Production failed; what was sent before stands.
    Error(MediaError),
}
