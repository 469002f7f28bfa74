//! HTTP side of live streams: creating them, renewing listen tokens, listening as Ogg/Opus,
//! ingest by `PUT` from well-formed HTTP clients, and streams the relay plays out itself.

use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use stream_core::control::ErrorCode;

use crate::live::listen::OggListener;
use crate::live::source::SourceIngest;
use crate::live::{start_pipeline, AuthError, CreateError, IngestError, ListenerGuard, LiveEvent, Scope, SHUTDOWN_END};
use crate::transport::error::ApiError;
use crate::transport::state::AppState;

fn unauthorized(e: AuthError) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, e.message())
}

/// The bearer token of a request, if any.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let v = req.headers().get("authorization")?.to_str().ok()?;
    v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).map(str::trim)
}

/// Compares in time independent of where the strings differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks the server key; counts failures.
fn check_key(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let Some(key) = state.live.config.api_key.as_deref() else {
        return Err(ApiError::new(ErrorCode::LiveDisabled, "live streaming is off: start the relay with --api-key"));
    };
    match bearer(req) {
        Some(t) if same(t, key) => Ok(()),
        Some(_) => {
            state.live.auth_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(unauthorized(AuthError::Invalid))
        }
        None => {
            state.live.auth_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(unauthorized(AuthError::Missing))
        }
    }
}

/// Body of `POST /api/streams`: empty for a pushed stream, or library tracks the relay plays out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    #[serde(default)]
    tracks: Vec<String>,
    #[serde(default, rename = "loop")]
    looped: bool,
    /// Listed by `GET /api/streams` and heard without a listen token.
    #[serde(default)]
    public: bool,
    /// A name for the listing (a source's `ice-name` replaces it).
    #[serde(default)]
    name: Option<String>,
}

/// `POST /api/streams`
pub async fn create(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    check_key(&state, &req)?;
    let spec: CreateBody = if body.iter().all(u8::is_ascii_whitespace) {
        CreateBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(ErrorCode::InvalidParameter, format!("bad body: {e}")))?
    };
    if spec.tracks.len() > 1000 {
        return Err(ApiError::new(ErrorCode::InvalidParameter, "at most 1000 tracks"));
    }
    let mut paths = Vec::new();
    for id in &spec.tracks {
        let t = state
            .library
            .get(id)
            .filter(|t| t.playable)
            .ok_or_else(|| ApiError::new(ErrorCode::UnknownTrack, format!("no playable track {id:?}")))?;
        paths.push(t.path.clone());
    }
    let ip = req.peer_addr().map_or(std::net::IpAddr::from([127, 0, 0, 1]), |a| a.ip());
    let (stream, created) = state.live.create(ip).map_err(|e| match e {
        CreateError::RateLimited { retry_after_s } => ApiError::new(
            ErrorCode::RateLimited,
            format!("too many streams created from this address; retry in {retry_after_s} s"),
        ),
        CreateError::TooManyStreams { max } => {
            ApiError::new(ErrorCode::TooManyStreams, format!("the server holds its maximum of {max} streams"))
        }
        CreateError::Internal(m) => ApiError::new(ErrorCode::Internal, m),
    })?;
    if let Some(c) = &state.cluster {
        if let Err(code) = c.share_created(&stream, &created).await {
            // The stream works here; other nodes learn of it only through the bus.
            tracing::warn!(stream = %stream.id, code = code.as_str(), "the stream is not shared with the cluster");
        }
    }
    if let Some(n) = spec.name.as_deref() {
        if n.len() > 256 {
            return Err(ApiError::new(ErrorCode::InvalidParameter, "a name of at most 256 bytes"));
        }
        stream.set_ice(std::iter::once(("name".to_owned(), n.to_owned())).collect());
    }
    stream.public.store(spec.public, std::sync::atomic::Ordering::Relaxed);
    let relay_sourced = !paths.is_empty();
    if relay_sourced {
        stream.attach_producer();
        let producer = start_pipeline(&state.live, stream.clone(), 2).map_err(|e| ApiError::new(e.code, e.message))?;
        crate::live::playout::start_playout(
            producer,
            paths,
            spec.looped,
            stream.id.clone(),
            state.shutdown.subscribe(),
        );
    }
    let id = created.stream_id.clone();
    Ok(HttpResponse::Created().json(serde_json::json!({
        "stream_id": created.stream_id,
        "publish_token": created.publish_token.token,
        "publish_expires_at": created.publish_token.expires_at,
        "listen_token": created.listen_token.token,
        "listen_expires_at": created.listen_token.expires_at,
        "listen_ogg": format!("/live/{id}.ogg"),
        "ingest_path": format!("/live/{id}"),
        "ingest_port": state.ingest_port,
        "relay_sourced": relay_sourced,
        "public": spec.public,
    })))
}

fn stream_json(s: &crate::live::LiveStream) -> serde_json::Value {
    let mut v = s.source_json();
    let phase = match s.phase() {
        crate::live::Phase::Waiting => "waiting",
        crate::live::Phase::Live => "live",
        crate::live::Phase::Ended { .. } => "ended",
        crate::live::Phase::Failed { .. } => "failed",
    };
    v["id"] = s.id.clone().into();
    v["public"] = s.is_public().into();
    v["state"] = phase.into();
    v["listeners"] = s.counters.listeners.load(std::sync::atomic::Ordering::Relaxed).into();
    v["live_edge_sample"] = s.next_pos().into();
    v["window"] = s.window_json();
    v
}

/// `GET /api/streams`: the public streams (id, name, title, listeners), as an Icecast
/// directory lists its mounts. Private streams are never listed.
pub async fn list(state: web::Data<AppState>) -> HttpResponse {
    let mut streams: Vec<_> = state.live.all().into_iter().filter(|s| s.is_public() && s.is_open()).collect();
    streams.sort_by_key(|s| s.created);
    let list: Vec<_> = streams
        .iter()
        .map(|s| {
            let v = stream_json(s);
            serde_json::json!({ "id": v["id"], "name": v["name"], "title": v["title"], "listeners": v["listeners"], "state": v["state"] })
        })
        .collect();
    HttpResponse::Ok().json(serde_json::json!({ "streams": list }))
}

/// `GET /api/streams/{id}`: a stream's state, title and source metadata. A private stream
/// answers only with its listen or publish token (or the server key).
pub async fn info(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let by_key = state.live.config.api_key.as_deref().is_some_and(|k| bearer(&req).is_some_and(|t| same(t, k)));
    let token = q.token.as_deref().or_else(|| bearer(&req));
    let stream = match state.live.get(&id) {
        Some(s) if by_key || s.is_public() => s,
        _ => match state.authorize(&id, token, Scope::Listen).await {
            Ok(s) => s,
            Err(_) => state.authorize(&id, token, Scope::Publish).await.map_err(|(code, m)| ApiError::new(code, m))?,
        },
    };
    Ok(HttpResponse::Ok().json(stream_json(&stream)))
}

/// `POST /api/streams/{id}/listen_token`: a fresh listen token, for a holder of a valid one
/// (an embedded widget refreshing its capability) or of the server key.
pub async fn renew(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let by_key = state.live.config.api_key.as_deref().is_some_and(|k| bearer(&req).is_some_and(|t| same(t, k)));
    if !by_key {
        // A token minted on another node of a cluster is fetched here first.
        state.authorize(&id, bearer(&req), Scope::Listen).await.map_err(|(code, m)| ApiError::new(code, m))?;
    }
    let t = state.live.renew_listen(&id, bearer(&req), by_key).map_err(unauthorized)?;
    if let Some(c) = &state.cluster {
        c.share_token(&id, Scope::Listen, &t)
            .await
            .map_err(|code| ApiError::new(code, "the renewed token could not be shared with the cluster; retry"))?;
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "listen_token": t.token, "listen_expires_at": t.expires_at })))
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `GET /live/{id}.ogg?token=...`: the live stream as Ogg/Opus for any standard player.
pub async fn listen_ogg(
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let asked = Instant::now();
    let name = path.into_inner();
    let id = name.strip_suffix(".ogg").unwrap_or(&name);
    let stream =
        state.authorize(id, q.token.as_deref(), Scope::Listen).await.map_err(|(code, m)| ApiError::new(code, m))?;
    state.feed(&stream).await;
    if !state.live.admit_listener() {
        return Err(ApiError::new(ErrorCode::TooManyListeners, "the server holds its maximum of listeners"));
    }
    let guard = ListenerGuard::new(state.live.clone(), stream.clone());
    let mut sub = stream.subscribe();
    if let Some(over) = sub.over.take() {
        let m = match over {
            LiveEvent::Error { message, .. } => message,
            _ => "the stream has ended".into(),
        };
        return Err(ApiError::new(ErrorCode::StreamEnded, m));
    }
    // Headers are sent with the first frame (the channel count is known once audio flows).
    let listener = OggListener::new(state.live.clone(), guard, sub, state.shutdown.subscribe(), asked);
    let active = crate::transport::metrics::ActiveStream::new(state.metrics.clone());
    let body = futures_util::stream::unfold((listener, active), |(mut listener, active)| async move {
        let bytes = listener.next().await?;
        listener.sent(bytes.len());
        Some((Ok::<_, actix_web::Error>(bytes), (listener, active)))
    });
    Ok(HttpResponse::Ok().content_type("audio/ogg").insert_header(("Cache-Control", "no-store")).streaming(body))
}

/// `PUT /live/{id}` from a well-formed HTTP client (Content-Length or chunked body), with the
/// publish token as bearer token or basic-auth password.
pub async fn put_ingest(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    mut body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let token = bearer(&req).map(str::to_owned).or_else(|| basic_password(&req));
    let stream =
        state.authorize(&id, token.as_deref(), Scope::Publish).await.map_err(|(code, m)| ApiError::new(code, m))?;
    // A takeover in a cluster goes on where the stream stands: its backlog first.
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok());
    let mut ingest = SourceIngest::new(content_type).map_err(|e| ApiError::new(e.code, e.message))?;
    ingest.set_client(req.headers().get("user-agent").and_then(|v| v.to_str().ok()));
    state.before_producer(&stream).await;
    if !stream.attach_producer() {
        return Err(ApiError::new(ErrorCode::StreamBusy, "the stream already has a producer, or has ended"));
    }
    stream.set_ice(ice_headers(&req));
    let _active = crate::transport::metrics::ActiveStream::new(state.metrics.clone());
    let mut failure: Option<IngestError> = None;
    let mut shutdown = state.shutdown.subscribe();
    loop {
        let chunk = tokio::select! {
            c = body.next() => c,
            _ = shutdown.wait_for(|down| *down) => {
                // The stream ends where its audio does; the producer is told.
                ingest.end_here();
                ingest.finish(&state.live, &stream, None);
                return Err(ApiError::new(ErrorCode::ServerShutdown, SHUTDOWN_END));
            }
        };
        let chunk = match chunk {
            None => break,
            Some(Ok(c)) => c,
            Some(Err(_)) => break, // the client went away: producer_lost unless the stream ended
        };
        if let Err(e) = ingest.push(&state.live, &stream, &chunk) {
            failure = Some(e);
            break;
        }
    }
    if failure.is_none() {
        failure = ingest.check_end().err();
    }
    let ended = ingest.ended();
    ingest.finish(&state.live, &stream, failure.as_ref());
    match failure {
        Some(e) => Err(ApiError::new(e.code, e.message)),
        None => {
            Ok(HttpResponse::Ok().json(serde_json::json!({ "status": if ended { "ended" } else { "disconnected" } })))
        }
    }
}

/// The `ice-*` headers of a source's request.
fn ice_headers(req: &HttpRequest) -> std::collections::BTreeMap<String, String> {
    req.headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().strip_prefix("ice-")?.to_owned(), v.to_str().ok()?.to_owned())))
        .filter(|(_, v)| v.len() <= 1024)
        .take(16)
        .collect()
}

/// `GET /admin/metadata?mount=/live/{id}&mode=updinfo&song=...`: Icecast's title update, with
/// the publish token as basic-auth password (or bearer token).
pub async fn admin_metadata(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let token = bearer(&req).map(str::to_owned).or_else(|| basic_password(&req));
    crate::transport::icecast::metadata_update(&state, req.query_string(), token.as_deref())
        .await
        .map_err(|(code, m)| ApiError::new(code, m))?;
    Ok(HttpResponse::Ok().content_type("text/xml").body(
        "<?xml version=\"1.0\"?>\n<iceresponse><message>Metadata update successful</message><return>1</return></iceresponse>\n",
    ))
}

fn basic_password(req: &HttpRequest) -> Option<String> {
    use base64::Engine as _;
    let v = req.headers().get("authorization")?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    String::from_utf8(raw).ok()?.split_once(':').map(|(_, p)| p.to_owned())
}

/// `GET /api/cluster`: the nodes alive (from their heartbeats on the bus), each one's
/// listeners and streams. A relay that is not in a cluster answers with itself alone.
pub async fn cluster(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let Some(c) = &state.cluster else {
        return Ok(HttpResponse::Ok().json(serde_json::json!({ "cluster": false, "node_id": null, "nodes": [] })));
    };
    let nodes = c.nodes().await.map_err(|code| ApiError::new(code, "the cluster bus cannot be reached"))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "cluster": true,
        "node_id": c.node_id,
        "connected": c.connected.load(std::sync::atomic::Ordering::Acquire),
        "nodes": nodes,
    })))
}
