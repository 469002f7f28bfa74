//! Opus streams: encoding (libopus), the chunk cache, and the producer thread that feeds a
//! session or an Ogg response from cache or encoder.
//!
//! Positions (RFC 7845 §4.2): Opus packet `g` of a track encodes input frames
//! `[960 g, 960 (g + 1))`; because of the encoder's delay (`pre_skip`, its lookahead) its decoded
//! output is track frames `[960 g - pre_skip, 960 (g + 1) - pre_skip)`. The input is padded
//! with silence until the decoded output covers the whole track, so a stream of `T` frames has
//! `ceil((T + pre_skip) / 960)` packets; receivers drop the first `pre_skip` decoded frames
//! and everything past `T`.
//!
//! Chunks: packets are cached in chunks of [`CHUNK_PACKETS`] (5 s). Every chunk is encoded the
//! same way whoever asks for it — a fresh encoder started [`ENCODER_PREROLL_FRAMES`] before the
//! chunk, its pre-roll packets discarded — so a chunk's bytes depend only on the track and the
//! settings, and chunks from different plays can be joined. A player starting at `P` begins
//! [`DECODER_PREROLL_PACKETS`] packets before it, so its decoder has converged by `P`.
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stream_core::control::ErrorCode;
use tokio::sync::mpsc;

use super::cache::{Chunk, ChunkKey, PacketCache};
use super::jobs::{check_start, end_event, spawn_named, StreamJob};
use crate::media::decode::PcmReader;
use crate::media::opus::{OpusSettings, MAX_PACKET_BYTES, PACKET_FRAMES};
use crate::media::{MediaError, StreamEvent};

/// Packets per cached chunk: 5 s.
pub const CHUNK_PACKETS: u64 = 250;
/// Input encoded and thrown away before a chunk, so the encoder has converged at its start.
pub const ENCODER_PREROLL_FRAMES: u64 = 4800;
/// Packets sent before the requested position, for the receiver's decoder to converge
/// (RFC 7845 §4.6 recommends at least 80 ms).
pub const DECODER_PREROLL_PACKETS: u64 = 4;
/// Packets per binary frame on the WebSocket (100 ms): amortizes the header.
pub const PACKETS_PER_FRAME: usize = 5;

/// Reads 48 kHz input for the encoder: the file, then silence after its end, down-mixed to
/// the encoder's channels. Keeps the last [`ENCODER_PREROLL_FRAMES`] frames it returned.
struct EncoderInput {
    reader: PcmReader,
    out_channels: usize,
    /// Frames of the file, once its end has been reached.
    end: Option<u64>,
    history: VecDeque<f32>,
    raw: Vec<f32>,
    /// Frames of silence returned after the end of the file.
    padded: u64,
}

impl EncoderInput {
    fn open(path: &Path, pos: u64, out_channels: usize) -> Result<Self, MediaError> {
        let reader = PcmReader::open(path, pos)?;
        Ok(EncoderInput { reader, out_channels, end: None, history: VecDeque::new(), raw: Vec::new(), padded: 0 })
    }

    fn position(&self) -> u64 {
        self.reader.position() + self.padded
    }

    /// One block of `PACKET_FRAMES` frames at the encoder's channel count.
    fn next_block(&mut self, out: &mut Vec<f32>) -> Result<(), MediaError> {
        out.clear();
        self.raw.clear();
        let got = self.reader.read(PACKET_FRAMES as usize, &mut self.raw)?;
        if got < PACKET_FRAMES as usize && self.end.is_none() {
            self.end = Some(self.reader.position());
        }
        let src_ch = self.reader.channels;
        for f in self.raw.chunks_exact(src_ch) {
            match (self.out_channels, src_ch) {
                (1, 1) => out.push(f[0]),
                (1, _) => out.push(0.5 * (f[0] + f[1])),
                (_, 1) => out.extend_from_slice(&[f[0], f[0]]),
                _ => out.extend_from_slice(&f[..2]),
            }
        }
        self.padded += (PACKET_FRAMES as usize - got) as u64;
        out.resize(PACKET_FRAMES as usize * self.out_channels, 0.0);
        self.history.extend(out.iter().copied());
        let keep = ENCODER_PREROLL_FRAMES as usize * self.out_channels;
        while self.history.len() > keep {
            self.history.pop_front();
        }
        Ok(())
    }
}

/// What a producer needs to make an Opus stream of one track.
#[derive(Clone)]
pub struct OpusSource {
    pub path: PathBuf,
    pub track_id: String,
    pub settings: OpusSettings,
    pub cache: Arc<PacketCache>,
}

/// Starts the producer of an Opus stream from 48 kHz frame `start_sample`.
pub fn start_opus(src: OpusSource, start_sample: u64, queue_frames: usize) -> Result<StreamJob, MediaError> {
    let probe = PcmReader::open(&src.path, 0)?;
    let total_samples = probe.total_frames();
    drop(probe);
    check_start(start_sample, total_samples)?;
    let pre_skip = src.settings.pre_skip()?;
    let (tx, rx) = mpsc::channel(queue_frames.max(1));
    let channels = src.settings.channels as usize;
    let path = src.path.clone();
    spawn_named(&path, "opus", move || {
        let send = |ev: StreamEvent| tx.blocking_send(ev).is_ok();
        if let Err(e) = produce(&src, start_sample, pre_skip, total_samples, &send) {
            let _ = send(StreamEvent::Error(e));
        }
    })?;
    Ok(StreamJob { rx, channels, start_sample, total_samples, pre_skip })
}

/// Groups packets into frames of [`PACKETS_PER_FRAME`] and sends them.
struct Sender<'a> {
    send: &'a dyn Fn(StreamEvent) -> bool,
    group: Vec<Vec<u8>>,
    group_first: u64,
}

impl Sender<'_> {
    /// `false` when the receiver is gone.
    fn push(&mut self, g: u64, packet: Vec<u8>) -> bool {
        if self.group.is_empty() {
            self.group_first = g;
        }
        self.group.push(packet);
        self.group.len() < PACKETS_PER_FRAME || self.flush()
    }

    fn flush(&mut self) -> bool {
        if self.group.is_empty() {
            return true;
        }
        let packets = std::mem::take(&mut self.group);
        (self.send)(StreamEvent::Packets { first_packet: self.group_first, packets })
    }
}

fn produce(
    src: &OpusSource,
    start_sample: u64,
    pre_skip: u32,
    expected_total: Option<u64>,
    send: &dyn Fn(StreamEvent) -> bool,
) -> Result<(), MediaError> {
    let first_needed = ((start_sample + pre_skip as u64) / PACKET_FRAMES).saturating_sub(DECODER_PREROLL_PACKETS);
    let mut out = Sender { send, group: Vec::new(), group_first: 0 };
    let mut input: Option<EncoderInput> = None;
    let mut index = first_needed / CHUNK_PACKETS;
    loop {
        let key = ChunkKey { track_id: src.track_id.clone(), settings: src.settings, index };
        let chunk = match src.cache.get(&key) {
            Some(chunk) => {
                for (i, p) in chunk.packets.iter().enumerate() {
                    let g = chunk.first_packet + i as u64;
                    if g >= first_needed && !out.push(g, p.clone()) {
                        return Ok(());
                    }
                }
                chunk
            }
            None => {
                let Some(chunk) = encode_chunk(src, index, pre_skip, &mut input, first_needed, &mut out)? else {
                    return Ok(()); // the receiver is gone
                };
                let chunk = Arc::new(chunk);
                src.cache.insert(key, chunk.clone());
                chunk
            }
        };
        if let Some(total) = chunk.end {
            if !out.flush() {
                return Ok(());
            }
            match end_event(total, expected_total) {
                StreamEvent::End { total_samples } => {
                    let _ = send(StreamEvent::End { total_samples });
                }
                err => {
                    let _ = send(err);
                }
            }
            return Ok(());
        }
        index += 1;
    }
}

/// Encodes chunk `index`, sending its packets from `first_needed` on as they are made.
/// `None` when the receiver went away before the chunk was complete.
fn encode_chunk(
    src: &OpusSource,
    index: u64,
    pre_skip: u32,
    input: &mut Option<EncoderInput>,
    first_needed: u64,
    out: &mut Sender<'_>,
) -> Result<Option<Chunk>, MediaError> {
    let chunk_start = index * CHUNK_PACKETS * PACKET_FRAMES;
    let preroll_start = chunk_start.saturating_sub(ENCODER_PREROLL_FRAMES);
    let ch = src.settings.channels as usize;
    let mut enc = src.settings.encoder()?;
    let mut packet_buf = vec![0u8; MAX_PACKET_BYTES];
    let mut block = Vec::with_capacity(PACKET_FRAMES as usize * ch);
    let err = |e: opus::Error| MediaError::new(ErrorCode::Internal, format!("opus encode: {e}"));
    // Pre-roll: from the history of a reader that is exactly at the chunk start, else by
    // reopening the file before the chunk.
    let continuing = input.as_ref().is_some_and(|i| {
        i.position() == chunk_start && i.history.len() as u64 == (chunk_start - preroll_start) * ch as u64
    });
    if continuing {
        let inp = input.as_mut().expect("checked");
        let history: Vec<f32> = inp.history.iter().copied().collect();
        for b in history.chunks_exact(PACKET_FRAMES as usize * ch) {
            enc.encode_float(b, &mut packet_buf).map_err(err)?;
        }
    } else {
        let mut fresh = EncoderInput::open(&src.path, preroll_start, ch)?;
        for _ in 0..(chunk_start - preroll_start) / PACKET_FRAMES {
            fresh.next_block(&mut block)?;
            enc.encode_float(&block, &mut packet_buf).map_err(err)?;
        }
        *input = Some(fresh);
    }
    let inp = input.as_mut().expect("set above");
    let mut chunk = Chunk { first_packet: index * CHUNK_PACKETS, packets: Vec::new(), end: None, bytes: 0 };
    for j in 0..CHUNK_PACKETS {
        let g = index * CHUNK_PACKETS + j;
        if let Some(end) = inp.end {
            if g * PACKET_FRAMES >= end + pre_skip as u64 {
                chunk.end = Some(end);
                break;
            }
        }
        inp.next_block(&mut block)?;
        let n = enc.encode_float(&block, &mut packet_buf).map_err(err)?;
        let packet = packet_buf[..n].to_vec();
        chunk.bytes += n + 32;
        if g >= first_needed && !out.push(g, packet.clone()) {
            return Ok(None);
        }
        chunk.packets.push(packet);
    }
    if chunk.end.is_none() {
        // A track that ends exactly on the chunk boundary.
        if let Some(end) = inp.end {
            if (index + 1) * CHUNK_PACKETS * PACKET_FRAMES >= end + pre_skip as u64 {
                chunk.end = Some(end);
            }
        }
    }
    Ok(Some(chunk))
}
