//! Counters exported on `/metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::opus_stream::PacketCache;

/// Server-wide counters (relaxed atomics: they are statistics, not synchronization).
#[derive(Default)]
pub struct Metrics {
    pub sessions_active: AtomicU64,
    pub frames_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub ogg_streams: AtomicU64,
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
        let rows: [(&str, &str, &str, u64); 10] = [
            ("relay_sessions_active", "gauge", "WebSocket sessions open", self.sessions_active.load(Ordering::Relaxed)),
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
