//! `relay-client listen`: a live stream received over `/ws` as a browser listener does, to a WAV file.

use std::path::PathBuf;

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use stream_core::control::{ServerMessage, StreamStart};
use stream_core::wire::{decode_pcm_into, Codec};
use tokio_tungstenite::tungstenite::Message;

use crate::net::ws_url;
use crate::receive::{parse_frame, write_wav, OpusOut};

/// Listens to a live stream; writes the audio to `out`. `server` may list a cluster's relays,
/// comma-separated: when the connection to one dies, the listener rejoins the next at the exact
/// next sample (`from_sample`), as the browser player does.
pub(crate) async fn listen(
    servers: &str,
    stream: &str,
    token: &str,
    codec: &str,
    out: &PathBuf,
    seconds: Option<f64>,
) -> anyhow::Result<()> {
    let codec_v = Codec::from_name(codec).with_context(|| format!("unknown codec {codec:?}"))?;
    let t0 = std::time::Instant::now();
    let servers: Vec<&str> = servers.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let mut which = 0usize;
    let mut rejoins = 0u32;
    let mut ws = join(servers[0], stream, token, codec, None).await?;
    let mut start: Option<StreamStart> = None;
    let mut samples: Vec<f32> = Vec::new();
    let mut scratch = vec![0f32; 48_000 * 8];
    let mut opus_out: Option<OpusOut> = None;
    let mut decoded_pos = 0i64;
    let mut next_pos: Option<u64> = None;
    let mut first_audio: Option<std::time::Duration> = None;
    let mut ended = "ended";
    loop {
        let msg = match ws.next().await {
            Some(Ok(m)) => m,
            // The relay went away: the next of the cluster, from the next sample (a single
            // server, or a stream not started yet, ends here).
            Some(Err(_)) | None if servers.len() > 1 && next_pos.is_some() && rejoins < 10 => {
                which += 1;
                rejoins += 1;
                let server = servers[which % servers.len()];
                eprintln!("relay-client: the connection was lost; rejoining on {server} at {next_pos:?}");
                match join(server, stream, token, codec, next_pos).await {
                    Ok(w) => ws = w,
                    Err(e) => eprintln!("relay-client: {server}: {e:#}"),
                }
                continue;
            }
            Some(Err(e)) => return Err(e.into()),
            None => break,
        };
        match msg {
            Message::Text(text) => match serde_json::from_str::<ServerMessage>(&text)? {
                // A rejoin's start: the same stream goes on.
                ServerMessage::AudioStreamStart(_) if start.is_some() => {}
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
                // (A rejoin starts with the frame holding the next sample: frames are cut at the
                // same positions on every node, so it starts exactly there.)
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
            Message::Close(c) if servers.len() == 1 => bail!("server closed the connection: {c:?}"),
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

/// Connects to `server`'s `/ws` and asks to listen (from `from`, a rejoin).
async fn join(
    server: &str,
    stream: &str,
    token: &str,
    codec: &str,
    from: Option<u64>,
) -> anyhow::Result<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>> {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(server)).await.context("connecting to /ws")?;
    let mut data = serde_json::json!({"stream_id": stream, "token": token, "codec": codec});
    if let Some(f) = from {
        data["from_sample"] = serde_json::json!(f);
    }
    ws.send(Message::text(serde_json::json!({"type": "listen", "data": data}).to_string())).await?;
    Ok(ws)
}
