//! What every request handler and connection shares.

use std::sync::Arc;

use crate::library::cache::PacketCache;
use crate::library::Library;
use crate::live::LiveRegistry;
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
}
