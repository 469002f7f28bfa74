//! Every live stream and token of the server, its limits, and the listener count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

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
    /// How much of a stream is kept for listeners to rewind into.
    pub timeshift: Duration,
    /// How long a stream waits for its Icecast source to come back.
    pub source_grace: Duration,
    /// How long a created stream waits for its producer.
    pub idle_timeout: Duration,
}

/// Every live stream and token of the server.
pub struct LiveRegistry {
    pub config: LiveConfig,
    pub(super) streams: Mutex<HashMap<String, Arc<LiveStream>>>,
    pub(super) tokens: Mutex<HashMap<String, TokenInfo>>,
    pub(super) rate: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    pub next_session: AtomicU64,
    pub listeners_total: AtomicUsize,
    pub auth_failures: AtomicU64,
    pub dropped_slow: AtomicU64,
    pub ttfb: Histogram,
    /// Called when a stream's pipeline starts on this node (before its first frame): how a
    /// cluster learns that this node now produces the stream.
    pub on_pipeline: std::sync::OnceLock<PipelineHook>,
    /// The relay is a node of a cluster: its streams' producers may move between nodes.
    pub clustered: std::sync::atomic::AtomicBool,
}

/// What [`LiveRegistry::on_pipeline`] calls.
pub type PipelineHook = Box<dyn Fn(&Arc<LiveStream>) + Send + Sync>;

/// A token as the cluster shares it: its stream, scope and expiry (Unix seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedToken {
    pub stream_id: String,
    pub scope: Scope,
    pub expires_at: u64,
}

/// A Prometheus histogram of seconds.
pub struct Histogram {
    pub(super) bounds: &'static [f64],
    pub(super) counts: Vec<AtomicU64>,
    pub(super) sum_us: AtomicU64,
    pub(super) count: AtomicU64,
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
            on_pipeline: std::sync::OnceLock::new(),
            clustered: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(super) fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LiveStream>>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, TokenInfo>> {
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
    pub(super) fn rate_check(&self, ip: IpAddr) -> Result<(), u64> {
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

    pub(super) fn issue(&self, stream_id: &str, scope: Scope) -> std::io::Result<IssuedToken> {
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
        let stream = Arc::new(LiveStream::new(
            id.clone(),
            LIVE_SESSION_BASE + (n & 0x0fff_ffff),
            serial,
            burst,
            self.clustered.load(Ordering::Relaxed),
        ));
        stream.history_cap.store(self.history_frames(), Ordering::Relaxed);
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

    /// [`LiveRegistry::authorize`] without counting a failure.
    pub fn check(&self, id: &str, token: Option<&str>, scope: Scope) -> Result<Arc<LiveStream>, AuthError> {
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

    /// Frames of the time-shift window.
    fn history_frames(&self) -> usize {
        (self.config.timeshift.as_millis() as usize * 48).div_ceil(LIVE_FRAME_FRAMES)
    }

    fn burst_frames(&self) -> usize {
        (self.config.burst_ms as usize * 48).div_ceil(LIVE_FRAME_FRAMES).max(1)
    }

    /// The local copy of a stream made on another node of the cluster (its id, session and
    /// Ogg serial come from the bus, so every node's listeners see the same frames).
    pub fn adopt(&self, id: &str, session: u32, serial: u32) -> Arc<LiveStream> {
        let mut streams = self.streams();
        streams
            .entry(id.to_owned())
            .or_insert_with(|| {
                let s = Arc::new(LiveStream::new(id.to_owned(), session, serial, self.burst_frames(), true));
                s.history_cap.store(self.history_frames(), Ordering::Relaxed);
                s
            })
            .clone()
    }

    /// Takes a token issued by another node (its expiry as Unix seconds).
    pub fn adopt_token(&self, token: &str, t: &SharedToken) {
        let left = Duration::from_secs(t.expires_at.saturating_sub(unix_now()));
        self.tokens().insert(
            token.to_owned(),
            TokenInfo { stream_id: t.stream_id.clone(), scope: t.scope, expires: Instant::now() + left },
        );
    }

    /// Forgets a token (revoked or expired on another node).
    pub fn forget_token(&self, token: &str) {
        self.tokens().remove(token);
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
    pub(super) registry: Arc<LiveRegistry>,
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
