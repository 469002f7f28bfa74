//! Counters exported on `/metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::library::cache::PacketCache;

/// Server-wide counters (relaxed atomics: they are statistics, not synchronization).
#[derive(Default)]
pub struct Metrics {
    pub sessions_active: AtomicU64,
    pub frames_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub ogg_streams: AtomicU64,
    /// WebSocket upgrades refused for an `Origin` the relay does not allow.
    pub ws_origin_refused: AtomicU64,
    /// HTTP streams in progress (Ogg listeners and downloads, PUT and Icecast producers): a
    /// shutdown waits for them to end the way it waits for WebSocket sessions.
    pub http_streams_active: AtomicU64,
}

/// Counts one HTTP stream in [`Metrics::http_streams_active`] while it lives.
pub struct ActiveStream(std::sync::Arc<Metrics>);

impl ActiveStream {
    pub fn new(metrics: std::sync::Arc<Metrics>) -> Self {
        metrics.http_streams_active.fetch_add(1, Ordering::Relaxed);
        ActiveStream(metrics)
    }
}

impl Drop for ActiveStream {
    fn drop(&mut self) {
        self.0.http_streams_active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// One binary frame of `bytes` sent on a WebSocket.
    pub fn count_frame(&self, bytes: usize) {
        self.frames_sent.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of these counters and the cache's.
    pub fn render(&self, cache: &PacketCache) -> String {
        let (bytes, chunks) = cache.usage();
        let rows: [(&str, &str, &str, u64); 12] = [
            ("relay_sessions_active", "gauge", "WebSocket sessions open", self.sessions_active.load(Ordering::Relaxed)),
            (
                "relay_http_streams_active",
                "gauge",
                "HTTP streams in progress (Ogg listeners and downloads, HTTP producers)",
                self.http_streams_active.load(Ordering::Relaxed),
            ),
            (
                "relay_frames_sent_total",
                "counter",
                "binary audio frames sent",
                self.frames_sent.load(Ordering::Relaxed),
            ),
            (
                "relay_bytes_sent_total",
                "counter",
                "bytes of binary audio frames sent",
                self.bytes_sent.load(Ordering::Relaxed),
            ),
            (
                "relay_ogg_streams_total",
                "counter",
                "Ogg/Opus HTTP streams started",
                self.ogg_streams.load(Ordering::Relaxed),
            ),
            (
                "relay_ws_origin_refused_total",
                "counter",
                "WebSocket upgrades refused for an Origin not allowed (--allow-origin)",
                self.ws_origin_refused.load(Ordering::Relaxed),
            ),
            ("relay_cache_hits_total", "counter", "chunk cache hits", cache.hits.load(Ordering::Relaxed)),
            ("relay_cache_misses_total", "counter", "chunk cache misses", cache.misses.load(Ordering::Relaxed)),
            (
                "relay_cache_evictions_total",
                "counter",
                "chunks evicted from the cache",
                cache.evictions.load(Ordering::Relaxed),
            ),
            ("relay_cache_bytes", "gauge", "bytes held by the chunk cache", bytes as u64),
            ("relay_cache_chunks", "gauge", "chunks held by the chunk cache", chunks as u64),
            ("relay_cache_capacity_bytes", "gauge", "chunk cache capacity", cache.capacity_bytes() as u64),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in rows {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        out
    }
}

/// The live part: per-stream gauges and counters (label `stream`), listeners dropped as too
/// slow, authentication failures, and the time-to-first-byte histogram of listeners.
pub fn render_live(live: &crate::live::LiveRegistry, out: &mut String) {
    let streams = live.all();
    let open = streams.iter().filter(|s| s.is_open()).count();
    let _ = writeln!(
        out,
        "# HELP relay_live_streams live streams open\n# TYPE relay_live_streams gauge\nrelay_live_streams {open}"
    );
    let _ = writeln!(
        out,
        "# HELP relay_live_listeners_total_active live listeners over all streams\n# TYPE relay_live_listeners_total_active gauge\nrelay_live_listeners_total_active {}",
        live.listeners_total.load(Ordering::Relaxed)
    );
    type Get = fn(&crate::live::StreamCounters) -> u64;
    let per: [(&str, &str, &str, Get); 5] = [
        ("relay_live_listeners", "gauge", "listeners of a live stream", |c| c.listeners.load(Ordering::Relaxed) as u64),
        ("relay_live_producers", "gauge", "producers of a live stream (0 or 1)", |c| {
            c.producers.load(Ordering::Relaxed) as u64
        }),
        ("relay_live_bytes_sent_total", "counter", "bytes of audio sent to a stream's listeners", |c| {
            c.bytes_sent.load(Ordering::Relaxed)
        }),
        ("relay_live_frames_sent_total", "counter", "audio frames sent to a stream's listeners", |c| {
            c.frames_sent.load(Ordering::Relaxed)
        }),
        ("relay_live_listeners_dropped_slow_total", "counter", "listeners of a stream dropped as too slow", |c| {
            c.dropped_slow.load(Ordering::Relaxed)
        }),
    ];
    for (name, kind, help, get) in per {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for s in &streams {
            let _ = writeln!(out, "{name}{{stream=\"{}\"}} {}", s.id, get(&s.counters));
        }
    }
    let rows = [
        (
            "relay_live_dropped_slow_total",
            "listeners dropped as too slow, all streams",
            live.dropped_slow.load(Ordering::Relaxed),
        ),
        (
            "relay_auth_failures_total",
            "requests refused for a missing, forged, expired or wrong-scope token or key",
            live.auth_failures.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, v) in rows {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
    }
    live.ttfb.render("relay_live_ttfb_seconds", "time from a listen request to its first audio byte", out);
}

/// A cluster node's bus traffic per stream (label `stream`) and whether it is connected.
pub fn render_cluster(cluster: &crate::cluster::Cluster, out: &mut String) {
    let connected = u8::from(cluster.connected.load(Ordering::Acquire));
    let _ = writeln!(
        out,
        "# HELP relay_cluster_connected 1 while this node is connected to a NATS server\n# TYPE relay_cluster_connected gauge\nrelay_cluster_connected{{node=\"{}\"}} {connected}",
        cluster.node_id
    );
    let counters = cluster.all_counters();
    type Get = fn(&crate::cluster::BusCounters) -> u64;
    let per: [(&str, &str, Get); 5] = [
        ("relay_bus_bytes_in_total", "bytes of a live stream taken from the bus", |c| {
            c.bytes_in.load(Ordering::Relaxed)
        }),
        ("relay_bus_bytes_out_total", "bytes of a live stream published on the bus", |c| {
            c.bytes_out.load(Ordering::Relaxed)
        }),
        ("relay_bus_messages_in_total", "messages of a live stream taken from the bus", |c| {
            c.messages_in.load(Ordering::Relaxed)
        }),
        ("relay_bus_messages_out_total", "messages of a live stream published on the bus", |c| {
            c.messages_out.load(Ordering::Relaxed)
        }),
        ("relay_bus_refused_total", "bus messages refused (malformed, forged, stale, an older producer's)", |c| {
            c.refused.load(Ordering::Relaxed)
        }),
    ];
    for (name, help, get) in per {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (id, c) in &counters {
            let _ = writeln!(out, "{name}{{stream=\"{id}\"}} {}", get(c));
        }
    }
}
