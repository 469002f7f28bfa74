//! Ingest of what Icecast source clients send (ezstream, liquidsoap, ices2, darkice, BUTT,
//! ffmpeg): MP3 (and MP2), AAC in ADTS, and Ogg with Vorbis, FLAC or Opus, chained or not.
//!
//! The container comes from the request's content type, checked against the first bytes (a
//! client that says `audio/mpeg` and sends Ogg is refused, `content_type_mismatch`); without a
//! content type the bytes alone decide. Each format is framed here ([`mpeg`], the Ogg demuxer
//! of `stream_core`) and decoded by symphonia (libopus for Opus), then mapped to the stream's
//! channels, resampled to 48 kHz and handed to the stream's pipeline, which encodes it once
//! for every listener as for any producer.
//!
//! Titles ride with the audio: a new Ogg logical stream's comments, an ID3v2 tag between MP3
//! files and Icecast's metadata update (`/admin/metadata`) each become a title at the exact
//! stream position where they apply (the first sample of the new song), which the pipeline
//! attaches to the frame holding it. MP3 files a client sends as they are (ezstream) join
//! gaplessly: the LAME header's encoder delay and padding are cut, so a song's first sample is
//! where its title is.
//!
//! Bad input is refused with a stable code before any audio flows; once a stream is live, a
//! damaged stretch of MP3 or AAC is skipped (resynchronised on two consecutive frame headers),
//! counted, reported on the stream (`corrupt_audio`) and replaced by silence of its duration
//! when a frame fails to decode, so listeners keep time and the source is not cut off.

pub mod mpeg;
mod vorbis;

use std::sync::Arc;

use stream_core::control::ErrorCode;
use stream_core::ogg::{OggDemuxer, OggError, OpusHead};
use stream_core::STREAM_SAMPLE_RATE;
use symphonia::core::audio::{Channels, Position};
use symphonia::core::codecs::audio::well_known::{CODEC_ID_AAC, CODEC_ID_FLAC, CODEC_ID_MP2, CODEC_ID_MP3};
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::packet::Packet;
use symphonia::core::units::{Duration, Timestamp};

use self::mpeg::{adts_frame, mpeg_frame, same_kind, AdtsFrame, Gapless, MpegFrame};
use super::{start_pipeline, IngestError, LiveRegistry, LiveStream, Producer};
use crate::media::opus::{opus_decoder, MAX_FRAME_SAMPLES};
use crate::media::resample::To48k;

/// Largest Ogg packet accepted: a Vorbis setup header or a FLAC frame can be large.
const MAX_OGG_PACKET: usize = 512 * 1024;
/// Longest title kept (bytes); a longer one is refused (`message_too_large`).
pub const MAX_TITLE_BYTES: usize = 1024;
/// Bytes of junk between frames after which the source is cut off (it is not sending audio).
const MAX_JUNK_RUN: usize = 256 * 1024;
/// A run of skipped bytes this long is reported as damage (shorter ones are tags and padding
/// between files that clients leave in).
const REPORTED_JUNK: usize = 512;
/// ID3v2 bytes kept to read a title from (the rest of a large tag, pictures, is skipped).
const MAX_ID3_KEPT: usize = 64 * 1024;

/// The containers a source may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    Ogg,
    Mpeg,
    Adts,
}

impl Container {
    pub fn name(self) -> &'static str {
        match self {
            Container::Ogg => "ogg",
            Container::Mpeg => "mp3",
            Container::Adts => "aac",
        }
    }
}

/// The container a content type announces; `Ok(None)` without one (or a generic one), an error
/// for a type no source of audio we take would send.
pub fn container_for(content_type: Option<&str>) -> Result<Option<Container>, IngestError> {
    let Some(ct) = content_type else { return Ok(None) };
    let base = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    Ok(Some(match base.as_str() {
        "" | "application/octet-stream" => return Ok(None),
        "audio/ogg" | "application/ogg" | "audio/opus" | "audio/vorbis" | "audio/x-vorbis" | "audio/x-ogg"
        | "audio/flac" | "audio/x-flac" | "audio/ogg; codecs=opus" => Container::Ogg,
        "audio/mpeg" | "audio/mp3" | "audio/x-mpeg" | "audio/mpeg3" | "audio/x-mp3" => Container::Mpeg,
        "audio/aac" | "audio/aacp" | "audio/x-aac" | "audio/aac-adts" | "audio/x-hx-aac-adts" => Container::Adts,
        _ => {
            return Err(IngestError::new(
                ErrorCode::UnsupportedFormat,
                format!("content type {base:?} is not a format this relay takes (MP3, AAC/ADTS, Ogg Vorbis, Ogg FLAC, Ogg Opus)"),
            ))
        }
    }))
}

/// What the first bytes are, once there are enough of them (`None`: need more, or unknown).
fn sniff(b: &[u8]) -> Option<Option<Container>> {
    if b.len() < 4 {
        return None;
    }
    if &b[..4] == b"OggS" {
        return Some(Some(Container::Ogg));
    }
    if &b[..3] == b"ID3" {
        return Some(Some(Container::Mpeg));
    }
    // Two consecutive frame headers (a lone sync word is too weak a sign).
    if let Some(f) = mpeg_frame(b) {
        return match b.get(f.len..f.len + 4) {
            None if b.len() < 16 * 1024 => None,
            Some(next) if mpeg_frame(next).is_some_and(|g| same_kind(&f, &g)) => Some(Some(Container::Mpeg)),
            _ => Some(None),
        };
    }
    if let Some(f) = adts_frame(b) {
        return match b.get(f.len..f.len + 7) {
            None if b.len() < 16 * 1024 => None,
            Some(next) if adts_frame(next).is_some() => Some(Some(Container::Adts)),
            _ => Some(None),
        };
    }
    Some(None)
}

/// A title at the stream position where it applies (48 kHz frames from the stream start).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Title {
    pub sample: u64,
    pub title: String,
}

/// Checks a title from a source (the metadata update or a tag).
pub fn check_title(title: &str) -> Result<String, IngestError> {
    if title.len() > MAX_TITLE_BYTES {
        return Err(IngestError::new(
            ErrorCode::MessageTooLarge,
            format!("a title of {} bytes (at most {MAX_TITLE_BYTES})", title.len()),
        ));
    }
    Ok(title.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_owned())
}

/// The state of one source connection's body.
pub struct SourceIngest {
    declared: Option<Container>,
    container: Option<Container>,
    head: Vec<u8>,
    ogg: Option<OggSource>,
    mpeg: Option<MpegSource>,
    out: Output,
    /// The last Ogg packet ended its logical stream (a new one may follow: a chain).
    ended: bool,
    shutdown: bool,
    chain_lag_s: f64,
}

/// liquidsoap's default frame (`settings.frame.duration`): its Ogg encoder starts the next
/// logical stream after the frame in which the song changed, so a chained stream's first sample
/// comes one frame after the song's.
const LIQUIDSOAP_FRAME_S: f64 = 0.04;

impl SourceIngest {
    /// For a body announced as `content_type` (checked by [`container_for`] first).
    pub fn new(content_type: Option<&str>) -> Result<Self, IngestError> {
        Ok(SourceIngest {
            declared: container_for(content_type)?,
            container: None,
            head: Vec::new(),
            ogg: None,
            mpeg: None,
            out: Output::default(),
            ended: false,
            shutdown: false,
            chain_lag_s: 0.0,
        })
    }

    /// Whether the stream ends if the body ends here: its last Ogg page so far ended its
    /// logical stream (a chain may go on with another), or the server shuts down.
    pub fn ended(&self) -> bool {
        self.ended || self.shutdown
    }

    /// The source client's `User-Agent`: a client known to place its Ogg chain one of its own
    /// processing frames after the song change (liquidsoap, 40 ms by default) gets its titles
    /// placed back at the change.
    pub fn set_client(&mut self, user_agent: Option<&str>) {
        let ua = user_agent.unwrap_or_default().to_ascii_lowercase();
        self.chain_lag_s = if ua.starts_with("liquidsoap") { LIQUIDSOAP_FRAME_S } else { 0.0 };
    }

    /// The container, once the first bytes told it.
    pub fn container(&self) -> Option<Container> {
        self.container
    }

    /// Takes body bytes. The stream's producer must already be attached by the caller.
    pub fn push(&mut self, live: &LiveRegistry, stream: &Arc<LiveStream>, bytes: &[u8]) -> Result<(), IngestError> {
        if self.shutdown {
            return Ok(());
        }
        if let Some(t) = stream.take_title_update() {
            match &mut self.mpeg {
                // Placed where the bytes received so far end (see MpegSource::pending).
                Some(m) => m.pending = Some((m.received, t)),
                None => self.out.title(t, 0),
            }
        }
        if self.container.is_none() {
            self.head.extend_from_slice(bytes);
            let found = match sniff(&self.head) {
                None if self.head.len() < 64 * 1024 => return Ok(()),
                None | Some(None) => {
                    return Err(IngestError::new(
                        ErrorCode::UnsupportedFormat,
                        "the stream is none of MP3, AAC (ADTS) or Ogg (Vorbis, FLAC, Opus)",
                    ))
                }
                Some(Some(c)) => c,
            };
            if let Some(d) = self.declared {
                if d != found {
                    return Err(IngestError::new(
                        ErrorCode::ContentTypeMismatch,
                        format!("the content type says {} but the stream is {}", d.name(), found.name()),
                    ));
                }
            }
            self.container = Some(found);
            match found {
                Container::Ogg => self.ogg = Some(OggSource::new(self.chain_lag_s)),
                c => self.mpeg = Some(MpegSource::new(c == Container::Adts)),
            }
            stream.set_source_format(found.name());
            let head = std::mem::take(&mut self.head);
            return self.feed(live, stream, &head);
        }
        self.feed(live, stream, bytes)
    }

    fn feed(&mut self, live: &LiveRegistry, stream: &Arc<LiveStream>, bytes: &[u8]) -> Result<(), IngestError> {
        let ctx = Ctx { live, stream };
        if let Some(o) = &mut self.ogg {
            o.push(&ctx, &mut self.out, bytes)?;
            self.ended = o.ended;
        } else if let Some(m) = &mut self.mpeg {
            m.push(&ctx, &mut self.out, bytes)?;
        }
        Ok(())
    }

    /// The body is over: a stream that reached its end ends normally; one cut short lost its
    /// producer. With `err`, the stream fails with that error.
    pub fn finish(mut self, live: &LiveRegistry, stream: &Arc<LiveStream>, err: Option<&IngestError>) {
        if err.is_none() {
            let ctx = Ctx { live, stream };
            if let Some(m) = &mut self.mpeg {
                let _ = m.flush(&ctx, &mut self.out);
            }
            self.out.flush();
        }
        match (self.out.producer.take(), err) {
            (Some(p), Some(e)) => p.fail(e),
            (Some(p), None) if self.ended || self.shutdown => p.end(),
            // An Icecast source that disconnects may come back and go on (as to an Icecast
            // mount): the stream waits for it.
            (Some(p), None) => {
                p.pause();
                stream.source_away(live.config.source_grace);
            }
            // Nothing was ever streamed: the stream waits for another producer.
            (None, _) => stream.release_producer(),
        }
    }

    /// The server shuts down: the stream ends normally where the audio received so far ends.
    pub fn end_here(&mut self) {
        self.shutdown = true;
    }

    /// The body ended: one that brought bytes but no audio at all was not a source of ours.
    pub fn check_end(&self) -> Result<(), IngestError> {
        if self.out.producer.is_some() || self.shutdown {
            return Ok(());
        }
        match self.container {
            None if !self.head.is_empty() => Err(IngestError::new(
                ErrorCode::UnsupportedFormat,
                "the body ended before it showed any of MP3, AAC (ADTS) or Ogg (Vorbis, FLAC, Opus)",
            )),
            Some(Container::Mpeg | Container::Adts) if self.mpeg.as_ref().is_some_and(|m| m.received > 0) => {
                Err(IngestError::new(ErrorCode::CorruptAudio, "the body ended without one whole audio frame"))
            }
            _ => Ok(()),
        }
    }

    /// Whether audio flows (a producer pipeline runs).
    pub fn started(&self) -> bool {
        self.out.producer.is_some()
    }
}

struct Ctx<'a> {
    live: &'a LiveRegistry,
    stream: &'a Arc<LiveStream>,
}

/// Decoded audio on its way to the pipeline: channel mapping, resampling, titles in place.
#[derive(Default)]
struct Output {
    producer: Option<Producer>,
    /// Channels of the stream (of its first audio: 1 or 2).
    channels: usize,
    rate: u32,
    resampler: Option<To48k>,
    /// 48 kHz frames given to the pipeline.
    pushed: u64,
    /// 48 kHz position where the current rate began, and source frames since.
    seg_start: u64,
    seg_in: u64,
    /// Titles waiting for the audio they belong to: (48 kHz position, title).
    titles: std::collections::VecDeque<(u64, String)>,
    last_title: Option<String>,
    mapped: Vec<f32>,
    resampled: Vec<f32>,
}

impl Output {
    /// Where the audio stands (48 kHz), counting what the resampler still holds.
    fn position(&self) -> u64 {
        if self.rate == 0 {
            return self.pushed;
        }
        self.seg_start + self.seg_in * STREAM_SAMPLE_RATE as u64 / self.rate as u64
    }

    /// A title that applies at the current position plus `delay` source frames.
    fn title(&mut self, title: String, delay: u64) {
        self.title_shifted(title, delay as i64);
    }

    /// A title that applies `shift` source frames from the current position (before it when
    /// negative: listeners get it with the next frame, for the sample already sent).
    fn title_shifted(&mut self, title: String, shift: i64) {
        if self.last_title.as_deref() == Some(title.as_str()) || title.is_empty() {
            return;
        }
        let rate = if self.rate == 0 { STREAM_SAMPLE_RATE } else { self.rate } as i64;
        let at = (self.position() as i64 + shift * STREAM_SAMPLE_RATE as i64 / rate).max(0) as u64;
        self.last_title = Some(title.clone());
        match self.producer.as_mut() {
            // The pipeline is told at once, with where the title begins relative to the audio
            // sent so far (ahead of it for audio the decoder or resampler still hold).
            Some(p) => p.meta(title, at as i64 - self.pushed as i64),
            None => self.titles.push_back((at, title)),
        }
    }

    /// Audio of `channels` channels at `rate` Hz.
    fn audio(&mut self, ctx: &Ctx, pcm: &[f32], channels: usize, rate: u32) -> Result<(), IngestError> {
        if pcm.is_empty() || channels == 0 {
            return Ok(());
        }
        if self.producer.is_none() {
            let ch = channels.min(2) as u8;
            self.producer = Some(start_pipeline(ctx.live, ctx.stream.clone(), ch)?);
            self.channels = ch as usize;
            self.pushed = self.producer.as_ref().map_or(0, |p| p.start_pos);
            self.seg_start = self.pushed;
            // Titles seen before any audio apply to its first sample.
            for t in &mut self.titles {
                t.0 = self.pushed;
            }
        }
        if rate != self.rate {
            self.flush();
            self.resampler = if rate == STREAM_SAMPLE_RATE {
                None
            } else {
                Some(
                    To48k::new(rate, self.channels)
                        .map_err(|e| IngestError::new(ErrorCode::UnsupportedSampleRate, e))?,
                )
            };
            self.rate = rate;
            self.seg_start = self.pushed;
            self.seg_in = 0;
        }
        let frames = pcm.len() / channels;
        self.seg_in += frames as u64;
        let mut mapped = std::mem::take(&mut self.mapped);
        mapped.clear();
        match (channels, self.channels) {
            (a, b) if a == b => mapped.extend_from_slice(pcm),
            (1, 2) => mapped.extend(pcm.iter().flat_map(|&s| [s, s])),
            (_, 1) => mapped.extend(pcm.chunks_exact(channels).map(|f| (f[0] + f[1]) * 0.5)),
            (_, _) => mapped.extend(pcm.chunks_exact(channels).flat_map(|f| [f[0], f[1]])),
        }
        let r = match self.resampler.as_mut() {
            Some(rs) => {
                let mut out = std::mem::take(&mut self.resampled);
                out.clear();
                let r = rs.push(&mapped, &mut out).map_err(|e| IngestError::new(ErrorCode::Internal, e));
                let sent = r.and_then(|_| self.send(&out));
                self.resampled = out;
                sent
            }
            None => self.send(&mapped),
        };
        self.mapped = mapped;
        r
    }

    /// Flushes the resampler (a change of rate, or the end).
    fn flush(&mut self) {
        if let Some(mut rs) = self.resampler.take() {
            let mut out = Vec::new();
            if rs.finish(&mut out).is_ok() {
                let _ = self.send(&out);
            }
        }
        self.seg_start = self.pushed;
        self.seg_in = 0;
    }

    /// 48 kHz audio to the pipeline.
    fn send(&mut self, pcm: &[f32]) -> Result<(), IngestError> {
        let ch = self.channels;
        let Some(producer) = self.producer.as_mut() else { return Ok(()) };
        // Titles seen before the first audio begin with it.
        while let Some((at, t)) = self.titles.pop_front() {
            producer.meta(t, at as i64 - self.pushed as i64);
        }
        if !pcm.is_empty() {
            producer.push(pcm.to_vec())?;
            self.pushed += (pcm.len() / ch) as u64;
        }
        Ok(())
    }
}

/// A symphonia decoder for `codec` at `rate` with `channels` channels.
fn make_decoder(
    codec: symphonia::core::codecs::audio::AudioCodecId,
    rate: u32,
    channels: u8,
    extra: Option<Box<[u8]>>,
    bits: Option<u32>,
) -> Result<Box<dyn AudioDecoder>, IngestError> {
    let mut params = AudioCodecParameters::new();
    let layout = if channels == 1 { Position::FRONT_CENTER } else { Position::FRONT_LEFT | Position::FRONT_RIGHT };
    params.for_codec(codec).with_sample_rate(rate).with_channels(Channels::Positioned(layout));
    if let Some(e) = extra {
        params.with_extra_data(e);
    }
    if let Some(b) = bits {
        params.with_bits_per_sample(b);
    }
    symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| IngestError::new(ErrorCode::UnsupportedFormat, format!("no decoder: {e}")))
}

/// Decodes one packet to interleaved f32 in `out`; returns the channel count.
fn decode_into(dec: &mut dyn AudioDecoder, data: &[u8], frames: u64, out: &mut Vec<f32>) -> Result<usize, String> {
    let packet = Packet::new(0, Timestamp::ZERO, Duration::new(frames), data.to_vec());
    let buf = dec.decode(&packet).map_err(|e| e.to_string())?;
    let ch = buf.spec().channels().count();
    out.clear();
    buf.copy_to_vec_interleaved(out);
    Ok(ch)
}

// ---- MPEG audio and ADTS ----------------------------------------------------------------

/// MP3 (MP2) or AAC/ADTS: frames found in the byte stream, tags between them.
struct MpegSource {
    adts: bool,
    buf: Vec<u8>,
    /// Frames confirmed so far (a resync needs two consecutive headers).
    synced: bool,
    decoder: Option<(Box<dyn AudioDecoder>, u32, u8)>,
    /// Bytes of an ID3v2 tag still to skip, and the start of it kept for its title.
    id3_left: usize,
    id3: Vec<u8>,
    /// The current file's LAME delay (source frames still to cut at its start) and padding.
    cut_start: u64,
    gapless: Option<Gapless>,
    /// Decoded audio held back (the last frame's worth) so a file's padding can be cut when the
    /// next file starts.
    held: Vec<f32>,
    held_ch: usize,
    held_rate: u32,
    junk: usize,
    decoded: Vec<f32>,
    /// Bytes taken so far, and bytes consumed from the start of `buf`.
    received: u64,
    consumed: u64,
    /// A metadata update and the byte count when it came: it applies to the audio after those
    /// bytes: at the next file boundary (a tag or header frame) if one follows at once, else at
    /// the next frame.
    pending: Option<(u64, String)>,
}

/// Output frames an MP3 decoder lags its input by (it is constant for layer III decoders).
const MP3_DECODER_DELAY: u64 = 529;
/// The delay of an MP3 encoder (LAME's, which every streaming client uses), in frames.
const MP3_ENCODER_DELAY: u64 = 576;

impl MpegSource {
    fn new(adts: bool) -> Self {
        MpegSource {
            adts,
            buf: Vec::new(),
            synced: false,
            decoder: None,
            id3_left: 0,
            id3: Vec::new(),
            cut_start: 0,
            gapless: None,
            held: Vec::new(),
            held_ch: 0,
            held_rate: 0,
            junk: 0,
            decoded: Vec::new(),
            received: 0,
            consumed: 0,
            pending: None,
        }
    }

    /// Places a pending metadata update before the item at byte `offset` (a tag or header frame
    /// when `boundary`): after the previous file's end at a boundary; else where the audio before
    /// `offset` ends, counting what the decoder (529 frames) and the hold-back still keep.
    fn place_pending(&mut self, ctx: &Ctx, out: &mut Output, offset: u64, boundary: bool) -> Result<(), IngestError> {
        if self.pending.as_ref().is_none_or(|(mark, _)| offset < *mark) {
            return Ok(());
        }
        let Some((_, title)) = self.pending.take() else { return Ok(()) };
        if boundary {
            self.end_of_file(ctx, out)?;
            out.title(title, 0);
        } else {
            let held = (self.held.len() / self.held_ch.max(1)) as u64;
            // A continuous encoding (no file headers): the update came when the encoder took
            // the song's first sample, which leaves it after its delay (LAME: 576 frames) and
            // leaves our decoder 529 frames later still.
            let latency = match (self.adts, self.gapless.is_some() || self.cut_start > 0) {
                (true, _) => 0,
                (false, true) => MP3_DECODER_DELAY.saturating_sub(self.cut_start),
                (false, false) => MP3_ENCODER_DELAY + MP3_DECODER_DELAY,
            };
            out.title(title, held + latency);
        }
        Ok(())
    }

    fn header(&self, b: &[u8]) -> Option<(usize, u32, u8, u32)> {
        if self.adts {
            adts_frame(b).map(|f: AdtsFrame| (f.len, f.sample_rate, f.channels, 1024 * f.blocks as u32))
        } else {
            mpeg_frame(b).map(|f: MpegFrame| (f.len, f.sample_rate, f.channels, f.samples))
        }
    }

    fn push(&mut self, ctx: &Ctx, out: &mut Output, mut bytes: &[u8]) -> Result<(), IngestError> {
        self.received += bytes.len() as u64;
        // Skipping the rest of a long ID3 tag needs no buffering.
        while !bytes.is_empty() {
            if self.id3_left > 0 {
                let n = self.id3_left.min(bytes.len());
                self.consumed += n as u64;
                if self.id3.len() < MAX_ID3_KEPT {
                    let keep = n.min(MAX_ID3_KEPT - self.id3.len());
                    self.id3.extend_from_slice(&bytes[..keep]);
                }
                self.id3_left -= n;
                bytes = &bytes[n..];
                if self.id3_left == 0 {
                    self.end_of_file(ctx, out)?;
                    if let Some(t) = mpeg::id3v2_title(&self.id3) {
                        out.title(check_title(&t).unwrap_or_default(), 0);
                    }
                    self.id3.clear();
                }
                continue;
            }
            let take = bytes.len().min(64 * 1024);
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            self.frames(ctx, out)?;
        }
        Ok(())
    }

    /// Consumes whole frames (and tags) from the buffer.
    fn frames(&mut self, ctx: &Ctx, out: &mut Output) -> Result<(), IngestError> {
        let mut buf = std::mem::take(&mut self.buf);
        let mut at = 0;
        let result = loop {
            let b = &buf[at..];
            if b.len() < 10 {
                break Ok(());
            }
            if !self.adts && &b[..3] == b"ID3" {
                match mpeg::id3v2_len(b) {
                    Some(len) => {
                        if let Err(e) = self.place_pending(ctx, out, self.consumed + at as u64, true) {
                            break Err(e);
                        }
                        self.report_junk(ctx);
                        let have = len.min(b.len());
                        self.id3.clear();
                        self.id3.extend_from_slice(&b[..have.min(MAX_ID3_KEPT)]);
                        self.id3_left = len - have;
                        at += have;
                        if self.id3_left > 0 {
                            break Ok(()); // the rest streams through push()
                        }
                        self.end_of_file(ctx, out)?;
                        if let Some(t) = mpeg::id3v2_title(&self.id3) {
                            out.title(check_title(&t).unwrap_or_default(), 0);
                        }
                        continue;
                    }
                    None => {
                        at += 1;
                        self.junk += 1;
                        continue;
                    }
                }
            }
            if !self.adts && &b[..3] == b"TAG" && b.len() >= 128 {
                at += 128; // an ID3v1 tag at a file's end
                continue;
            }
            let Some((len, rate, channels, samples)) = self.header(b) else {
                at += 1;
                self.junk += 1;
                if self.junk > MAX_JUNK_RUN {
                    break Err(IngestError::new(
                        ErrorCode::CorruptAudio,
                        format!("{} bytes without a {} frame", self.junk, if self.adts { "AAC" } else { "MPEG audio" }),
                    ));
                }
                continue;
            };
            if !self.synced {
                // Confirm with the next header before trusting a sync word.
                // (7 bytes: an ADTS header's length; an MPEG one needs 4.)
                match b.get(len..len + 7) {
                    None => break Ok(()),
                    Some(next) if self.header(next).is_some_and(|n| n.1 == rate) => self.synced = true,
                    Some(_) => {
                        at += 1;
                        self.junk += 1;
                        continue;
                    }
                }
            }
            if b.len() < len {
                break Ok(());
            }
            self.report_junk(ctx);
            let frame = b[..len].to_vec();
            let boundary = !self.adts && mpeg_frame(&frame).and_then(|f| mpeg::xing(&frame, &f)).is_some();
            if let Err(e) = self.place_pending(ctx, out, self.consumed + at as u64, boundary) {
                break Err(e);
            }
            at += len;
            if let Err(e) = self.frame(ctx, out, &frame, rate, channels, samples) {
                break Err(e);
            }
            // A frame whose successor is not a frame: resync there.
            if let Some(next) = buf.get(at..at + 7) {
                if self.header(next).is_none() && &next[..3] != b"ID3" && &next[..3] != b"TAG" {
                    self.synced = false;
                }
            }
        };
        buf.drain(..at);
        self.consumed += at as u64;
        self.buf = buf;
        result
    }

    fn report_junk(&mut self, ctx: &Ctx) {
        if self.junk >= REPORTED_JUNK {
            ctx.stream.note_damage(format!("{} bytes of the source were not audio and were skipped", self.junk));
        }
        self.junk = 0;
    }

    /// One whole frame.
    fn frame(
        &mut self,
        ctx: &Ctx,
        out: &mut Output,
        frame: &[u8],
        rate: u32,
        channels: u8,
        samples: u32,
    ) -> Result<(), IngestError> {
        if !self.adts {
            if let Some(g) = mpeg_frame(frame).and_then(|f| mpeg::xing(frame, &f)) {
                // A new file's header frame (no audio): the previous file ends, this one's
                // encoder delay is cut.
                self.end_of_file(ctx, out)?;
                if g != Gapless::default() {
                    self.gapless = Some(g);
                    self.cut_start = g.delay as u64 + MP3_DECODER_DELAY;
                }
                if let Some((d, _, _)) = &mut self.decoder {
                    d.reset();
                }
                return Ok(());
            }
        }
        let fresh = !matches!(&self.decoder, Some((_, r, c)) if *r == rate && *c == channels);
        if fresh {
            let codec = if self.adts {
                CODEC_ID_AAC
            } else if mpeg_frame(frame).is_some_and(|f| f.layer == 2) {
                CODEC_ID_MP2
            } else {
                CODEC_ID_MP3
            };
            let extra = self.adts.then(|| {
                let f = adts_frame(frame);
                Box::from(f.map_or([0x12, 0x10], |f| mpeg::audio_specific_config(&f)).as_slice())
            });
            self.release_held(ctx, out, 0)?;
            self.decoder = Some((make_decoder(codec, rate, channels, extra, None)?, rate, channels));
        }
        let Some((dec, _, _)) = self.decoder.as_mut() else { return Ok(()) };
        let payload = if self.adts { adts_frame(frame).map_or(frame, |f| &frame[f.header..]) } else { frame };
        let mut decoded = std::mem::take(&mut self.decoded);
        let ch = match decode_into(dec.as_mut(), payload, samples as u64, &mut decoded) {
            Ok(ch) => ch,
            Err(e) => {
                // Damaged: silence of the frame's length keeps the stream in time.
                ctx.stream.note_damage(format!("a frame did not decode ({e}); replaced by silence"));
                decoded.clear();
                decoded.resize(samples as usize * channels as usize, 0.0);
                channels as usize
            }
        };
        let cut = (self.cut_start as usize).min(decoded.len() / ch.max(1));
        self.cut_start -= cut as u64;
        let r = self.hold(ctx, out, &decoded[cut * ch..], ch, rate);
        self.decoded = decoded;
        r
    }

    /// Keeps the last frame's worth of a gapless file back (its padding is cut when it ends).
    fn hold(&mut self, ctx: &Ctx, out: &mut Output, pcm: &[f32], ch: usize, rate: u32) -> Result<(), IngestError> {
        if self.gapless.is_none() {
            return out.audio(ctx, pcm, ch, rate);
        }
        if ch != self.held_ch || rate != self.held_rate {
            self.release_held(ctx, out, 0)?;
            self.held_ch = ch;
            self.held_rate = rate;
        }
        self.held.extend_from_slice(pcm);
        let keep = 2304 * ch;
        if self.held.len() > keep {
            let n = self.held.len() - keep;
            let head: Vec<f32> = self.held.drain(..n).collect();
            out.audio(ctx, &head, ch, rate)?;
        }
        Ok(())
    }

    /// Sends what is held back, less `cut` frames at its end.
    fn release_held(&mut self, ctx: &Ctx, out: &mut Output, cut: usize) -> Result<(), IngestError> {
        if self.held.is_empty() || self.held_ch == 0 {
            self.held.clear();
            return Ok(());
        }
        let keep = self.held.len().saturating_sub(cut * self.held_ch);
        let held = std::mem::take(&mut self.held);
        let r = out.audio(ctx, &held[..keep], self.held_ch, self.held_rate);
        self.held = held;
        self.held.clear();
        r
    }

    /// A file ended (a new one's tag or header frame arrived): its padding is cut.
    fn end_of_file(&mut self, ctx: &Ctx, out: &mut Output) -> Result<(), IngestError> {
        let pad = self.gapless.take().map_or(0, |g| (g.padding as u64).saturating_sub(MP3_DECODER_DELAY) as usize);
        self.release_held(ctx, out, pad)?;
        self.cut_start = 0;
        Ok(())
    }

    /// The stream ends: what is held back goes out, less the last file's padding.
    fn flush(&mut self, ctx: &Ctx, out: &mut Output) -> Result<(), IngestError> {
        self.end_of_file(ctx, out)
    }
}

// ---- Ogg ---------------------------------------------------------------------------------

enum OggCodec {
    Opus {
        dec: opus::Decoder,
        head: OpusHead,
        to_skip: u64,
        decoded: u64,
        tags: bool,
    },
    Vorbis {
        ident: Vec<u8>,
        rate: u32,
        channels: u8,
        comments: bool,
        dec: Option<Box<dyn AudioDecoder>>,
        /// Frames decoded so far (the last page's granule position trims the end to the
        /// encoder's real length).
        decoded: u64,
    },
    Flac {
        rate: u32,
        dec: Box<dyn AudioDecoder>,
    },
}

struct OggSource {
    demux: OggDemuxer,
    codec: Option<OggCodec>,
    ended: bool,
    pcm: Vec<f32>,
    /// Logical streams begun so far, and how late the client starts a chained one (seconds).
    chains: u32,
    chain_lag_s: f64,
}

/// A logical stream's title: at its first sample, or for a chained one of a client that chains
/// late (`lag_s`), that much earlier.
fn title_for_chain(out: &mut Output, title: &str, rate: u32, chains: u32, lag_s: f64) -> Result<(), IngestError> {
    let title = check_title(title)?;
    let shift = if chains > 1 { -(lag_s * rate as f64).round() as i64 } else { 0 };
    out.title_shifted(title, shift);
    Ok(())
}

fn ogg_error(e: OggError) -> IngestError {
    IngestError::new(e.code(), e.to_string())
}

impl OggSource {
    fn new(chain_lag_s: f64) -> Self {
        OggSource {
            demux: OggDemuxer::new(MAX_OGG_PACKET),
            codec: None,
            ended: false,
            pcm: Vec::new(),
            chains: 0,
            chain_lag_s,
        }
    }

    fn push(&mut self, ctx: &Ctx, out: &mut Output, bytes: &[u8]) -> Result<(), IngestError> {
        self.demux.push(bytes).map_err(ogg_error)?;
        while let Some(p) = self.demux.next_packet() {
            self.ended = false;
            if p.bos {
                self.codec = Some(self.begin(&p.data)?);
                self.chains += 1;
                continue;
            }
            let Some(codec) = self.codec.as_mut() else { continue };
            match codec {
                OggCodec::Opus { dec, head, to_skip, decoded, tags } => {
                    if !*tags {
                        if !p.data.starts_with(b"OpusTags") {
                            return Err(IngestError::new(ErrorCode::CorruptAudio, "the second packet is not OpusTags"));
                        }
                        *tags = true;
                        if let Some(t) = vorbis::comment_title(&p.data[8..]) {
                            let (chains, lag) = (self.chains, self.chain_lag_s);
                            title_for_chain(out, &t, STREAM_SAMPLE_RATE, chains, lag)?;
                        }
                        continue;
                    }
                    if stream_core::ogg::opus_packet_samples(&p.data).is_none() {
                        return Err(IngestError::new(
                            ErrorCode::CorruptAudio,
                            format!("malformed Opus packet of {} bytes", p.data.len()),
                        ));
                    }
                    let ch = head.channels as usize;
                    self.pcm.resize(MAX_FRAME_SAMPLES * ch, 0.0);
                    let n = dec.decode_float(&p.data, &mut self.pcm, false).map_err(|e| {
                        IngestError::new(ErrorCode::CorruptAudio, format!("Opus packet does not decode: {e}"))
                    })?;
                    let skip = (*to_skip as usize).min(n);
                    *to_skip -= skip as u64;
                    let mut count = (n - skip) as u64;
                    if p.eos {
                        if let Some(g) = p.granule {
                            let total = g.saturating_sub(head.pre_skip as u64);
                            count = count.min(total.saturating_sub(*decoded));
                        }
                    }
                    *decoded += count;
                    let frames = &self.pcm[skip * ch..(skip + count as usize) * ch];
                    out.audio(ctx, frames, ch, STREAM_SAMPLE_RATE)?;
                }
                OggCodec::Vorbis { ident, rate, channels, comments, dec, decoded } => {
                    if !*comments {
                        if !p.data.starts_with(b"\x03vorbis") {
                            return Err(IngestError::new(ErrorCode::CorruptAudio, "no Vorbis comment header"));
                        }
                        *comments = true;
                        if let Some(t) = vorbis::comment_title(&p.data[7..]) {
                            title_for_chain(out, &t, *rate, self.chains, self.chain_lag_s)?;
                        }
                        continue;
                    }
                    let Some(d) = dec.as_mut() else {
                        if !p.data.starts_with(b"\x05vorbis") {
                            return Err(IngestError::new(ErrorCode::CorruptAudio, "no Vorbis setup header"));
                        }
                        let mut extra = ident.clone();
                        extra.extend_from_slice(&p.data);
                        *dec = Some(make_decoder(
                            symphonia::core::codecs::audio::well_known::CODEC_ID_VORBIS,
                            *rate,
                            *channels,
                            Some(extra.into_boxed_slice()),
                            None,
                        )?);
                        continue;
                    };
                    let ch = decode_into(d.as_mut(), &p.data, 0, &mut self.pcm)
                        .map_err(|e| IngestError::new(ErrorCode::CorruptAudio, format!("Vorbis packet: {e}")))?;
                    let mut n = (self.pcm.len() / ch.max(1)) as u64;
                    if p.eos {
                        // The last granule position is the stream's length: the rest is padding.
                        if let Some(g) = p.granule {
                            n = n.min(g.saturating_sub(*decoded));
                        }
                    }
                    *decoded += n;
                    out.audio(ctx, &self.pcm[..n as usize * ch], ch, *rate)?;
                }
                OggCodec::Flac { rate, dec } => {
                    if p.data.first() != Some(&0xFF) {
                        // A metadata block: its Vorbis comment (type 4) has the title.
                        if p.data.first().map(|b| b & 0x7F) == Some(4) && p.data.len() > 4 {
                            if let Some(t) = vorbis::comment_title(&p.data[4..]) {
                                title_for_chain(out, &t, *rate, self.chains, self.chain_lag_s)?;
                            }
                        }
                        continue;
                    }
                    let ch = decode_into(dec.as_mut(), &p.data, 0, &mut self.pcm)
                        .map_err(|e| IngestError::new(ErrorCode::CorruptAudio, format!("FLAC frame: {e}")))?;
                    out.audio(ctx, &self.pcm, ch, *rate)?;
                }
            }
            if p.eos {
                self.ended = true;
            }
        }
        Ok(())
    }

    /// The first packet of a logical stream names its codec.
    fn begin(&mut self, first: &[u8]) -> Result<OggCodec, IngestError> {
        if first.starts_with(b"OpusHead") {
            let head = OpusHead::parse(first).map_err(|e| IngestError::new(ErrorCode::UnsupportedFormat, e.0))?;
            let dec = opus_decoder(head.channels).map_err(|e| IngestError::new(e.code, e.message))?;
            return Ok(OggCodec::Opus { dec, head, to_skip: head.pre_skip as u64, decoded: 0, tags: false });
        }
        if first.starts_with(b"\x01vorbis") && first.len() >= 30 {
            let channels = first[11];
            let rate = u32::from_le_bytes([first[12], first[13], first[14], first[15]]);
            if !(1..=2).contains(&channels) || !(8000..=192_000).contains(&rate) {
                return Err(IngestError::new(
                    ErrorCode::UnsupportedFormat,
                    format!("Vorbis with {channels} channels at {rate} Hz (1 or 2 channels, 8-192 kHz)"),
                ));
            }
            return Ok(OggCodec::Vorbis {
                ident: first.to_vec(),
                rate,
                channels,
                comments: false,
                dec: None,
                decoded: 0,
            });
        }
        if first.starts_with(b"\x7FFLAC") && first.len() >= 51 && &first[9..13] == b"fLaC" {
            let info = &first[17..51];
            let rate = ((info[10] as u32) << 12) | ((info[11] as u32) << 4) | ((info[12] as u32) >> 4);
            let channels = ((info[12] >> 1) & 7) + 1;
            let bits = ((((info[12] & 1) as u32) << 4) | ((info[13] >> 4) as u32)) + 1;
            if !(1..=2).contains(&channels) || !(8000..=192_000).contains(&rate) {
                return Err(IngestError::new(
                    ErrorCode::UnsupportedFormat,
                    format!("FLAC with {channels} channels at {rate} Hz (1 or 2 channels, 8-192 kHz)"),
                ));
            }
            let dec = make_decoder(CODEC_ID_FLAC, rate, channels, Some(Box::from(info)), Some(bits))?;
            return Ok(OggCodec::Flac { rate, dec });
        }
        let code = if self.codec.is_none() { ErrorCode::UnsupportedFormat } else { ErrorCode::CorruptAudio };
        Err(IngestError::new(code, "an Ogg stream of a codec other than Vorbis, FLAC or Opus"))
    }
}
