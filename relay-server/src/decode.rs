//! Decoding a library file to 48 kHz interleaved f32 in fixed-size packets, on a thread of its
//! own (never on the async executor), with back-pressure through a bounded channel.

use std::fs::File;
use std::path::{Path, PathBuf};

use stream_core::control::ErrorCode;
use stream_core::STREAM_SAMPLE_RATE;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::{MetadataOptions, StandardTag};
use symphonia::core::units::Timestamp;
use tokio::sync::mpsc;

use crate::resample::{output_frames_for, To48k};

/// Consecutive undecodable packets after which a file is declared corrupt.
const MAX_CONSECUTIVE_DECODE_ERRORS: u32 = 8;
/// Most channels a library file may have.
const MAX_SOURCE_CHANNELS: usize = stream_core::wire::MAX_CHANNELS as usize;

/// A decode failure with its stable code.
#[derive(Clone, Debug, PartialEq)]
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

/// What probing a file tells.
#[derive(Clone, Debug, Default)]
pub struct Probed {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub sample_rate: u32,
    pub channels: usize,
    pub codec: String,
    /// Frames at the source rate, when the container says.
    pub source_frames: Option<u64>,
}

/// An open file: demuxer and decoder of its default audio track.
pub struct SourceDecoder {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    pub info: Probed,
    /// Frames to drop from the decoder's output before the seek target.
    skip_frames: u64,
    decoded_frames: u64,
    scratch: Vec<f32>,
}

impl SourceDecoder {
    /// Opens and probes `path`.
    pub fn open(path: &Path) -> Result<Self, MediaError> {
        let file = File::open(path)
            .map_err(|e| MediaError::new(ErrorCode::UnsupportedFormat, format!("cannot open file: {e}")))?;
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let mut format = symphonia::default::get_probe()
            .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
            .map_err(|e| MediaError::new(ErrorCode::UnsupportedFormat, format!("unrecognised container: {e}")))?;
        let track = format
            .default_track(TrackType::Audio)
            .ok_or_else(|| MediaError::new(ErrorCode::UnsupportedFormat, "no audio track"))?;
        let track_id = track.id;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| MediaError::new(ErrorCode::UnsupportedFormat, "track has no audio parameters"))?
            .clone();
        let source_frames = track.num_frames;
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| MediaError::new(ErrorCode::UnsupportedFormat, format!("unsupported codec: {e}")))?;
        let sample_rate = params
            .sample_rate
            .filter(|r| (1000..=768_000).contains(r))
            .ok_or_else(|| MediaError::new(ErrorCode::UnsupportedFormat, "missing or absurd sample rate"))?;
        let channels = params.channels.as_ref().map(|c| c.count()).unwrap_or(0);
        if channels == 0 || channels > MAX_SOURCE_CHANNELS {
            return Err(MediaError::new(
                ErrorCode::UnsupportedFormat,
                format!("{channels} channels (1..={MAX_SOURCE_CHANNELS} supported)"),
            ));
        }
        let codec = symphonia::default::get_codecs()
            .get_audio_decoder(params.codec)
            .map(|d| d.codec.info.short_name.to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let mut info = Probed { sample_rate, channels, codec, source_frames, ..Default::default() };
        if let Some(rev) = format.metadata().skip_to_latest() {
            for tag in &rev.media.tags {
                match &tag.std {
                    Some(StandardTag::TrackTitle(v)) => info.title = Some(v.to_string()),
                    Some(StandardTag::Artist(v)) => info.artist = Some(v.to_string()),
                    Some(StandardTag::Album(v)) => info.album = Some(v.to_string()),
                    _ => {}
                }
            }
        }
        Ok(SourceDecoder { format, decoder, track_id, info, skip_frames: 0, decoded_frames: 0, scratch: Vec::new() })
    }

    /// Frames at 48 kHz the whole track decodes to, when known.
    pub fn output_frames(&self) -> Option<u64> {
        self.info.source_frames.map(|n| output_frames_for(n, self.info.sample_rate))
    }

    /// Positions the decoder so the next frame it returns is source frame `frame`.
    pub fn seek_to_frame(&mut self, frame: u64) -> Result<(), MediaError> {
        if frame == 0 {
            return Ok(());
        }
        let ts = Timestamp::new(i64::try_from(frame).unwrap_or(i64::MAX));
        let seeked = self
            .format
            .seek(SeekMode::Accurate, SeekTo::Timestamp { ts, track_id: self.track_id })
            .map_err(|e| MediaError::new(ErrorCode::InvalidParameter, format!("cannot seek there: {e}")))?;
        self.decoder.reset();
        let required = seeked.required_ts.get().max(0) as u64;
        let actual = seeked.actual_ts.get().max(0) as u64;
        self.skip_frames = required.saturating_sub(actual) + frame.saturating_sub(required);
        self.decoded_frames = frame;
        Ok(())
    }

    /// Decodes the next packet's audio, appending interleaved f32 to `out`. Returns `false` at
    /// the end of the stream.
    pub fn next_into(&mut self, out: &mut Vec<f32>) -> Result<bool, MediaError> {
        let mut consecutive_errors = 0;
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(false),
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
                Err(e) => return Err(MediaError::new(ErrorCode::DecodeError, format!("demuxing failed: {e}"))),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            match self.decoder.decode(&packet) {
                Ok(buf) => {
                    let ch = self.info.channels;
                    if buf.spec().channels().count() != ch {
                        return Err(MediaError::new(ErrorCode::DecodeError, "channel count changed mid-stream"));
                    }
                    self.scratch.clear();
                    buf.copy_to_vec_interleaved(&mut self.scratch);
                    let frames = (self.scratch.len() / ch) as u64;
                    let skip = self.skip_frames.min(frames);
                    self.skip_frames -= skip;
                    out.extend_from_slice(&self.scratch[skip as usize * ch..]);
                    self.decoded_frames += frames - skip;
                    return Ok(true);
                }
                Err(SymError::DecodeError(e)) => {
                    consecutive_errors += 1;
                    if consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS {
                        return Err(MediaError::new(ErrorCode::DecodeError, format!("corrupt audio data: {e}")));
                    }
                }
                Err(e) => return Err(MediaError::new(ErrorCode::DecodeError, format!("decoding failed: {e}"))),
            }
        }
    }

    /// Source frames delivered so far (counting from the track start).
    pub fn position_frames(&self) -> u64 {
        self.decoded_frames
    }
}

/// What the decode thread sends to the session.
#[derive(Debug)]
pub enum DecodeEvent {
    /// Interleaved f32 at 48 kHz: exactly `frames_per_packet` frames except the last.
    Audio(Vec<f32>),
    /// The track ended after `total_samples` frames (48 kHz, from the track start).
    End { total_samples: u64 },
    /// Decoding failed; what was sent before stands.
    Error(MediaError),
}

/// A running decode: its channel of packets and what is known of the stream.
pub struct DecodeJob {
    pub rx: mpsc::Receiver<DecodeEvent>,
    pub channels: usize,
    pub start_sample: u64,
    pub total_samples: Option<u64>,
}

/// Opens `path`, seeks to `start_sample` (48 kHz frames) and spawns the decode thread. The
/// channel holds `queue_packets` packets: the thread blocks when the session is not sending.
pub fn start_decode(
    path: PathBuf,
    start_sample: u64,
    frames_per_packet: usize,
    queue_packets: usize,
) -> Result<DecodeJob, MediaError> {
    let mut src = SourceDecoder::open(&path)?;
    let rate = src.info.sample_rate;
    let channels = src.info.channels;
    let total_samples = src.output_frames();
    if let Some(total) = total_samples {
        if start_sample >= total {
            return Err(MediaError::new(
                ErrorCode::InvalidParameter,
                format!("position is past the end of the track ({total} frames)"),
            ));
        }
    }
    let src_start = start_sample * rate as u64 / STREAM_SAMPLE_RATE as u64;
    src.seek_to_frame(src_start)?;
    let mut resampler = if rate == STREAM_SAMPLE_RATE {
        None
    } else {
        Some(To48k::new(rate, channels).map_err(|e| MediaError::new(ErrorCode::Internal, e))?)
    };
    let (tx, rx) = mpsc::channel(queue_packets.max(1));
    let name = format!("decode-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("?"));
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let packet_samples = frames_per_packet * channels;
            let mut decoded = Vec::new();
            let mut pending: Vec<f32> = Vec::with_capacity(packet_samples * 2);
            let mut sent_frames = 0u64;
            let send = |ev: DecodeEvent| tx.blocking_send(ev).is_ok();
            let result = loop {
                decoded.clear();
                let more = match src.next_into(&mut decoded) {
                    Ok(m) => m,
                    Err(e) => break Err(e),
                };
                let r = match resampler.as_mut() {
                    Some(r) if more => r.push(&decoded, &mut pending),
                    Some(r) => r.finish(&mut pending),
                    None => {
                        pending.extend_from_slice(&decoded);
                        Ok(())
                    }
                };
                if let Err(e) = r {
                    break Err(MediaError::new(ErrorCode::Internal, e));
                }
                let mut at = 0;
                while pending.len() - at >= packet_samples || (!more && pending.len() > at) {
                    let end = (at + packet_samples).min(pending.len());
                    sent_frames += ((end - at) / channels) as u64;
                    if !send(DecodeEvent::Audio(pending[at..end].to_vec())) {
                        return; // the session is gone
                    }
                    at = end;
                }
                pending.drain(..at);
                if !more {
                    break Ok(());
                }
            };
            let ev = match result {
                Ok(()) => {
                    let total = start_sample + sent_frames;
                    match total_samples {
                        Some(expected) if total < expected => DecodeEvent::Error(MediaError::new(
                            ErrorCode::MediaTruncated,
                            format!("file ends after {total} of its declared {expected} frames (48 kHz)"),
                        )),
                        _ => DecodeEvent::End { total_samples: total },
                    }
                }
                Err(e) => DecodeEvent::Error(e),
            };
            let _ = send(ev);
        })
        .map_err(|e| MediaError::new(ErrorCode::Internal, format!("cannot start decoder thread: {e}")))?;
    Ok(DecodeJob { rx, channels, start_sample, total_samples })
}

/// Decodes a whole file to 48 kHz interleaved f32 on the calling thread (tools and benches).
pub fn decode_all(path: &Path) -> Result<(Vec<f32>, usize), MediaError> {
    let mut src = SourceDecoder::open(path)?;
    let (rate, ch) = (src.info.sample_rate, src.info.channels);
    let mut resampler = if rate == STREAM_SAMPLE_RATE {
        None
    } else {
        Some(To48k::new(rate, ch).map_err(|e| MediaError::new(ErrorCode::Internal, e))?)
    };
    let mut out = Vec::new();
    let mut decoded = Vec::new();
    loop {
        decoded.clear();
        let more = src.next_into(&mut decoded)?;
        match resampler.as_mut() {
            Some(r) if more => r.push(&decoded, &mut out).map_err(|e| MediaError::new(ErrorCode::Internal, e))?,
            Some(r) => r.finish(&mut out).map_err(|e| MediaError::new(ErrorCode::Internal, e))?,
            None => out.extend_from_slice(&decoded),
        }
        if !more {
            return Ok((out, ch));
        }
    }
}
