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

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::List { server } => list(&server).await,
        Cmd::Fetch { server, track, codec, position_s, bitrate, profile, out } => {
            fetch(&server, &track, &codec, position_s, bitrate, profile, &out).await
        }
    }
}
