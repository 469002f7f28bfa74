//! The server assembly: scans the library, builds the shared state, starts the Icecast-compatible
//! port and the live streams' sweeper, and binds the HTTP server.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::web;
use stream_core::control::OpusParams;

use crate::library::cache::PacketCache;
use crate::library::Library;
use crate::live::LiveRegistry;
use crate::media::opus::OpusSettings;
use crate::transport::metrics::Metrics;
use crate::transport::state::AppState;
use crate::Config;

/// The TLS configuration of `--tls-cert`/`--tls-key` (rustls with ring; TLS 1.2 and 1.3).
pub fn tls_config(cert: &std::path::Path, key: &std::path::Path) -> std::io::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what} {}: {e}", path.display()))
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("cannot read the certificate", cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("cannot parse the certificate", cert, &e))?;
    if certs.is_empty() {
        return Err(bad("no certificate in", cert, &"no PEM CERTIFICATE block"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("cannot read the private key", key, &e))?;
    rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| std::io::Error::other(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("certificate and key: {e}")))
}
/// Scans the library and binds the server to `listener` (and the Icecast source port to
/// `ingest`). Returns the server future (call it inside the actix system) and the state, whose
/// `shutdown` tells every connection that the server stops. The server does not handle signals
/// itself: the binary does (see `relay-server.rs`).
pub fn build(
    config: Config,
    listener: TcpListener,
    ingest: Option<TcpListener>,
) -> std::io::Result<(Server, Arc<AppState>)> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(c), Some(k)) => Some(tls_config(c, k)?),
        _ => None,
    };
    let library = Library::scan(&config.media)?;
    tracing::info!(tracks = library.tracks().len(), media = %config.media.display(), "library scanned");
    let cache = Arc::new(PacketCache::new(config.cache_mb * 1024 * 1024));
    let opus_pre_skip = OpusSettings::resolve(&OpusParams::default(), 2)
        .pre_skip()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let live = Arc::new(LiveRegistry::new(config.live()));
    let http = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let cluster = if config.nats.is_empty() {
        None
    } else {
        let node_id = config.node_id.clone().unwrap_or_else(|| http.clone());
        let c = crate::cluster::ClusterConfig { urls: config.nats.clone(), node_id, http };
        Some(crate::cluster::Cluster::start(c, live.clone())?)
    };
    let ingest_port = ingest.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.port());
    let state = web::Data::from(Arc::new(AppState {
        config,
        library,
        cache,
        metrics: Arc::new(Metrics::default()),
        opus_pre_skip,
        live,
        ingest_port,
        shutdown: tokio::sync::watch::channel(false).0,
        cluster,
    }));
    let shared = state.clone().into_inner();
    if let Some(ingest) = ingest {
        actix_web::rt::spawn(crate::transport::icecast::serve(state.clone().into_inner(), ingest));
    }
    let sweeper = state.live.clone();
    actix_web::rt::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(10)).await;
            sweeper.sweep();
        }
    });
    let tls_listen = tls;
    let server = crate::transport::http::serve(state, listener, tls_listen)?;
    Ok((server, shared))
}

/// Thousands of listeners need as many sockets: lifts the soft limit of open files to the hard
/// one (the relay and `relay-client load` call it at start).
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
