//! `relay-client`: a command-line listener of the relay.
//!
//! `fetch` plays a track over `/ws` exactly as a browser listener does (same control messages,
//! same frames, decoded by the same `stream-core` code) and writes what it received to a WAV
//! file. It acknowledges each frame as it stores it, so the server sends as fast as the disk
//! takes it instead of in real time.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use stream_core::control::{ServerMessage, StreamStart};
use stream_core::wire::{decode_pcm_into, Codec, FrameHeader, OpusPackets};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
#[command(name = "relay-client", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Prints the server's track list (JSON).
    List {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
    },
    /// Receives a track as a listener does and writes it to a WAV file.
    Fetch {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Track id (from `list` or `/api/tracks`).
        #[arg(long)]
        track: String,
        /// `pcm_f32` (32-bit float WAV), `pcm_s16` (16-bit WAV) or `opus` (decoded with libopus
        /// to a 32-bit float WAV).
        #[arg(long, default_value = "pcm_f32")]
        codec: String,
        /// Opus bitrate in bits per second (default: the profile's).
        #[arg(long)]
        bitrate: Option<u32>,
        /// Opus profile: `music` or `voice`.
        #[arg(long)]
        profile: Option<String>,
        /// Where to start, in seconds.
        #[arg(long, default_value_t = 0.0)]
        position_s: f64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Listens to a live stream as a browser listener does and writes what it received to a
    /// WAV file, until the stream ends (or `--seconds`).
    Listen {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long)]
        stream: String,
        /// A listen token of the stream.
        #[arg(long)]
        token: String,
        #[arg(long, default_value = "pcm_f32")]
        codec: String,
        #[arg(long)]
        out: PathBuf,
        /// Stop after this many seconds of audio.
        #[arg(long)]
        seconds: Option<f64>,
    },
    /// Publishes WAV or raw PCM from a file or stdin (`-`) to a live stream in real time, as a
    /// speech synthesizer's output piped in: `espeak-ng --stdout "Hello" | relay-client publish
    /// --stream ID --token T --input -`.
    Publish {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long)]
        stream: String,
        /// The stream's publish token.
        #[arg(long)]
        token: String,
        /// A WAV file, raw PCM, or `-` for stdin.
        #[arg(long)]
        input: String,
        /// Raw signed 16-bit little-endian PCM instead of WAV, at `--rate` with `--channels`.
        #[arg(long)]
        raw: bool,
        #[arg(long, default_value_t = 48_000)]
        rate: u32,
        #[arg(long, default_value_t = 1)]
        channels: u16,
    },
}

fn ws_url(server: &str) -> String {
    let base = server.trim_end_matches('/');
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}/ws")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}/ws")
    } else {
        format!("{base}/ws")
    }
}

async fn list(server: &str) -> anyhow::Result<()> {
    // A tiny HTTP/1.0 GET: keeps the client free of an HTTP stack for one call.
    let base = server.trim_end_matches('/');
    let host = base.strip_prefix("http://").context("list needs an http:// server URL")?;
    let mut stream = tokio::net::TcpStream::connect(host).await.with_context(|| format!("connect {host}"))?;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(format!("GET /api/tracks HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes()).await?;
    let mut body = Vec::new();
    stream.read_to_end(&mut body).await?;
    let text = String::from_utf8_lossy(&body);
    let json = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    println!("{json}");
    Ok(())
}

/// Decodes Opus frames to PCM positioned on the track: drops the pre-skip and pre-roll before
/// the start position (RFC 7845 §4.2, §4.6).
struct OpusOut {
    decoder: opus::Decoder,
    pcm: Vec<f32>,
    channels: usize,
}

impl OpusOut {
    fn new(channels: u8) -> anyhow::Result<Self> {
        let ch = if channels == 1 { opus::Channels::Mono } else { opus::Channels::Stereo };
        Ok(OpusOut { decoder: opus::Decoder::new(48_000, ch)?, pcm: vec![0.0; 5760 * 2], channels: channels as usize })
    }

    /// Appends the decoded frames of `payload` that fall at or after `start` to `samples`;
    /// `decoded_pos` is the track position of the next decoded frame (may start negative).
    fn decode(
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

async fn fetch(
    server: &str,
    track: &str,
    codec: &str,
    position_s: f64,
    bitrate: Option<u32>,
    profile: Option<String>,
    out: &PathBuf,
) -> anyhow::Result<()> {
    let codec_v = Codec::from_name(codec).with_context(|| format!("unknown codec {codec:?}"))?;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(server)).await.context("connecting to /ws")?;
    let play = serde_json::json!({"type": "play", "data": {"track_id": track, "codec": codec,
        "position_s": position_s, "bitrate": bitrate, "profile": profile}});
    ws.send(Message::text(play.to_string())).await?;
    let mut start: Option<StreamStart> = None;
    let mut samples: Vec<f32> = Vec::new();
    let mut next_pos = 0u64;
    let mut scratch = vec![0f32; 48_000 * 8];
    let mut opus_out: Option<OpusOut> = None;
    let mut decoded_pos = 0i64;
    let mut wire_bytes = 0usize;
    while let Some(msg) = ws.next().await {
        match msg? {
            Message::Text(text) => match serde_json::from_str::<ServerMessage>(&text)? {
                ServerMessage::AudioStreamStart(s) => {
                    next_pos = s.start_sample;
                    if codec_v == Codec::Opus {
                        opus_out = Some(OpusOut::new(s.channels)?);
                    }
                    start = Some(s);
                }
                ServerMessage::AudioStreamEnd { total_samples, .. } => {
                    let s = start.as_ref().context("end before start")?;
                    if codec_v == Codec::Opus {
                        // The padding after the end is decoded too: cut at the announced end.
                        let keep = (total_samples - s.start_sample) as usize * s.channels as usize;
                        if samples.len() < keep {
                            bail!(
                                "opus stream decoded to {} frames, {} expected",
                                samples.len() / s.channels as usize,
                                keep / s.channels as usize
                            );
                        }
                        samples.truncate(keep);
                    } else if total_samples != next_pos {
                        bail!("stream ended at {total_samples} but frames reached {next_pos}");
                    }
                    break;
                }
                ServerMessage::AudioStreamError { code, error, .. } => {
                    bail!("server error {}: {error}", code.as_str());
                }
                _ => {}
            },
            Message::Binary(bytes) => {
                let s = start.as_ref().context("audio before audio_stream_start")?;
                let (h, payload) = FrameHeader::parse(&bytes).map_err(|e| anyhow::anyhow!("bad frame: {e}"))?;
                if h.session != s.session || h.codec != codec_v || h.channels != s.channels {
                    bail!("frame does not match the stream: {h:?}");
                }
                // WebSocket framing of a server message: 2 bytes, +2 for 126..65535, +8 beyond.
                wire_bytes += bytes.len()
                    + 2
                    + if bytes.len() >= 65_536 {
                        8
                    } else if bytes.len() >= 126 {
                        2
                    } else {
                        0
                    };
                if let Some(dec) = opus_out.as_mut() {
                    // Frames carry encoder-input positions; decoded output trails them by pre-skip.
                    let first = h.sample_pos as i64 - s.pre_skip as i64;
                    if samples.is_empty() && decoded_pos == 0 {
                        decoded_pos = first;
                    } else if first != decoded_pos {
                        bail!("gap or overlap: opus frame decodes at {first} but {decoded_pos} expected");
                    }
                    dec.decode(payload, s.start_sample as i64, &mut decoded_pos, &mut samples)?;
                    next_pos = h.sample_pos + h.frame_count as u64;
                } else {
                    if h.sample_pos != next_pos {
                        bail!("gap or overlap: frame at {} but {next_pos} expected", h.sample_pos);
                    }
                    let n = decode_pcm_into(h.codec, payload, &mut scratch);
                    samples.extend_from_slice(&scratch[..n]);
                    next_pos += h.frame_count as u64;
                }
                let acked = if codec_v == Codec::Opus { decoded_pos.max(0) as u64 } else { next_pos };
                let ack = serde_json::json!({"type": "ack", "data": {"session": h.session, "sample_pos": acked}});
                ws.send(Message::text(ack.to_string())).await?;
            }
            Message::Close(_) => bail!("server closed the connection"),
            _ => {}
        }
    }
    let s = start.context("no stream started")?;
    let _ = ws.close(None).await;
    let spec = hound::WavSpec {
        channels: s.channels as u16,
        sample_rate: s.sample_rate,
        bits_per_sample: if codec_v == Codec::PcmS16 { 16 } else { 32 },
        sample_format: if codec_v == Codec::PcmS16 { hound::SampleFormat::Int } else { hound::SampleFormat::Float },
    };
    let mut w = hound::WavWriter::create(out, spec).with_context(|| format!("create {}", out.display()))?;
    for x in &samples {
        if codec_v == Codec::PcmS16 {
            w.write_sample(stream_core::wire::f32_to_s16(*x))?;
        } else {
            w.write_sample(*x)?;
        }
    }
    w.finalize()?;
    let seconds = samples.len() as f64 / s.channels as f64 / s.sample_rate as f64;
    eprintln!(
        "relay-client: {} frames ({seconds:.3} s, {} ch, {}) from position {} written to {}",
        samples.len() / s.channels as usize,
        s.channels,
        s.codec,
        s.start_sample,
        out.display()
    );
    // Machine-readable: what the WebSocket carried for the audio (frames, headers, framing).
    println!(
        "WIRE codec={} bytes={wire_bytes} seconds={seconds:.6} bytes_per_min={:.0}",
        s.codec,
        wire_bytes as f64 / seconds * 60.0
    );
    Ok(())
}

/// Listens to a live stream; writes the audio to `out`.
async fn listen(
    server: &str,
    stream: &str,
    token: &str,
    codec: &str,
    out: &PathBuf,
    seconds: Option<f64>,
) -> anyhow::Result<()> {
    let codec_v = Codec::from_name(codec).with_context(|| format!("unknown codec {codec:?}"))?;
    let t0 = std::time::Instant::now();
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(server)).await.context("connecting to /ws")?;
    let msg = serde_json::json!({"type": "listen", "data": {"stream_id": stream, "token": token, "codec": codec}});
    ws.send(Message::text(msg.to_string())).await?;
    let mut start: Option<StreamStart> = None;
    let mut samples: Vec<f32> = Vec::new();
    let mut scratch = vec![0f32; 48_000 * 8];
    let mut opus_out: Option<OpusOut> = None;
    let mut decoded_pos = 0i64;
    let mut next_pos: Option<u64> = None;
    let mut first_audio: Option<std::time::Duration> = None;
    let mut ended = "ended";
    while let Some(msg) = ws.next().await {
        match msg? {
            Message::Text(text) => match serde_json::from_str::<ServerMessage>(&text)? {
                ServerMessage::AudioStreamStart(s) => {
                    if codec_v == Codec::Opus {
                        opus_out = Some(OpusOut::new(s.channels)?);
                    }
                    decoded_pos = s.start_sample as i64 - s.pre_skip as i64;
                    start = Some(s);
                }
                ServerMessage::AudioStreamEnd { total_samples, .. } => {
                    let s = start.as_ref().context("end before start")?;
                    let keep = total_samples.saturating_sub(s.start_sample) as usize * s.channels as usize;
                    samples.truncate(keep);
                    break;
                }
                ServerMessage::AudioStreamError { code, error, .. } => {
                    bail!("server error {}: {error}", code.as_str());
                }
                _ => {}
            },
            Message::Binary(bytes) => {
                let s = start.as_ref().context("audio before audio_stream_start")?;
                let (h, payload) = FrameHeader::parse(&bytes).map_err(|e| anyhow::anyhow!("bad frame: {e}"))?;
                if h.session != s.session || h.codec != codec_v || h.channels != s.channels {
                    bail!("frame does not match the stream: {h:?}");
                }
                if next_pos.is_some_and(|n| n != h.sample_pos) {
                    bail!("gap or overlap: frame at {} but {:?} expected", h.sample_pos, next_pos);
                }
                first_audio.get_or_insert_with(|| t0.elapsed());
                if let Some(dec) = opus_out.as_mut() {
                    dec.decode(payload, s.start_sample as i64, &mut decoded_pos, &mut samples)?;
                } else {
                    let n = decode_pcm_into(h.codec, payload, &mut scratch);
                    samples.extend_from_slice(&scratch[..n]);
                }
                next_pos = Some(h.sample_pos + h.frame_count as u64);
                if seconds.is_some_and(|sec| samples.len() as f64 / s.channels as f64 >= sec * 48_000.0) {
                    ended = "stopped";
                    break;
                }
            }
            Message::Close(c) => bail!("server closed the connection: {c:?}"),
            _ => {}
        }
    }
    let s = start.context("no stream started")?;
    let _ = ws.close(None).await;
    let spec = hound::WavSpec {
        channels: s.channels as u16,
        sample_rate: s.sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(out, spec).with_context(|| format!("create {}", out.display()))?;
    for x in &samples {
        w.write_sample(*x)?;
    }
    w.finalize()?;
    let secs = samples.len() as f64 / s.channels as f64 / 48_000.0;
    eprintln!(
        "relay-client: live {} {}: {secs:.3} s ({} ch, {}) from stream position {} written to {}",
        s.track_id,
        ended,
        s.channels,
        s.codec,
        s.start_sample,
        out.display()
    );
    println!(
        "LIVE stream={} codec={} seconds={secs:.6} start_sample={} first_audio_ms={:.1} end={ended}",
        s.track_id,
        s.codec,
        s.start_sample,
        first_audio.map_or(-1.0, |d| d.as_secs_f64() * 1000.0)
    );
    Ok(())
}

/// Interleaved samples from a WAV (streamed: a `data` size of 0 or 0xffffffff, as synthesizers
/// writing to a pipe leave it, means "until the end") or from raw s16le PCM.
struct PcmInput {
    reader: Box<dyn std::io::Read + Send>,
    rate: u32,
    channels: usize,
    format: (u16, u16), // (1 = integer PCM or 3 = float, bits)
    left: u64,
}

impl PcmInput {
    fn open(input: &str, raw: bool, rate: u32, channels: u16) -> anyhow::Result<Self> {
        use std::io::Read;
        let mut reader: Box<dyn Read + Send> = if input == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(input).with_context(|| format!("open {input}"))?)
        };
        if raw {
            return Ok(PcmInput { reader, rate, channels: channels.max(1) as usize, format: (1, 16), left: u64::MAX });
        }
        let mut hdr = [0u8; 12];
        reader.read_exact(&mut hdr).context("reading the WAV header")?;
        if &hdr[..4] != b"RIFF" || &hdr[8..12] != b"WAVE" {
            bail!("{input} is not a WAV file (use --raw for raw PCM)");
        }
        let mut fmt: Option<(u16, u16, u32, u16)> = None;
        loop {
            let mut ch = [0u8; 8];
            reader.read_exact(&mut ch).context("reading WAV chunks")?;
            let size = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]);
            match &ch[..4] {
                b"fmt " => {
                    let mut b = vec![0u8; size as usize];
                    reader.read_exact(&mut b)?;
                    if b.len() < 16 {
                        bail!("short fmt chunk");
                    }
                    let mut tag = u16::from_le_bytes([b[0], b[1]]);
                    if tag == 0xfffe && b.len() >= 26 {
                        tag = u16::from_le_bytes([b[24], b[25]]); // WAVE_FORMAT_EXTENSIBLE sub-format
                    }
                    let chans = u16::from_le_bytes([b[2], b[3]]);
                    let rate = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
                    let bits = u16::from_le_bytes([b[14], b[15]]);
                    fmt = Some((tag, chans, rate, bits));
                }
                b"data" => {
                    let (tag, chans, rate, bits) = fmt.context("WAV data before fmt")?;
                    if !matches!((tag, bits), (1, 16) | (1, 24) | (1, 32) | (3, 32)) || chans == 0 {
                        bail!("unsupported WAV format {tag} with {bits} bits");
                    }
                    let left =
                        if size == 0 || size == u32::MAX || size >= 0x7fff_0000 { u64::MAX } else { size as u64 };
                    return Ok(PcmInput { reader, rate, channels: chans as usize, format: (tag, bits), left });
                }
                _ => {
                    let mut skip = vec![0u8; size as usize + (size as usize & 1)];
                    reader.read_exact(&mut skip)?;
                }
            }
        }
    }

    /// Up to `frames` frames; empty at the end.
    fn read(&mut self, frames: usize) -> anyhow::Result<Vec<f32>> {
        use std::io::Read;
        let bps = (self.format.1 / 8) as usize;
        let want = (frames * self.channels * bps).min(self.left.min(usize::MAX as u64) as usize);
        let mut b = vec![0u8; want];
        let mut got = 0;
        while got < want {
            let n = self.reader.read(&mut b[got..])?;
            if n == 0 {
                break;
            }
            got += n;
        }
        self.left = self.left.saturating_sub(got as u64);
        let b = &b[..got - got % (bps * self.channels)];
        Ok(match self.format {
            (1, 16) => b.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as f32 / 32768.0).collect(),
            (1, 24) => {
                b.chunks_exact(3).map(|c| i32::from_le_bytes([0, c[0], c[1], c[2]]) as f32 / 2_147_483_648.0).collect()
            }
            (1, 32) => b
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32 / 2_147_483_648.0)
                .collect(),
            _ => b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        })
    }
}

/// Publishes `input` to a live stream in real time (100 ms frames, pcm_s16, resampled to 48 kHz).
async fn publish(
    server: &str,
    stream: &str,
    token: &str,
    input: &str,
    raw: bool,
    rate: u32,
    channels: u16,
) -> anyhow::Result<()> {
    let mut src = PcmInput::open(input, raw, rate, channels)?;
    let out_ch = src.channels.min(2);
    let mut resampler = if src.rate != 48_000 {
        Some(relay_server::resample::To48k::new(src.rate, out_ch).map_err(|e| anyhow::anyhow!(e))?)
    } else {
        None
    };
    // Reading may block on a pipe: a thread reads, the socket side paces.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<anyhow::Result<Vec<f32>>>(8);
    let in_ch = src.channels;
    std::thread::spawn(move || loop {
        let r = src.read(4800);
        let done = matches!(&r, Ok(v) if v.is_empty()) || r.is_err();
        let r = r.map(|v| if in_ch > 2 { v.chunks(in_ch).flat_map(|f| [f[0], f[1]]).collect() } else { v });
        if tx.blocking_send(r).is_err() || done {
            return;
        }
    });
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(server)).await.context("connecting to /ws")?;
    let msg = serde_json::json!({"type": "publish", "data": {"stream_id": stream, "token": token,
        "codec": "pcm_s16", "channels": out_ch, "sample_rate": 48_000}});
    ws.send(Message::text(msg.to_string())).await?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) => match serde_json::from_str::<ServerMessage>(&t)? {
            ServerMessage::PublishReady { .. } => {}
            ServerMessage::AudioStreamError { code, error, .. } => bail!("server refused: {}: {error}", code.as_str()),
            other => bail!("unexpected answer {other:?}"),
        },
        other => bail!("no answer to publish: {other:?}"),
    }
    let t0 = std::time::Instant::now();
    let mut pos = 0u64;
    let mut pending: Vec<f32> = Vec::new();
    let mut frame = Vec::new();
    let mut finished = false;
    while !finished {
        match rx.recv().await {
            Some(Ok(v)) if !v.is_empty() => match resampler.as_mut() {
                Some(r) => r.push(&v, &mut pending).map_err(|e| anyhow::anyhow!(e))?,
                None => pending.extend_from_slice(&v),
            },
            Some(Err(e)) => return Err(e),
            _ => {
                if let Some(r) = resampler.as_mut() {
                    r.finish(&mut pending).map_err(|e| anyhow::anyhow!(e))?;
                }
                finished = true;
            }
        }
        let per = 4800 * out_ch;
        while pending.len() >= per || (finished && !pending.is_empty()) {
            let n = pending.len().min(per);
            let chunk: Vec<f32> = pending.drain(..n).collect();
            // Real time: at most 300 ms ahead of the clock.
            let due = std::time::Duration::from_secs_f64(pos as f64 / 48_000.0);
            let lead = std::time::Duration::from_millis(300);
            if due > t0.elapsed() + lead {
                tokio::time::sleep(due - t0.elapsed() - lead).await;
            }
            stream_core::wire::encode_pcm_frame(Codec::PcmS16, out_ch as u8, 0, 0, pos, &chunk, &mut frame)
                .context("framing")?;
            ws.send(Message::binary(frame.clone())).await?;
            pos += (chunk.len() / out_ch) as u64;
        }
    }
    ws.send(Message::text(r#"{"type":"end"}"#)).await?;
    // Wait for the server to confirm the end, then close cleanly: closing at once could reset
    // the connection before the server has read the last frames.
    while let Some(m) = ws.next().await {
        if let Message::Text(t) = m? {
            match serde_json::from_str::<ServerMessage>(&t)? {
                ServerMessage::AudioStreamEnd { .. } => break,
                ServerMessage::AudioStreamError { code, error, .. } => bail!("server error {}: {error}", code.as_str()),
                _ => {}
            }
        }
    }
    let _ = ws.close(None).await;
    while let Some(Ok(_)) = ws.next().await {}
    eprintln!("relay-client: published {:.3} s to {stream}", pos as f64 / 48_000.0);
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::List { server } => list(&server).await,
        Cmd::Fetch { server, track, codec, position_s, bitrate, profile, out } => {
            fetch(&server, &track, &codec, position_s, bitrate, profile, &out).await
        }
        Cmd::Listen { server, stream, token, codec, out, seconds } => {
            listen(&server, &stream, &token, &codec, &out, seconds).await
        }
        Cmd::Publish { server, stream, token, input, raw, rate, channels } => {
            publish(&server, &stream, &token, &input, raw, rate, channels).await
        }
    }
}
