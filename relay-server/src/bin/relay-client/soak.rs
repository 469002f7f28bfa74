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
    let metrics = crate::net::http_get(server, "/metrics").await?;
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
    let (status, body) = crate::net::http_request(server, "POST", "/api/streams", Some(key)).await?;
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
            crate::net::http_request(server, "POST", &format!("/api/streams/{id}/listen_token"), Some(&self.key))
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
            sock.write_all(format!("GET /live/{}.ogg?token={token} HTTP/1.0\r\nHost: {host}\r\n\r\n", s.id).as_bytes())
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
    let list: Vec<Value> = serde_json::from_str(&crate::net::http_get(server, "/api/tracks").await?)?;
    let tracks: Vec<(String, f64)> = list
        .iter()
        .filter(|t| t["playable"] != false)
        .filter_map(|t| Some((t["id"].as_str()?.to_owned(), t["duration_s"].as_f64()?)))
        .collect();
    anyhow::ensure!(!tracks.is_empty(), "no playable track");
    let ws_url = crate::net::ws_url(server);
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
