//! `relay-client load`: many real-time listeners in one process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use stream_core::wire::FrameHeader;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use crate::net::ws_url;

pub struct Spec {
    pub server: String,
    pub stream: String,
    pub token: String,
    pub codec: String,
    pub http: Option<String>,
    pub listeners: usize,
    pub seconds: f64,
    pub buffer_ms: u64,
    pub ramp_per_s: u64,
    pub server_pid: Option<u32>,
}

/// What one listener experienced.
#[derive(Default, Debug, Clone)]
struct Outcome {
    join_ms: Option<f64>,
    underruns: u32,
    bytes: u64,
    audio_frames: u64,
    /// Frames the player played (real time from its start, never beyond what arrived).
    played_frames: u64,
    /// Frames it should have played: its whole connection, connect to the end of the hold.
    due_frames: u64,
    error: Option<String>,
}

/// A listener is OK only when it had no error and no underrun, started playing, and played
/// at least this share of what it should have (a server that accepts and sends nothing, or
/// sends a burst and stops, fails).
const MIN_PLAYED_SHARE: f64 = 0.9;

impl Outcome {
    fn started(&self) -> bool {
        self.played_frames > 0
    }

    fn short(&self) -> bool {
        (self.played_frames as f64) < MIN_PLAYED_SHARE * self.due_frames as f64
    }

    fn ok(&self) -> bool {
        self.error.is_none() && self.underruns == 0 && self.started() && !self.short()
    }

    /// Closes the listener's account at `end`: what it played against its whole connection.
    fn settle(&mut self, play: &mut Playout, t0: Instant, end: Instant) {
        play.finish(end);
        self.underruns = play.underruns;
        self.played_frames = play.played(end).map_or(0, |p| p.min(play.received));
        self.due_frames = (end.saturating_duration_since(t0).as_secs_f64() * 48_000.0) as u64;
    }
}

/// A player consuming in real time once `buffer` frames are in.
struct Playout {
    buffer: u64,
    received: u64,
    started: Option<(Instant, u64)>,
    underruns: u32,
}

impl Playout {
    fn new(buffer: u64) -> Self {
        Playout { buffer, received: 0, started: None, underruns: 0 }
    }

    fn played(&self, now: Instant) -> Option<u64> {
        self.started.map(|(t, base)| base + (now.duration_since(t).as_secs_f64() * 48_000.0) as u64)
    }

    fn arrive(&mut self, frames: u64, now: Instant) {
        if let Some(p) = self.played(now) {
            if p > self.received {
                self.underruns += 1;
                self.started = Some((now, self.received)); // plays on once it has audio again
            }
        }
        self.received += frames;
        if self.started.is_none() && self.received >= self.buffer {
            self.started = Some((now, 0));
        }
    }

    fn finish(&mut self, now: Instant) {
        if self.played(now).is_some_and(|p| p > self.received + 4800) {
            self.underruns += 1;
        }
    }
}

async fn ws_listener(spec: Arc<Spec>, until: Instant) -> Outcome {
    let mut o = Outcome::default();
    let t0 = Instant::now();
    let mut play = Playout::new(spec.buffer_ms * 48);
    let r = async {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&spec.server)).await.context("connect")?;
        let msg = serde_json::json!({"type": "listen", "data": {"stream_id": spec.stream, "token": spec.token, "codec": spec.codec}});
        ws.send(Message::text(msg.to_string())).await?;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let m = match tokio::time::timeout(left, ws.next()).await {
                Err(_) => break,
                Ok(None) => anyhow::bail!("connection closed"),
                Ok(Some(m)) => m?,
            };
            match m {
                Message::Binary(b) => {
                    let now = Instant::now();
                    o.join_ms.get_or_insert_with(|| now.duration_since(t0).as_secs_f64() * 1000.0);
                    o.bytes += b.len() as u64;
                    let (h, _) = FrameHeader::parse(&b).map_err(|e| anyhow::anyhow!("{e}"))?;
                    o.audio_frames += h.frame_count as u64;
                    play.arrive(h.frame_count as u64, now);
                }
                Message::Text(t) if t.contains("audio_stream_error") || t.contains("audio_stream_end") => {
                    anyhow::bail!("stream stopped: {t}")
                }
                _ => {}
            }
        }
        let _ = ws.close(None).await;
        Ok(())
    }
    .await;
    o.settle(&mut play, t0, Instant::now().min(until));
    if let Err(e) = r {
        o.error = Some(e.to_string());
    }
    o
}

/// Audio frames in one Ogg page (0 for header pages), from the packets' TOC bytes. (An MP3
/// stream's frames are counted from their headers: `http_listener`.)
fn page_frames(page: &[u8]) -> u64 {
    let n = page[26] as usize;
    let lacing = &page[27..27 + n];
    let mut at = 27 + n;
    let mut frames = 0u64;
    let mut start = at;
    let mut len = 0usize;
    for &l in lacing {
        len += l as usize;
        if l < 255 {
            let pkt = &page[start..start + len];
            if pkt.starts_with(b"Opus") {
                return 0;
            }
            frames += stream_core::ogg::opus_packet_samples(pkt).unwrap_or(0) as u64;
            at = start + len;
            start = at;
            len = 0;
        }
    }
    frames
}

async fn http_listener(spec: Arc<Spec>, url: String, until: Instant) -> Outcome {
    let mut o = Outcome::default();
    let t0 = Instant::now();
    let mut play = Playout::new(spec.buffer_ms * 48);
    let r = async {
        let rest = url.strip_prefix("http://").context("http:// URL")?;
        let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
        let mut sock = tokio::net::TcpStream::connect(host).await.context("connect")?;
        sock.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: relay-client\r\n\r\n").as_bytes())
            .await?;
        let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
        let mut chunk = vec![0u8; 16 * 1024];
        let mut body: Vec<u8> = Vec::new();
        let mut chunked: Option<bool> = None;
        let mut chunk_left = 0usize; // bytes of the current chunk still to come
                                     // Ogg (this relay, Icecast fed Ogg) or MP3 (Icecast fed MP3): the first bytes tell.
        let (mut ogg_unknown, mut mp3) = (true, false);
        // MP3: source samples so far, and the 48 kHz frames counted for them.
        let (mut mp3_source, mut mp3_counted) = (0u64, 0u64);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let n = match tokio::time::timeout(left, sock.read(&mut chunk)).await {
                Err(_) => break,
                Ok(r) => r?,
            };
            if n == 0 {
                anyhow::bail!("connection closed");
            }
            o.bytes += n as u64;
            buf.extend_from_slice(&chunk[..n]);
            if chunked.is_none() {
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                if !head.starts_with("http/1.1 200")
                    && !head.starts_with("http/1.0 200")
                    && !head.starts_with("icy 200")
                {
                    anyhow::bail!("{}", head.lines().next().unwrap_or(""));
                }
                chunked = Some(head.contains("transfer-encoding: chunked"));
                buf.drain(..end + 4);
            }
            // De-chunk into `body`.
            if chunked == Some(true) {
                loop {
                    if chunk_left > 0 {
                        let take = chunk_left.min(buf.len());
                        body.extend_from_slice(&buf[..take]);
                        buf.drain(..take);
                        chunk_left -= take;
                        if chunk_left > 0 {
                            break;
                        }
                        continue;
                    }
                    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else { break };
                    let line = String::from_utf8_lossy(&buf[..eol]).into_owned();
                    buf.drain(..eol + 2);
                    if line.is_empty() {
                        continue; // the CRLF after a chunk
                    }
                    let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)?;
                    if size == 0 {
                        anyhow::bail!("stream ended");
                    }
                    chunk_left = size;
                }
            } else {
                body.append(&mut buf);
            }
            let now = Instant::now();
            // An MP3 stream (an Icecast mount fed MP3): whole frames, each its samples at 48 kHz.
            if ogg_unknown && body.len() >= 4 {
                mp3 = &body[..4] != b"OggS";
                ogg_unknown = false;
            }
            if ogg_unknown {
                continue;
            }
            if mp3 {
                use relay_server::live::source::mpeg::{id3v2_len, mpeg_frame, same_kind};
                let mut at = 0;
                while body.len() >= at + 10 {
                    let b = &body[at..];
                    if &b[..3] == b"ID3" {
                        match id3v2_len(b) {
                            // (A tag larger than 1 MiB is no tag a stream carries: resync.)
                            Some(len) if len > 1 << 20 => at += 1,
                            Some(len) if b.len() >= len => at += len,
                            Some(_) => break,
                            None => at += 1,
                        }
                        continue;
                    }
                    let Some(f) = mpeg_frame(b) else {
                        at += 1; // not a frame here: resynchronise
                        continue;
                    };
                    // A frame is trusted when the next header follows it (a stream joined
                    // mid-frame, or junk, can look like a header).
                    let Some(next) = b.get(f.len..f.len + 4) else { break };
                    if !mpeg_frame(next).is_some_and(|g| same_kind(&f, &g)) && &next[..3] != b"ID3" {
                        at += 1;
                        continue;
                    }
                    // Source samples counted exactly, converted to 48 kHz frames as a total.
                    mp3_source += f.samples as u64;
                    let total = mp3_source * 48_000 / f.sample_rate as u64;
                    let frames = total - mp3_counted;
                    mp3_counted = total;
                    o.join_ms.get_or_insert_with(|| now.duration_since(t0).as_secs_f64() * 1000.0);
                    o.audio_frames += frames;
                    play.arrive(frames, now);
                    at += f.len;
                }
                body.drain(..at);
                continue;
            }
            // Whole Ogg pages.
            loop {
                if body.len() < 27 {
                    break;
                }
                if &body[..4] != b"OggS" {
                    anyhow::bail!("lost Ogg sync");
                }
                let segs = body[26] as usize;
                if body.len() < 27 + segs {
                    break;
                }
                let len = 27 + segs + body[27..27 + segs].iter().map(|&l| l as usize).sum::<usize>();
                if body.len() < len {
                    break;
                }
                let frames = page_frames(&body[..len]);
                if frames > 0 {
                    o.join_ms.get_or_insert_with(|| now.duration_since(t0).as_secs_f64() * 1000.0);
                    o.audio_frames += frames;
                    play.arrive(frames, now);
                }
                body.drain(..len);
            }
        }
        Ok(())
    }
    .await;
    o.settle(&mut play, t0, Instant::now().min(until));
    if let Err(e) = r {
        o.error = Some(e.to_string());
    }
    o
}

/// (RSS bytes, CPU seconds) of a process.
fn proc_usage(pid: u32) -> Option<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf is always safe to call.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((rss_kib * 1024, ticks / hz.max(1.0)))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

pub async fn run(spec: Spec) -> anyhow::Result<()> {
    let spec = Arc::new(spec);
    let baseline = spec.server_pid.and_then(proc_usage);
    let t_start = Instant::now();
    let ramp = Duration::from_secs_f64(spec.listeners as f64 / spec.ramp_per_s.max(1) as f64);
    // Every listener holds for `seconds` after the whole population has joined.
    let until = t_start + ramp + Duration::from_secs_f64(spec.seconds);
    let joined = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(spec.listeners);
    for i in 0..spec.listeners {
        let due = t_start + Duration::from_secs_f64(i as f64 / spec.ramp_per_s.max(1) as f64);
        tokio::time::sleep_until(due.into()).await;
        let spec = spec.clone();
        let joined = joined.clone();
        tasks.push(tokio::spawn(async move {
            let o = match spec.http.clone() {
                Some(url) => http_listener(spec, url, until).await,
                None => ws_listener(spec, until).await,
            };
            joined.fetch_add(1, Ordering::Relaxed);
            o
        }));
    }
    // Server usage in the middle of the hold: everybody connected and streaming.
    tokio::time::sleep_until((t_start + ramp + Duration::from_secs_f64(spec.seconds / 2.0)).into()).await;
    let mid = spec.server_pid.and_then(proc_usage);
    let cpu_mid_t = Instant::now();
    tokio::time::sleep_until((until - Duration::from_secs_f64((spec.seconds / 4.0).min(5.0))).into()).await;
    let late = spec.server_pid.and_then(proc_usage);
    let cpu_late_t = Instant::now();
    let mut outs = Vec::with_capacity(tasks.len());
    for t in tasks {
        outs.push(t.await.unwrap_or_else(|e| Outcome { error: Some(e.to_string()), ..Default::default() }));
    }
    let n = outs.len();
    let ok = outs.iter().filter(|o| o.ok()).count();
    let errors = outs.iter().filter(|o| o.error.is_some()).count();
    let with_underrun = outs.iter().filter(|o| o.underruns > 0 || o.error.is_some()).count();
    let never_started = outs.iter().filter(|o| !o.started()).count();
    let short = outs.iter().filter(|o| o.started() && o.short()).count();
    let underruns: u64 = outs.iter().map(|o| o.underruns as u64).sum();
    let bytes: u64 = outs.iter().map(|o| o.bytes).sum();
    let audio: f64 = outs.iter().map(|o| o.audio_frames as f64 / 48_000.0).sum::<f64>() / n.max(1) as f64;
    // A listener that never got audio counts with the whole time it waited (connect to the
    // end of the hold), so that failures raise the percentiles instead of leaving them.
    let hold_ms = until.duration_since(t_start).as_secs_f64() * 1000.0;
    let mut joins: Vec<f64> = outs.iter().map(|o| o.join_ms.unwrap_or(hold_ms)).collect();
    joins.sort_by(f64::total_cmp);
    if let Some(e) = outs.iter().find_map(|o| o.error.clone()) {
        eprintln!("relay-client load: first error: {e}");
    }
    println!(
        "LOAD listeners={n} ok={ok} errors={errors} underruns={underruns} listeners_with_underrun={with_underrun} never_started={never_started} short={short} bytes={bytes} audio_s_per_listener={audio:.2} join_ms_p50={:.1} join_ms_p95={:.1} join_ms_max={:.1}",
        pct(&joins, 50.0),
        pct(&joins, 95.0),
        joins.last().copied().unwrap_or(f64::NAN)
    );
    if let (Some((rss0, _)), Some((rss1, cpu1)), Some((_, cpu2))) = (baseline, mid, late) {
        let per = (rss1 as f64 - rss0 as f64) / n.max(1) as f64;
        let minutes = cpu_late_t.duration_since(cpu_mid_t).as_secs_f64() / 60.0;
        let cpu_ms = (cpu2 - cpu1) * 1000.0 / (n.max(1) as f64 * minutes.max(1e-9));
        println!("SERVER rss_baseline={rss0} rss_loaded={rss1} rss_per_listener_bytes={per:.0} cpu_ms_per_listener_minute={cpu_ms:.2}");
    }
    Ok(())
}
