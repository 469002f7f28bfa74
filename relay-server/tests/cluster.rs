//! A cluster on 127.0.0.1: three clustered, JetStream-enabled `nats-server`s (Debian) and three
//! relays (`--nats`, `--node-id A|B|C`). A producer publishes on A; `/ws` listeners on B and C
//! hear pcm_f32 audio sample-identical to A's own listener (and to the source); ffmpeg reads
//! C's `/live/{id}.ogg` and decodes it cleanly; a token minted on A works on C, one renewed on
//! B works everywhere, an expired one nowhere; forged and stale bus messages are refused; one
//! nats-server killed costs no listener an underrun; relay B killed: its listener rejoins C at
//! the exact next sample; relay A (the producer's) killed: the producer goes on through C and
//! the listeners hear one seam at a continuous position.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ws::{next_json, send_json, Ws};
use common::{media_dir, tone, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use stream_core::wire::{decode_pcm_into, encode_pcm_frame, Codec, FrameHeader, FLAG_DISCONTINUITY};
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "cluster-test-key";
/// Listen tokens live this long here, so the test sees one expire.
const LISTEN_TTL_S: u64 = 4;
/// Audio a listener holds before it plays (the browser player's live start buffer).
const LIVE_START_FRAMES: u64 = 24_000;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// One nats-server of the trio, killed on drop.
struct Nats {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_nats() -> Vec<Nats> {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let mut out = Vec::new();
    for (i, (port, cport)) in ports.iter().enumerate() {
        let routes: Vec<String> = ports
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, (_, c))| format!("nats://127.0.0.1:{c}"))
            .collect();
        let dir = tempfile::tempdir().expect("store dir");
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(["--cluster", &format!("nats://127.0.0.1:{cport}"), "--cluster_name", "relaytest"])
            .args(["--routes", &routes.join(",")])
            .args(["--server_name", &format!("n{}", i + 1), "-js", "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server (Debian package nats-server; make setup installs it)");
        out.push(Nats { child, port: *port, _dir: dir });
    }
    for n in &out {
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", n.port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(20), "nats-server on {} within 20 s", n.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    out
}

fn relay(name: &str, nats: &[String]) -> Server {
    let ttl = LISTEN_TTL_S.to_string();
    let urls = nats.join(",");
    Server::start_with(
        &media_dir(),
        &["--api-key", KEY, "--nats", &urls, "--node-id", name, "--listen-token-ttl-s", &ttl],
    )
}

fn post(s: &Server, path: &str, bearer: &str) -> (u16, Value) {
    let (status, text) = s.send("POST", path, &[&format!("Authorization: Bearer {bearer}")], b"");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Waits until `/api/cluster` on `s` lists `n` live nodes (the bus and its buckets work).
async fn cluster_of(s: &Server, n: usize) -> Value {
    let t0 = Instant::now();
    loop {
        let (status, body) = s.get("/api/cluster");
        if status == 200 {
            let v: Value = serde_json::from_str(&body).expect("cluster JSON");
            if v["nodes"].as_array().is_some_and(|a| a.len() == n) {
                return v;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "{n} nodes in /api/cluster within 60 s: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn connect(url: &str) -> Option<Ws> {
    tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(url)).await.ok()?.ok().map(|c| c.0)
}

/// What a listener heard: contiguous audio from `first`, how it got it.
#[derive(Default, Debug)]
struct Heard {
    first: Option<u64>,
    samples: Vec<f32>,
    gaps: Vec<(u64, u64)>,
    seams: Vec<u64>,
    underruns: u32,
    rejoins: u32,
    end: Option<Value>,
    errors: Vec<Value>,
}

impl Heard {
    fn next(&self) -> u64 {
        self.first.unwrap_or(0) + self.samples.len() as u64 / 2
    }
}

/// A `/ws` listener (pcm_f32) that, like the browser player, rejoins the next server of its
/// list at the exact next sample when its connection dies. `token` is the one to rejoin with.
async fn listen(urls: Vec<String>, id: String, token: Arc<Mutex<String>>, progress: Arc<Mutex<u64>>) -> Heard {
    let mut h = Heard::default();
    let mut scratch = vec![0f32; 48_000 * 4];
    let mut playout: Option<(Instant, u64)> = None;
    let t0 = Instant::now();
    let mut which = 0;
    'servers: loop {
        assert!(t0.elapsed() < Duration::from_secs(120), "listener ran for 2 minutes");
        let Some(mut ws) = connect(&urls[which % urls.len()]).await else {
            which += 1;
            h.rejoins += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut data = json!({"stream_id": id, "token": token.lock().expect("lock").clone(), "codec": "pcm_f32"});
        if h.first.is_some() {
            data["from_sample"] = json!(h.next());
        }
        if ws.send(Message::text(json!({"type": "listen", "data": data}).to_string())).await.is_err() {
            which += 1;
            continue;
        }
        loop {
            let m = tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("a message within 20 s");
            match m {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).expect("json");
                    match v["type"].as_str() {
                        Some("audio_stream_end") => {
                            h.end = Some(v["data"].clone());
                            return h;
                        }
                        Some("audio_stream_error") => {
                            h.errors.push(v["data"].clone());
                            return h;
                        }
                        _ => {}
                    }
                }
                Some(Ok(Message::Binary(b))) => {
                    let (hd, payload) = FrameHeader::parse(&b).expect("frame");
                    assert_eq!(hd.codec, Codec::PcmF32);
                    let n = decode_pcm_into(hd.codec, payload, &mut scratch) / 2;
                    if hd.flags & FLAG_DISCONTINUITY != 0 {
                        h.seams.push(hd.sample_pos);
                    }
                    let next = h.next();
                    let skip = match h.first {
                        None => {
                            h.first = Some(hd.sample_pos);
                            0
                        }
                        Some(_) if hd.sample_pos > next => {
                            h.gaps.push((next, hd.sample_pos));
                            h.samples.resize(h.samples.len() + 2 * (hd.sample_pos - next) as usize, 0.0);
                            0
                        }
                        // A rejoin's first frame holds audio already heard: the rest is new.
                        Some(_) => ((next - hd.sample_pos) as usize).min(n),
                    };
                    h.samples.extend_from_slice(&scratch[skip * 2..n * 2]);
                    let have_to = h.next();
                    *progress.lock().expect("lock") = have_to;
                    let now = Instant::now();
                    match playout {
                        None if have_to - h.first.unwrap_or(0) >= LIVE_START_FRAMES => {
                            playout = Some((now, h.first.unwrap_or(0)))
                        }
                        Some((start, p0)) => {
                            let played = p0 + (now.duration_since(start).as_secs_f64() * 48_000.0) as u64;
                            if played > hd.sample_pos + skip as u64 {
                                h.underruns += 1;
                                playout = Some((now, hd.sample_pos + skip as u64));
                            }
                        }
                        None => {}
                    }
                }
                Some(Ok(_)) => {}
                // The node went away: the next one, at the exact next sample (a listener with
                // one server stops there).
                Some(Err(_)) | None if urls.len() == 1 => return h,
                Some(Err(_)) | None => {
                    which += 1;
                    h.rejoins += 1;
                    continue 'servers;
                }
            }
        }
    }
}

/// A producer of the tone over `/ws` (pcm_f32, paced in real time) that, when its node dies,
/// publishes on the next server of its list from where the stream stands (`next_sample`).
/// Runs until `stop` is set, then ends the stream. Returns (positions sent, takeovers).
async fn produce(
    urls: Vec<String>,
    id: String,
    token: String,
    stop: Arc<Mutex<bool>>,
    sent: Arc<Mutex<u64>>,
) -> (u64, u32) {
    let mut which = 0;
    let mut takeovers = 0;
    let t0 = Instant::now();
    let mut media_t0: Option<(Instant, u64)> = None;
    loop {
        assert!(t0.elapsed() < Duration::from_secs(120), "producer ran for 2 minutes");
        let Some(mut ws) = connect(&urls[which % urls.len()]).await else {
            which += 1;
            continue;
        };
        let publish = json!({"type": "publish", "data": {"stream_id": id, "token": token, "codec": "pcm_f32", "channels": 2, "sample_rate": 48000}});
        if ws.send(Message::text(publish.to_string())).await.is_err() {
            which += 1;
            continue;
        }
        let ready = match tokio::time::timeout(Duration::from_secs(10), next_text(&mut ws)).await {
            Ok(Some(v)) if v["type"] == "publish_ready" => v,
            other => {
                // Refused for now (the bus re-electing after a server died): try again.
                eprintln!("publish on {} answered {other:?}", urls[which % urls.len()]);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut pos = ready["data"]["next_sample"].as_u64().expect("next_sample");
        if which > 0 {
            takeovers += 1;
        }
        let (start, p0) = *media_t0.get_or_insert((Instant::now(), pos));
        let mut buf = Vec::new();
        loop {
            if *stop.lock().expect("lock") {
                send_json(&mut ws, json!({"type": "end"})).await;
                let v = next_text(&mut ws).await.expect("end confirmed");
                assert_eq!(v["type"], "audio_stream_end", "{v}");
                return (pos, takeovers);
            }
            encode_pcm_frame(Codec::PcmF32, 2, 0, 0, pos, &tone(pos, 4800), &mut buf).expect("frame");
            if ws.send(Message::binary(buf.clone())).await.is_err() {
                break;
            }
            pos += 4800;
            *sent.lock().expect("lock") = pos;
            // Real time from the first frame, 200 ms ahead.
            let due = start + Duration::from_secs_f64((pos - p0) as f64 / 48_000.0);
            let wake = due.checked_sub(Duration::from_millis(200)).unwrap_or(due);
            // Watch the socket meanwhile: a dead node shows here first.
            let gone = tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => false,
                m = ws.next() => !matches!(m, Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Text(_)))),
            };
            if gone {
                break;
            }
        }
        which += 1;
    }
}

async fn next_text(ws: &mut Ws) -> Option<Value> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => return serde_json::from_str(&t).ok(),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Listens with `token` on `s` and returns the first message (a start, or a refusal).
async fn try_listen(s: &Server, id: &str, token: &str) -> Value {
    let mut ws = connect(&s.ws_url()).await.expect("connect");
    send_json(&mut ws, json!({"type": "listen", "data": {"stream_id": id, "token": token, "codec": "pcm_f32"}})).await;
    next_json(&mut ws).await
}

async fn until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// RMS of a channel, and its energy at `hz` against `other_hz` (Goertzel).
fn channel_stats(interleaved: &[f32], ch: usize, hz: f64, other_hz: f64) -> (f64, f64) {
    let x: Vec<f64> = interleaved.iter().skip(ch).step_by(2).map(|&v| v as f64).collect();
    let rms = (x.iter().map(|v| v * v).sum::<f64>() / x.len().max(1) as f64).sqrt();
    let goertzel = |f: f64| {
        let w = std::f64::consts::TAU * f / 48_000.0;
        let (mut s1, mut s2) = (0.0, 0.0);
        for v in &x {
            let s = v + 2.0 * w.cos() * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2
    };
    (rms, 10.0 * (goertzel(hz) / goertzel(other_hz).max(1e-12)).log10())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_serves_every_stream_on_every_node_and_a_dead_node_loses_no_sample() {
    let mut nats = start_nats();
    let url = |i: usize| format!("nats://127.0.0.1:{}", nats[i].port);
    // Each relay tries its own server first (A on n1, B on n2, C on n3).
    let order = |first: usize| (0..3).map(|k| url((first + k) % 3)).collect::<Vec<_>>();
    let mut a = relay("A", &order(0));
    let mut b = relay("B", &order(1));
    let c = relay("C", &order(2));
    let v = cluster_of(&c, 3).await;
    let names: Vec<&str> =
        v["nodes"].as_array().expect("present").iter().map(|n| n["node_id"].as_str().expect("present")).collect();
    assert_eq!(names, ["A", "B", "C"], "{v}");
    cluster_of(&a, 3).await;
    cluster_of(&b, 3).await;

    // A stream made on A, its producer on A.
    let (status, created) = post(&a, "/api/streams", KEY);
    assert_eq!(status, 201, "{created}");
    let id = created["stream_id"].as_str().expect("present").to_owned();
    let listen0 = created["listen_token"].as_str().expect("present").to_owned();
    let listen0_expires = created["listen_expires_at"].as_u64().expect("present");
    let publish = created["publish_token"].as_str().expect("present").to_owned();
    let stop = Arc::new(Mutex::new(false));
    let sent = Arc::new(Mutex::new(0u64));
    let producer =
        tokio::spawn(produce(vec![a.ws_url(), c.ws_url()], id.clone(), publish.clone(), stop.clone(), sent.clone()));

    // A second stream, published by relay-client (`--server A,C`, a WAV piped in) and heard by
    // relay-client on C: the real client's failover.
    let (status, created2) = post(&a, "/api/streams", KEY);
    assert_eq!(status, 201, "{created2}");
    let id2 = created2["stream_id"].as_str().expect("id").to_owned();
    let stop2 = Arc::new(Mutex::new(false));
    let client_pub =
        relay_client_publish(&[&a, &c], &id2, created2["publish_token"].as_str().expect("token"), stop2.clone());
    let dir = tempfile::tempdir().expect("dir");
    let heard2 = dir.path().join("heard2.wav");
    let client_listen = Command::new(env!("CARGO_BIN_EXE_relay-client"))
        .args(["listen", "--server", &c.url(), "--stream", &id2, "--codec", "pcm_f32", "--token"])
        .arg(created2["listen_token"].as_str().expect("token"))
        .arg("--out")
        .arg(&heard2)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("relay-client listen");

    // Listeners: A's own, one on B and one on C (the token was minted on A).
    let token = Arc::new(Mutex::new(listen0.clone()));
    let progress: Vec<Arc<Mutex<u64>>> = (0..3).map(|_| Arc::new(Mutex::new(0))).collect();
    let ref_a = tokio::spawn(listen(vec![a.ws_url()], id.clone(), token.clone(), progress[0].clone()));
    let on_b = tokio::spawn(listen(vec![b.ws_url(), c.ws_url()], id.clone(), token.clone(), progress[1].clone()));
    let on_c = tokio::spawn(listen(vec![c.ws_url()], id.clone(), token.clone(), progress[2].clone()));
    let opus_on_c = tokio::spawn(listen_opus(c.ws_url(), id.clone(), listen0.clone()));
    for p in &progress {
        until("every listener hears audio", Duration::from_secs(30), || *p.lock().expect("lock") > 48_000).await;
    }

    // /api/cluster shows the stream on A with its producer (heartbeats come each second).
    let t0 = Instant::now();
    loop {
        let v = cluster_of(&b, 3).await;
        let a_node = v["nodes"].as_array().and_then(|n| n.iter().find(|n| n["node_id"] == "A").cloned());
        let streams = a_node.as_ref().and_then(|n| n["streams"].as_array().cloned()).unwrap_or_default();
        if streams.iter().any(|s| s["id"] == id.as_str() && s["producer"] == true) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "A's producer in /api/cluster within 10 s: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A token renewed on B works on A and C.
    let (status, renewed) = post(&b, &format!("/api/streams/{id}/listen_token"), &listen0);
    assert_eq!(status, 200, "{renewed}");
    let listen1 = renewed["listen_token"].as_str().expect("present").to_owned();
    for s in [&a, &c] {
        let v = try_listen(s, &id, &listen1).await;
        assert_eq!(v["type"], "audio_stream_start", "renewed token on {}: {v}", s.addr);
    }

    // ffmpeg reads C's Ogg/Opus (the stream produced on A) and decodes it cleanly.
    let ogg_url = format!("{}/live/{id}.ogg?token={listen1}", c.url());
    let ffmpeg = tokio::task::spawn_blocking(move || {
        Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-i", &ogg_url])
            .args(["-t", "3", "-f", "f32le", "-ac", "2", "-ar", "48000", "-"])
            .output()
            .expect("run ffmpeg")
    });

    // Forged and stale messages on the stream's subject are refused by B and C, and change
    // nothing their listeners hear.
    let bus = async_nats::connect(url(1)).await.expect("nats client");
    let subject = format!("live.{id}.f");
    for forged in [&b"garbage"[..], b"RLB1\x01\0\0\0\0\x01\0\0\0\x02\0\0\0\0"] {
        bus.publish(subject.clone(), bytes::Bytes::copy_from_slice(forged)).await.expect("publish");
    }
    bus.flush().await.expect("flush");
    until("B and C refuse the forged messages", Duration::from_secs(10), || {
        [&b, &c].iter().all(|s| metric_of(s, "relay_bus_refused_total", &id) >= 2)
    })
    .await;

    // Listen token minted on A: expired everywhere once its time is up.
    let expiry = std::time::UNIX_EPOCH + Duration::from_secs(listen0_expires + 1);
    if let Ok(wait) = expiry.duration_since(std::time::SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    for s in [&a, &b, &c] {
        let v = try_listen(s, &id, &listen0).await;
        assert_eq!(v["data"]["code"], "unauthorized", "expired token on {}: {v}", s.addr);
    }

    let out = ffmpeg.await.expect("ffmpeg task");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let pcm: Vec<f32> = out.stdout.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert!(pcm.len() >= 2 * 48_000 * 2, "ffmpeg decoded {} samples", pcm.len());
    let body = &pcm[2 * 9_600..]; // past the decoder's start
    let (rms_l, db_l) = channel_stats(body, 0, 440.0, 660.0);
    let (rms_r, db_r) = channel_stats(body, 1, 660.0, 440.0);
    println!("CLUSTER ffmpeg on C: rms {rms_l:.3}/{rms_r:.3}, 440 Hz over 660 Hz left {db_l:.1} dB, 660 over 440 right {db_r:.1} dB");
    for rms in [rms_l, rms_r] {
        assert!((rms - 0.3 / 2f64.sqrt()).abs() < 0.02, "ffmpeg level {rms:.3}");
    }
    assert!(db_l > 30.0 && db_r > 30.0, "ffmpeg spectrum {db_l:.1} / {db_r:.1} dB");

    // One nats-server dies (A's): nobody underruns; the cluster answers again.
    nats.remove(0);
    let before = progress.iter().map(|p| *p.lock().expect("lock")).collect::<Vec<_>>();
    for (p, b0) in progress.iter().zip(&before) {
        until("audio after a nats-server died", Duration::from_secs(20), || *p.lock().expect("lock") > b0 + 96_000)
            .await;
    }
    cluster_of(&c, 3).await;

    // A fresh token to rejoin with (the player renews its own; here by the server key on C).
    let (status, renewed) = post(&c, &format!("/api/streams/{id}/listen_token"), KEY);
    assert_eq!(status, 200, "{renewed}");
    *token.lock().expect("lock") = renewed["listen_token"].as_str().expect("present").to_owned();

    // Relay B dies: its listener rejoins on C.
    b.child.kill().expect("kill B");
    let _ = b.child.wait();
    let at = *progress[1].lock().expect("lock");
    until("B's listener goes on through C", Duration::from_secs(20), || {
        *progress[1].lock().expect("lock") > at + 96_000
    })
    .await;

    // Relay A (the producer's) dies: the producer goes on through C.
    a.child.kill().expect("kill A");
    let _ = a.child.wait();
    let at = *sent.lock().expect("lock");
    until("the producer goes on through C", Duration::from_secs(30), || *sent.lock().expect("lock") > at + 144_000)
        .await;
    let at: Vec<u64> = progress[1..].iter().map(|p| *p.lock().expect("lock")).collect();
    for (p, a0) in progress[1..].iter().zip(&at) {
        until("listeners hear the new producer", Duration::from_secs(20), || *p.lock().expect("lock") > a0 + 96_000)
            .await;
    }
    *stop.lock().expect("lock") = true;
    *stop2.lock().expect("lock") = true;
    let (end_pos, takeovers) = producer.await.expect("producer");
    let (published2, pub_log) = tokio::task::spawn_blocking(client_pub).await.expect("relay-client publish");
    let listened2 =
        tokio::task::spawn_blocking(move || client_listen.wait_with_output()).await.expect("join").expect("wait");
    let listen_log = String::from_utf8_lossy(&listened2.stdout).into_owned();
    println!("CLUSTER relay-client publish --server A,C: {}", pub_log.trim().replace('\n', " | "));
    assert!(published2, "relay-client publish failed: {pub_log}");
    assert!(pub_log.contains(&format!("publishing on {}", c.url())), "relay-client publish moved to C: {pub_log}");
    assert!(listened2.status.success(), "relay-client listen: {}", String::from_utf8_lossy(&listened2.stderr));
    let start2: u64 = listen_log
        .split_whitespace()
        .find_map(|w| w.strip_prefix("start_sample=")?.parse().ok())
        .expect("start_sample in relay-client's output");
    let (got2, ch2, _) = common::read_wav(&heard2);
    assert_eq!(ch2, 2);
    let want2 = tone_s16(start2, got2.len() / 2);
    let wrong2 = got2.iter().zip(&want2).position(|(x, y)| x != y);
    println!(
        "CLUSTER relay-client listen on C: {} frames from {start2}, first difference from the source {wrong2:?}",
        got2.len() / 2
    );
    assert!(got2.len() / 2 > 5 * 48_000, "relay-client heard {} frames", got2.len() / 2);
    assert_eq!(wrong2, None, "relay-client's stream through the producer's move is the source, sample for sample");
    let (ref_a, on_b, on_c) = (ref_a.await.expect("A"), on_b.await.expect("B"), on_c.await.expect("C"));
    let opus_frames = opus_on_c.await.expect("Opus listener");
    let bus_in = metric_of(&c, "relay_bus_bytes_in_total", &id);

    // What each heard.
    for (name, h) in [("A's own", &ref_a), ("B's (rejoined on C)", &on_b), ("C's", &on_c)] {
        println!(
            "CLUSTER listener {name}: from {:?} to {}, {} rejoins, {} underruns, gaps {:?}, seams {:?}, end {:?}, errors {:?}",
            h.first,
            h.next(),
            h.rejoins,
            h.underruns,
            h.gaps,
            h.seams,
            h.end,
            h.errors
        );
        assert!(h.gaps.is_empty(), "{name}: gaps {:?}", h.gaps);
        let first = h.first.expect("audio");
        let want = tone(first, h.samples.len() / 2);
        let wrong = h.samples.iter().zip(&want).position(|(x, y)| x != y);
        assert_eq!(wrong, None, "{name}: sample {wrong:?} differs from the source");
    }
    // A's own listener is cut when A dies; B's and C's hear the whole stream to its end.
    for (name, h) in [("B's", &on_b), ("C's", &on_c)] {
        assert_eq!(h.underruns, 0, "{name} underran");
        assert_eq!(h.errors, Vec::<Value>::new(), "{name}");
        assert_eq!(h.end.as_ref().and_then(|e| e["total_samples"].as_u64()), Some(end_pos), "{name}: end");
        assert_eq!(h.next(), end_pos, "{name} heard to the end");
        assert_eq!(h.seams.len(), 1, "{name}: one seam, where the producer moved: {:?}", h.seams);
    }
    // The Opus listener on C, decoded by libopus as one decoder through the producer's move:
    // around the seam as close to the source as anywhere else (the new encoder was primed with
    // the audio before the seam; a fresh one would have put 6.5 ms of its start-up silence in).
    let seam = on_c.seams[0];
    let (near, median) = opus_seam_snr(&opus_frames, seam);
    println!("CLUSTER Opus on C through the move: SNR against the source {near:.1} dB around the seam at {seam}, median {median:.1} dB");
    assert!(near > median - 10.0, "Opus seam: {near:.1} dB around it, {median:.1} dB elsewhere");
    assert_eq!(on_b.rejoins, 1, "B's listener rejoined once");
    assert_eq!(takeovers, 1);
    // Sample-identical to A's own listener where both heard.
    let start = on_b.first.expect("present").max(ref_a.first.expect("present"));
    let end = ref_a.next().min(on_b.next());
    assert!(end > start + 48_000, "A's and B's listeners overlap by a second at least");
    let slice = |h: &Heard| {
        h.samples[2 * (start - h.first.expect("present")) as usize..2 * (end - h.first.expect("present")) as usize]
            .to_vec()
    };
    assert!(slice(&ref_a) == slice(&on_b) && slice(&ref_a) == slice(&on_c), "A's, B's and C's listeners agree");
    println!(
        "CLUSTER producer: {end_pos} frames, {takeovers} takeover; C took {bus_in} bytes of the stream from the bus"
    );
    drop(nats);
}

/// The tone as relay-client publishes it from a 16-bit WAV: quantized, then as floats.
fn tone_s16(pos: u64, frames: usize) -> Vec<f32> {
    tone(pos, frames).iter().map(|&x| (x * 32767.0).round() / 32768.0).collect()
}

/// `relay-client publish --server A,C --input -` fed a 16-bit WAV of the tone through a pipe
/// until `stop`; the returned closure waits for it: (success, its log).
fn relay_client_publish(
    servers: &[&Server],
    id: &str,
    token: &str,
    stop: Arc<Mutex<bool>>,
) -> impl FnOnce() -> (bool, String) {
    use std::io::Write;
    let list: Vec<String> = servers.iter().map(|s| s.url()).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_relay-client"))
        .args(["publish", "--server", &list.join(","), "--stream", id, "--token", token, "--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("relay-client publish");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        // A streamed WAV (data size 0: until the end), 100 ms at a time; relay-client paces.
        let _ = stdin.write_all(&common::wav_header(2, 48_000, 16, 0));
        let mut pos = 0u64;
        while !*stop.lock().expect("lock") {
            let chunk: Vec<u8> =
                tone(pos, 4800).iter().flat_map(|&x| ((x * 32767.0).round() as i16).to_le_bytes()).collect();
            if stdin.write_all(&chunk).is_err() {
                break;
            }
            pos += 4800;
        }
    });
    move || {
        let _ = writer.join();
        let out = child.wait_with_output().expect("relay-client publish");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The pre-skip and every frame (header, packets) an Opus listener got.
type OpusHeard = (u32, Vec<(FrameHeader, Vec<Vec<u8>>)>);

/// An Opus `/ws` listener on one server: every frame (header and packets) and the stream's
/// pre-skip, until the stream ends.
async fn listen_opus(url: String, id: String, token: String) -> OpusHeard {
    let mut ws = connect(&url).await.expect("connect");
    send_json(&mut ws, json!({"type": "listen", "data": {"stream_id": id, "token": token, "codec": "opus"}})).await;
    let (mut pre_skip, mut frames) = (0, Vec::new());
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("a message within 20 s") {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                match v["type"].as_str() {
                    Some("audio_stream_start") => pre_skip = v["data"]["pre_skip"].as_u64().expect("pre_skip") as u32,
                    Some("audio_stream_end") => return (pre_skip, frames),
                    Some("audio_stream_error") => panic!("Opus listener: {v}"),
                    _ => {}
                }
            }
            Some(Ok(Message::Binary(b))) => {
                let (h, payload) = FrameHeader::parse(&b).expect("frame");
                let packets =
                    stream_core::wire::OpusPackets::new(payload).map(|p| p.expect("packet").to_vec()).collect();
                frames.push((h, packets));
            }
            Some(Ok(_)) => {}
            other => panic!("Opus listener: {other:?}"),
        }
    }
}

/// Decodes the Opus listener's frames with one libopus decoder, as a player would, and returns
/// the SNR against the source (the tone) of the 100 ms around `seam` and the median of 20 ms
/// blocks elsewhere (both past the decoder's first 100 ms).
fn opus_seam_snr((pre_skip, frames): &OpusHeard, seam: u64) -> (f64, f64) {
    let mut dec = opus::Decoder::new(48_000, opus::Channels::Stereo).expect("decoder");
    let first = frames.first().expect("frames").0.sample_pos;
    let mut out = Vec::new();
    let mut buf = vec![0f32; 5760 * 2];
    for (_, packets) in frames {
        for p in packets {
            let n = dec.decode_float(p, &mut buf, false).expect("decode");
            out.extend_from_slice(&buf[..n * 2]);
        }
    }
    // Output frame i is the stream at position first + i - pre_skip.
    let at = |pos: u64| (pos + *pre_skip as u64 - first) as usize;
    let block_snr = |from: u64, len: usize| {
        let want = tone(from, len);
        let got = &out[2 * at(from)..2 * (at(from) + len)];
        let sig: f64 = want.iter().map(|&x| (x as f64).powi(2)).sum();
        let err: f64 = want.iter().zip(got).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum();
        10.0 * (sig / err.max(1e-12)).log10()
    };
    let near = block_snr(seam - 2_400, 4_800);
    let mut blocks: Vec<f64> = (first + 4_800..)
        .step_by(960)
        .take_while(|&p| at(p) + 960 <= out.len() / 2)
        .filter(|&p| p + 960 < seam - 4_800 || p > seam + 4_800)
        .map(|p| block_snr(p, 960))
        .collect();
    blocks.sort_by(f64::total_cmp);
    (near, blocks[blocks.len() / 2])
}

/// A per-stream counter from `/metrics`.
fn metric_of(s: &Server, name: &str, stream: &str) -> u64 {
    let (_, body) = s.get("/metrics");
    let key = format!("{name}{{stream=\"{stream}\"}} ");
    body.lines().find_map(|l| l.strip_prefix(key.as_str()).and_then(|v| v.trim().parse().ok())).unwrap_or(0)
}

/// A relay started with `--nats` when no NATS server runs: it says so (`cluster_unavailable`),
/// serves its library and its own live streams alone, refuses with `cluster_unavailable` what
/// only the bus could check, and joins once a server comes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_nats_a_clustered_relay_serves_alone_and_joins_when_it_comes() {
    let port = free_port();
    let s = relay("solo", &[format!("nats://127.0.0.1:{port}")]);
    assert_eq!(s.get("/healthz").0, 200);
    let (status, body) = s.get("/api/cluster");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("cluster_unavailable"), "{body}");
    assert_eq!(metric_of_plain(&s, "relay_cluster_connected{node=\"solo\"}"), Some(0));

    // Its own live stream: created, published and heard here.
    let (status, created) = post(&s, "/api/streams", KEY);
    assert_eq!(status, 201, "{created}");
    let id = created["stream_id"].as_str().expect("id").to_owned();
    let mut listener = connect(&s.ws_url()).await.expect("connect");
    let token = created["listen_token"].as_str().expect("token");
    send_json(&mut listener, json!({"type": "listen", "data": {"stream_id": id, "token": token, "codec": "pcm_f32"}}))
        .await;
    let stop = Arc::new(Mutex::new(false));
    let sent = Arc::new(Mutex::new(0u64));
    let token = created["publish_token"].as_str().expect("token").to_owned();
    let producer = tokio::spawn(produce(vec![s.ws_url()], id.clone(), token, stop.clone(), sent.clone()));
    let v = next_json(&mut listener).await;
    assert_eq!(v["type"], "audio_stream_start", "{v}");
    let mut frames = 0;
    while frames < 5 {
        if let Some(Ok(Message::Binary(_))) = listener.next().await {
            frames += 1;
        }
    }
    *stop.lock().expect("lock") = true;
    producer.await.expect("producer");

    // A token it never saw: the bus would know; it cannot be asked.
    let v = try_listen(&s, &id, "lsn_00000000000000000000000000000000").await;
    assert_eq!(v["data"]["code"], "cluster_unavailable", "{v}");

    // NATS comes up: the relay joins.
    let dir = tempfile::tempdir().expect("dir");
    let _nats = Nats {
        child: Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server"),
        port,
        _dir: dir,
    };
    let v = cluster_of(&s, 1).await;
    assert_eq!(v["nodes"][0]["node_id"], "solo", "{v}");
    assert_eq!(metric_of_plain(&s, "relay_cluster_connected{node=\"solo\"}"), Some(1));
}

fn metric_of_plain(s: &Server, key: &str) -> Option<u64> {
    let (_, body) = s.get("/metrics");
    body.lines().find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
}
