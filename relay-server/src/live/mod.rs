//! Live streams: capabilities, one encoding pipeline per stream, fan-out to listeners.
//!
//! - A stream is created with `POST /api/streams` (server key). It gets an id and two kinds of
//!   capability: a publish token and listen tokens, each 128 bits from the OS RNG, scoped and
//!   expiring; listen tokens can be renewed while the stream is live.
//! - Audio comes in from one producer at a time (a WebSocket `publish`, an Icecast-style `PUT`
//!   of Ogg/Opus, or the relay itself playing library tracks), is decoded to 48 kHz PCM, and the
//!   stream's pipeline thread cuts it into 200 ms frames, each encoded once: Opus (libopus, the
//!   library's music settings), PCM s16 and f32 wire frames, and an Ogg page. Listeners share
//!   those bytes.
//! - Fan-out is a `tokio::sync::broadcast` ring of frames (the per-listener queue is a cursor into
//!   it, never a copy): a listener that falls more than the ring behind is told
//!   `listener_too_slow` and dropped, and server memory does not grow with it. A late joiner
//!   first gets the most recent burst (1 s) so its player starts at once.

pub mod ingest;
pub mod listen;
pub mod playout;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use stream_core::control::{ErrorCode, OpusParams};
use stream_core::ogg::{write_page, FLAG_BOS};
use stream_core::wire::{encode_opus_frame, encode_pcm_frame, Codec, FrameHeader};
use stream_core::STREAM_SAMPLE_RATE;
use tokio::sync::broadcast;

use crate::media::ogg::{opus_head, opus_tags};
use crate::media::opus::{OpusSettings, PACKET_FRAMES};

/// Opus packets (20 ms) per live frame: 200 ms frames. Each frame is one message (or one Ogg
/// page) per listener: at thousands of listeners the message rate is what costs CPU, and a late
/// joiner's burst makes the frame length irrelevant to how fast it starts.
pub const LIVE_PACKETS_PER_FRAME: usize = 10;
/// Frames (at 48 kHz) per live frame.
pub const LIVE_FRAME_FRAMES: usize = PACKET_FRAMES as usize * LIVE_PACKETS_PER_FRAME;
/// Live frames the fan-out ring holds: how far (6.4 s) a listener may fall behind before it is
/// dropped as too slow.
pub const RING_FRAMES: usize = 32;
/// The session number every listener of a live stream sees (frames are encoded once for all):
/// far above the per-connection counters of library playback.
pub const LIVE_SESSION_BASE: u32 = 0x4000_0000;
/// PCM chunks queued between an ingest and the pipeline thread.
const INGEST_QUEUE: usize = 64;

/// Scope of a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Publish,
    Listen,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Publish => "publish",
            Scope::Listen => "listen",
        }
    }
}

/// Why a token was refused. Each maps to HTTP 401 or WebSocket close 1008.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    /// Not a token this server issued (or for another stream: indistinguishable on purpose).
    Invalid,
    Expired,
    WrongScope {
        needed: Scope,
    },
}

impl AuthError {
    pub fn message(self) -> String {
        match self {
            AuthError::Missing => "a token is required".into(),
            AuthError::Invalid => "the token is not valid for this stream".into(),
            AuthError::Expired => "the token has expired".into(),
            AuthError::WrongScope { needed } => format!("a {} token is required", needed.as_str()),
        }
    }
}

/// 128 random bits from the OS as 32 hex digits.
pub fn random_hex() -> std::io::Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[derive(Clone, Debug)]
struct TokenInfo {
    stream_id: String,
    scope: Scope,
    expires: Instant,
}

/// A token handed out, with its expiry as Unix seconds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at: u64,
}

/// One frame of a live stream, encoded once for every listener.
#[derive(Debug)]
pub struct LiveFrame {
    /// Position of the first frame (48 kHz frames from the stream start).
    pub pos: u64,
    pub frames: u32,
    pub opus: Bytes,
    pub pcm_s16: Bytes,
    pub pcm_f32: Bytes,
    /// One Ogg page with this frame's Opus packets (page sequence `ogg_seq`).
    pub ogg: Bytes,
    pub ogg_seq: u32,
}

impl LiveFrame {
    pub fn wire(&self, codec: Codec) -> &Bytes {
        match codec {
            Codec::Opus => &self.opus,
            Codec::PcmS16 => &self.pcm_s16,
            Codec::PcmF32 => &self.pcm_f32,
        }
    }
}

/// What listeners receive.
#[derive(Clone, Debug)]
pub enum LiveEvent {
    Frame(Arc<LiveFrame>),
    /// The producer ended the stream after `total_samples` frames.
    End {
        total_samples: u64,
    },
    /// The stream failed (the producer vanished or sent bad audio).
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// Per-stream counters (exported on `/metrics` with a `stream` label).
#[derive(Default, Debug)]
pub struct StreamCounters {
    pub listeners: AtomicUsize,
    pub producers: AtomicUsize,
    pub bytes_sent: AtomicU64,
    pub frames_sent: AtomicU64,
    pub dropped_slow: AtomicU64,
}

/// The state of a stream's audio.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Created, no audio yet.
    Waiting,
    Live,
    Ended {
        total_samples: u64,
    },
    Failed {
        code: ErrorCode,
        message: String,
    },
}

pub struct LiveStream {
    pub id: String,
    pub session: u32,
    pub serial: u32,
    pub created: Instant,
    pub counters: StreamCounters,
    tx: broadcast::Sender<LiveEvent>,
    inner: Mutex<StreamInner>,
}

struct StreamInner {
    phase: Phase,
    channels: u8,
    pre_skip: u32,
    /// The last frames, for a late joiner's burst.
    recent: VecDeque<Arc<LiveFrame>>,
    burst_frames: usize,
    producer: bool,
    ended_at: Option<Instant>,
}

/// What a new listener gets: the stream's format, a burst of recent frames and its cursor.
pub struct Subscription {
    pub rx: broadcast::Receiver<LiveEvent>,
    pub burst: Vec<Arc<LiveFrame>>,
    pub channels: u8,
    pub pre_skip: u32,
    /// The stream already ended or failed: tell the listener and stop.
    pub over: Option<LiveEvent>,
}

impl LiveStream {
    fn new(id: String, session: u32, serial: u32, burst_frames: usize) -> Self {
        let (tx, _) = broadcast::channel(RING_FRAMES);
        LiveStream {
            id,
            session,
            serial,
            created: Instant::now(),
            counters: StreamCounters::default(),
            tx,
            inner: Mutex::new(StreamInner {
                phase: Phase::Waiting,
                channels: 2,
                pre_skip: 0,
                recent: VecDeque::new(),
                burst_frames,
                producer: false,
                ended_at: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StreamInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn phase(&self) -> Phase {
        self.lock().phase.clone()
    }

    /// Whether the stream still takes listeners and renewals.
    pub fn is_open(&self) -> bool {
        matches!(self.lock().phase, Phase::Waiting | Phase::Live)
    }

    /// Subscribes a listener: receiver first, then the burst, so no frame falls between.
    pub fn subscribe(&self) -> Subscription {
        let rx = self.tx.subscribe();
        let inner = self.lock();
        let over = match &inner.phase {
            Phase::Ended { total_samples } => Some(LiveEvent::End { total_samples: *total_samples }),
            Phase::Failed { code, message } => Some(LiveEvent::Error { code: *code, message: message.clone() }),
            _ => None,
        };
        Subscription {
            rx,
            burst: inner.recent.iter().cloned().collect(),
            channels: inner.channels,
            pre_skip: inner.pre_skip,
            over,
        }
    }

    /// Channels and Opus pre-skip of the stream's audio (known once a producer started).
    pub fn format(&self) -> (u8, u32) {
        let inner = self.lock();
        (inner.channels, inner.pre_skip)
    }

    /// Claims the stream for a producer; `false` if one is already attached or it is over.
    pub fn attach_producer(&self) -> bool {
        let mut inner = self.lock();
        if inner.producer || !matches!(inner.phase, Phase::Waiting) {
            return false;
        }
        inner.producer = true;
        self.counters.producers.store(1, Ordering::Relaxed);
        true
    }

    /// Gives the stream back when a producer left before any audio (it may publish again).
    pub fn release_producer(&self) {
        let mut inner = self.lock();
        if matches!(inner.phase, Phase::Waiting) {
            inner.producer = false;
            self.counters.producers.store(0, Ordering::Relaxed);
        }
    }

    fn publish(&self, ev: LiveEvent) {
        {
            let mut inner = self.lock();
            match &ev {
                LiveEvent::Frame(f) => {
                    inner.phase = Phase::Live;
                    inner.recent.push_back(f.clone());
                    while inner.recent.len() > inner.burst_frames {
                        inner.recent.pop_front();
                    }
                }
                LiveEvent::End { total_samples } => {
                    inner.phase = Phase::Ended { total_samples: *total_samples };
                    inner.ended_at = Some(Instant::now());
                    inner.producer = false;
                }
                LiveEvent::Error { code, message } => {
                    inner.phase = Phase::Failed { code: *code, message: message.clone() };
                    inner.ended_at = Some(Instant::now());
                    inner.producer = false;
                }
            }
            if !matches!(ev, LiveEvent::Frame(_)) {
                self.counters.producers.store(0, Ordering::Relaxed);
            }
        }
        // No receiver is fine: nobody listens yet.
        let _ = self.tx.send(ev);
    }

    fn set_format(&self, channels: u8, pre_skip: u32) {
        let mut inner = self.lock();
        inner.channels = channels;
        inner.pre_skip = pre_skip;
    }

    fn ended_for(&self) -> Option<Duration> {
        self.lock().ended_at.map(|t| t.elapsed())
    }
}

/// Limits and lifetimes of the live part (from the configuration).
#[derive(Clone, Debug)]
pub struct LiveConfig {
    pub api_key: Option<String>,
    pub max_streams: usize,
    pub max_listeners: usize,
    pub publish_token_ttl: Duration,
    pub listen_token_ttl: Duration,
    /// Streams created per client address per minute.
    pub create_per_minute: u32,
    pub burst_ms: u32,
    /// How far a producer may run ahead of real time.
    pub max_ahead: Duration,
    /// How long a listener may leave a frame unsent before it is dropped as too slow.
    pub send_timeout: Duration,
    /// How long an ended stream keeps answering (so late listeners learn it ended).
    pub linger: Duration,
    /// How long a created stream waits for its producer.
    pub idle_timeout: Duration,
}

/// Every live stream and token of the server.
pub struct LiveRegistry {
    pub config: LiveConfig,
    streams: Mutex<HashMap<String, Arc<LiveStream>>>,
    tokens: Mutex<HashMap<String, TokenInfo>>,
    rate: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    next_session: AtomicU64,
    pub listeners_total: AtomicUsize,
    pub auth_failures: AtomicU64,
    pub dropped_slow: AtomicU64,
    pub ttfb: Histogram,
}

/// A Prometheus histogram of seconds.
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            if s <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_us.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, name: &str, help: &str, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", c.load(Ordering::Relaxed));
        }
        let n = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {n}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_us.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {n}");
    }
}

/// What `POST /api/streams` returns.
#[derive(Debug, serde::Serialize)]
pub struct Created {
    pub stream_id: String,
    pub publish_token: IssuedToken,
    pub listen_token: IssuedToken,
}

/// Why a stream could not be created.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateError {
    RateLimited { retry_after_s: u64 },
    TooManyStreams { max: usize },
    Internal(String),
}

impl LiveRegistry {
    pub fn new(config: LiveConfig) -> Self {
        LiveRegistry {
            config,
            streams: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            rate: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(0),
            listeners_total: AtomicUsize::new(0),
            auth_failures: AtomicU64::new(0),
            dropped_slow: AtomicU64::new(0),
            ttfb: Histogram::new(&[0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
        }
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LiveStream>>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, TokenInfo>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// All streams (for metrics).
    pub fn all(&self) -> Vec<Arc<LiveStream>> {
        self.streams().values().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Option<Arc<LiveStream>> {
        self.streams().get(id).cloned()
    }

    /// Counts one creation for `ip`; `Err(seconds to wait)` over the limit.
    fn rate_check(&self, ip: IpAddr) -> Result<(), u64> {
        let mut rate = self.rate.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        rate.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
        let e = rate.entry(ip).or_insert((now, 0));
        if e.1 >= self.config.create_per_minute {
            return Err(60u64.saturating_sub(now.duration_since(e.0).as_secs()).max(1));
        }
        e.1 += 1;
        Ok(())
    }

    /// Drops streams that ended long enough ago or never got a producer, and expired tokens.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut gone = Vec::new();
        self.streams().retain(|id, s| {
            let keep = match s.ended_for() {
                Some(d) => d < self.config.linger,
                None => {
                    !(s.phase() == Phase::Waiting
                        && s.counters.producers.load(Ordering::Relaxed) == 0
                        && now.duration_since(s.created) > self.config.idle_timeout)
                }
            };
            if !keep {
                gone.push(id.clone());
            }
            keep
        });
        self.tokens().retain(|_, t| t.expires > now && !gone.contains(&t.stream_id));
    }

    fn issue(&self, stream_id: &str, scope: Scope) -> std::io::Result<IssuedToken> {
        let ttl = match scope {
            Scope::Publish => self.config.publish_token_ttl,
            Scope::Listen => self.config.listen_token_ttl,
        };
        let prefix = match scope {
            Scope::Publish => "pub_",
            Scope::Listen => "lsn_",
        };
        let token = format!("{prefix}{}", random_hex()?);
        self.tokens()
            .insert(token.clone(), TokenInfo { stream_id: stream_id.to_owned(), scope, expires: Instant::now() + ttl });
        Ok(IssuedToken { token, expires_at: unix_now() + ttl.as_secs() })
    }

    /// Creates a stream for client `ip`.
    pub fn create(&self, ip: IpAddr) -> Result<(Arc<LiveStream>, Created), CreateError> {
        self.sweep();
        self.rate_check(ip).map_err(|retry_after_s| CreateError::RateLimited { retry_after_s })?;
        let open = self.streams().values().filter(|s| s.is_open()).count();
        if open >= self.config.max_streams {
            return Err(CreateError::TooManyStreams { max: self.config.max_streams });
        }
        let err = |e: std::io::Error| CreateError::Internal(e.to_string());
        let id = format!("s{}", &random_hex().map_err(err)?[..16]);
        let n = self.next_session.fetch_add(1, Ordering::Relaxed) as u32;
        let serial = u32::from_str_radix(&random_hex().map_err(err)?[..8], 16).unwrap_or(n);
        let burst = (self.config.burst_ms as usize * 48).div_ceil(LIVE_FRAME_FRAMES).max(1);
        let stream = Arc::new(LiveStream::new(id.clone(), LIVE_SESSION_BASE + (n & 0x0fff_ffff), serial, burst));
        let publish_token = self.issue(&id, Scope::Publish).map_err(err)?;
        let listen_token = self.issue(&id, Scope::Listen).map_err(err)?;
        self.streams().insert(id.clone(), stream.clone());
        Ok((stream, Created { stream_id: id, publish_token, listen_token }))
    }

    /// Checks `token` for `scope` on stream `id`; counts failures.
    pub fn authorize(&self, id: &str, token: Option<&str>, scope: Scope) -> Result<Arc<LiveStream>, AuthError> {
        let r = self.check(id, token, scope);
        if r.is_err() {
            self.auth_failures.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    fn check(&self, id: &str, token: Option<&str>, scope: Scope) -> Result<Arc<LiveStream>, AuthError> {
        let token = token.filter(|t| !t.is_empty()).ok_or(AuthError::Missing)?;
        let info = self.tokens().get(token).cloned().ok_or(AuthError::Invalid)?;
        if info.stream_id != id {
            return Err(AuthError::Invalid);
        }
        if info.expires <= Instant::now() {
            return Err(AuthError::Expired);
        }
        if info.scope != scope {
            return Err(AuthError::WrongScope { needed: scope });
        }
        self.get(id).ok_or(AuthError::Invalid)
    }

    /// A fresh listen token for a live stream, given a valid listen token (or the server key,
    /// checked by the caller).
    pub fn renew_listen(&self, id: &str, token: Option<&str>, by_key: bool) -> Result<IssuedToken, AuthError> {
        let stream =
            if by_key { self.get(id).ok_or(AuthError::Invalid)? } else { self.authorize(id, token, Scope::Listen)? };
        if !stream.is_open() {
            return Err(AuthError::Expired);
        }
        self.issue(id, Scope::Listen).map_err(|_| AuthError::Invalid)
    }

    /// Whether one more listener fits.
    pub fn admit_listener(&self) -> bool {
        let n = self.listeners_total.fetch_add(1, Ordering::AcqRel);
        if n >= self.config.max_listeners {
            self.listeners_total.fetch_sub(1, Ordering::AcqRel);
            false
        } else {
            true
        }
    }

    pub fn release_listener(&self) {
        self.listeners_total.fetch_sub(1, Ordering::AcqRel);
    }

    /// Lowers a token's expiry (tests).
    pub fn expire_token(&self, token: &str) {
        if let Some(t) = self.tokens().get_mut(token) {
            t.expires = Instant::now();
        }
    }
}

/// Counts a listener in and out of a stream and the server.
pub struct ListenerGuard {
    pub stream: Arc<LiveStream>,
    registry: Arc<LiveRegistry>,
}

impl ListenerGuard {
    pub fn new(registry: Arc<LiveRegistry>, stream: Arc<LiveStream>) -> Self {
        stream.counters.listeners.fetch_add(1, Ordering::Relaxed);
        ListenerGuard { stream, registry }
    }

    pub fn sent(&self, bytes: usize) {
        self.stream.counters.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
        self.stream.counters.frames_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dropped_slow(&self) {
        self.stream.counters.dropped_slow.fetch_add(1, Ordering::Relaxed);
        self.registry.dropped_slow.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        self.stream.counters.listeners.fetch_sub(1, Ordering::Relaxed);
        self.registry.release_listener();
    }
}

// ---------------------------------------------------------------------------------------------
// The pipeline: PCM in, encoded frames out.

/// What an ingest sends the pipeline thread.
pub enum Ingest {
    /// Interleaved 48 kHz PCM of the stream's channel count.
    Pcm(Vec<f32>),
    /// The producer ended the stream.
    End,
    /// The producer failed or vanished: `code` and a sentence for the listeners.
    Fail(ErrorCode, String),
}

/// The producer side of a stream's pipeline. Dropping it without [`Ingest::End`] is a vanished
/// producer (`producer_lost`).
pub struct Producer {
    tx: mpsc::SyncSender<Ingest>,
    pub channels: u8,
    /// Frames sent so far.
    pub frames: u64,
    started: Option<Instant>,
    max_ahead: Duration,
    finished: bool,
}

/// A producer error with its stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestError {
    pub code: ErrorCode,
    pub message: String,
}

impl IngestError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        IngestError { code, message: message.into() }
    }
}

impl std::fmt::Display for IngestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

/// What producers and listeners are told when the server shuts down.
pub const SHUTDOWN_END: &str = "the server is shutting down: this stream ends here";

/// How long a live stream has to end (its producer ends it at once) after the server starts to
/// shut down, before its listeners stop after the whole frames or pages they have.
pub const SHUTDOWN_STREAM_END: Duration = Duration::from_secs(1);

/// An HTTP listener's wait for its stream's next event, aware of a server shutdown.
pub struct ShutdownWait {
    shutdown: tokio::sync::watch::Receiver<bool>,
    closed: bool,
    deadline: Option<tokio::time::Instant>,
}

impl ShutdownWait {
    pub fn new(shutdown: tokio::sync::watch::Receiver<bool>) -> Self {
        ShutdownWait { shutdown, closed: false, deadline: None }
    }

    /// The next event; `None` when the server shuts down and the stream did not end in time.
    pub async fn recv(
        &mut self,
        rx: &mut tokio::sync::broadcast::Receiver<LiveEvent>,
    ) -> Option<Result<LiveEvent, tokio::sync::broadcast::error::RecvError>> {
        loop {
            if let Some(d) = self.deadline {
                return tokio::time::timeout_at(d, rx.recv()).await.ok();
            }
            tokio::select! {
                ev = rx.recv() => return Some(ev),
                down = self.shutdown.wait_for(|down| *down), if !self.closed => match down {
                    Ok(_) => self.deadline = Some(tokio::time::Instant::now() + SHUTDOWN_STREAM_END),
                    Err(_) => self.closed = true,
                },
            }
        }
    }
}

impl Producer {
    /// Sends PCM (blocking only while the pipeline's short queue is full). Refuses audio that
    /// runs more than `max_ahead` ahead of real time since the first frame.
    pub fn push(&mut self, pcm: Vec<f32>) -> Result<(), IngestError> {
        if pcm.is_empty() {
            return Ok(());
        }
        let t0 = *self.started.get_or_insert_with(Instant::now);
        self.frames += (pcm.len() / self.channels as usize) as u64;
        let media = Duration::from_secs_f64(self.frames as f64 / STREAM_SAMPLE_RATE as f64);
        if media > t0.elapsed() + self.max_ahead {
            return Err(IngestError::new(
                ErrorCode::ProducerTooFast,
                format!(
                    "audio arrives faster than real time: {:.1} s of audio in {:.1} s",
                    media.as_secs_f64(),
                    t0.elapsed().as_secs_f64()
                ),
            ));
        }
        self.tx
            .send(Ingest::Pcm(pcm))
            .map_err(|_| IngestError::new(ErrorCode::Internal, "the stream's pipeline stopped"))
    }

    /// Ends the stream normally.
    pub fn end(mut self) {
        self.finished = true;
        let _ = self.tx.send(Ingest::End);
    }

    /// Fails the stream with `err` (listeners get it as `audio_stream_error`).
    pub fn fail(mut self, err: &IngestError) {
        self.finished = true;
        let _ = self.tx.send(Ingest::Fail(err.code, err.message.clone()));
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.tx.send(Ingest::Fail(
                ErrorCode::ProducerLost,
                "the producer disconnected without ending the stream".into(),
            ));
        }
    }
}

/// Starts the pipeline of `stream` for audio of `channels` channels; returns its producer.
pub fn start_pipeline(registry: &LiveRegistry, stream: Arc<LiveStream>, channels: u8) -> Result<Producer, IngestError> {
    let channels = channels.clamp(1, 2);
    let settings = OpusSettings::resolve(&OpusParams::default(), channels as usize);
    let mut encoder = settings.encoder().map_err(|e| IngestError::new(ErrorCode::Internal, e.to_string()))?;
    let pre_skip = encoder.get_lookahead().map_err(|e| IngestError::new(ErrorCode::Internal, e.to_string()))? as u32;
    stream.set_format(channels, pre_skip);
    let (tx, rx) = mpsc::sync_channel::<Ingest>(INGEST_QUEUE);
    let name = format!("live-{}", stream.id);
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let mut p = Pipeline::new(stream, channels, pre_skip);
            let mut pcm: Vec<f32> = Vec::with_capacity(LIVE_FRAME_FRAMES * channels as usize * 2);
            loop {
                match rx.recv() {
                    Ok(Ingest::Pcm(samples)) => {
                        pcm.extend_from_slice(&samples);
                        let per = LIVE_FRAME_FRAMES * channels as usize;
                        while pcm.len() >= per {
                            if let Err(e) = p.frame(&mut encoder, &pcm[..per], false) {
                                p.fail(ErrorCode::Internal, e);
                                return;
                            }
                            pcm.drain(..per);
                        }
                    }
                    Ok(Ingest::End) => {
                        if let Err(e) = p.finish(&mut encoder, &pcm) {
                            p.fail(ErrorCode::Internal, e);
                        }
                        return;
                    }
                    Ok(Ingest::Fail(code, message)) => {
                        p.fail(code, message);
                        return;
                    }
                    Err(_) => {
                        p.fail(ErrorCode::ProducerLost, "the producer disconnected".into());
                        return;
                    }
                }
            }
        })
        .map_err(|e| IngestError::new(ErrorCode::Internal, e.to_string()))?;
    Ok(Producer { tx, channels, frames: 0, started: None, max_ahead: registry.config.max_ahead, finished: false })
}

struct Pipeline {
    stream: Arc<LiveStream>,
    channels: u8,
    pre_skip: u32,
    pos: u64,
    page_seq: u32,
    crc: [u32; 256],
    packet: Vec<u8>,
}

impl Pipeline {
    fn new(stream: Arc<LiveStream>, channels: u8, pre_skip: u32) -> Self {
        Pipeline {
            stream,
            channels,
            pre_skip,
            pos: 0,
            // Pages 0 and 1 are each listener's own OpusHead and OpusTags.
            page_seq: 2,
            crc: stream_core::ogg::crc_table(),
            packet: vec![0; 4000],
        }
    }

    fn fail(&self, code: ErrorCode, message: String) {
        tracing::warn!(stream = %self.stream.id, code = code.as_str(), %message, "live stream failed");
        self.stream.publish(LiveEvent::Error { code, message });
    }

    /// Encodes one frame of PCM (a multiple of 20 ms) and publishes it. `last` marks the end of
    /// the stream (EOS page, granule trimmed to `pos + real_frames`).
    fn frame(&mut self, enc: &mut opus::Encoder, pcm: &[f32], last: bool) -> Result<(), String> {
        self.frame_trimmed(enc, pcm, last, pcm.len() / self.channels as usize)
    }

    fn frame_trimmed(&mut self, enc: &mut opus::Encoder, pcm: &[f32], last: bool, real: usize) -> Result<(), String> {
        let ch = self.channels as usize;
        let frames = pcm.len() / ch;
        let mut packets: Vec<Vec<u8>> = Vec::with_capacity(frames / PACKET_FRAMES as usize);
        for chunk in pcm.chunks(PACKET_FRAMES as usize * ch) {
            let n = enc.encode_float(chunk, &mut self.packet).map_err(|e| format!("opus encode: {e}"))?;
            packets.push(self.packet[..n].to_vec());
        }
        let session = self.stream.session;
        let header = FrameHeader {
            codec: Codec::Opus,
            channels: self.channels,
            flags: 0,
            session,
            sample_pos: self.pos,
            frame_count: frames as u32,
        };
        let mut opus = Vec::new();
        encode_opus_frame(&header, &packets, &mut opus).ok_or("opus frame")?;
        // PCM listeners get exactly the input, positioned like the Opus output after pre-skip.
        // (A stream ending on a frame boundary has an empty last frame: PCM listeners get none.)
        let (mut s16, mut f32s) = (Vec::new(), Vec::new());
        if real > 0 {
            encode_pcm_frame(Codec::PcmS16, self.channels, 0, session, self.pos, &pcm[..real * ch], &mut s16)
                .ok_or("pcm frame")?;
            encode_pcm_frame(Codec::PcmF32, self.channels, 0, session, self.pos, &pcm[..real * ch], &mut f32s)
                .ok_or("pcm frame")?;
        }
        let granule = if last { self.pre_skip as u64 + self.pos + real as u64 } else { self.pos + frames as u64 };
        let flags = if last { stream_core::ogg::FLAG_EOS } else { 0 };
        let ogg = stream_core::ogg::write_page(&self.crc, self.stream.serial, self.page_seq, granule, flags, &packets);
        let frame = LiveFrame {
            pos: self.pos,
            frames: real as u32,
            opus: Bytes::from(opus),
            pcm_s16: Bytes::from(s16),
            pcm_f32: Bytes::from(f32s),
            ogg: Bytes::from(ogg),
            ogg_seq: self.page_seq,
        };
        self.page_seq += 1;
        self.pos += real as u64;
        self.stream.publish(LiveEvent::Frame(Arc::new(frame)));
        Ok(())
    }

    /// Flushes what is left (padded to whole packets) as the last frame and ends the stream.
    fn finish(&mut self, enc: &mut opus::Encoder, rest: &[f32]) -> Result<(), String> {
        let ch = self.channels as usize;
        let real = rest.len() / ch;
        let packets = real.div_ceil(PACKET_FRAMES as usize).max(1);
        let mut pcm = rest.to_vec();
        pcm.resize(packets * PACKET_FRAMES as usize * ch, 0.0);
        self.frame_trimmed(enc, &pcm, true, real)?;
        self.stream.publish(LiveEvent::End { total_samples: self.pos });
        Ok(())
    }
}

/// The two header pages an Ogg listener gets before the shared pages, numbered so that they
/// directly precede `first_seq` (the first shared page it will receive).
pub fn ogg_headers(stream: &LiveStream, channels: u8, pre_skip: u32, first_seq: u32) -> Bytes {
    let crc = stream_core::ogg::crc_table();
    let seq0 = first_seq.saturating_sub(2);
    let mut v =
        write_page(&crc, stream.serial, seq0, 0, FLAG_BOS, &[opus_head(channels, pre_skip, STREAM_SAMPLE_RATE)]);
    v.extend(write_page(&crc, stream.serial, seq0 + 1, 0, 0, &[opus_tags(&[("TITLE", &stream.id)])]));
    Bytes::from(v)
}
