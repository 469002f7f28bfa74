//! `relay-server`: serves the media library and the demo page.

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;
use relay_server::Config;
use tracing_subscriber::EnvFilter;

/// glibc gives every thread that allocates an arena of its own (up to 8 per core), and keeps
/// what was freed in it. The relay starts a decode thread per stream, so over hours the arenas
/// of threads long gone hold megabytes (the soak measured +9 MiB per 3,000 cycles with the
/// default, flat with two). Two arenas serve two workers and the decode threads without
/// contention worth measuring here. `MALLOC_ARENA_MAX` in the environment still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

fn main() -> anyhow::Result<()> {
    limit_malloc_arenas();
    actix_web::rt::System::new().block_on(serve())
}

async fn serve() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let config = Config::parse();
    let listener =
        TcpListener::bind(&config.listen).map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let ingest = match config.ingest_listen.as_str() {
        "off" | "" => None,
        a => Some(TcpListener::bind(a).map_err(|e| anyhow::anyhow!("cannot listen on {a} (--ingest-listen): {e}"))?),
    };
    let ingest_addr = ingest.as_ref().map(|l| l.local_addr()).transpose()?;
    let scheme = if config.tls_cert.is_some() { "https" } else { "http" };
    relay_server::raise_fd_limit();
    let (server, state) = relay_server::server::build(config, listener, ingest)?;
    // The signal handlers are in place before the line below tells anyone the server is up: a
    // SIGTERM sent right after it is a graceful shutdown, never the default action.
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| anyhow::anyhow!("cannot handle SIGTERM: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| anyhow::anyhow!("cannot handle SIGINT: {e}"))?;
    // Tests and scripts read this line to learn the ports.
    match ingest_addr {
        Some(i) => println!("relay-server listening on {scheme}://{addr} (Icecast source port http://{i})"),
        None => println!("relay-server listening on {scheme}://{addr}"),
    }
    std::io::stdout().flush()?;

    // Graceful shutdown on SIGTERM or SIGINT: every /ws connection is told (listeners get
    // audio_stream_end with reason server_shutdown after their last whole frame, producers
    // server_shutdown) and closed with 1001; then the server stops, waiting for requests in
    // flight up to the grace period.
    let handle = server.handle();
    let grace = Duration::from_secs(state.config.shutdown_grace_s.max(1));
    actix_web::rt::spawn(async move {
        let which = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        let open_now = || {
            state.metrics.sessions_active.load(Ordering::Relaxed)
                + state.metrics.http_streams_active.load(Ordering::Relaxed)
        };
        let open = open_now();
        tracing::info!(signal = which, connections = open, "shutting down");
        let _ = state.shutdown.send(true);
        let t0 = Instant::now();
        while open_now() > 0 && t0.elapsed() < grace {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = open_now();
        tracing::info!(told = open, left, ms = t0.elapsed().as_millis() as u64, "connections closed");
        handle.stop(true).await;
    });
    server.await?;
    eprintln!("relay-server stopped");
    Ok(())
}
