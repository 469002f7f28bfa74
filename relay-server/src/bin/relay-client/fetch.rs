//! `relay-client fetch`: a library track received over `/ws` as a listener does, to a WAV file.

use std::path::PathBuf;

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use stream_core::control::{ServerMessage, StreamStart};
use stream_core::wire::{decode_pcm_into, Codec};
use tokio_tungstenite::tungstenite::Message;

use crate::net::ws_url;
use crate::receive::{parse_frame, write_wav, OpusOut};

pub(crate) async fn fetch(
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
