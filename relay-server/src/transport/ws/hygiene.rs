//! WebSocket hygiene shared by every `/ws` connection (library sessions, live listeners and
//! producers): a heartbeat ping with a timeout, a cap on messages per second, and the server's
//! shutdown signal.
//!
//! Close codes (RFC 6455 7.4.1): 1001 "going away" when the peer stopped answering pings or the
//! server shuts down, 1008 "policy violation" over the message rate, 1009 "message too big"
//! (see `session.rs`), 1002 on protocol errors.

use std::time::{Duration, Instant};

use actix_ws::{CloseCode, CloseReason};
use tokio::sync::watch;

use crate::config::Config;

/// What [`Guard::tick`] woke up for.
pub enum Tick {
    /// Time to ping the peer.
    Ping,
    /// The peer sent nothing (not even a pong) for longer than the timeout.
    TimedOut,
    /// The server is shutting down.
    Shutdown,
}

/// One connection's heartbeat, rate limit and shutdown watch.
pub struct Guard {
    last_seen: Instant,
    timeout: Duration,
    ping: tokio::time::Interval,
    /// Token bucket: `rate` messages per second, up to `burst` at once.
    tokens: f64,
    rate: f64,
    burst: f64,
    refilled: Instant,
    shutdown: watch::Receiver<bool>,
    shutdown_closed: bool,
}

impl Guard {
    pub fn new(config: &Config, shutdown: watch::Receiver<bool>) -> Self {
        let period = Duration::from_secs(config.ws_ping_interval_s.max(1));
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let rate = config.max_messages_per_s.max(1) as f64;
        let now = Instant::now();
        Guard {
            last_seen: now,
            timeout: Duration::from_secs(config.ws_timeout_s.max(1)),
            ping,
            tokens: 2.0 * rate,
            rate,
            burst: 2.0 * rate,
            refilled: now,
            shutdown,
            shutdown_closed: false,
        }
    }

    /// The peer sent something (any frame, pongs included): it is alive.
    pub fn seen(&mut self) {
        self.last_seen = Instant::now();
    }

    /// Counts a message costing `cost` (1 for a command, less for cheap ones); `false` when it
    /// is over the rate.
    pub fn admit(&mut self, cost: f64) -> bool {
        self.seen();
        let now = self.last_seen;
        self.tokens = (self.tokens + now.duration_since(self.refilled).as_secs_f64() * self.rate).min(self.burst);
        self.refilled = now;
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// The messages per second this connection may send.
    pub fn rate(&self) -> u32 {
        self.rate as u32
    }

    /// Whether the server is shutting down already.
    pub fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Waits for the next ping time or the shutdown. Cancel-safe (for `select!`).
    pub async fn tick(&mut self) -> Tick {
        if self.shutting_down() {
            return Tick::Shutdown;
        }
        loop {
            tokio::select! {
                _ = self.ping.tick() => {
                    return if self.last_seen.elapsed() > self.timeout { Tick::TimedOut } else { Tick::Ping };
                }
                changed = self.shutdown.changed(), if !self.shutdown_closed => {
                    if changed.is_ok() {
                        return Tick::Shutdown;
                    }
                    // The sender is gone (no signal handler): there will be no shutdown.
                    self.shutdown_closed = true;
                }
            }
        }
    }

    /// The close of a peer that stopped answering.
    pub fn timeout_close(&self) -> CloseReason {
        CloseReason {
            code: CloseCode::Away,
            description: Some(format!("no message or pong for {} s", self.timeout.as_secs())),
        }
    }

    /// The close of a peer over the message rate.
    pub fn rate_close(&self) -> CloseReason {
        CloseReason {
            code: CloseCode::Policy,
            description: Some(format!("more than {} messages per second", self.rate as u32)),
        }
    }
}

/// The close every connection gets when the server shuts down.
pub fn shutdown_close() -> CloseReason {
    CloseReason { code: CloseCode::Away, description: Some("server shutting down".into()) }
}
