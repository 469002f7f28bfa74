//! The Icecast-compatible port: sources `PUT /live/{stream_id}` (or the legacy `SOURCE`) with
//! HTTP basic auth whose password is the stream's publish token, then an Ogg/Opus body; and, as
//! on an Icecast server, listeners `GET /live/{stream_id}.ogg?token=...` the stream.
//!
//! Listeners here cost little: a socket and a small task writing the stream's shared Ogg pages
//! (no HTTP framework buffers, no chunked encoding: the body lasts until the connection
//! closes, as Icecast serves it). The main port serves the same URL through actix.
//!
//! Why a port of its own: an Icecast source client (ffmpeg's `icecast://` output, libshout)
//! sends `Expect: 100-continue` and then a body with neither `Content-Length` nor chunked
//! encoding, delimited only by the connection closing — the way Icecast reads it, and not HTTP
//! that general-purpose servers (actix included) accept. This listener speaks exactly that:
//! the request head (at most 8 KiB, within 10 s), `100 Continue` (or `200 OK` for clients that
//! do not ask), the body until the connection closes, then a final status. Well-formed HTTP
//! clients can use `PUT /live/{id}` on the main port instead.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use stream_core::control::{http_reason, ErrorCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::live::source::{check_title, SourceIngest};
use crate::live::{IngestError, Scope, SHUTDOWN_END};
use crate::transport::state::AppState;

const MAX_HEAD_BYTES: usize = 8 * 1024;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A source that sends nothing for this long is gone.
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts source connections until the server stops.
pub async fn serve(state: Arc<AppState>, listener: std::net::TcpListener) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(listener) = TcpListener::from_std(listener) else { return };
    loop {
        let Ok((sock, peer)) = listener.accept().await else { continue };
        let state = state.clone();
        actix_web::rt::spawn(async move {
            if let Err(e) = source(state, sock).await {
                tracing::debug!(%peer, error = %e, "source connection ended");
            }
        });
    }
}

struct Head {
    method: String,
    path: String,
    password: Option<String>,
    expect_continue: bool,
    content_length: Option<u64>,
    content_type: Option<String>,
    user_agent: Option<String>,
    /// `ice-*` headers (name without the prefix), as Icecast keeps them for the mount.
    ice: std::collections::BTreeMap<String, String>,
}

fn parse_head(text: &str) -> Option<Head> {
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let mut head = Head {
        method,
        path,
        password: None,
        expect_continue: false,
        content_length: None,
        content_type: None,
        user_agent: None,
        ice: Default::default(),
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "authorization" => {
                // Basic (user "source", the publish token as password), or a bearer token.
                if let Some(b64) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) {
                    let text = base64::engine::general_purpose::STANDARD
                        .decode(b64.trim())
                        .ok()
                        .and_then(|raw| String::from_utf8(raw).ok());
                    head.password = text.and_then(|t| t.split_once(':').map(|(_, p)| p.to_owned()));
                } else if let Some(t) = value.strip_prefix("Bearer ") {
                    head.password = Some(t.trim().to_owned());
                }
            }
            "expect" => head.expect_continue = value.eq_ignore_ascii_case("100-continue"),
            "content-length" => head.content_length = value.parse().ok(),
            "content-type" => head.content_type = Some(value.to_owned()),
            "user-agent" => head.user_agent = Some(value.to_owned()),
            n => {
                if let Some(key) = n.strip_prefix("ice-") {
                    if head.ice.len() < 16 && value.len() <= 1024 {
                        head.ice.insert(key.to_owned(), value.to_owned());
                    }
                }
            }
        }
    }
    Some(head)
}

/// A refusal: the status of `code` from the one table ([`ErrorCode::http_status`]) and the
/// JSON body every HTTP refusal has.
async fn respond(sock: &mut TcpStream, code: ErrorCode, message: &str) -> std::io::Result<()> {
    let body = serde_json::json!({ "code": code.as_str(), "error": message }).to_string();
    let status = code.http_status();
    reply(sock, &format!("{status} {}", http_reason(status)), &body).await
}

async fn reply(sock: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let extra = if status.starts_with("401") { "WWW-Authenticate: Basic realm=\"relay\"\r\n" } else { "" };
    let msg = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(msg.as_bytes()).await?;
    sock.shutdown().await
}

async fn source(state: Arc<AppState>, mut sock: TcpStream) -> std::io::Result<()> {
    let _ = sock.set_nodelay(true);
    // The request head.
    let mut buf = Vec::with_capacity(1024);
    let head_end = tokio::time::timeout(HEAD_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return Ok::<_, std::io::Error>(Some(i + 4));
            }
            if buf.len() > MAX_HEAD_BYTES {
                return Ok(None);
            }
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request head"))??;
    let Some(head_end) = head_end else {
        return respond(&mut sock, ErrorCode::MalformedMessage, "no complete request head").await;
    };
    let Some(head) = std::str::from_utf8(&buf[..head_end]).ok().and_then(parse_head) else {
        return respond(&mut sock, ErrorCode::MalformedMessage, "malformed request head").await;
    };
    if head.method == "GET" && head.path.starts_with("/admin/metadata") {
        let q = head.path.split_once('?').map_or("", |(_, q)| q);
        return match metadata_update(&state, q, head.password.as_deref()).await {
            Ok(()) => reply_xml(&mut sock).await,
            Err((code, m)) => respond(&mut sock, code, &m).await,
        };
    }
    if head.method == "GET" {
        // A task of its own: this one's state (head buffers) is freed for the stream's duration.
        drop(buf);
        actix_web::rt::spawn(listener(state, sock, head.path));
        return Ok(());
    }
    if head.method != "PUT" && head.method != "SOURCE" {
        return respond(&mut sock, ErrorCode::MethodNotAllowed, "use PUT /live/{stream_id}").await;
    }
    let id = head.path.strip_prefix("/live/").unwrap_or(head.path.trim_start_matches('/'));
    let id = id.split('?').next().unwrap_or_default();
    let stream = match state.authorize(id, head.password.as_deref(), Scope::Publish).await {
        Ok(s) => s,
        Err((code, m)) => return respond(&mut sock, code, &m).await,
    };
    let mut ingest = match SourceIngest::new(head.content_type.as_deref()) {
        Ok(i) => i,
        Err(e) => return respond(&mut sock, e.code, &e.message).await,
    };
    ingest.set_client(head.user_agent.as_deref());
    state.before_producer(&stream).await;
    if !stream.attach_producer() {
        return respond(&mut sock, ErrorCode::StreamBusy, "the stream already has a producer, or has ended").await;
    }
    stream.set_ice(head.ice.clone());
    if head.expect_continue {
        sock.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    } else {
        sock.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await?;
    }
    tracing::info!(stream = %stream.id, "Icecast source connected");
    let _active = crate::transport::metrics::ActiveStream::new(state.metrics.clone());
    let mut shutdown = state.shutdown.subscribe();
    let mut shutting_down = false;
    let mut left = head.content_length;
    let mut result: Result<(), IngestError> = Ok(());
    let first = &buf[head_end..];
    if !first.is_empty() {
        let take = left.map_or(first.len(), |l| (l as usize).min(first.len()));
        left = left.map(|l| l - take as u64);
        result = ingest.push(&state.live, &stream, &first[..take]);
    }
    let mut chunk = vec![0u8; 16 * 1024];
    while result.is_ok() && left != Some(0) {
        let read = tokio::select! {
            r = tokio::time::timeout(BODY_IDLE_TIMEOUT, sock.read(&mut chunk)) => r,
            _ = shutdown.wait_for(|down| *down) => {
                // The stream ends normally where its audio does (listeners get the EOS page).
                ingest.end_here();
                shutting_down = true;
                break;
            }
        };
        let n = match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => n,
        };
        let take = left.map_or(n, |l| (l as usize).min(n));
        left = left.map(|l| l - take as u64);
        result = ingest.push(&state.live, &stream, &chunk[..take]);
    }
    if result.is_ok() && !shutting_down {
        result = ingest.check_end();
    }
    match result {
        Ok(()) => {
            let clean = ingest.ended();
            ingest.finish(&state.live, &stream, None);
            if shutting_down {
                // A client that waits for a final answer (Expect: 100-continue) gets the reason;
                // an Icecast source, answered at the start, sees its connection close.
                if head.expect_continue {
                    let _ = respond(&mut sock, ErrorCode::ServerShutdown, SHUTDOWN_END).await;
                } else {
                    let _ = sock.shutdown().await;
                }
                return Ok(());
            }
            if head.expect_continue {
                let body = serde_json::json!({ "status": if clean { "ended" } else { "disconnected" } }).to_string();
                let _ = reply(&mut sock, "200 OK", &body).await;
            }
            Ok(())
        }
        Err(e) => {
            tracing::warn!(stream = %stream.id, error = %e, "Icecast source refused");
            ingest.finish(&state.live, &stream, Some(&e));
            respond(&mut sock, e.code, &e.message).await
        }
    }
}

/// The query of Icecast's metadata update (`/admin/metadata?mount=/live/ID&mode=updinfo&song=...`).
#[derive(serde::Deserialize)]
pub struct MetadataQuery {
    mount: Option<String>,
    mode: Option<String>,
    song: Option<String>,
    /// Some clients send the title as `title` (with `artist`) instead of `song`.
    title: Option<String>,
    artist: Option<String>,
}

/// Icecast's metadata update, with the source's credentials (the stream's publish token): the
/// title goes into the stream where its audio stands when the update arrives.
pub async fn metadata_update(state: &AppState, query: &str, password: Option<&str>) -> Result<(), (ErrorCode, String)> {
    let bad = |m: String| (ErrorCode::InvalidParameter, m);
    let q = actix_web::web::Query::<MetadataQuery>::from_query(query).map_err(|e| bad(format!("bad query: {e}")))?;
    if q.mode.as_deref() != Some("updinfo") {
        return Err(bad("mode must be updinfo".into()));
    }
    let mount = q.mount.as_deref().ok_or_else(|| bad("mount is missing".into()))?;
    let id = mount.trim_start_matches('/');
    let id = id.strip_prefix("live/").unwrap_or(id);
    let id = id.trim_end_matches(".ogg");
    let song = match (&q.song, &q.title) {
        (Some(s), _) => s.clone(),
        (None, Some(t)) => crate::live::source::mpeg::song(q.artist.clone(), Some(t.clone())).unwrap_or_default(),
        (None, None) => return Err(bad("song is missing".into())),
    };
    let title = check_title(&song).map_err(|e| (e.code, e.message))?;
    let stream = state.authorize(id, password, Scope::Publish).await?;
    stream.set_title_update(title);
    Ok(())
}

/// Icecast's answer to a metadata update (source clients look for `<return>1</return>`).
async fn reply_xml(sock: &mut TcpStream) -> std::io::Result<()> {
    let body = "<?xml version=\"1.0\"?>\n<iceresponse><message>Metadata update successful</message><return>1</return></iceresponse>\n";
    let msg = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(msg.as_bytes()).await?;
    sock.shutdown().await
}

/// A listener on this port: `GET /live/{id}.ogg?token=...`, answered like Icecast (HTTP/1.0,
/// the body until the stream ends or the listener falls behind).
async fn listener(state: Arc<AppState>, mut sock: TcpStream, path: String) -> std::io::Result<()> {
    use crate::live::listen::OggListener;
    use crate::live::ListenerGuard;
    let asked = std::time::Instant::now();
    let (p, query) = path.split_once('?').unwrap_or((&path, ""));
    let id = p.strip_prefix("/live/").unwrap_or(p).trim_end_matches(".ogg");
    let token = query.split('&').find_map(|kv| kv.strip_prefix("token="));
    let stream = match state.authorize(id, token, Scope::Listen).await {
        Ok(s) => s,
        Err((code, m)) => return respond(&mut sock, code, &m).await,
    };
    state.feed(&stream).await;
    if !state.live.admit_listener() {
        return respond(&mut sock, ErrorCode::TooManyListeners, "the server is full").await;
    }
    let guard = ListenerGuard::new(state.live.clone(), stream.clone());
    let sub = stream.subscribe();
    if sub.over.is_some() {
        return respond(&mut sock, ErrorCode::StreamEnded, "the stream has ended").await;
    }
    sock.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: audio/ogg\r\nCache-Control: no-store\r\n\r\n").await?;
    let _active = crate::transport::metrics::ActiveStream::new(state.metrics.clone());
    let mut listener = OggListener::new(state.live.clone(), guard, sub, state.shutdown.subscribe(), asked);
    while let Some(bytes) = listener.next().await {
        match tokio::time::timeout(state.live.config.send_timeout, sock.write_all(&bytes)).await {
            Ok(Ok(())) => listener.sent(bytes.len()),
            Ok(Err(_)) => break,
            Err(_) => {
                listener.stalled();
                break;
            }
        }
    }
    let _ = sock.shutdown().await;
    Ok(())
}
