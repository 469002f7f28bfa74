//! `relay-server`: serves the media library and the demo page.

use std::io::Write;
use std::net::TcpListener;

use clap::Parser;
use relay_server::Config;
use tracing_subscriber::EnvFilter;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
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
    relay_server::raise_fd_limit();
    let server = relay_server::http::build(config, listener, ingest)?;
    // Tests and scripts read this line to learn the ports.
    match ingest_addr {
        Some(i) => println!("relay-server listening on http://{addr} (Icecast source port http://{i})"),
        None => println!("relay-server listening on http://{addr}"),
    }
    std::io::stdout().flush()?;
    server.await?;
    Ok(())
}
