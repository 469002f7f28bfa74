//! Live streams against the real relay-server on 127.0.0.1: capabilities refused every way they
//! can be wrong, limits, fan-out with late joiners and end of stream, a stalled listener dropped
//! with flat server memory while others play on, bad producer input answered with stable codes
//! while other streams go on, and a library broadcast that is the track sample for sample.

mod common;

use std::time::{Duration, Instant};

use common::ws::{connect, next_json, send_json, Ws};
use common::{dechunk, listening, media_dir, rss_kib, send_to, tone, wav_header, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use stream_core::wire::{decode_pcm_into, encode_pcm_frame, Codec, FrameHeader};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

const KEY: &str = "test-server-key";

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["--api-key", KEY];
    args.extend_from_slice(extra);
    Server::start_with(&media_dir(), &args)
}

fn create(s: &Server, body: &str) -> Value {
    let (status, text) = s.send("POST", "/api/streams", &[&format!("Authorization: Bearer {KEY}")], body.as_bytes());
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).expect("created JSON")
}

fn field(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_else(|| panic!("no {k} in {v}")).to_owned()
}

/// Reads until the server closes; returns the close code.
async fn close_code(ws: &mut Ws) -> Option<CloseCode> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("close within 10 s") {
            Some(Ok(Message::Close(f))) => return f.map(|f| f.code),
            Some(Ok(_)) => continue,
            _ => return None,
        }
    }
}

/// A listener's view of one stream.
#[derive(Default, Debug)]
struct Heard {
    start: Option<Value>,
    samples: Vec<f32>,
    frames: usize,
    first_pos: Option<u64>,
    end: Option<Value>,
    error: Option<Value>,
    /// Underruns of a player consuming in real time from the browser player's live start buffer.
    underruns: u32,
}

/// Audio a live listener holds before it starts playing: the browser player's 500 ms live start
/// buffer (engine's live stream kind).
const LIVE_START_FRAMES: u64 = 24_000;

/// Listens until the stream ends or fails (or `limit` passes).
async fn listen_all(mut ws: Ws, limit: Duration) -> Heard {
    let mut h = Heard::default();
    let t0 = Instant::now();
    let mut playout: Option<(Instant, u64)> = None; // (start instant, first frame pos)
    let mut have_to = 0u64;
    let mut scratch = vec![0f32; 48_000 * 4];
    while t0.elapsed() < limit {
        let Ok(m) = tokio::time::timeout(limit.saturating_sub(t0.elapsed()), ws.next()).await else { break };
        match m {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                match v["type"].as_str() {
                    Some("audio_stream_start") => h.start = Some(v["data"].clone()),
                    Some("audio_stream_end") => {
                        h.end = Some(v["data"].clone());
                        break;
                    }
                    Some("audio_stream_error") => {
                        h.error = Some(v["data"].clone());
                        break;
                    }
                    _ => {}
                }
            }
            Some(Ok(Message::Binary(b))) => {
                let (hd, payload) =
                    FrameHeader::parse(&b).unwrap_or_else(|e| panic!("frame of {} bytes: {e}", b.len()));
                if let Some(p) = h.first_pos {
                    let expected = p + h.samples.len() as u64 / hd.channels as u64;
                    if hd.codec != Codec::Opus {
                        assert_eq!(hd.sample_pos, expected, "contiguous frames");
                    }
                } else {
                    h.first_pos = Some(hd.sample_pos);
                }
                if hd.codec != Codec::Opus {
                    let n = decode_pcm_into(hd.codec, payload, &mut scratch);
                    h.samples.extend_from_slice(&scratch[..n]);
                }
                h.frames += 1;
                have_to = hd.sample_pos + hd.frame_count as u64;
                let now = Instant::now();
                match playout {
                    None if have_to - h.first_pos.unwrap_or(0) >= LIVE_START_FRAMES => {
                        playout = Some((now, h.first_pos.unwrap_or(0)))
                    }
                    Some((start, p0)) => {
                        let played = p0 + (now.duration_since(start).as_secs_f64() * 48_000.0) as u64;
                        if played > hd.sample_pos {
                            h.underruns += 1;
                            playout = Some((now, hd.sample_pos)); // rebuffer
                        }
                    }
                    None => {}
                }
            }
            _ => break,
        }
    }
    let _ = have_to;
    h
}

async fn listener(s: &Server, id: &str, token: &str, codec: &str) -> Ws {
    let mut ws = connect(s).await;
    send_json(&mut ws, json!({"type": "listen", "data": {"stream_id": id, "token": token, "codec": codec}})).await;
    ws
}

/// A producer on `/ws` (pcm_f32, stereo).
async fn producer(s: &Server, id: &str, token: &str) -> Ws {
    let mut ws = connect(s).await;
    send_json(
        &mut ws,
        json!({"type": "publish", "data": {"stream_id": id, "token": token, "codec": "pcm_f32", "channels": 2, "sample_rate": 48000}}),
    )
    .await;
    let v = next_json(&mut ws).await;
    assert_eq!(v["type"], "publish_ready", "{v}");
    ws
}

/// Sends `seconds` of tone in 100 ms frames, in real time when `paced`.
async fn produce(ws: &mut Ws, from: u64, seconds: f64, paced: bool) -> u64 {
    let t0 = Instant::now();
    let mut pos = from;
    let end = from + (seconds * 48_000.0) as u64;
    let mut buf = Vec::new();
    while pos < end {
        let n = 4800.min((end - pos) as usize);
        encode_pcm_frame(Codec::PcmF32, 2, 0, 0, pos, &tone(pos, n), &mut buf).expect("frame");
        if ws.send(Message::binary(buf.clone())).await.is_err() {
            break;
        }
        pos += n as u64;
        if paced {
            let due = Duration::from_secs_f64((pos - from) as f64 / 48_000.0);
            if due > t0.elapsed() + Duration::from_millis(100) {
                tokio::time::sleep(due - t0.elapsed() - Duration::from_millis(100)).await;
            }
        }
    }
    pos
}

async fn end(ws: &mut Ws) {
    send_json(ws, json!({"type": "end"})).await;
    let v = next_json(ws).await;
    assert_eq!(v["type"], "audio_stream_end", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_wrong_token_is_refused_for_publishing_and_listening() {
    let s = server(&["--listen-token-ttl-s", "2"]);
    // Creating streams needs the server key.
    assert_eq!(s.send("POST", "/api/streams", &[], b"").0, 401);
    assert_eq!(s.send("POST", "/api/streams", &["Authorization: Bearer wrong"], b"").0, 401);
    let plain = Server::start(&media_dir());
    let (status, body) = plain.send("POST", "/api/streams", &["Authorization: Bearer x"], b"");
    assert_eq!((status, body.contains("live_disabled")), (403, true), "{body}");

    let a = create(&s, "");
    let b = create(&s, "");
    let (id, pubtok, lsn) = (field(&a, "stream_id"), field(&a, "publish_token"), field(&a, "listen_token"));
    let other_lsn = field(&b, "listen_token");
    assert!(pubtok.len() >= 32 && lsn.len() >= 32 && pubtok != lsn);
    // Listening over /ws: missing, forged, wrong scope, another stream's token.
    for bad in ["", "lsn_00000000000000000000000000000000", pubtok.as_str(), other_lsn.as_str()] {
        let mut ws = listener(&s, &id, bad, "opus").await;
        let v = next_json(&mut ws).await;
        assert_eq!(v["data"]["code"], "unauthorized", "token {bad:?}: {v}");
        assert_eq!(close_code(&mut ws).await, Some(CloseCode::Policy), "token {bad:?}");
    }
    // Publishing over /ws with a listen token or a forged one.
    for bad in [lsn.as_str(), "pub_ffffffffffffffffffffffffffffffff"] {
        let mut ws = connect(&s).await;
        send_json(&mut ws, json!({"type": "publish", "data": {"stream_id": id, "token": bad, "codec": "pcm_s16"}}))
            .await;
        assert_eq!(next_json(&mut ws).await["data"]["code"], "unauthorized");
        assert_eq!(close_code(&mut ws).await, Some(CloseCode::Policy));
    }
    // Listening over HTTP.
    for q in ["".to_owned(), "?token=forged".into(), format!("?token={pubtok}"), format!("?token={other_lsn}")] {
        let (status, body) = s.get(&format!("/live/{id}.ogg{q}"));
        assert_eq!(status, 401, "{q}: {body}");
        assert!(body.contains("unauthorized"));
    }
    // Publishing over HTTP, on the main port and on the Icecast source port.
    for addr in [s.addr.as_str(), s.ingest.as_str()] {
        for auth in ["Authorization: Basic c291cmNlOmZvcmdlZA==".to_owned(), format!("Authorization: Bearer {lsn}")] {
            let (status, body) =
                send_to(addr, "PUT", &format!("/live/{id}"), &[&auth, "Content-Type: audio/ogg"], b"OggS");
            assert_eq!(status, 401, "{addr} {auth}: {body}");
        }
    }
    // Renewal while live, and expiry: listen tokens here live 2 s, counted from a stream created
    // now (the checks above may take longer than that on a slow machine).
    let fresh = create(&s, "");
    let minted = Instant::now();
    let (id, lsn) = (field(&fresh, "stream_id"), field(&fresh, "listen_token"));
    let (status, body) =
        s.send("POST", &format!("/api/streams/{id}/listen_token"), &[&format!("Authorization: Bearer {lsn}")], b"");
    assert_eq!(status, 200, "{body}");
    let renewed = field(&serde_json::from_str(&body).expect("json"), "listen_token");
    let mut ws = listener(&s, &id, &renewed, "opus").await;
    send_json(&mut ws, json!({"type": "ping", "data": {"id": 7}})).await;
    assert_eq!(next_json(&mut ws).await["type"], "pong", "the renewed token is accepted");
    // Expiry is the one thing here that is a matter of time: wait past the first token's 2 s.
    tokio::time::sleep(Duration::from_millis(2300).saturating_sub(minted.elapsed())).await;
    let mut ws = listener(&s, &id, &lsn, "opus").await;
    let v = next_json(&mut ws).await;
    assert!(v["data"]["error"].as_str().is_some_and(|e| e.contains("expired")), "{v}");
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Policy));
    let (status, _) =
        s.send("POST", &format!("/api/streams/{id}/listen_token"), &[&format!("Authorization: Bearer {lsn}")], b"");
    assert_eq!(status, 401, "an expired token renews nothing");
    assert!(s.metric("relay_auth_failures_total") >= 16, "auth failures are counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_is_rate_limited_and_oversized_messages_close_with_1009() {
    let s = server(&["--streams-per-minute", "2", "--max-message-bytes", "4096"]);
    let a = create(&s, "");
    create(&s, "");
    let (status, body) = s.send("POST", "/api/streams", &[&format!("Authorization: Bearer {KEY}")], b"");
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("rate_limited"));
    let mut ws = producer(&s, &field(&a, "stream_id"), &field(&a, "publish_token")).await;
    ws.send(Message::binary(vec![0u8; 8192])).await.expect("send");
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Size));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_get_the_live_audio_late_joiners_a_burst_and_all_the_end() {
    let s = server(&[]);
    let c = create(&s, "");
    let (id, pt, lt) = (field(&c, "stream_id"), field(&c, "publish_token"), field(&c, "listen_token"));
    let early = tokio::spawn(listen_all(listener(&s, &id, &lt, "pcm_f32").await, Duration::from_secs(20)));
    let early_opus = tokio::spawn(listen_all(listener(&s, &id, &lt, "opus").await, Duration::from_secs(20)));
    // An HTTP Ogg listener on the Icecast-compatible port (read to the end of the body).
    let ogg_addr = s.ingest.clone();
    let ogg_path = format!("/live/{id}.ogg?token={lt}");
    let ogg = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut sock = tokio::net::TcpStream::connect(&ogg_addr).await.expect("connect");
        sock.write_all(format!("GET {ogg_path} HTTP/1.0\r\n\r\n").as_bytes()).await.expect("write");
        let mut all = Vec::new();
        sock.read_to_end(&mut all).await.expect("read");
        all
    });
    listening(&s, &id, 3).await; // early, early_opus and the Ogg listener hear from sample 0
    let mut p = producer(&s, &id, &pt).await;
    let pos = produce(&mut p, 0, 2.0, true).await;
    let late = tokio::spawn(listen_all(listener(&s, &id, &lt, "pcm_s16").await, Duration::from_secs(20)));
    listening(&s, &id, 4).await;
    let pos = produce(&mut p, pos, 1.0, true).await;
    end(&mut p).await;
    let (early, early_opus, late) =
        (early.await.expect("early"), early_opus.await.expect("opus"), late.await.expect("late"));
    for (name, h) in [("early", &early), ("opus", &early_opus), ("late", &late)] {
        assert!(h.error.is_none(), "{name}: {:?}", h.error);
        assert_eq!(
            h.end.as_ref().map(|e| e["total_samples"].as_u64()),
            Some(Some(pos)),
            "{name}: the end reaches everyone"
        );
        assert_eq!(h.start.as_ref().map(|s| s["live"].as_bool()), Some(Some(true)));
    }
    // The early pcm_f32 listener has exactly what was published.
    assert_eq!(early.first_pos, Some(0));
    assert_eq!(early.samples, tone(0, pos as usize), "pcm_f32 live audio is the producer's, sample for sample");
    // The late joiner started with a burst of about 1 s before the live edge.
    let first = late.first_pos.expect("late audio");
    assert!((40_000..=96_000).contains(&first), "late joiner starts at {first}");
    assert_eq!(late.samples.len() as u64, 2 * (pos - first));
    println!("late joiner: burst from {:.2} s, {} frames", first as f64 / 48_000.0, late.frames);
    assert!(early_opus.frames >= 14, "opus frames: {}", early_opus.frames);
    // The Ogg listener got a valid Ogg Opus stream (every CRC checked) that ends with EOS, its
    // granule trimmed to the stream's length.
    let all = ogg.await.expect("ogg");
    let body = &all[all.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4..];
    assert!(all.starts_with(b"HTTP/1.0 200"));
    let mut d = stream_core::ogg::OggDemuxer::new(1 << 16);
    d.push(body).expect("a valid Ogg stream");
    let packets: Vec<_> = std::iter::from_fn(|| d.next_packet()).collect();
    let head = stream_core::ogg::OpusHead::parse(&packets[0].data).expect("OpusHead");
    assert!(packets[1].data.starts_with(b"OpusTags"));
    let last = packets.last().expect("packets");
    assert!(last.eos, "the stream ends with an EOS page");
    assert_eq!(last.granule, Some(head.pre_skip as u64 + pos), "granule trimmed to the end");
    let audio: u64 =
        packets[2..].iter().map(|p| stream_core::ogg::opus_packet_samples(&p.data).expect("toc") as u64).sum();
    assert!(audio >= pos, "{audio} frames of Opus for {pos}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_listener_is_dropped_with_flat_memory_and_others_play_on() {
    let s = server(&[]);
    let c = create(&s, "");
    let (id, pt, lt) = (field(&c, "stream_id"), field(&c, "publish_token"), field(&c, "listen_token"));
    // pcm_f32 frames are 38 KB; a listener with a 4 KB receive buffer that never reads fills
    // the path (kernel buffers, the server's send queue) within seconds.
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    let tcp = sock.connect(s.addr.parse().expect("addr")).await.expect("connect");
    let (mut stalled, _) = tokio_tungstenite::client_async(s.ws_url(), MaybeTlsStream::Plain(tcp)).await.expect("ws");
    send_json(&mut stalled, json!({"type": "listen", "data": {"stream_id": id, "token": lt, "codec": "pcm_f32"}}))
        .await;
    let good = tokio::spawn(listen_all(listener(&s, &id, &lt, "pcm_f32").await, Duration::from_secs(30)));
    let mut p = producer(&s, &id, &pt).await;
    let pid = s.child.id();
    let pos = produce(&mut p, 0, 3.0, true).await;
    let rss_before = rss_kib(pid);
    let pos = produce(&mut p, pos, 17.0, true).await;
    let rss_after = rss_kib(pid);
    end(&mut p).await;
    let good = good.await.expect("good");
    println!("server RSS {rss_before} kB -> {rss_after} kB while a listener stalled");
    assert_eq!(s.metric("relay_live_dropped_slow_total"), 1, "the stalled listener was dropped");
    assert!(rss_after < rss_before + 8 * 1024, "memory grew {} kB", rss_after - rss_before);
    assert!(good.error.is_none() && good.end.is_some(), "{:?}", good.error);
    assert_eq!(good.samples.len() as u64, 2 * pos);
    assert_eq!(good.underruns, 0, "the other listener never ran dry");
    // The stalled one, reading at last, finds its stream cut off with the reason.
    let mut reason = None;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(5), stalled.next()).await {
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(&t).expect("json");
            if v["type"] == "audio_stream_error" {
                reason = Some(v["data"]["code"].clone());
            }
        }
    }
    assert_eq!(reason, Some(json!("listener_too_slow")));
}

/// An Ogg page (for hand-made ingest bodies).
fn page(serial: u32, seq: u32, granule: u64, flags: u8, packets: &[Vec<u8>]) -> Vec<u8> {
    stream_core::ogg::write_page(&stream_core::ogg::crc_table(), serial, seq, granule, flags, packets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_producer_input_gets_stable_codes_and_other_streams_go_on() {
    let s = server(&[]);
    // Stream B plays all along.
    let b = create(&s, "");
    let b_listener = tokio::spawn(listen_all(
        listener(&s, &field(&b, "stream_id"), &field(&b, "listen_token"), "pcm_s16").await,
        Duration::from_secs(30),
    ));
    let mut bp = producer(&s, &field(&b, "stream_id"), &field(&b, "publish_token")).await;
    let b_task = tokio::spawn(async move {
        let pos = produce(&mut bp, 0, 6.0, true).await;
        end(&mut bp).await;
        pos
    });

    // A body that is no audio format, on the Icecast port and on the main port:
    // unsupported_format; one that says Ogg and is not: content_type_mismatch. The stream stays
    // usable (tests/icecast.rs has the other formats' bad input).
    let a = create(&s, "");
    let (aid, apt) = (field(&a, "stream_id"), field(&a, "publish_token"));
    let auth = format!("Authorization: Bearer {apt}");
    for addr in [s.ingest.as_str(), s.addr.as_str()] {
        let (status, body) =
            send_to(addr, "PUT", &format!("/live/{aid}"), &[&auth], b"this is plain text, not audio at all");
        assert_eq!(status, 422, "{addr}: {body}");
        assert!(body.contains("unsupported_format"), "{body}");
        let (status, body) = send_to(
            addr,
            "PUT",
            &format!("/live/{aid}"),
            &[&auth, "Content-Type: audio/ogg"],
            b"ID3\x04\x00\x00\x00\x00\x00\x10 an mp3 tag, not ogg",
        );
        assert_eq!(status, 415, "{addr}: {body}");
        assert!(body.contains("content_type_mismatch"), "{body}");
    }
    // Valid Opus, then a corrupt packet: the listener keeps what came before, then gets the code.
    let a_listener = tokio::spawn(listen_all(
        listener(&s, &aid, &field(&a, "listen_token"), "pcm_f32").await,
        Duration::from_secs(20),
    ));
    listening(&s, &aid, 1).await;
    let mut enc = opus::Encoder::new(48_000, opus::Channels::Stereo, opus::Application::Audio).expect("encoder");
    let mut body = page(7, 0, 0, 2, &[relay_server::media::ogg::opus_head(2, 312, 48_000)]);
    body.extend(page(7, 1, 0, 0, &[relay_server::media::ogg::opus_tags(&[])]));
    let mut out = vec![0u8; 4000];
    let packets: Vec<Vec<u8>> = (0..15)
        .map(|k| {
            let n = enc.encode_float(&tone(k * 960, 960), &mut out).expect("encode");
            out[..n].to_vec()
        })
        .collect();
    body.extend(page(7, 2, 15 * 960, 0, &packets));
    // A code-3 packet announcing zero frames (RFC 6716 3.2.5): malformed.
    body.extend(page(7, 3, 16 * 960, 0, &[vec![0xff, 0x00, 0x13, 0x37]]));
    let (status, text) = send_to(&s.ingest, "PUT", &format!("/live/{aid}"), &[&auth], &body);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("corrupt_audio"), "{text}");
    let heard = a_listener.await.expect("a");
    assert_eq!(heard.error.as_ref().map(|e| e["code"].clone()), Some(json!("corrupt_audio")));
    assert!(heard.samples.len() >= 2 * 4800, "the listener kept the audio before the corrupt packet");

    // Wrong sample rate, then faster than real time, then a vanishing producer.
    let c = create(&s, "");
    let mut ws = connect(&s).await;
    send_json(&mut ws, json!({"type": "publish", "data": {"stream_id": field(&c, "stream_id"), "token": field(&c, "publish_token"), "codec": "pcm_s16", "sample_rate": 44100}})).await;
    assert_eq!(next_json(&mut ws).await["data"]["code"], "unsupported_sample_rate");
    let fast_listener = tokio::spawn(listen_all(
        listener(&s, &field(&c, "stream_id"), &field(&c, "listen_token"), "pcm_f32").await,
        Duration::from_secs(20),
    ));
    listening(&s, &field(&c, "stream_id"), 1).await;
    let mut fast = producer(&s, &field(&c, "stream_id"), &field(&c, "publish_token")).await;
    produce(&mut fast, 0, 8.0, false).await;
    assert_eq!(next_json(&mut fast).await["data"]["code"], "producer_too_fast");
    let heard = fast_listener.await.expect("fast");
    assert_eq!(heard.error.as_ref().map(|e| e["code"].clone()), Some(json!("producer_too_fast")));
    let d = create(&s, "");
    let lost_listener = tokio::spawn(listen_all(
        listener(&s, &field(&d, "stream_id"), &field(&d, "listen_token"), "opus").await,
        Duration::from_secs(20),
    ));
    listening(&s, &field(&d, "stream_id"), 1).await;
    let mut gone = producer(&s, &field(&d, "stream_id"), &field(&d, "publish_token")).await;
    produce(&mut gone, 0, 0.5, true).await;
    drop(gone);
    let heard = lost_listener.await.expect("lost");
    assert_eq!(heard.error.as_ref().map(|e| e["code"].clone()), Some(json!("producer_lost")));
    assert!(heard.frames >= 2);

    // Stream B never noticed.
    let pos = b_task.await.expect("b");
    let heard = b_listener.await.expect("b listener");
    assert!(heard.error.is_none(), "{:?}", heard.error);
    assert_eq!(heard.end.as_ref().map(|e| e["total_samples"].as_u64()), Some(Some(pos)));
    assert_eq!(heard.samples.len() as u64, 2 * pos);
    assert_eq!(heard.underruns, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_broadcast_is_the_track_sample_for_sample() {
    let s = server(&[]);
    let track = s.track_id("aurora-48k.flac");
    let c = create(&s, &json!({"tracks": [track]}).to_string());
    assert_eq!(c["relay_sourced"], true);
    let mut ws = listener(&s, &field(&c, "stream_id"), &field(&c, "listen_token"), "pcm_f32").await;
    let mut got = Vec::new();
    let mut scratch = vec![0f32; 48_000];
    let mut first = None;
    while got.len() < 2 * 96_000 {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("audio") {
            Some(Ok(Message::Binary(b))) => {
                let (h, p) = FrameHeader::parse(&b).expect("frame");
                first.get_or_insert(h.sample_pos);
                let n = decode_pcm_into(h.codec, p, &mut scratch);
                got.extend_from_slice(&scratch[..n]);
            }
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    let first = first.expect("frames") as usize;
    let mut reader =
        relay_server::media::decode::PcmReader::open(&media_dir().join("aurora-48k.flac"), 0).expect("open");
    let mut reference = Vec::new();
    reader.read(first + 96_000, &mut reference).expect("read");
    let reference = &reference[2 * first..];
    let n = got.len().min(reference.len());
    assert!(n >= 2 * 90_000);
    let max_err = got[..n].iter().zip(&reference[..n]).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    println!("broadcast from {first}: max |error| {max_err:e} over {} frames", n / 2);
    assert_eq!(max_err, 0.0, "the broadcast is the track's decode");
}

/// Whole, contiguous frames read so far on one connection.
#[derive(Clone, Copy, Default)]
struct Contiguous {
    frames: usize,
    next: Option<u64>,
}

/// Reads a connection until it has had `n` whole, contiguous binary frames (before a SIGTERM, so
/// that the shutdown provably interrupts a connection that is playing).
async fn read_frames(ws: &mut Ws, who: &str, n: usize) -> Contiguous {
    let mut c = Contiguous::default();
    while c.frames < n {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await.expect("frames within 30 s") {
            Some(Ok(Message::Binary(b))) => {
                let (h, payload) = FrameHeader::parse(&b).unwrap_or_else(|e| panic!("{who}: a cut frame: {e}"));
                assert_eq!(payload.len(), h.frame_count as usize * h.channels as usize * 4, "{who}: whole payload");
                if let Some(n) = c.next {
                    assert_eq!(h.sample_pos, n, "{who}: contiguous frames");
                }
                c.next = Some(h.sample_pos + h.frame_count as u64);
                c.frames += 1;
            }
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                assert_eq!(v["type"], "audio_stream_start", "{who}: {v}");
            }
            Some(Ok(_)) => {}
            other => panic!("{who}: the connection ended before {n} frames: {other:?}"),
        }
    }
    c
}

/// Reads one connection to its close after a SIGTERM: every binary frame whole and contiguous,
/// then `audio_stream_end` with reason `server_shutdown` at the end of the last frame, then 1001.
async fn read_to_shutdown_close(ws: &mut Ws, who: &str, so_far: Contiguous) -> (usize, u64) {
    let Contiguous { mut frames, mut next } = so_far;
    let mut ended_at = None;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("close within 10 s") {
            Some(Ok(Message::Binary(b))) => {
                let (h, payload) = FrameHeader::parse(&b).unwrap_or_else(|e| panic!("{who}: a cut frame: {e}"));
                assert_eq!(payload.len(), h.frame_count as usize * h.channels as usize * 4, "{who}: whole payload");
                if let Some(n) = next {
                    assert_eq!(h.sample_pos, n, "{who}: contiguous frames");
                }
                next = Some(h.sample_pos + h.frame_count as u64);
                frames += 1;
            }
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                if v["type"] == "audio_stream_start" {
                    continue;
                }
                assert_eq!(v["type"], "audio_stream_end", "{who}: {v}");
                assert_eq!(v["data"]["reason"], "server_shutdown", "{who}: {v}");
                ended_at = v["data"]["total_samples"].as_u64();
            }
            Some(Ok(Message::Close(f))) => {
                let f = f.expect("a close frame with a code");
                assert_eq!(f.code, CloseCode::Away, "{who}: 1001");
                assert!(f.reason.contains("shutting down"), "{who}: {}", f.reason);
                break;
            }
            Some(Ok(_)) => {}
            other => panic!("{who}: the connection ended without a close frame: {other:?}"),
        }
    }
    let ended_at = ended_at.unwrap_or_else(|| panic!("{who}: no audio_stream_end before the close"));
    assert_eq!(Some(ended_at), next, "{who}: the end is where the last whole frame ends");
    (frames, ended_at)
}

/// An HTTP/1.0 request on a fresh connection, read to its end. It reads `first` bytes, then tells
/// `ready`; with `wait`, reading then pauses until `wait` fires (a 4 KB receive buffer keeps the
/// server waiting meanwhile).
async fn http_read(
    addr: String,
    request: String,
    first: usize,
    ready: tokio::sync::oneshot::Sender<()>,
    wait: Option<tokio::sync::oneshot::Receiver<()>>,
) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut sock = sock.connect(addr.parse().expect("addr")).await.expect("connect");
    sock.write_all(format!("{request}\r\n\r\n").as_bytes()).await.expect("write");
    let mut all = Vec::new();
    let mut chunk = [0u8; 1024];
    while all.len() < first {
        let n = sock.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the body ended before {first} bytes");
        all.extend_from_slice(&chunk[..n]);
    }
    let _ = ready.send(());
    if let Some(wait) = wait {
        let _ = wait.await;
    }
    tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut all)).await.expect("end").expect("read");
    all
}

/// `seconds` of the test tone as an Ogg Opus file (two header pages, then pages of 5 packets).
fn ogg_opus_tone(seconds: f64) -> Vec<u8> {
    let mut enc = opus::Encoder::new(48_000, opus::Channels::Stereo, opus::Application::Audio).expect("encoder");
    let pre_skip = enc.get_lookahead().expect("lookahead") as u32;
    let mut body = page(9, 0, 0, 2, &[relay_server::media::ogg::opus_head(2, pre_skip, 48_000)]);
    body.extend(page(9, 1, 0, 0, &[relay_server::media::ogg::opus_tags(&[])]));
    let mut out = vec![0u8; 4000];
    let n = (seconds * 50.0) as u64;
    for (seq, first) in (0..n).step_by(5).enumerate() {
        let packets: Vec<Vec<u8>> = (first..(first + 5).min(n))
            .map(|k| {
                let len = enc.encode_float(&tone(k * 960, 960), &mut out).expect("encode");
                out[..len].to_vec()
            })
            .collect();
        let granule = (first + packets.len() as u64) * 960;
        body.extend(page(9, 2 + seq as u32, granule, 0, &packets));
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_tells_every_connection_and_cuts_no_frame() {
    // The library: a track and an hour of silence (a sparse file), which the download below
    // cannot reach the end of before the shutdown.
    let media = tempfile::tempdir().expect("media");
    std::fs::copy(media_dir().join("aurora-48k.flac"), media.path().join("aurora-48k.flac")).expect("copy");
    let hour = 3600 * 48_000u64 * 4;
    let mut f = std::fs::File::create(media.path().join("one-hour.wav")).expect("create");
    std::io::Write::write_all(&mut f, &wav_header(2, 48_000, 16, hour as u32)).expect("header");
    f.set_len(44 + hour).expect("length");
    drop(f);
    let mut s = Server::start_with(media.path(), &["--api-key", KEY, "--shutdown-grace-s", "5"]);
    let c = create(&s, "{}");
    let (id, publish, listen) = (field(&c, "stream_id"), field(&c, "publish_token"), field(&c, "listen_token"));
    // A producer sending in real time, a live listener, and a library session playing a track.
    let mut prod = producer(&s, &id, &publish).await;
    let pos = produce(&mut prod, 0, 1.0, true).await;
    let mut live = listener(&s, &id, &listen, "pcm_f32").await;
    let mut lib = connect(&s).await;
    // The library session plays the hour, so that it cannot end on its own before the shutdown
    // however long the machine takes to get there.
    let hour_id = s.track_id("one-hour.wav");
    send_json(&mut lib, json!({"type": "play", "data": {"track_id": hour_id, "codec": "pcm_f32"}})).await;
    // Over HTTP: an Ogg listener of the live stream (Icecast-compatible port), a download of the
    // library track as Ogg read slowly (the server waits on the socket), and a second stream
    // published by PUT, with a WebSocket listener.
    // Each HTTP reader tells when its first bytes are in (the live one past its header pages,
    // the download its first 8 KB), and the shutdown waits for both.
    let (ogg_live_ready, ogg_live_in) = tokio::sync::oneshot::channel::<()>();
    let ogg_live = tokio::spawn(http_read(
        s.ingest.clone(),
        format!("GET /live/{id}.ogg?token={listen} HTTP/1.0"),
        2048,
        ogg_live_ready,
        None,
    ));
    let (go_on, wait) = tokio::sync::oneshot::channel::<()>();
    let (download_ready, download_in) = tokio::sync::oneshot::channel::<()>();
    let download = tokio::spawn(http_read(
        s.addr.clone(),
        format!("GET /api/tracks/{hour_id}/stream.ogg HTTP/1.0"),
        8192,
        download_ready,
        Some(wait),
    ));
    let c2 = create(&s, "{}");
    let (id2, publish2, listen2) = (field(&c2, "stream_id"), field(&c2, "publish_token"), field(&c2, "listen_token"));
    let mut live2 = listener(&s, &id2, &listen2, "pcm_f32").await;
    let put = {
        use tokio::io::AsyncWriteExt;
        let mut sock = tokio::net::TcpStream::connect(&s.addr).await.expect("connect");
        let head = format!(
            "PUT /live/{id2} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {publish2}\r\nContent-Type: audio/ogg\r\nContent-Length: 100000000\r\n\r\n",
            s.addr
        );
        sock.write_all(head.as_bytes()).await.expect("head");
        sock.write_all(&ogg_opus_tone(1.0)).await.expect("body");
        sock
    };
    let _ = produce(&mut prod, pos, 1.0, true).await;
    // Every connection is under way before the shutdown: frames on each WebSocket, first bytes on
    // each HTTP body. Conditions, not time: a slow machine only takes longer to get here.
    let lib_so_far = read_frames(&mut lib, "library session", 1).await;
    let live_so_far = read_frames(&mut live, "live listener", 1).await;
    let put_so_far = read_frames(&mut live2, "listener of the PUT stream", 3).await;
    ogg_live_in.await.expect("the live Ogg listener has its first bytes");
    download_in.await.expect("the download has its first 8 KB");

    let pid = s.child.id();
    let t0 = Instant::now();
    let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill");
    assert!(status.success());
    let _ = go_on.send(());
    let (lib_frames, lib_end) = read_to_shutdown_close(&mut lib, "library session", lib_so_far).await;
    let (live_frames, live_end) = read_to_shutdown_close(&mut live, "live listener", live_so_far).await;
    let (put_frames, put_end) = read_to_shutdown_close(&mut live2, "listener of the PUT stream", put_so_far).await;
    assert!(put_frames >= 3, "the PUT stream's audio reached its listener: {put_frames} frames");
    // The producers are told: the WebSocket one, then closed with 1001; the PUT one by its answer.
    let told = next_json(&mut prod).await;
    assert_eq!(told["type"], "audio_stream_error", "{told}");
    assert_eq!(told["data"]["code"], "server_shutdown", "{told}");
    assert_eq!(close_code(&mut prod).await, Some(CloseCode::Away));
    let answer = {
        use tokio::io::AsyncReadExt;
        let mut sock = put;
        let mut all = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut all)).await.expect("PUT answer");
        String::from_utf8_lossy(&all).into_owned()
    };
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("server_shutdown"), "{answer}");
    // Ogg listeners get whole pages (every CRC checked) and the EOS page: the live one where the
    // stream's audio ends, the download where it was when the server stopped.
    let pages = |what: &str, all: Vec<u8>| {
        let at = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("{what}: head")) + 4;
        let head = String::from_utf8_lossy(&all[..at]).to_ascii_lowercase();
        let body = if head.contains("transfer-encoding: chunked") {
            dechunk(&all[at..]).unwrap_or_else(|| panic!("{what}: the chunked body is cut"))
        } else {
            all[at..].to_vec()
        };
        let mut d = stream_core::ogg::OggDemuxer::new(1 << 16);
        d.push(&body).unwrap_or_else(|e| panic!("{what}: a valid Ogg stream: {e:?}"));
        let packets: Vec<_> = std::iter::from_fn(|| d.next_packet()).collect();
        let head = stream_core::ogg::OpusHead::parse(&packets[0].data).expect("OpusHead");
        let last = packets.last().expect("packets").clone();
        assert!(last.eos, "{what}: ends with an EOS page");
        (head.pre_skip as u64, last.granule.expect("granule"), packets.len())
    };
    let (pre_skip, granule, _) = pages("live Ogg listener", ogg_live.await.expect("ogg"));
    assert_eq!(granule, pre_skip + live_end, "the live Ogg stream ends where the WebSocket listeners' did");
    let (_, granule, packets) = pages("Ogg download", download.await.expect("download"));
    assert!(
        granule < 3600 * 48_000 && packets > 10,
        "the download ended early, whole: granule {granule}, {packets} packets"
    );
    // And the server exits cleanly within its grace period.
    let exit = loop {
        if let Some(st) = s.child.try_wait().expect("wait") {
            break st;
        }
        assert!(t0.elapsed() < Duration::from_secs(8), "the server did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "exit status {exit}");
    println!(
        "SIGTERM: library session {lib_frames} whole frames to sample {lib_end}, live listener {live_frames} to {live_end}, PUT stream's listener {put_frames} to {put_end}, both producers told, Ogg listener and download ended with EOS; exit {exit} after {:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn no_token_opens_another_streams_audio_or_publishing_by_any_route() {
    let s = server(&[]);
    let (a, b) = (create(&s, ""), create(&s, ""));
    let (a_id, a_pub, a_lsn) = (field(&a, "stream_id"), field(&a, "publish_token"), field(&a, "listen_token"));
    let (b_id, b_pub, b_lsn) = (field(&b, "stream_id"), field(&b, "publish_token"), field(&b, "listen_token"));
    let mut refused = 0;
    // Publishing to A with B's publish token (valid, but another stream's): every route.
    let mut ws = connect(&s).await;
    send_json(&mut ws, json!({"type": "publish", "data": {"stream_id": a_id, "token": b_pub, "codec": "pcm_s16"}}))
        .await;
    assert_eq!(next_json(&mut ws).await["data"]["code"], "unauthorized");
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Policy));
    refused += 1;
    let basic = |tok: &str| {
        use std::fmt::Write;
        let raw = format!("source:{tok}");
        // base64 by hand: the tests need no encoder crate.
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in raw.as_bytes().chunks(3) {
            let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                if i <= c.len() {
                    out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        let mut h = String::new();
        let _ = write!(h, "Authorization: Basic {out}");
        h
    };
    for addr in [s.addr.as_str(), s.ingest.as_str()] {
        for method in ["PUT", "SOURCE"] {
            if method == "SOURCE" && addr == s.addr {
                continue; // SOURCE is the Icecast port's
            }
            for auth in
                [basic(&b_pub), format!("Authorization: Bearer {b_pub}"), basic(&a_lsn), basic(&a_pub.to_uppercase())]
            {
                let (status, body) =
                    send_to(addr, method, &format!("/live/{a_id}"), &[&auth, "Content-Type: audio/ogg"], b"OggS");
                assert_eq!(status, 401, "{method} {addr} {auth}: {body}");
                refused += 1;
            }
        }
    }
    // Listening to B with A's listen token (and A's publish token): /ws and HTTP on both ports,
    // token in the query or in an Authorization header.
    for tok in [a_lsn.as_str(), a_pub.as_str()] {
        let mut ws = listener(&s, &b_id, tok, "pcm_f32").await;
        assert_eq!(next_json(&mut ws).await["data"]["code"], "unauthorized");
        assert_eq!(close_code(&mut ws).await, Some(CloseCode::Policy));
        refused += 1;
        for addr in [s.addr.as_str(), s.ingest.as_str()] {
            let (status, body) = send_to(addr, "GET", &format!("/live/{b_id}.ogg?token={tok}"), &[], b"");
            assert_eq!(status, 401, "{addr} query: {body}");
            let (status, body) =
                send_to(addr, "GET", &format!("/live/{b_id}.ogg"), &[&format!("Authorization: Bearer {tok}")], b"");
            assert_eq!(status, 401, "{addr} header: {body}");
            refused += 2;
        }
    }
    // Stream ids bent around a valid token: other id in the path, traversal, case, suffixes.
    for id in [
        format!("{a_id}/../{b_id}"),
        format!("{b_id}%2F..%2F{a_id}"),
        b_id.to_uppercase(),
        format!("{b_id}.ogg"),
        format!("{b_id}%00"),
        String::new(),
    ] {
        let mut ws = listener(&s, &id, &a_lsn, "pcm_f32").await;
        let v = next_json(&mut ws).await;
        assert_eq!(v["type"], "audio_stream_error", "{id}: {v}");
        let (status, _) = s.get(&format!("/live/{id}.ogg?token={a_lsn}"));
        assert!(status == 401 || status == 404 || status == 400, "{id}: {status}");
        refused += 2;
    }
    // The right tokens still work, and a listener of A hears A's producer only.
    let mut prod = producer(&s, &a_id, &a_pub).await;
    let mut ws = listener(&s, &a_id, &a_lsn, "pcm_f32").await;
    let _ = produce(&mut prod, 0, 1.0, true).await;
    let v = next_json(&mut ws).await;
    assert_eq!(v["type"], "audio_stream_start", "{v}");
    assert_eq!(v["data"]["track_id"], a_id.as_str());
    let mut b_ws = listener(&s, &b_id, &b_lsn, "pcm_f32").await;
    send_json(&mut b_ws, json!({"type": "ping", "data": {"id": 1}})).await;
    let v = next_json(&mut b_ws).await;
    assert_eq!(v["type"], "pong", "B's listener gets nothing of A: {v}");
    println!(
        "isolation: {refused} attempts with another stream's or the wrong kind of token, or a bent id, all refused"
    );
}
