//! A stream's pipeline: the producer side ingests send PCM to, and the thread that cuts it into
//! 200 ms frames and encodes each once (Opus, PCM s16 and f32, an Ogg page).

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use stream_core::control::{ErrorCode, OpusParams};
use stream_core::wire::{encode_opus_frame, encode_pcm_frame, Codec, FrameHeader};
use stream_core::STREAM_SAMPLE_RATE;

use crate::media::opus::{OpusSettings, PACKET_FRAMES};

use super::*;

/// What an ingest sends the pipeline thread.
pub enum Ingest {
    /// Interleaved 48 kHz PCM of the stream's channel count.
    Pcm(Vec<f32>),
    /// The producer ended the stream.
    End,
    /// The producer failed or vanished: `code` and a sentence for the listeners.
    Fail(ErrorCode, String),
    /// Another producer took the stream over: stop without a word to the listeners.
    Abandon,
    /// A title that begins that many frames after the PCM sent so far ends (before it when
    /// negative).
    Meta(String, i64),
    /// The producer went away and another may go on: what is buffered goes out (padded to
    /// whole packets), then the pipeline stops without a word to the listeners.
    Pause,
}

/// The producer side of a stream's pipeline. Dropping it without [`Ingest::End`] is a vanished
/// producer (`producer_lost`).
pub struct Producer {
    pub(super) tx: mpsc::SyncSender<Ingest>,
    pub channels: u8,
    /// Frames sent so far.
    pub frames: u64,
    /// The stream position the producer's first frame goes to: 0, or where the stream stood
    /// when this producer took it over from one whose node went away.
    pub start_pos: u64,
    pub(super) started: Option<Instant>,
    pub(super) max_ahead: Duration,
    pub(super) finished: bool,
}

/// A producer error with its stable code: the same coded error as the media layer's.
pub type IngestError = crate::media::MediaError;

/// What producers and listeners are told when the server shuts down.
pub const SHUTDOWN_END: &str = "the server is shutting down: this stream ends here";

/// How long a live stream has to end (its producer ends it at once) after the server starts to
/// shut down, before its listeners stop after the whole frames or pages they have.
pub const SHUTDOWN_STREAM_END: Duration = Duration::from_secs(1);

impl Producer {
    /// Sends PCM (blocking only while the pipeline's short queue is full). Refuses audio that
    /// runs more than `max_ahead` ahead of real time since the first frame.
    pub fn push(&mut self, pcm: Vec<f32>) -> Result<(), IngestError> {
        if pcm.is_empty() {
            return Ok(());
        }
        let t0 = *self.started.get_or_insert_with(Instant::now);
        self.frames += (pcm.len() / self.channels as usize) as u64;
        let media = Duration::from_secs_f64(self.frames as f64 / STREAM_SAMPLE_RATE as f64);
        if media > t0.elapsed() + self.max_ahead {
            return Err(IngestError::new(
                ErrorCode::ProducerTooFast,
                format!(
                    "audio arrives faster than real time: {:.1} s of audio in {:.1} s",
                    media.as_secs_f64(),
                    t0.elapsed().as_secs_f64()
                ),
            ));
        }
        self.tx
            .send(Ingest::Pcm(pcm))
            .map_err(|_| IngestError::new(ErrorCode::Internal, "the stream's pipeline stopped"))
    }

    /// A title that begins `offset` frames after the next sample pushed (before it when
    /// negative).
    pub fn meta(&mut self, title: String, offset: i64) {
        let _ = self.tx.send(Ingest::Meta(title, offset));
    }

    /// Ends the stream normally.
    pub fn end(mut self) {
        self.finished = true;
        let _ = self.tx.send(Ingest::End);
    }

    /// Stops after sending what it has: the stream waits for another producer.
    pub fn pause(mut self) {
        self.finished = true;
        let _ = self.tx.send(Ingest::Pause);
    }

    /// Stops quietly: another producer took the stream over, which goes on without this one.
    pub fn abandon(mut self) {
        self.finished = true;
        let _ = self.tx.send(Ingest::Abandon);
    }

    /// Fails the stream with `err` (listeners get it as `audio_stream_error`).
    pub fn fail(mut self, err: &IngestError) {
        self.finished = true;
        let _ = self.tx.send(Ingest::Fail(err.code, err.message.clone()));
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.tx.send(Ingest::Fail(
                ErrorCode::ProducerLost,
                "the producer disconnected without ending the stream".into(),
            ));
        }
    }
}

/// Starts the pipeline of `stream` for audio of `channels` channels; returns its producer.
pub fn start_pipeline(registry: &LiveRegistry, stream: Arc<LiveStream>, channels: u8) -> Result<Producer, IngestError> {
    let channels = channels.clamp(1, 2);
    let settings = OpusSettings::resolve(&OpusParams::default(), channels as usize);
    let mut encoder = settings.encoder().map_err(|e| IngestError::new(ErrorCode::Internal, e.to_string()))?;
    let pre_skip = encoder.get_lookahead().map_err(|e| IngestError::new(ErrorCode::Internal, e.to_string()))? as u32;
    // A takeover (the stream already has audio) goes on where the stream stands, as one more
    // producer: its first frame is marked as a seam.
    let start_pos = stream.next_pos();
    let page_seq = stream.next_page_seq();
    let ogg_serial = stream.next_ogg_serial();
    if start_pos > 0 {
        stream.epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        // The new encoder hears the stream's last 20 ms first (its output dropped): its delay
        // line then holds the audio before the seam, so Opus listeners' first new samples follow
        // on from it instead of from the silence a fresh encoder starts with.
        if let Some(prime) = stream.last_pcm(PACKET_FRAMES as usize, channels) {
            let mut scratch = vec![0u8; 4000];
            encoder
                .encode_float(&prime, &mut scratch)
                .map_err(|e| IngestError::new(ErrorCode::Internal, e.to_string()))?;
        }
    }
    stream.set_format(channels, pre_skip);
    if let Some(hook) = registry.on_pipeline.get() {
        hook(&stream);
    }
    let (tx, rx) = mpsc::sync_channel::<Ingest>(INGEST_QUEUE);
    let name = format!("live-{}", stream.id);
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let mut p = Pipeline::new(stream, channels, pre_skip);
            p.pos = start_pos;
            p.page_seq = page_seq;
            (p.ogg_serial, p.chain_base) = ogg_serial;
            p.seam = start_pos > 0;
            let mut pcm: Vec<f32> = Vec::with_capacity(LIVE_FRAME_FRAMES * channels as usize * 2);
            loop {
                match rx.recv() {
                    Ok(Ingest::Pcm(samples)) => {
                        pcm.extend_from_slice(&samples);
                        let per = LIVE_FRAME_FRAMES * channels as usize;
                        while pcm.len() >= per {
                            if let Err(e) = p.frame(&mut encoder, &pcm[..per], false) {
                                p.fail(ErrorCode::Internal, e);
                                return;
                            }
                            pcm.drain(..per);
                        }
                    }
                    Ok(Ingest::End) => {
                        if let Err(e) = p.finish(&mut encoder, &pcm) {
                            p.fail(ErrorCode::Internal, e);
                        }
                        return;
                    }
                    Ok(Ingest::Fail(code, message)) => {
                        p.fail(code, message);
                        return;
                    }
                    Ok(Ingest::Abandon) => return,
                    Ok(Ingest::Pause) => {
                        if !pcm.is_empty() {
                            let ch = channels as usize;
                            let packets = (pcm.len() / ch).div_ceil(PACKET_FRAMES as usize);
                            pcm.resize(packets * PACKET_FRAMES as usize * ch, 0.0);
                            if let Err(e) = p.frame(&mut encoder, &pcm, false) {
                                p.fail(ErrorCode::Internal, e);
                            }
                        }
                        return;
                    }
                    Ok(Ingest::Meta(title, offset)) => {
                        let here = (p.pos + (pcm.len() / channels as usize) as u64) as i64;
                        let sample = (here + offset).max(0) as u64;
                        let t = Arc::new(Title { sample, title });
                        // Listeners learn it now, ahead of its frame (which carries it too).
                        p.stream.publish(LiveEvent::Title(t.clone()));
                        p.titles.push(t);
                    }
                    Err(_) => {
                        p.fail(ErrorCode::ProducerLost, "the producer disconnected".into());
                        return;
                    }
                }
            }
        })
        .map_err(|e| IngestError::new(ErrorCode::Internal, e.to_string()))?;
    Ok(Producer {
        tx,
        channels,
        frames: 0,
        start_pos,
        started: None,
        max_ahead: registry.config.max_ahead,
        finished: false,
    })
}

pub(super) struct Pipeline {
    pub(super) stream: Arc<LiveStream>,
    pub(super) channels: u8,
    pub(super) pre_skip: u32,
    pub(super) pos: u64,
    pub(super) page_seq: u32,
    pub(super) crc: [u32; 256],
    pub(super) packet: Vec<u8>,
    /// The next frame is the first of a producer that took the stream over.
    pub(super) seam: bool,
    /// Titles waiting for the frame that holds their sample.
    pub(super) titles: Vec<Arc<Title>>,
    /// The Ogg logical stream (a new one at each title) and the position where it began.
    pub(super) ogg_serial: u32,
    pub(super) chain_base: u64,
}

impl Pipeline {
    pub(super) fn new(stream: Arc<LiveStream>, channels: u8, pre_skip: u32) -> Self {
        let ogg_serial = stream.serial;
        Pipeline {
            stream,
            channels,
            pre_skip,
            pos: 0,
            // Pages 0 and 1 are each listener's own OpusHead and OpusTags.
            page_seq: 2,
            crc: stream_core::ogg::crc_table(),
            packet: vec![0; 4000],
            seam: false,
            titles: Vec::new(),
            ogg_serial,
            chain_base: 0,
        }
    }

    pub(super) fn fail(&self, code: ErrorCode, message: String) {
        tracing::warn!(stream = %self.stream.id, code = code.as_str(), %message, "live stream failed");
        self.stream.publish(LiveEvent::Error { code, message });
    }

    /// Encodes one frame of PCM (a multiple of 20 ms) and publishes it. `last` marks the end of
    /// the stream (EOS page, granule trimmed to `pos + real_frames`).
    pub(super) fn frame(&mut self, enc: &mut opus::Encoder, pcm: &[f32], last: bool) -> Result<(), String> {
        self.frame_trimmed(enc, pcm, last, pcm.len() / self.channels as usize)
    }

    pub(super) fn frame_trimmed(
        &mut self,
        enc: &mut opus::Encoder,
        pcm: &[f32],
        last: bool,
        real: usize,
    ) -> Result<(), String> {
        let ch = self.channels as usize;
        let frames = pcm.len() / ch;
        let mut packets: Vec<Vec<u8>> = Vec::with_capacity(frames / PACKET_FRAMES as usize);
        for chunk in pcm.chunks(PACKET_FRAMES as usize * ch) {
            let n = enc.encode_float(chunk, &mut self.packet).map_err(|e| format!("opus encode: {e}"))?;
            packets.push(self.packet[..n].to_vec());
        }
        let session = self.stream.session;
        let flags = if std::mem::take(&mut self.seam) { stream_core::wire::FLAG_DISCONTINUITY } else { 0 };
        let header = FrameHeader {
            codec: Codec::Opus,
            channels: self.channels,
            flags,
            session,
            sample_pos: self.pos,
            frame_count: frames as u32,
        };
        let mut opus = Vec::new();
        encode_opus_frame(&header, &packets, &mut opus).ok_or("opus frame")?;
        // Kept for the time-shift window: no spare capacity.
        opus.shrink_to_fit();
        // PCM listeners get exactly the input, positioned like the Opus output after pre-skip.
        // (A stream ending on a frame boundary has an empty last frame: PCM listeners get none.)
        let (mut s16, mut f32s) = (Vec::new(), Vec::new());
        if real > 0 {
            encode_pcm_frame(Codec::PcmS16, self.channels, flags, session, self.pos, &pcm[..real * ch], &mut s16)
                .ok_or("pcm frame")?;
            encode_pcm_frame(Codec::PcmF32, self.channels, flags, session, self.pos, &pcm[..real * ch], &mut f32s)
                .ok_or("pcm frame")?;
        }
        let end = self.pos + real as u64;
        let meta = if self.titles.is_empty() {
            Vec::new()
        } else {
            let (now, later): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.titles).into_iter().partition(|t| last || t.sample < end);
            self.titles = later;
            now
        };
        // A new title: Ogg listeners get a new logical stream with its tags (as Icecast chains
        // them), beginning with this frame.
        let mut chain = Vec::new();
        if let Some(t) = meta.last().filter(|_| self.pos > 0) {
            use stream_core::ogg::{write_page, FLAG_BOS, FLAG_EOS};
            chain = write_page(&self.crc, self.ogg_serial, self.page_seq, u64::MAX, FLAG_EOS, &[] as &[&[u8]]);
            self.ogg_serial = self.ogg_serial.wrapping_add(1);
            self.chain_base = self.pos;
            let head = crate::media::ogg::opus_head(self.channels, self.pre_skip, STREAM_SAMPLE_RATE);
            chain.extend(write_page(&self.crc, self.ogg_serial, 0, 0, FLAG_BOS, &[head]));
            let tags = crate::media::ogg::opus_tags(&[("TITLE", &t.title)]);
            chain.extend(write_page(&self.crc, self.ogg_serial, 1, 0, 0, &[tags]));
            self.page_seq = 2;
        }
        let at = self.pos - self.chain_base;
        let granule = if last { self.pre_skip as u64 + at + real as u64 } else { at + frames as u64 };
        let page_flags = if last { stream_core::ogg::FLAG_EOS } else { 0 };
        let ogg =
            stream_core::ogg::write_page(&self.crc, self.ogg_serial, self.page_seq, granule, page_flags, &packets);
        let frame = LiveFrame {
            meta,
            pos: self.pos,
            frames: real as u32,
            opus: Bytes::from(opus),
            pcm_s16: Bytes::from(s16),
            pcm_f32: Bytes::from(f32s),
            ogg: Bytes::from(ogg),
            ogg_seq: self.page_seq,
            ogg_serial: self.ogg_serial,
            ogg_chain: Bytes::from(chain),
        };
        self.page_seq += 1;
        self.pos += real as u64;
        self.stream.publish(LiveEvent::Frame(Arc::new(frame)));
        Ok(())
    }

    /// Flushes what is left (padded to whole packets) as the last frame and ends the stream.
    pub(super) fn finish(&mut self, enc: &mut opus::Encoder, rest: &[f32]) -> Result<(), String> {
        let ch = self.channels as usize;
        let real = rest.len() / ch;
        let packets = real.div_ceil(PACKET_FRAMES as usize).max(1);
        let mut pcm = rest.to_vec();
        pcm.resize(packets * PACKET_FRAMES as usize * ch, 0.0);
        self.frame_trimmed(enc, &pcm, true, real)?;
        self.stream.publish(LiveEvent::End { total_samples: self.pos });
        Ok(())
    }
}
