//! The real relay-server on 127.0.0.1 with a real WebSocket client: streaming, pacing, and every
//! kind of bad input answered with its stable code while another client keeps playing.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::ws::{connect, next_json, send_json as send, Ws};
use common::{write_tone, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use stream_core::wire::{decode_pcm_into, FrameHeader, FLAG_DISCONTINUITY};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// A library with a good 8 s tone, a truncated copy, garbage named as MP3 and as FLAC.
fn make_library(dir: &Path) -> Vec<i16> {
    let tone = write_tone(&dir.join("tone.wav"), 8.0);
    let bytes = std::fs::read(dir.join("tone.wav")).expect("read");
    std::fs::write(dir.join("truncated.wav"), &bytes[..bytes.len() / 2]).expect("write");
    let mut x = 0x1234_5678u32;
    let garbage: Vec<u8> = (0..50_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    std::fs::write(dir.join("garbage.mp3"), &garbage).expect("write");
    std::fs::write(dir.join("garbage.flac"), &garbage[..1000]).expect("write");
    std::fs::write(dir.join("empty.ogg"), b"").expect("write");
    tone
}

async fn expect_error(ws: &mut Ws, code: &str) -> Value {
    let m = next_json(ws).await;
    assert_eq!(m["type"], "audio_stream_error", "{m}");
    assert_eq!(m["data"]["code"], code, "{m}");
    assert!(!m["data"]["error"].as_str().unwrap_or("").is_empty(), "errors carry a sentence");
    m
}

struct Received {
    start: Value,
    samples: Vec<f32>,
    end: Value,
    /// Largest lead of received audio over wall-clock time since the play request, seconds.
    max_lead_s: f64,
}

/// Plays `track` and collects the whole stream, acking each frame when `ack` is set.
async fn play_all(ws: &mut Ws, track: &str, codec: &str, ack: bool) -> Received {
    send(ws, json!({"type": "play", "data": {"track_id": track, "codec": codec}})).await;
    // The server cannot send before it has the request: the lead is measured from here, so a
    // test task that reads its first frame late cannot inflate it.
    let asked = Instant::now();
    let start = next_json(ws).await;
    assert_eq!(start["type"], "audio_stream_start", "{start}");
    let session = start["data"]["session"].as_u64().expect("session") as u32;
    let mut pos = start["data"]["start_sample"].as_u64().expect("start_sample");
    let channels = start["data"]["channels"].as_u64().expect("channels") as u8;
    let mut samples = Vec::new();
    let mut scratch = vec![0f32; 48_000 * 8];
    let mut max_lead_s: f64 = 0.0;
    loop {
        let msg =
            tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("timely").expect("open").expect("ok");
        match msg {
            Message::Binary(b) => {
                let (h, payload) = FrameHeader::parse(&b).expect("valid frame");
                assert_eq!(h.session, session);
                assert_eq!(h.channels, channels);
                assert_eq!(h.sample_pos, pos, "frames are contiguous");
                assert_eq!(h.flags & FLAG_DISCONTINUITY != 0, samples.is_empty(), "first frame flags the start");
                pos += h.frame_count as u64;
                max_lead_s = max_lead_s.max(pos as f64 / 48_000.0 - asked.elapsed().as_secs_f64());
                let n = decode_pcm_into(h.codec, payload, &mut scratch);
                samples.extend_from_slice(&scratch[..n]);
                if ack {
                    send(ws, json!({"type": "ack", "data": {"session": session, "sample_pos": pos}})).await;
                }
            }
            Message::Text(t) => {
                let end: Value = serde_json::from_str(&t).expect("json");
                assert_eq!(end["data"]["session"], session);
                return Received { start, samples, end, max_lead_s };
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_exact_samples_in_both_pcm_codecs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tone = make_library(dir.path());
    let server = Server::start(dir.path());
    let id = server.track_id("tone.wav");
    let mut ws = connect(&server).await;
    for codec in ["pcm_s16", "pcm_f32"] {
        let r = play_all(&mut ws, &id, codec, true).await;
        assert_eq!(r.end["type"], "audio_stream_end", "{}", r.end);
        assert_eq!(r.end["data"]["total_samples"], 8 * 48_000);
        assert_eq!(r.start["data"]["codec"], codec);
        assert_eq!(r.start["data"]["sample_rate"], 48_000);
        assert_eq!(r.start["data"]["total_samples"], 8 * 48_000);
        assert_eq!(r.samples.len(), tone.len());
        for (i, (&got, &want)) in r.samples.iter().zip(&tone).enumerate() {
            assert_eq!(got, want as f32 / 32768.0, "sample {i} ({codec})");
        }
    }
    // Starting mid-track: positions count from the track start, audio starts exactly there.
    send(&mut ws, json!({"type": "play", "data": {"track_id": id, "position_s": 2.5}})).await;
    let start = next_json(&mut ws).await;
    assert_eq!(start["data"]["start_sample"], 120_000);
    let msg = ws.next().await.expect("frame").expect("ok");
    let Message::Binary(b) = msg else { panic!("expected audio") };
    let (h, payload) = FrameHeader::parse(&b).expect("frame");
    assert_eq!(h.sample_pos, 120_000);
    let mut first = [0f32; 4];
    decode_pcm_into(h.codec, payload, &mut first);
    assert_eq!(first[0], tone[240_000] as f32 / 32768.0);
    assert_eq!(first[1], tone[240_001] as f32 / 32768.0);
    send(&mut ws, json!({"type": "stop"})).await;
    send(&mut ws, json!({"type": "ping", "data": {"id": 42}})).await;
    let pong = next_json(&mut ws).await;
    assert_eq!(pong, json!({"type": "pong", "data": {"id": 42}}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_stable_codes_while_another_client_plays_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tone = make_library(dir.path());
    // A 1 s send-ahead window: the listener that never acks is paced to real time.
    let server = Server::start_with(dir.path(), &["--send-ahead-ms", "1000"]);
    let tone_id = server.track_id("tone.wav");
    let listener_id = tone_id.clone();
    let listener = {
        let mut ws = connect(&server).await;
        tokio::spawn(async move {
            let started = Instant::now();
            let r = play_all(&mut ws, &listener_id, "pcm_s16", false).await;
            (r, started.elapsed())
        })
    };

    let mut ws = connect(&server).await;
    send(&mut ws, json!({"type": "play", "data": {"track_id": "t0000000000000000"}})).await;
    expect_error(&mut ws, "unknown_track").await;
    send(&mut ws, json!({"type": "play", "data": {"track_id": "../../etc/passwd"}})).await;
    expect_error(&mut ws, "unknown_track").await;
    send(&mut ws, json!({"type": "play", "data": {"track_id": server.track_id("garbage.mp3")}})).await;
    expect_error(&mut ws, "unsupported_format").await;
    send(&mut ws, json!({"type": "play", "data": {"track_id": server.track_id("garbage.flac")}})).await;
    expect_error(&mut ws, "unsupported_format").await;
    send(&mut ws, json!({"type": "play", "data": {"track_id": server.track_id("empty.ogg")}})).await;
    expect_error(&mut ws, "unsupported_format").await;
    // The truncated file streams what it has, then says it is truncated.
    let r = play_all(&mut ws, &server.track_id("truncated.wav"), "pcm_f32", true).await;
    assert_eq!(r.end["type"], "audio_stream_error", "{}", r.end);
    assert_eq!(r.end["data"]["code"], "media_truncated");
    assert!(r.samples.len() > 48_000 * 2 * 3, "the readable part was streamed");
    ws.send(Message::text("{\"type\": \"play\", ")).await.expect("send");
    expect_error(&mut ws, "malformed_message").await;
    send(&mut ws, json!({"type": "teleport", "data": {}})).await;
    expect_error(&mut ws, "unknown_message").await;
    send(&mut ws, json!({"type": "play", "data": {"track_id": tone_id, "position_s": "soon"}})).await;
    expect_error(&mut ws, "invalid_parameter").await;
    send(&mut ws, json!({"type": "play", "data": {"track_id": tone_id, "position_s": 3600}})).await;
    expect_error(&mut ws, "invalid_parameter").await;
    send(&mut ws, json!({"type": "play", "data": {"track_id": tone_id, "codec": "flac"}})).await;
    expect_error(&mut ws, "unsupported_codec").await;
    ws.send(Message::binary(vec![1u8, 2, 3])).await.expect("send");
    expect_error(&mut ws, "binary_not_expected").await;
    send(&mut ws, json!({"type": "play", "data": {"track_id": "x".repeat(10_000)}})).await;
    expect_error(&mut ws, "message_too_large").await;
    // After all that the connection still works.
    send(&mut ws, json!({"type": "ping", "data": {"id": 7}})).await;
    assert_eq!(next_json(&mut ws).await["type"], "pong");
    // A message over the 64 KiB frame limit closes this connection with 1009 (RFC 6455).
    ws.send(Message::text("y".repeat(100_000))).await.expect("send");
    let mut closed_with = None;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        match msg {
            Ok(Message::Close(frame)) => {
                closed_with = frame.map(|f| f.code);
                break;
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    assert_eq!(closed_with, Some(CloseCode::Size));

    // Meanwhile the first listener played on, undisturbed and exact, paced to real time.
    let (r, elapsed) = listener.await.expect("listener task");
    assert_eq!(r.end["type"], "audio_stream_end", "{}", r.end);
    assert_eq!(r.samples.len(), tone.len());
    assert!(r.samples.iter().zip(&tone).all(|(&a, &b)| a == b as f32 / 32768.0));
    assert!(r.max_lead_s <= 1.0 + 0.25, "sent {:.2} s ahead of real time, window is 1 s", r.max_lead_s);
    assert!(elapsed >= Duration::from_secs_f64(8.0 - 1.0 - 0.25), "8 s track with a 1 s window took only {elapsed:?}");

    // The server still serves everyone.
    let (status, body) = server.get("/healthz");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn http_routes_answer_with_json_and_stable_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_library(dir.path());
    let server = Server::start(dir.path());
    let tracks = server.tracks();
    assert_eq!(tracks.len(), 5);
    for t in &tracks {
        let id = t["id"].as_str().expect("id");
        assert!(id.starts_with('t') && id.len() == 17 && !id.contains('/'), "opaque id {id}");
        assert!(t.get("path").is_none(), "no paths leak");
    }
    let tone = tracks.iter().find(|t| t["file_name"] == "tone.wav").expect("tone");
    assert_eq!(tone["playable"], true);
    assert_eq!(tone["duration_s"], 8.0);
    assert_eq!(tone["channels"], 2);
    let garbage = tracks.iter().find(|t| t["file_name"] == "garbage.mp3").expect("garbage");
    assert_eq!(garbage["playable"], false);
    assert_eq!(garbage["error_code"], "unsupported_format");
    let (status, body) = server.get(&format!("/api/tracks/{}", tone["id"].as_str().expect("id")));
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).expect("json")["file_name"], "tone.wav");
    let (status, body) = server.get("/api/tracks/nope");
    assert_eq!(status, 404);
    assert_eq!(serde_json::from_str::<Value>(&body).expect("json")["code"], "unknown_track");
    let (status, body) = server.get("/healthz");
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).expect("json")["status"], "ok");
}

/// Encodes `tone.wav` of `dir` as FLAC with ffmpeg and corrupts its second half.
fn make_corrupt_flac(dir: &Path) {
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(dir.join("tone.wav"))
        .args(["-c:a", "flac"])
        .arg(dir.join("corrupt.flac"))
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    let mut bytes = std::fs::read(dir.join("corrupt.flac")).expect("read");
    let n = bytes.len();
    let mut x = 0x9e37_79b9u32;
    for b in &mut bytes[n / 2..n / 2 + n / 4] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    std::fs::write(dir.join("corrupt.flac"), bytes).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_frames_carry_exact_packet_positions_and_replays_come_from_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_library(dir.path());
    let server = Server::start(dir.path());
    let id = server.track_id("tone.wav");
    let mut ws = connect(&server).await;
    let mut sizes = Vec::new();
    for round in 0..2 {
        send(&mut ws, json!({"type": "play", "data": {"track_id": id, "codec": "opus"}})).await;
        let start = next_json(&mut ws).await;
        assert_eq!(start["type"], "audio_stream_start", "{start}");
        assert_eq!(start["data"]["codec"], "opus");
        assert_eq!(start["data"]["bitrate"], 128_000);
        assert_eq!(start["data"]["pre_skip"], 312);
        let session = start["data"]["session"].as_u64().expect("session") as u32;
        let mut next_input = 0u64;
        let mut packets = 0u64;
        let mut bytes = 0usize;
        loop {
            match ws.next().await.expect("open").expect("ok") {
                Message::Binary(b) => {
                    let (h, payload) = FrameHeader::parse(&b).expect("valid frame");
                    assert_eq!((h.session, h.channels), (session, 2));
                    assert_eq!(h.sample_pos, next_input, "opus frames are contiguous in encoder input");
                    let n = stream_core::wire::OpusPackets::new(payload).count() as u64;
                    assert_eq!(h.frame_count as u64, n * 960);
                    next_input += h.frame_count as u64;
                    packets += n;
                    bytes += b.len();
                    let ack = (next_input - 312).min(384_000);
                    send(&mut ws, json!({"type": "ack", "data": {"session": session, "sample_pos": ack}})).await;
                }
                Message::Text(t) => {
                    let end: Value = serde_json::from_str(&t).expect("json");
                    assert_eq!(end["type"], "audio_stream_end", "{end}");
                    assert_eq!(end["data"]["total_samples"], 384_000);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // Packets until the decoded output (which trails by the pre-skip) covers the track.
        assert_eq!(packets, (384_000u64 + 312).div_ceil(960), "round {round}");
        sizes.push(bytes);
    }
    assert_eq!(sizes[0], sizes[1], "the replay carries the same packets");
    assert_eq!(server.metric("relay_cache_misses_total"), 2, "first play: two 5 s chunks encoded");
    assert_eq!(server.metric("relay_cache_hits_total"), 2, "replay: both from the cache");
    // The voice profile: mono, 32 kbit/s.
    send(&mut ws, json!({"type": "play", "data": {"track_id": id, "codec": "opus", "profile": "voice"}})).await;
    let start = next_json(&mut ws).await;
    assert_eq!((start["data"]["channels"].as_u64(), start["data"]["bitrate"].as_u64()), (Some(1), Some(32_000)));
    send(&mut ws, json!({"type": "stop"})).await;
    // Out-of-range encoder settings are refused with a code, and the connection stays.
    send(&mut ws, json!({"type": "play", "data": {"track_id": id, "codec": "opus", "bitrate": 900_000}})).await;
    expect_error(&mut ws, "invalid_parameter").await;
    send(&mut ws, json!({"type": "play", "data": {"track_id": id, "codec": "opus", "complexity": 12}})).await;
    expect_error(&mut ws, "invalid_parameter").await;
    send(&mut ws, json!({"type": "seek", "data": {"position_s": -1}})).await;
    expect_error(&mut ws, "invalid_parameter").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_corrupt_halfway_streams_its_good_part_then_reports_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tone = make_library(dir.path());
    make_corrupt_flac(dir.path());
    let server = Server::start(dir.path());
    let id = server.track_id("corrupt.flac");
    let mut ws = connect(&server).await;
    let r = play_all(&mut ws, &id, "pcm_f32", true).await;
    assert_eq!(r.end["type"], "audio_stream_error", "{}", r.end);
    assert_eq!(r.end["data"]["code"], "decode_error");
    let frames = r.samples.len() / 2;
    assert!(frames > 48_000 * 2 && frames < 384_000, "{frames} frames before the damage");
    // What was sent is valid: the tone, sample for sample.
    let first_bad = r.samples.iter().zip(&tone).position(|(&a, &b)| a != b as f32 / 32768.0);
    assert_eq!(first_bad, None, "of {} samples", r.samples.len());
    // Opus of the same file fails the same way, after valid frames.
    send(&mut ws, json!({"type": "play", "data": {"track_id": id, "codec": "opus"}})).await;
    assert_eq!(next_json(&mut ws).await["type"], "audio_stream_start");
    let err = next_json(&mut ws).await;
    assert_eq!(err["data"]["code"], "decode_error", "{err}");
    // The connection and the server serve on.
    let ok = play_all(&mut ws, &server.track_id("tone.wav"), "pcm_s16", true).await;
    assert_eq!(ok.end["type"], "audio_stream_end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_sending_resume_continues_queue_follows_and_bad_transport_commands_have_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_library(dir.path());
    let server = Server::start_with(dir.path(), &["--send-ahead-ms", "1000"]);
    let id = server.track_id("tone.wav");
    let mut ws = connect(&server).await;
    // Transport commands with nothing playing.
    send(&mut ws, json!({"type": "pause"})).await;
    expect_error(&mut ws, "not_playing").await;
    send(&mut ws, json!({"type": "resume"})).await;
    expect_error(&mut ws, "not_playing").await;
    send(&mut ws, json!({"type": "resume", "data": {"session": 99}})).await;
    expect_error(&mut ws, "unknown_session").await;
    send(&mut ws, json!({"type": "seek", "data": {"position_s": 1.0}})).await;
    expect_error(&mut ws, "not_playing").await;
    // An exact start frame (what a reconnect asks for).
    send(&mut ws, json!({"type": "play", "data": {"track_id": id, "start_sample": 12_345, "codec": "pcm_s16"}})).await;
    let start = next_json(&mut ws).await;
    assert_eq!(start["data"]["start_sample"], 12_345);
    let session = start["data"]["session"].as_u64().expect("session");
    send(&mut ws, json!({"type": "seek", "data": {"position_s": 9.5}})).await;
    expect_error(&mut ws, "invalid_parameter").await; // past the end of an 8 s track
    send(&mut ws, json!({"type": "seek", "data": {"position_s": "NaN"}})).await;
    expect_error(&mut ws, "invalid_parameter").await;
    // Pause: after what is in flight, nothing more comes. A ping right behind the pause is
    // answered by the same session task after it, so the pong marks where the pause took hold.
    send(&mut ws, json!({"type": "pause"})).await;
    send(&mut ws, json!({"type": "ping", "data": {"id": 99}})).await;
    // (Frames before this point were skipped while reading the error replies above.)
    let mut next = 0u64;
    let drain = |b: &[u8], next: &mut u64| {
        let (h, _) = FrameHeader::parse(b).expect("frame");
        assert!(*next == 0 || h.sample_pos == *next, "contiguous across the pause");
        *next = h.sample_pos + h.frame_count as u64;
    };
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => drain(&b, &mut next),
            Ok(Some(Ok(Message::Text(t)))) if t.contains("pong") => break,
            other => panic!("while pausing: {other:?}"),
        }
    }
    let paused_at = next;
    assert!(tokio::time::timeout(Duration::from_millis(700), ws.next()).await.is_err(), "silent while paused");
    send(&mut ws, json!({"type": "resume", "data": {"session": session}})).await;
    match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        Ok(Some(Ok(Message::Binary(b)))) => drain(&b, &mut next),
        other => panic!("no audio after resume: {other:?}"),
    }
    assert!(next > paused_at);
    // Queue: the next track streams when this one has been sent to its end.
    send(&mut ws, json!({"type": "play", "data": {"track_id": id, "codec": "pcm_s16", "queue": true}})).await;
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("timely")
            .expect("open")
            .expect("ok")
        {
            Message::Binary(b) => drain(&b, &mut next),
            Message::Text(t) => {
                let end: Value = serde_json::from_str(&t).expect("json");
                assert_eq!(end["type"], "audio_stream_end", "{end}");
                assert_eq!(end["data"]["total_samples"], 384_000);
                assert_eq!(next, 384_000);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let queued = next_json(&mut ws).await;
    assert_eq!(queued["type"], "audio_stream_start");
    assert_eq!(queued["data"]["queued"], true);
    assert_eq!(queued["data"]["start_sample"], 0);
    assert!(queued["data"]["session"].as_u64() > Some(session));
}

/// Opens `/ws` as a page of `origin` would: the upgrade response's error on refusal.
async fn connect_from(server: &Server, origin: &str) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = server.ws_url().into_client_request().expect("request");
    req.headers_mut().insert("Origin", origin.parse().expect("header value"));
    tokio_tungstenite::connect_async(req).await.map(|(ws, _)| ws)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_from_origins_not_allowed_get_403_origin_not_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tone = make_library(dir.path());
    let server = Server::start_with(dir.path(), &["--allow-origin", "http://127.0.0.1:1"]);
    let id = server.track_id("tone.wav");

    for origin in ["http://127.0.0.1:2", "null"] {
        let err = connect_from(&server, origin).await.err().unwrap_or_else(|| panic!("{origin} was let in"));
        let tokio_tungstenite::tungstenite::Error::Http(resp) = err else { panic!("{origin}: {err}") };
        assert_eq!(resp.status(), 403, "{origin}");
        let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap_or_default()).expect("JSON error body");
        assert_eq!(body["code"], "origin_not_allowed", "{body}");
        assert!(body["error"].as_str().unwrap_or("").contains(origin), "{body}");
    }
    let (_, body) = server.get("/ws");
    assert!(!body.contains("origin_not_allowed"), "requests without Origin are not refused: {body}");
    assert_eq!(server.metric("relay_ws_origin_refused_total"), 2);

    // A listed origin, the relay's own origin and no Origin at all: the upgrade succeeds and
    // the track plays exactly.
    let own = server.url();
    let mut sockets = vec![
        connect_from(&server, "http://127.0.0.1:1").await.expect("listed origin"),
        connect_from(&server, &own).await.expect("same origin"),
        connect(&server).await,
    ];
    for ws in &mut sockets {
        let r = play_all(ws, &id, "pcm_s16", true).await;
        assert_eq!(r.end["type"], "audio_stream_end", "{}", r.end);
        assert_eq!(r.samples.len(), tone.len());
    }
    assert_eq!(server.metric("relay_ws_origin_refused_total"), 2);
}

/// Collects the binary frames of `session` that arrive before `deadline`, from `pos` on (each
/// must follow the one before); returns the position after the last.
async fn frames_until(ws: &mut Ws, session: u32, mut pos: u64, deadline: Instant) -> u64 {
    while let Ok(msg) = tokio::time::timeout_at(deadline.into(), ws.next()).await {
        match msg.expect("open").expect("ok") {
            Message::Binary(b) => {
                let (h, _) = FrameHeader::parse(&b).expect("valid frame");
                assert_eq!((h.session, h.sample_pos), (session, pos), "frames are contiguous");
                pos += h.frame_count as u64;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    pos
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_declares_its_acks_gets_one_window_ahead_of_them_however_late_it_plays() {
    // A browser whose audio thread starts late (WebKit on one core: a second or more) has
    // played nothing yet when the real-time clock says it has: paced by that clock, it was sent
    // more than its 6 s buffer holds before its first ack arrived, and the excess was lost.
    let dir = tempfile::tempdir().expect("tempdir");
    make_library(dir.path());
    let server = Server::start_with(dir.path(), &["--send-ahead-ms", "1000"]);
    let mut ws = connect(&server).await;
    send(
        &mut ws,
        json!({"type": "play", "data": {"track_id": server.track_id("tone.wav"), "codec": "pcm_f32", "acks": true}}),
    )
    .await;
    let asked = Instant::now();
    let start = next_json(&mut ws).await;
    assert_eq!(start["type"], "audio_stream_start", "{start}");
    let session = start["data"]["session"].as_u64().expect("session") as u32;
    let fpp = start["data"]["frames_per_packet"].as_u64().expect("frames_per_packet");
    // 2.5 s without an ack: the clock would have allowed 3.5 s; the declared acks allow the
    // window (1 s) and no more, however long the client takes.
    let pos = frames_until(&mut ws, session, 0, asked + Duration::from_millis(2500)).await;
    assert!((48_000..48_000 + fpp).contains(&pos), "sent {pos} frames before any ack; the window is 48000");
    // An ack moves the window: one more second from there, and again no more.
    send(&mut ws, json!({"type": "ack", "data": {"session": session, "sample_pos": 24_000}})).await;
    let pos = frames_until(&mut ws, session, pos, Instant::now() + Duration::from_millis(1500)).await;
    assert!((72_000..72_000 + fpp).contains(&pos), "sent {pos} frames after an ack at 24000; the window is 48000");
    // Without the declaration the same client, silent, is paced by the clock (bad_input test).
    send(
        &mut ws,
        json!({"type": "play", "data": {"track_id": server.track_id("tone.wav"), "codec": "pcm_f32", "acks": "yes"}}),
    )
    .await;
    expect_error(&mut ws, "invalid_parameter").await;
}
