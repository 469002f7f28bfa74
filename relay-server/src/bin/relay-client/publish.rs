//! `relay-client publish`: WAV or raw PCM from a file or stdin, published to a live stream in real time.

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use stream_core::control::ServerMessage;
use stream_core::wire::Codec;
use tokio_tungstenite::tungstenite::Message;

use crate::net::ws_url;

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

/// The socket of a producer.
type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Audio kept after it was sent, to send again to another relay of a cluster when the one
/// that took it died before passing it on (10 s).
const HISTORY_FRAMES: u64 = 480_000;

/// Publishes `input` to a live stream in real time (100 ms frames, pcm_s16, resampled to 48 kHz).
/// `servers` may list a cluster's relays, comma-separated: when the connection to one dies, the
/// producer publishes on the next, which takes the stream over where it stands (`next_sample`
/// of `publish_ready`); the audio from there on is sent again from what this client kept.
pub(crate) async fn publish(
    servers: &str,
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
        Some(relay_server::media::resample::To48k::new(src.rate, out_ch).map_err(|e| anyhow::anyhow!(e))?)
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
    let servers: Vec<&str> = servers.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let mut which = 0usize;
    let (mut ws, _) = open(servers[0], stream, token, out_ch).await?;
    let mut history: std::collections::VecDeque<(u64, Vec<f32>)> = std::collections::VecDeque::new();
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
            let sent = ws.send(Message::binary(frame.clone())).await;
            history.push_back((pos, chunk.clone()));
            pos += (chunk.len() / out_ch) as u64;
            while history.front().is_some_and(|(p, _)| p + HISTORY_FRAMES < pos) {
                history.pop_front();
            }
            if let Err(e) = sent {
                if servers.len() < 2 {
                    return Err(e.into());
                }
                ws = failover(&servers, &mut which, stream, token, out_ch, &history).await?;
            }
        }
    }
    if ws.send(Message::text(r#"{"type":"end"}"#)).await.is_err() && servers.len() > 1 {
        ws = failover(&servers, &mut which, stream, token, out_ch, &history).await?;
        ws.send(Message::text(r#"{"type":"end"}"#)).await?;
    }
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

/// Connects to `server` and publishes: the socket and where the stream stands.
async fn open(server: &str, stream: &str, token: &str, channels: usize) -> anyhow::Result<(Socket, u64)> {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(server)).await.context("connecting to /ws")?;
    let msg = serde_json::json!({"type": "publish", "data": {"stream_id": stream, "token": token,
        "codec": "pcm_s16", "channels": channels, "sample_rate": 48_000}});
    ws.send(Message::text(msg.to_string())).await?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) => match serde_json::from_str::<ServerMessage>(&t)? {
            ServerMessage::PublishReady { next_sample, .. } => Ok((ws, next_sample)),
            ServerMessage::AudioStreamError { code, error, .. } => bail!("server refused: {}: {error}", code.as_str()),
            other => bail!("unexpected answer {other:?}"),
        },
        other => bail!("no answer to publish: {other:?}"),
    }
}

/// The relay died: publish on the next of the cluster (trying each for up to 10 s), then send
/// again what it does not have yet from `history`.
async fn failover(
    servers: &[&str],
    which: &mut usize,
    stream: &str,
    token: &str,
    channels: usize,
    history: &std::collections::VecDeque<(u64, Vec<f32>)>,
) -> anyhow::Result<Socket> {
    let t0 = std::time::Instant::now();
    loop {
        *which += 1;
        let server = servers[*which % servers.len()];
        match open(server, stream, token, channels).await {
            Ok((mut ws, next)) => {
                eprintln!("relay-client: publishing on {server} from position {next}");
                let mut frame = Vec::new();
                for (p, chunk) in history {
                    let end = p + (chunk.len() / channels) as u64;
                    if end <= next {
                        continue;
                    }
                    let skip = next.saturating_sub(*p) as usize * channels;
                    stream_core::wire::encode_pcm_frame(
                        Codec::PcmS16,
                        channels as u8,
                        0,
                        0,
                        p.max(&next).to_owned(),
                        &chunk[skip..],
                        &mut frame,
                    )
                    .context("framing")?;
                    ws.send(Message::binary(frame.clone())).await?;
                }
                return Ok(ws);
            }
            Err(e) if t0.elapsed() < std::time::Duration::from_secs(10) => {
                eprintln!("relay-client: {server}: {e:#}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
}
