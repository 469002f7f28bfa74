//! Decoding a file to 48 kHz interleaved f32: the demuxer and decoder of its default track
//! (symphonia), seeks on the resampler's grid, and the whole-file decode tools use.

use std::fs::File;
use std::path::Path;

use stream_core::control::ErrorCode;
use stream_core::STREAM_SAMPLE_RATE;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::{MetadataOptions, StandardTag};
use symphonia::core::units::Timestamp;

use super::resample::{output_frames_for, To48k};
use super::MediaError;

/// Consecutive undecodable packets after which a file is declared corrupt.
const MAX_CONSECUTIVE_DECODE_ERRORS: u32 = 8;
/// Most channels a library file may have.
const MAX_SOURCE_CHANNELS: usize = stream_core::wire::MAX_CHANNELS as usize;

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
    /// Timestamp the next packet should carry; a packet further on means the demuxer skipped
    /// data it could not read.
    expected_ts: Option<i64>,
}

impl SourceDecoder {
    /// Opens and probes `path`.
    pub fn open(path: &Path) -> Result<Self, MediaError> {
        let file = File::open(path)
            .map_err(|e| MediaError::new(ErrorCode::UnsupportedFormat, format!("cannot open file: {e}")))?;
        Self::open_source(Box::new(file), path.extension().and_then(|e| e.to_str()))
    }

    /// Probes any media source (a file, or `std::io::Cursor` over bytes in memory), with the
    /// file extension as a hint to the probe. The one code path behind [`SourceDecoder::open`].
    pub fn open_source(source: Box<dyn MediaSource>, extension: Option<&str>) -> Result<Self, MediaError> {
        let mss = MediaSourceStream::new(source, Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = extension {
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
        Ok(SourceDecoder {
            format,
            decoder,
            track_id,
            info,
            skip_frames: 0,
            decoded_frames: 0,
            scratch: Vec::new(),
            expected_ts: None,
        })
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
        self.expected_ts = None;
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
            let pts = packet.pts.get();
            if let Some(expected) = self.expected_ts {
                // Before 0 (encoder priming, trimmed) timestamps need not be contiguous.
                if expected > 0 && pts > expected {
                    return Err(MediaError::new(
                        ErrorCode::DecodeError,
                        format!(
                            "corrupt data: {} frames could not be read after {:.3} s",
                            pts - expected,
                            expected as f64 / self.info.sample_rate as f64
                        ),
                    ));
                }
            }
            self.expected_ts = Some(pts.saturating_add(packet.dur.get() as i64));
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

/// 48 kHz interleaved f32 from any position of a file: decoder, seek and resampler together.
///
/// Seeks land on the resampler's grid (a multiple of the rate ratio's output unit) with a
/// pre-roll of at least [`RESAMPLER_PREROLL_FRAMES`] source frames, so audio read from a
/// position equals the same audio read from the start, up to float rounding.
pub struct PcmReader {
    src: SourceDecoder,
    resampler: Option<To48k>,
    pub channels: usize,
    /// Output frames still to drop before `pos`.
    skip: u64,
    /// 48 kHz position of the next frame `read` returns.
    pos: u64,
    pending: Vec<f32>,
    decoded: Vec<f32>,
    eof: bool,
}

/// Source frames decoded and dropped ahead of a seek position, to fill the resampler's filter.
pub const RESAMPLER_PREROLL_FRAMES: u64 = 4096;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl PcmReader {
    /// Opens `path` positioned at 48 kHz frame `pos`.
    pub fn open(path: &Path, pos: u64) -> Result<Self, MediaError> {
        Self::from_decoder(SourceDecoder::open(path)?, pos)
    }

    /// Wraps an opened source (e.g. [`SourceDecoder::open_source`] over bytes in memory),
    /// positioned at 48 kHz frame `pos`.
    pub fn from_decoder(mut src: SourceDecoder, pos: u64) -> Result<Self, MediaError> {
        let rate = src.info.sample_rate as u64;
        let channels = src.info.channels;
        let (resampler, skip) = if rate == STREAM_SAMPLE_RATE as u64 {
            src.seek_to_frame(pos)?;
            (None, 0)
        } else {
            let g = gcd(rate, STREAM_SAMPLE_RATE as u64);
            let (unit_in, unit_out) = (rate / g, STREAM_SAMPLE_RATE as u64 / g);
            let preroll_units = RESAMPLER_PREROLL_FRAMES.div_ceil(unit_in);
            let units = (pos / unit_out).saturating_sub(preroll_units);
            src.seek_to_frame(units * unit_in)?;
            let r = To48k::new(rate as u32, channels).map_err(|e| MediaError::new(ErrorCode::Internal, e))?;
            (Some(r), pos - units * unit_out)
        };
        Ok(PcmReader { src, resampler, channels, skip, pos, pending: Vec::new(), decoded: Vec::new(), eof: false })
    }

    /// What probing told.
    pub fn info(&self) -> &Probed {
        &self.src.info
    }

    /// Frames of the whole track at 48 kHz, when known.
    pub fn total_frames(&self) -> Option<u64> {
        self.src.output_frames()
    }

    /// The position of the next frame `read` returns.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Appends up to `frames` frames to `out`; fewer only at the end of the file. Returns the
    /// number appended (0 at the end).
    pub fn read(&mut self, frames: usize, out: &mut Vec<f32>) -> Result<usize, MediaError> {
        let ch = self.channels;
        while self.pending.len() < frames * ch && !self.eof {
            self.decoded.clear();
            let more = self.src.next_into(&mut self.decoded)?;
            let before = self.pending.len();
            match self.resampler.as_mut() {
                Some(r) if more => r.push(&self.decoded, &mut self.pending),
                Some(r) => r.finish(&mut self.pending),
                None => {
                    self.pending.extend_from_slice(&self.decoded);
                    Ok(())
                }
            }
            .map_err(|e| MediaError::new(ErrorCode::Internal, e))?;
            if self.skip > 0 {
                let got = ((self.pending.len() - before) / ch) as u64;
                let drop = self.skip.min(got) as usize;
                self.pending.drain(before..before + drop * ch);
                self.skip -= drop as u64;
            }
            self.eof = !more;
        }
        let n = (self.pending.len() / ch).min(frames);
        out.extend_from_slice(&self.pending[..n * ch]);
        self.pending.drain(..n * ch);
        self.pos += n as u64;
        Ok(n)
    }

    /// Whether the file has ended after what was read and what remains pending.
    pub fn at_end(&self) -> bool {
        self.eof && self.pending.is_empty()
    }
}

/// Decodes a whole file to 48 kHz interleaved f32 on the calling thread (tools and benches).
pub fn decode_all(path: &Path) -> Result<(Vec<f32>, usize), MediaError> {
    let mut reader = PcmReader::open(path, 0)?;
    let mut out = Vec::new();
    while reader.read(STREAM_SAMPLE_RATE as usize, &mut out)? > 0 {}
    Ok((out, reader.channels))
}
