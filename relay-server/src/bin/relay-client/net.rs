//! The client's network helpers: the `/ws` URL of a server and a tiny HTTP/1.0 client.

use anyhow::Context;

pub(crate) fn ws_url(server: &str) -> String {
    let base = server.trim_end_matches('/');
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}/ws")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}/ws")
    } else {
        format!("{base}/ws")
    }
}

/// A tiny HTTP/1.0 GET of `path` on an http:// server: the body (keeps the client free of an
/// HTTP stack for the few calls it makes).
pub(crate) async fn http_get(server: &str, path: &str) -> anyhow::Result<String> {
    Ok(http_request(server, "GET", path, None).await?.1)
}

/// A tiny HTTP/1.0 request with an optional bearer token and no body: (status, body).
pub(crate) async fn http_request(
    server: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let base = server.trim_end_matches('/');
    let host = base.strip_prefix("http://").context("an http:// server URL is needed")?;
    let mut stream = tokio::net::TcpStream::connect(host).await.with_context(|| format!("connect {host}"))?;
    let auth = bearer.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let length = if method == "GET" { "" } else { "Content-Length: 0\r\n" };
    stream.write_all(format!("{method} {path} HTTP/1.0\r\nHost: {host}\r\n{auth}{length}\r\n").as_bytes()).await?;
    let mut body = Vec::new();
    stream.read_to_end(&mut body).await?;
    let text = String::from_utf8_lossy(&body);
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()))
}
