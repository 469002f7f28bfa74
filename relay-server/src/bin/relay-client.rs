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
use stream_core::wire::{decode_pcm_into, Codec, FrameHeader};
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
        /// `pcm_f32` (32-bit float WAV) or `pcm_s16` (16-bit WAV).
        #[arg(long, default_value = "pcm_f32")]
        codec: String,
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

async fn fetch(server: &str, track: &str, codec: &str, position_s: f64, out: &PathBuf) -> anyhow::Result<()> {
    let codec_v = Codec::from_name(codec).with_context(|| format!("unknown codec {codec:?}"))?;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(server)).await.context("connecting to /ws")?;
    let play =
        serde_json::json!({"type": "play", "data": {"track_id": track, "codec": codec, "position_s": position_s}});
    ws.send(Message::text(play.to_string())).await?;
    let mut start: Option<StreamStart> = None;
    let mut samples: Vec<f32> = Vec::new();
    let mut next_pos = 0u64;
    let mut scratch = vec![0f32; 48_000 * 8];
    while let Some(msg) = ws.next().await {
        match msg? {
            Message::Text(text) => match serde_json::from_str::<ServerMessage>(&text)? {
                ServerMessage::AudioStreamStart(s) => {
                    next_pos = s.start_sample;
                    start = Some(s);
                }
                ServerMessage::AudioStreamEnd { total_samples, .. } => {
                    if total_samples != next_pos {
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
                if h.sample_pos != next_pos {
                    bail!("gap or overlap: frame at {} but {next_pos} expected", h.sample_pos);
                }
                let n = decode_pcm_into(h.codec, payload, &mut scratch);
                samples.extend_from_slice(&scratch[..n]);
                next_pos += h.frame_count as u64;
                let ack = serde_json::json!({"type": "ack", "data": {"session": h.session, "sample_pos": next_pos}});
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
    eprintln!(
        "relay-client: {} frames ({:.3} s, {} ch) from position {} written to {}",
        samples.len() / s.channels as usize,
        samples.len() as f64 / s.channels as f64 / s.sample_rate as f64,
        s.channels,
        s.start_sample,
        out.display()
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::List { server } => list(&server).await,
        Cmd::Fetch { server, track, codec, position_s, out } => fetch(&server, &track, &codec, position_s, &out).await,
    }
}
