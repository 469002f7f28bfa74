//! What every request handler and connection shares.

use std::sync::Arc;

use stream_core::control::ErrorCode;

use crate::cluster::Cluster;
use crate::library::cache::PacketCache;
use crate::library::Library;
use crate::live::{LiveRegistry, LiveStream, Phase, Scope};
use crate::transport::metrics::Metrics;
use crate::Config;

/// What every request handler shares.
pub struct AppState {
    pub config: Config,
    pub library: Library,
    pub cache: Arc<PacketCache>,
    pub metrics: Arc<Metrics>,
    /// Pre-skip of the default music encoding (the same for every libopus setting at 48 kHz).
    pub opus_pre_skip: u32,
    /// Live streams, tokens and their counters.
    pub live: Arc<LiveRegistry>,
    /// Port of the Icecast-compatible source listener, if it runs.
    pub ingest_port: Option<u16>,
    /// `true` once the server shuts down (SIGTERM): every `/ws` connection is told and closed.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// This node's membership of a cluster (`--nats`), if any.
    pub cluster: Option<Arc<Cluster>>,
}

impl AppState {
    /// Checks a live stream's token: on this node, and in a cluster on the bus as well.
    pub async fn authorize(
        &self,
        id: &str,
        token: Option<&str>,
        scope: Scope,
    ) -> Result<Arc<LiveStream>, (ErrorCode, String)> {
        // A public stream is heard without a token, as an Icecast mount.
        if scope == Scope::Listen {
            if let Some(s) = self.live.get(id).filter(|s| s.is_public()) {
                return Ok(s);
            }
        }
        match &self.cluster {
            None => self.live.authorize(id, token, scope).map_err(|e| (ErrorCode::Unauthorized, e.message())),
            Some(c) => c.authorize(id, token, scope).await.map_err(|e| (e.code(), e.message())),
        }
    }

    /// In a cluster, makes sure the stream's audio comes here from the bus when its producer
    /// is elsewhere (and its backlog is in). Alone, nothing to do.
    pub async fn feed(&self, stream: &Arc<LiveStream>) {
        if let Some(c) = &self.cluster {
            c.feed(stream).await;
        }
    }

    /// Before a producer attaches: in a cluster, a stream already live elsewhere is taken over
    /// where it stands, so its backlog comes here first.
    pub async fn before_producer(&self, stream: &Arc<LiveStream>) {
        if stream.phase() == Phase::Live {
            self.feed(stream).await;
        }
    }
}
