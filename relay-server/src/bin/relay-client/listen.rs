//! `relay-client listen`: a live stream received over `/ws` as a browser listener does, to a WAV file.

use std::path::PathBuf;

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use stream_core::control::{ServerMessage, StreamStart};
use stream_core::wire::{decode_pcm_into, Codec};
use tokio_tungstenite::tungstenite::Message;

use crate::net::ws_url;
use crate::receive::{parse_frame, write_wav, OpusOut};

/// Listens to a live stream; writes the audio to `out`.
pub(crate) async fn listen(
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
