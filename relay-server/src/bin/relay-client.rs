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
    /// Holds N real-time listeners of a live stream for S seconds and reports per-listener
    /// underruns (a player consuming in real time from a small start buffer), bytes, join
    /// latency (connect to first audio byte) percentiles, and the server's RSS and CPU per
    /// listener (with `--server-pid`). A listener is `ok` only if it had no error and no
    /// underrun and played at least 90 % of its connection's duration; one that never got audio
    /// counts in the join percentiles with its whole wait. `--http URL` listens to plain HTTP Ogg instead of /ws
    /// (this relay's /live/{id}.ogg?token=... or an Icecast mount).
    Load {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long, default_value = "")]
        stream: String,
        #[arg(long, default_value = "")]
        token: String,
        #[arg(long, default_value = "opus")]
        codec: String,
        #[arg(long)]
        http: Option<String>,
        #[arg(long, default_value_t = 100)]
        listeners: usize,
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Audio a listener buffers before it starts playing, ms.
        #[arg(long, default_value_t = 500)]
        buffer_ms: u64,
        /// New connections per second while ramping up.
        #[arg(long, default_value_t = 2000)]
        ramp_per_s: u64,
        #[arg(long)]
        server_pid: Option<u32>,
        /// Threads of the load client (default: the cores it may run on, as `taskset` sets,
        /// at most 2).
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Soak: thousands of connect/play/disconnect cycles with random timing (abrupt drops,
    /// stops, seeks, pauses, bad input, HTTP Ogg), then the server's file descriptors, threads,
    /// sessions and RSS before and after, against stated margins (exit 1 beyond them).
    Soak {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long)]
        server_pid: u32,
        #[arg(long, default_value_t = 3000)]
        cycles: u64,
        /// Cycles running at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The server key: live cycles too (streams published in real time the whole run;
        /// listeners over /ws and HTTP Ogg joining and dropping; tokens renewed; expired tokens
        /// refused; streams published, heard and dropped by their producer).
        #[arg(long)]
        api_key: Option<String>,
        /// The server's listen-token lifetime (`--listen-token-ttl-s`), seconds: after it, the
        /// first tokens must be refused.
        #[arg(long, default_value_t = 5)]
        listen_token_ttl_s: u64,
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

/// A tiny HTTP/1.0 GET of `path` on an http:// server: the body (keeps the client free of an
/// HTTP stack for the few calls it makes).
async fn http_get(server: &str, path: &str) -> anyhow::Result<String> {
    Ok(http_request(server, "GET", path, None).await?.1)
}

/// A tiny HTTP/1.0 request with an optional bearer token and no body: (status, body).
async fn http_request(server: &str, method: &str, path: &str, bearer: Option<&str>) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let base = server.trim_end_matches('/');
    let host = base.strip_prefix("http://").context("an http:// server URL is needed")?;
    let mut stream = tokio::net::TcpStream::connect(host).await.with_context(|| format!("connect {host}"))?;
    let auth = bearer.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let length = if method == "GET" { "" } else { "Content-Length: 0\r\n" };
    stream.write_all(format!("{method} {path} HTTP/1.0\r\nHost: {host}\r\n{auth}{length}\r\n").as_bytes()).await?;
    let mut body = Vec::new();
    stream.read_to_end(&mut body).await?;
    let text = String::from_utf8_lossy(&body);
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()))
}

async fn list(server: &str) -> anyhow::Result<()> {
    println!("{}", http_get(server, "/api/tracks").await?);
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

/// Parses a binary frame of stream `s` and checks it belongs to it.
fn parse_frame<'a>(bytes: &'a [u8], s: &StreamStart, codec: Codec) -> anyhow::Result<(FrameHeader, &'a [u8])> {
    let (h, payload) = FrameHeader::parse(bytes).map_err(|e| anyhow::anyhow!("bad frame: {e}"))?;
    if h.session != s.session || h.codec != codec || h.channels != s.channels {
        bail!("frame does not match the stream: {h:?}");
    }
    Ok((h, payload))
}

/// Writes what a listener received: 16-bit integer or 32-bit float WAV.
fn write_wav(out: &PathBuf, s: &StreamStart, s16: bool, samples: &[f32]) -> anyhow::Result<()> {
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
                let (h, payload) = parse_frame(&bytes, s, codec_v)?;
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
    write_wav(out, &s, codec_v == Codec::PcmS16, &samples)?;
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
                let (h, payload) = parse_frame(&bytes, s, codec_v)?;
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
    write_wav(out, &s, false, &samples)?;
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = if matches!(cli.cmd, Cmd::Load { .. } | Cmd::Soak { .. }) {
        relay_server::raise_fd_limit();
        let workers = match cli.cmd {
            Cmd::Load { workers: Some(n), .. } => n.max(1),
            _ => std::thread::available_parallelism().map_or(2, |n| n.get().min(2)),
        };
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()?
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    };
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Load {
            server, stream, token, codec, http, listeners, seconds, buffer_ms, ramp_per_s, server_pid, ..
        } => {
            load::run(load::Spec {
                server,
                stream,
                token,
                codec,
                http,
                listeners,
                seconds,
                buffer_ms,
                ramp_per_s,
                server_pid,
            })
            .await
        }
        Cmd::List { server } => list(&server).await,
        Cmd::Soak { server, server_pid, cycles, concurrency, seed, api_key, listen_token_ttl_s } => {
            soak::run(&server, server_pid, cycles, concurrency, seed, api_key, listen_token_ttl_s).await
        }
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

mod load {
    //! `relay-client load`: many real-time listeners in one process.

    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use anyhow::Context;
    use futures_util::{SinkExt, StreamExt};
    use stream_core::wire::FrameHeader;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::Message;

    pub struct Spec {
        pub server: String,
        pub stream: String,
        pub token: String,
        pub codec: String,
        pub http: Option<String>,
        pub listeners: usize,
        pub seconds: f64,
        pub buffer_ms: u64,
        pub ramp_per_s: u64,
        pub server_pid: Option<u32>,
    }

    /// What one listener experienced.
    #[derive(Default, Debug, Clone)]
    struct Outcome {
        join_ms: Option<f64>,
        underruns: u32,
        bytes: u64,
        audio_frames: u64,
        /// Frames the player played (real time from its start, never beyond what arrived).
        played_frames: u64,
        /// Frames it should have played: its whole connection, connect to the end of the hold.
        due_frames: u64,
        error: Option<String>,
    }

    /// A listener is OK only when it had no error and no underrun, started playing, and played
    /// at least this share of what it should have (a server that accepts and sends nothing, or
    /// sends a burst and stops, fails).
    const MIN_PLAYED_SHARE: f64 = 0.9;

    impl Outcome {
        fn started(&self) -> bool {
            self.played_frames > 0
        }

        fn short(&self) -> bool {
            (self.played_frames as f64) < MIN_PLAYED_SHARE * self.due_frames as f64
        }

        fn ok(&self) -> bool {
            self.error.is_none() && self.underruns == 0 && self.started() && !self.short()
        }

        /// Closes the listener's account at `end`: what it played against its whole connection.
        fn settle(&mut self, play: &mut Playout, t0: Instant, end: Instant) {
            play.finish(end);
            self.underruns = play.underruns;
            self.played_frames = play.played(end).map_or(0, |p| p.min(play.received));
            self.due_frames = (end.saturating_duration_since(t0).as_secs_f64() * 48_000.0) as u64;
        }
    }

    /// A player consuming in real time once `buffer` frames are in.
    struct Playout {
        buffer: u64,
        received: u64,
        started: Option<(Instant, u64)>,
        underruns: u32,
    }

    impl Playout {
        fn new(buffer: u64) -> Self {
            Playout { buffer, received: 0, started: None, underruns: 0 }
        }

        fn played(&self, now: Instant) -> Option<u64> {
            self.started.map(|(t, base)| base + (now.duration_since(t).as_secs_f64() * 48_000.0) as u64)
        }

        fn arrive(&mut self, frames: u64, now: Instant) {
            if let Some(p) = self.played(now) {
                if p > self.received {
                    self.underruns += 1;
                    self.started = Some((now, self.received)); // plays on once it has audio again
                }
            }
            self.received += frames;
            if self.started.is_none() && self.received >= self.buffer {
                self.started = Some((now, 0));
            }
        }

        fn finish(&mut self, now: Instant) {
            if self.played(now).is_some_and(|p| p > self.received + 4800) {
                self.underruns += 1;
            }
        }
    }

    fn ws_url(server: &str) -> String {
        super::ws_url(server)
    }

    async fn ws_listener(spec: Arc<Spec>, until: Instant) -> Outcome {
        let mut o = Outcome::default();
        let t0 = Instant::now();
        let mut play = Playout::new(spec.buffer_ms * 48);
        let r = async {
            let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&spec.server)).await.context("connect")?;
            let msg = serde_json::json!({"type": "listen", "data": {"stream_id": spec.stream, "token": spec.token, "codec": spec.codec}});
            ws.send(Message::text(msg.to_string())).await?;
            loop {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let m = match tokio::time::timeout(left, ws.next()).await {
                    Err(_) => break,
                    Ok(None) => anyhow::bail!("connection closed"),
                    Ok(Some(m)) => m?,
                };
                match m {
                    Message::Binary(b) => {
                        let now = Instant::now();
                        o.join_ms.get_or_insert_with(|| now.duration_since(t0).as_secs_f64() * 1000.0);
                        o.bytes += b.len() as u64;
                        let (h, _) = FrameHeader::parse(&b).map_err(|e| anyhow::anyhow!("{e}"))?;
                        o.audio_frames += h.frame_count as u64;
                        play.arrive(h.frame_count as u64, now);
                    }
                    Message::Text(t) if t.contains("audio_stream_error") || t.contains("audio_stream_end") => {
                        anyhow::bail!("stream stopped: {t}")
                    }
                    _ => {}
                }
            }
            let _ = ws.close(None).await;
            Ok(())
        }
        .await;
        o.settle(&mut play, t0, Instant::now().min(until));
        if let Err(e) = r {
            o.error = Some(e.to_string());
        }
        o
    }

    /// Audio frames in one Ogg page (0 for header pages), from the packets' TOC bytes.
    fn page_frames(page: &[u8]) -> u64 {
        let n = page[26] as usize;
        let lacing = &page[27..27 + n];
        let mut at = 27 + n;
        let mut frames = 0u64;
        let mut start = at;
        let mut len = 0usize;
        for &l in lacing {
            len += l as usize;
            if l < 255 {
                let pkt = &page[start..start + len];
                if pkt.starts_with(b"Opus") {
                    return 0;
                }
                frames += stream_core::ogg::opus_packet_samples(pkt).unwrap_or(0) as u64;
                at = start + len;
                start = at;
                len = 0;
            }
        }
        frames
    }

    async fn http_listener(spec: Arc<Spec>, url: String, until: Instant) -> Outcome {
        let mut o = Outcome::default();
        let t0 = Instant::now();
        let mut play = Playout::new(spec.buffer_ms * 48);
        let r = async {
            let rest = url.strip_prefix("http://").context("http:// URL")?;
            let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
            let mut sock = tokio::net::TcpStream::connect(host).await.context("connect")?;
            sock.write_all(
                format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: relay-client\r\n\r\n").as_bytes(),
            )
            .await?;
            let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
            let mut chunk = vec![0u8; 16 * 1024];
            let mut body: Vec<u8> = Vec::new();
            let mut chunked: Option<bool> = None;
            let mut chunk_left = 0usize; // bytes of the current chunk still to come
            loop {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let n = match tokio::time::timeout(left, sock.read(&mut chunk)).await {
                    Err(_) => break,
                    Ok(r) => r?,
                };
                if n == 0 {
                    anyhow::bail!("connection closed");
                }
                o.bytes += n as u64;
                buf.extend_from_slice(&chunk[..n]);
                if chunked.is_none() {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    if !head.starts_with("http/1.1 200")
                        && !head.starts_with("http/1.0 200")
                        && !head.starts_with("icy 200")
                    {
                        anyhow::bail!("{}", head.lines().next().unwrap_or(""));
                    }
                    chunked = Some(head.contains("transfer-encoding: chunked"));
                    buf.drain(..end + 4);
                }
                // De-chunk into `body`.
                if chunked == Some(true) {
                    loop {
                        if chunk_left > 0 {
                            let take = chunk_left.min(buf.len());
                            body.extend_from_slice(&buf[..take]);
                            buf.drain(..take);
                            chunk_left -= take;
                            if chunk_left > 0 {
                                break;
                            }
                            continue;
                        }
                        let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else { break };
                        let line = String::from_utf8_lossy(&buf[..eol]).into_owned();
                        buf.drain(..eol + 2);
                        if line.is_empty() {
                            continue; // the CRLF after a chunk
                        }
                        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)?;
                        if size == 0 {
                            anyhow::bail!("stream ended");
                        }
                        chunk_left = size;
                    }
                } else {
                    body.append(&mut buf);
                }
                // Whole Ogg pages.
                let now = Instant::now();
                loop {
                    if body.len() < 27 {
                        break;
                    }
                    if &body[..4] != b"OggS" {
                        anyhow::bail!("lost Ogg sync");
                    }
                    let segs = body[26] as usize;
                    if body.len() < 27 + segs {
                        break;
                    }
                    let len = 27 + segs + body[27..27 + segs].iter().map(|&l| l as usize).sum::<usize>();
                    if body.len() < len {
                        break;
                    }
                    let frames = page_frames(&body[..len]);
                    if frames > 0 {
                        o.join_ms.get_or_insert_with(|| now.duration_since(t0).as_secs_f64() * 1000.0);
                        o.audio_frames += frames;
                        play.arrive(frames, now);
                    }
                    body.drain(..len);
                }
            }
            Ok(())
        }
        .await;
        o.settle(&mut play, t0, Instant::now().min(until));
        if let Err(e) = r {
            o.error = Some(e.to_string());
        }
        o
    }

    /// (RSS bytes, CPU seconds) of a process.
    fn proc_usage(pid: u32) -> Option<(u64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let rss_kib: u64 =
            status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let after = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        // SAFETY: sysconf is always safe to call.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Some((rss_kib * 1024, ticks / hz.max(1.0)))
    }

    fn pct(sorted: &[f64], p: f64) -> f64 {
        if sorted.is_empty() {
            return f64::NAN;
        }
        sorted[((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
    }

    pub async fn run(spec: Spec) -> anyhow::Result<()> {
        let spec = Arc::new(spec);
        let baseline = spec.server_pid.and_then(proc_usage);
        let t_start = Instant::now();
        let ramp = Duration::from_secs_f64(spec.listeners as f64 / spec.ramp_per_s.max(1) as f64);
        // Every listener holds for `seconds` after the whole population has joined.
        let until = t_start + ramp + Duration::from_secs_f64(spec.seconds);
        let joined = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::with_capacity(spec.listeners);
        for i in 0..spec.listeners {
            let due = t_start + Duration::from_secs_f64(i as f64 / spec.ramp_per_s.max(1) as f64);
            tokio::time::sleep_until(due.into()).await;
            let spec = spec.clone();
            let joined = joined.clone();
            tasks.push(tokio::spawn(async move {
                let o = match spec.http.clone() {
                    Some(url) => http_listener(spec, url, until).await,
                    None => ws_listener(spec, until).await,
                };
                joined.fetch_add(1, Ordering::Relaxed);
                o
            }));
        }
        // Server usage in the middle of the hold: everybody connected and streaming.
        tokio::time::sleep_until((t_start + ramp + Duration::from_secs_f64(spec.seconds / 2.0)).into()).await;
        let mid = spec.server_pid.and_then(proc_usage);
        let cpu_mid_t = Instant::now();
        tokio::time::sleep_until((until - Duration::from_secs_f64((spec.seconds / 4.0).min(5.0))).into()).await;
        let late = spec.server_pid.and_then(proc_usage);
        let cpu_late_t = Instant::now();
        let mut outs = Vec::with_capacity(tasks.len());
        for t in tasks {
            outs.push(t.await.unwrap_or_else(|e| Outcome { error: Some(e.to_string()), ..Default::default() }));
        }
        let n = outs.len();
        let ok = outs.iter().filter(|o| o.ok()).count();
        let errors = outs.iter().filter(|o| o.error.is_some()).count();
        let with_underrun = outs.iter().filter(|o| o.underruns > 0 || o.error.is_some()).count();
        let never_started = outs.iter().filter(|o| !o.started()).count();
        let short = outs.iter().filter(|o| o.started() && o.short()).count();
        let underruns: u64 = outs.iter().map(|o| o.underruns as u64).sum();
        let bytes: u64 = outs.iter().map(|o| o.bytes).sum();
        let audio: f64 = outs.iter().map(|o| o.audio_frames as f64 / 48_000.0).sum::<f64>() / n.max(1) as f64;
        // A listener that never got audio counts with the whole time it waited (connect to the
        // end of the hold), so that failures raise the percentiles instead of leaving them.
        let hold_ms = until.duration_since(t_start).as_secs_f64() * 1000.0;
        let mut joins: Vec<f64> = outs.iter().map(|o| o.join_ms.unwrap_or(hold_ms)).collect();
        joins.sort_by(f64::total_cmp);
        if let Some(e) = outs.iter().find_map(|o| o.error.clone()) {
            eprintln!("relay-client load: first error: {e}");
        }
        println!(
            "LOAD listeners={n} ok={ok} errors={errors} underruns={underruns} listeners_with_underrun={with_underrun} never_started={never_started} short={short} bytes={bytes} audio_s_per_listener={audio:.2} join_ms_p50={:.1} join_ms_p95={:.1} join_ms_max={:.1}",
            pct(&joins, 50.0),
            pct(&joins, 95.0),
            joins.last().copied().unwrap_or(f64::NAN)
        );
        if let (Some((rss0, _)), Some((rss1, cpu1)), Some((_, cpu2))) = (baseline, mid, late) {
            let per = (rss1 as f64 - rss0 as f64) / n.max(1) as f64;
            let minutes = cpu_late_t.duration_since(cpu_mid_t).as_secs_f64() / 60.0;
            let cpu_ms = (cpu2 - cpu1) * 1000.0 / (n.max(1) as f64 * minutes.max(1e-9));
            println!("SERVER rss_baseline={rss0} rss_loaded={rss1} rss_per_listener_bytes={per:.0} cpu_ms_per_listener_minute={cpu_ms:.2}");
        }
        Ok(())
    }
}

mod soak {
    //! `relay-client soak`: connect/play/disconnect cycles with random timing, and the server's
    //! resources before and after.

    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use futures_util::{SinkExt, StreamExt};
    use serde_json::{json, Value};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::Message;

    /// Margins the server must be back within after the run.
    const FD_MARGIN: i64 = 4;
    const THREAD_MARGIN: i64 = 2;
    /// First pass: the chunk cache (16 MiB in scripts/soak.sh) may still be filling after the
    /// warm-up (measured: +3.7 MiB in all with the relay's two malloc arenas).
    const RSS_MARGIN_KIB: i64 = 8 * 1024;
    /// Second pass, the same number of cycles again: the cache is full and the arenas have
    /// their size, so a leak (anything kept per cycle) is all that can grow; 4 MiB is allocator
    /// fragmentation, a fraction of what 3000 leaked cycles would hold.
    const REPEAT_RSS_MARGIN_KIB: i64 = 4 * 1024;

    #[derive(Debug, Clone, Copy)]
    struct Usage {
        fds: i64,
        threads: i64,
        rss_kib: i64,
        sessions: i64,
        /// Live streams the server knows (published, or ended and lingering).
        streams: i64,
    }

    async fn usage(server: &str, pid: u32) -> anyhow::Result<Usage> {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as i64;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |k: &str| -> i64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(-1)
        };
        let metrics = super::http_get(server, "/metrics").await?;
        let sessions = metrics
            .lines()
            .find_map(|l| l.strip_prefix("relay_sessions_active "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(-1);
        let streams = metrics.lines().filter(|l| l.starts_with("relay_live_producers{")).count() as i64;
        Ok(Usage { fds, threads: field("Threads:"), rss_kib: field("VmRSS:"), sessions, streams })
    }

    fn print(when: &str, u: &Usage) {
        println!(
            "SOAK {when} fds={} threads={} sessions={} live_streams={} rss_kib={}",
            u.fds, u.threads, u.sessions, u.streams, u.rss_kib
        );
    }

    /// xorshift64*: reproducible randomness from `--seed`.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// One cycle; `Ok(kind)` when it went as a client expects.
    async fn cycle(ctx: &Ctx, rng: &mut Rng) -> anyhow::Result<&'static str> {
        let (server, ws_url, tracks) = (ctx.server.as_str(), ctx.ws_url.as_str(), &ctx.tracks[..]);
        // With live streams, a third of the cycles are live ones.
        if let Some(live) = &ctx.live {
            if rng.below(3) == 0 {
                return live_cycle(ctx, live, rng).await;
            }
        }
        let (id, dur) = &tracks[rng.below(tracks.len() as u64) as usize];
        let codec = ["pcm_s16", "pcm_f32", "opus"][rng.below(3) as usize];
        let kind = rng.below(6);
        if kind == 5 {
            // HTTP Ogg, read a little, drop.
            let host = server.trim_end_matches('/').trim_start_matches("http://").to_owned();
            let mut s = tokio::net::TcpStream::connect(&host).await?;
            s.write_all(format!("GET /api/tracks/{id}/stream.ogg HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes()).await?;
            let mut buf = vec![0u8; 16 * 1024];
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await??;
            anyhow::ensure!(n > 0, "no Ogg bytes");
            return Ok("http_drop");
        }
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await?;
        if kind == 4 {
            // Bad input, then a normal close.
            ws.send(Message::text("{not json")).await?;
            ws.send(Message::binary(vec![0u8; 64])).await?;
            let mut errors = 0;
            while errors < 2 {
                match tokio::time::timeout(Duration::from_secs(10), ws.next()).await? {
                    Some(Ok(Message::Text(t))) if t.contains("audio_stream_error") => errors += 1,
                    Some(Ok(_)) => {}
                    other => anyhow::bail!("bad input: {other:?}"),
                }
            }
            ws.close(None).await?;
            return Ok("bad_input");
        }
        let pos = rng.below((*dur as u64).max(1)) as f64 * 0.5;
        ws.send(Message::text(
            json!({"type": "play", "data": {"track_id": id, "codec": codec, "position_s": pos}}).to_string(),
        ))
        .await?;
        let read_for = Duration::from_millis(rng.below(400));
        let t0 = Instant::now();
        let mut frames = 0;
        while t0.elapsed() < read_for || frames == 0 {
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await? {
                Some(Ok(Message::Binary(_))) => frames += 1,
                Some(Ok(Message::Text(t))) if t.contains("audio_stream_error") => anyhow::bail!("{t}"),
                Some(Ok(Message::Text(t))) if t.contains("audio_stream_end") => break,
                Some(Ok(_)) => {}
                other => anyhow::bail!("play: {other:?}"),
            }
        }
        match kind {
            0 => Ok("abrupt_drop"), // dropped without a close frame
            1 => {
                ws.send(Message::text(r#"{"type":"stop"}"#)).await?;
                ws.close(None).await?;
                Ok("stop_close")
            }
            2 => {
                let to = rng.below((*dur as u64).max(1)) as f64;
                ws.send(Message::text(json!({"type": "seek", "data": {"position_s": to}}).to_string())).await?;
                tokio::time::sleep(Duration::from_millis(rng.below(100))).await;
                Ok("seek_drop")
            }
            _ => {
                ws.send(Message::text(r#"{"type":"pause"}"#)).await?;
                tokio::time::sleep(Duration::from_millis(rng.below(50))).await;
                ws.send(Message::text(r#"{"type":"resume"}"#)).await?;
                ws.close(None).await?;
                Ok("pause_resume_close")
            }
        }
    }

    /// What every cycle shares.
    struct Ctx {
        server: String,
        ws_url: String,
        tracks: Vec<(String, f64)>,
        live: Option<Live>,
    }

    /// A long-lived live stream of the soak: published in real time for the whole run.
    struct LongLived {
        id: String,
        /// The listen token minted at its creation: refused once the server's TTL has passed.
        first_token: String,
    }

    /// The live part of the soak.
    struct Live {
        key: String,
        ttl: Duration,
        minted: Instant,
        streams: Vec<LongLived>,
        stop: Arc<std::sync::atomic::AtomicBool>,
        producers: std::sync::Mutex<Vec<tokio::task::JoinHandle<anyhow::Result<u64>>>>,
        kinds: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
    }

    /// Long-lived streams of a live soak.
    const LONG_LIVED: usize = 4;

    /// 100 ms of a quiet stereo tone from frame `pos`, as a pcm_f32 frame.
    fn tone_frame(pos: u64) -> Vec<u8> {
        let pcm: Vec<f32> = (0..4800u64)
            .flat_map(|i| {
                let v = (((pos + i) as f64 / 48_000.0) * 330.0 * std::f64::consts::TAU).sin() as f32 * 0.1;
                [v, v]
            })
            .collect();
        let mut out = Vec::new();
        stream_core::wire::encode_pcm_frame(stream_core::wire::Codec::PcmF32, 2, 0, 0, pos, &pcm, &mut out);
        out
    }

    /// Creates a stream with the server key: (id, publish token, listen token).
    async fn create(server: &str, key: &str) -> anyhow::Result<(String, String, String)> {
        let (status, body) = super::http_request(server, "POST", "/api/streams", Some(key)).await?;
        anyhow::ensure!(status == 201, "create a stream: {status} {body}");
        let v: Value = serde_json::from_str(&body)?;
        let f = |k: &str| v[k].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no {k} in {v}"));
        Ok((f("stream_id")?, f("publish_token")?, f("listen_token")?))
    }

    type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    async fn publisher(ws_url: &str, id: &str, token: &str) -> anyhow::Result<Ws> {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await?;
        let msg = json!({"type": "publish", "data": {"stream_id": id, "token": token, "codec": "pcm_f32", "channels": 2, "sample_rate": 48000}});
        ws.send(Message::text(msg.to_string())).await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await? {
                Some(Ok(Message::Text(t))) if t.contains("publish_ready") => return Ok(ws),
                Some(Ok(Message::Text(t))) => anyhow::bail!("publish: {t}"),
                Some(Ok(_)) => {}
                other => anyhow::bail!("publish: {other:?}"),
            }
        }
    }

    /// Listens over /ws until `frames` audio frames arrived: Ok, or the error message.
    async fn hear(ws_url: &str, id: &str, token: &str, codec: &str, frames: usize) -> anyhow::Result<Ws> {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await?;
        let msg = json!({"type": "listen", "data": {"stream_id": id, "token": token, "codec": codec}});
        ws.send(Message::text(msg.to_string())).await?;
        let mut got = 0;
        while got < frames {
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await? {
                Some(Ok(Message::Binary(_))) => got += 1,
                Some(Ok(Message::Text(t))) if t.contains("audio_stream_error") => anyhow::bail!("{t}"),
                Some(Ok(_)) => {}
                other => anyhow::bail!("listen: {other:?}"),
            }
        }
        Ok(ws)
    }

    impl Live {
        async fn start(server: &str, ws_url: &str, key: String, ttl_s: u64) -> anyhow::Result<Live> {
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (mut streams, mut producers) = (Vec::new(), Vec::new());
            for _ in 0..LONG_LIVED {
                let (id, publish, listen) = create(server, &key).await?;
                let mut ws = publisher(ws_url, &id, &publish).await?;
                let stop = stop.clone();
                producers.push(tokio::spawn(async move {
                    // Real time, 100 ms frames, until told to stop; then a normal end.
                    let t0 = Instant::now();
                    let mut pos = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        ws.send(Message::binary(tone_frame(pos))).await?;
                        pos += 4800;
                        let due = t0 + Duration::from_secs_f64(pos as f64 / 48_000.0);
                        tokio::time::sleep_until((due - Duration::from_millis(100)).into()).await;
                    }
                    ws.send(Message::text(r#"{"type":"end"}"#)).await?;
                    Ok(pos)
                }));
                streams.push(LongLived { id, first_token: listen });
            }
            Ok(Live {
                key,
                ttl: Duration::from_secs(ttl_s),
                minted: Instant::now(),
                streams,
                stop,
                producers: std::sync::Mutex::new(producers),
                kinds: Default::default(),
            })
        }

        fn count(&self, kind: &'static str) {
            if kind.starts_with("live_") {
                *self.kinds.lock().expect("kinds").entry(kind).or_default() += 1;
            }
        }

        fn kinds(&self) -> String {
            let k = self.kinds.lock().expect("kinds");
            k.iter().map(|(n, c)| format!("{n}={c}")).collect::<Vec<_>>().join(" ")
        }

        /// A fresh listen token of a long-lived stream, renewed with the server key.
        async fn renew(&self, server: &str, id: &str) -> anyhow::Result<String> {
            let (status, body) =
                super::http_request(server, "POST", &format!("/api/streams/{id}/listen_token"), Some(&self.key))
                    .await?;
            anyhow::ensure!(status == 200, "renew: {status} {body}");
            let v: Value = serde_json::from_str(&body)?;
            v["listen_token"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no listen_token in {v}"))
        }

        /// Ends the long-lived streams; each producer must have published without a break.
        async fn stop(&self) -> anyhow::Result<()> {
            self.stop.store(true, Ordering::Relaxed);
            let producers = std::mem::take(&mut *self.producers.lock().expect("producers"));
            for p in producers {
                let frames = p.await??;
                anyhow::ensure!(frames > 0, "a long-lived producer published nothing");
            }
            Ok(())
        }
    }

    /// One live cycle; `Ok(kind)` when it went as a client expects.
    async fn live_cycle(ctx: &Ctx, live: &Live, rng: &mut Rng) -> anyhow::Result<&'static str> {
        let (server, ws_url) = (ctx.server.as_str(), ctx.ws_url.as_str());
        let s = &live.streams[rng.below(live.streams.len() as u64) as usize];
        let codec = ["pcm_s16", "pcm_f32", "opus"][rng.below(3) as usize];
        match rng.below(5) {
            0 => {
                // Listen with a renewed token, hear a while, drop without a close frame.
                let token = live.renew(server, &s.id).await?;
                let ws = hear(ws_url, &s.id, &token, codec, 1 + rng.below(4) as usize).await?;
                drop(ws);
                Ok("live_listen_drop")
            }
            1 => {
                // Listen, close, reconnect with the same token and hear again.
                let token = live.renew(server, &s.id).await?;
                let mut ws = hear(ws_url, &s.id, &token, codec, 1).await?;
                ws.close(None).await?;
                let mut ws = hear(ws_url, &s.id, &token, codec, 2).await?;
                ws.close(None).await?;
                Ok("live_reconnect")
            }
            2 => {
                // HTTP Ogg on the main port: read a little, drop.
                let token = live.renew(server, &s.id).await?;
                let host = server.trim_end_matches('/').trim_start_matches("http://").to_owned();
                let mut sock = tokio::net::TcpStream::connect(&host).await?;
                sock.write_all(
                    format!("GET /live/{}.ogg?token={token} HTTP/1.0\r\nHost: {host}\r\n\r\n", s.id).as_bytes(),
                )
                .await?;
                let mut buf = vec![0u8; 8 * 1024];
                let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut buf)).await??;
                let head = String::from_utf8_lossy(&buf[..n]);
                anyhow::ensure!(
                    head.starts_with("HTTP/1.") && head.split(' ').nth(1) == Some("200"),
                    "live Ogg: {}",
                    head.lines().next().unwrap_or("")
                );
                Ok("live_http_drop")
            }
            3 => {
                // The first token, once its lifetime has passed, is refused.
                if live.minted.elapsed() <= live.ttl + Duration::from_secs(1) {
                    return Ok("early");
                }
                // (Refused as expired, or as unknown once the server has swept it out.)
                match hear(ws_url, &s.id, &s.first_token, codec, 1).await {
                    Err(e) if e.to_string().contains(r#""code":"unauthorized""#) => Ok("live_expired_refused"),
                    Err(e) => Err(e),
                    Ok(_) => anyhow::bail!("an expired token was accepted"),
                }
            }
            _ => {
                // A stream of its own: published, heard, then its producer drops without a word;
                // the listener is told (producer_lost) and the stream goes after its linger.
                let (id, publish, listen) = create(server, &live.key).await?;
                let mut p = publisher(ws_url, &id, &publish).await?;
                for i in 0..5u64 {
                    p.send(Message::binary(tone_frame(i * 4800))).await?;
                }
                let mut l = hear(ws_url, &id, &listen, codec, 1).await?;
                drop(p);
                loop {
                    match tokio::time::timeout(Duration::from_secs(15), l.next()).await? {
                        Some(Ok(Message::Text(t)))
                            if t.contains("audio_stream_error") || t.contains("audio_stream_end") =>
                        {
                            break
                        }
                        Some(Ok(_)) => {}
                        other => anyhow::bail!("the listener of a dropped producer: {other:?}"),
                    }
                }
                Ok("live_publish_drop")
            }
        }
    }

    pub async fn run(
        server: &str,
        pid: u32,
        cycles: u64,
        concurrency: usize,
        seed: u64,
        api_key: Option<String>,
        listen_token_ttl_s: u64,
    ) -> anyhow::Result<()> {
        let list: Vec<Value> = serde_json::from_str(&super::http_get(server, "/api/tracks").await?)?;
        let tracks: Vec<(String, f64)> = list
            .iter()
            .filter(|t| t["playable"] != false)
            .filter_map(|t| Some((t["id"].as_str()?.to_owned(), t["duration_s"].as_f64()?)))
            .collect();
        anyhow::ensure!(!tracks.is_empty(), "no playable track");
        let ws_url = super::ws_url(server);
        let live = match api_key {
            Some(key) => Some(Live::start(server, &ws_url, key, listen_token_ttl_s).await?),
            None => None,
        };
        let ctx = Arc::new(Ctx { server: server.to_owned(), ws_url, tracks, live });
        // A warm-up round first (a sixth of the cycles): the chunk cache fills to its size and
        // the allocator's arenas to their working set. The baseline is the server at rest after
        // it (with live cycles: its long-lived streams still published, nobody listening).
        let warm = pool(&ctx, (cycles / 6).max(50), concurrency, seed ^ 0xABCD).await?;
        let before = drained(&ctx, pid, None).await?;
        print("before", &before);
        let t0 = Instant::now();
        let (okn, failn) = pool(&ctx, cycles, concurrency, seed).await?;
        let secs = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let after = drained(&ctx, pid, Some(before)).await?;
        print("after", &after);
        // The same again: what a second pass adds is what the server keeps per cycle.
        let (ok2, failed2) = pool(&ctx, cycles, concurrency, seed ^ 0x5EED).await?;
        let again = drained(&ctx, pid, Some(after)).await?;
        print("after_second_pass", &again);
        let (okn, failn) = (okn + ok2, failn + failed2);
        if let Some(live) = &ctx.live {
            live.stop().await?;
            println!(
                "SOAK live: {} long-lived streams published without a break; live cycles {}",
                live.streams.len(),
                live.kinds()
            );
        }
        println!(
            "SOAK cycles={cycles}x2 ok={okn} failed={failn} seconds={secs:.1} cycles_per_s={:.0} drained_in_s={:.1} (warm-up: {} cycles)",
            cycles as f64 / secs,
            t1.elapsed().as_secs_f64(),
            warm.0 + warm.1
        );
        let within = after.sessions == before.sessions
            && after.streams == before.streams
            && after.fds <= before.fds + FD_MARGIN
            && after.threads <= before.threads + THREAD_MARGIN
            && after.rss_kib <= before.rss_kib + RSS_MARGIN_KIB
            && again.sessions == before.sessions
            && again.streams == before.streams
            && again.fds <= before.fds + FD_MARGIN
            && again.threads <= before.threads + THREAD_MARGIN
            && again.rss_kib <= after.rss_kib + REPEAT_RSS_MARGIN_KIB;
        println!(
            "SOAK margins: fds +{FD_MARGIN}, threads +{THREAD_MARGIN}, sessions as before (the long-lived producers' own), rss +{} MiB after the first pass and +{} MiB more after the second: {}",
            RSS_MARGIN_KIB / 1024,
            REPEAT_RSS_MARGIN_KIB / 1024,
            if within { "back within them" } else { "EXCEEDED" }
        );
        anyhow::ensure!(within, "the server did not return to its baseline");
        anyhow::ensure!(failn == 0, "{failn} cycles failed");
        Ok(())
    }

    /// The server's usage once the connections clients dropped are closed on its side (at most
    /// 90 s): no session, and threads and fds back near `like` when given.
    async fn drained(ctx: &Ctx, pid: u32, like: Option<Usage>) -> anyhow::Result<Usage> {
        let server = ctx.server.as_str();
        let long_lived = ctx.live.as_ref().map_or(0, |l| l.streams.len() as i64);
        let t0 = Instant::now();
        loop {
            let u = usage(server, pid).await?;
            // Streams published and dropped in cycles are gone after their linger.
            let settled = u.sessions == long_lived
                && u.streams == long_lived
                && like.is_none_or(|b| u.fds <= b.fds + FD_MARGIN && u.threads <= b.threads + THREAD_MARGIN);
            if settled || t0.elapsed() > Duration::from_secs(90) {
                // A last moment for decode threads that are finishing.
                tokio::time::sleep(Duration::from_millis(500)).await;
                return usage(server, pid).await;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Runs `cycles` cycles on `concurrency` workers: (ok, failed).
    async fn pool(ctx: &Arc<Ctx>, cycles: u64, concurrency: usize, seed: u64) -> anyhow::Result<(u64, u64)> {
        let next = Arc::new(AtomicU64::new(0));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let mut workers = Vec::new();
        for w in 0..concurrency {
            let (next, ok, failed, ctx) = (next.clone(), ok.clone(), failed.clone(), ctx.clone());
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(w as u64 + 1));
            workers.push(tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < cycles {
                    match cycle(&ctx, &mut rng).await {
                        Ok(kind) => {
                            if let Some(live) = &ctx.live {
                                live.count(kind);
                            }
                            ok.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(e) => {
                            if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("soak: a cycle failed: {e}");
                            }
                            0
                        }
                    };
                    tokio::time::sleep(Duration::from_millis(rng.below(20))).await;
                }
            }));
        }
        for w in workers {
            w.await?;
        }
        Ok((ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed)))
    }
}
