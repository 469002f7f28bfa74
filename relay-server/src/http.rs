//! HTTP routes and server assembly.

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_files::{Files, NamedFile};
use actix_web::http::{header, Method, StatusCode};
use actix_web::{dev::Server, web, App, HttpResponse, HttpServer, ResponseError};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use stream_core::control::{ErrorCode, OpusParams, MAX_OPUS_BITRATE, MIN_OPUS_BITRATE};
use stream_core::STREAM_SAMPLE_RATE;

use crate::library::{Library, TrackInfo};
use crate::metrics::Metrics;
use crate::ogg_stream::OggOpusWriter;
use crate::opus_stream::{start_opus, OpusSettings, OpusSource, PacketCache, CHUNK_PACKETS, PACKET_FRAMES};
use crate::Config;

/// What every request handler shares.
pub struct AppState {
    pub config: Config,
    pub library: Library,
    pub cache: Arc<PacketCache>,
    pub metrics: Metrics,
    /// Pre-skip of the default music encoding (the same for every libopus setting at 48 kHz).
    pub opus_pre_skip: u32,
    /// Live streams, tokens and their counters.
    pub live: Arc<crate::live::LiveRegistry>,
    /// Port of the Icecast-compatible source listener, if it runs.
    pub ingest_port: Option<u16>,
    /// `true` once the server shuts down (SIGTERM): every `/ws` connection is told and closed.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

/// An HTTP error with a stable code: `{"code": ..., "error": ...}`.
#[derive(Debug, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub code: ErrorCode,
    pub error: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.error)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(self)
    }
}

async fn tracks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.library.tracks())
}

fn find<'a>(state: &'a AppState, id: &str) -> Result<&'a TrackInfo, ApiError> {
    state.library.get(id).ok_or_else(|| ApiError {
        status: StatusCode::NOT_FOUND,
        code: ErrorCode::UnknownTrack,
        error: "no track with that id".into(),
    })
}

fn playable(t: &TrackInfo) -> Result<(), ApiError> {
    if t.playable {
        return Ok(());
    }
    Err(ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: t.error_code.unwrap_or(ErrorCode::UnsupportedFormat),
        error: format!("track cannot be played: {}", t.error.clone().unwrap_or_default()),
    })
}

/// How a track is cut for streaming and caching.
#[derive(Serialize)]
struct Layout {
    sample_rate: u32,
    codecs: [&'static str; 3],
    supports_seeking: bool,
    opus_pre_skip: u32,
    packet_frames: u64,
    chunk_packets: u64,
    chunk_frames: u64,
    chunks: Option<u64>,
}

async fn track(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let t = find(&state, &id)?;
    let pre_skip = state.opus_pre_skip as u64;
    let layout = Layout {
        sample_rate: STREAM_SAMPLE_RATE,
        codecs: ["opus", "pcm_s16", "pcm_f32"],
        supports_seeking: t.playable,
        opus_pre_skip: state.opus_pre_skip,
        packet_frames: PACKET_FRAMES,
        chunk_packets: CHUNK_PACKETS,
        chunk_frames: CHUNK_PACKETS * PACKET_FRAMES,
        chunks: t.total_samples.map(|n| (n + pre_skip).div_ceil(PACKET_FRAMES).div_ceil(CHUNK_PACKETS)),
    };
    let mut v = serde_json::to_value(t).unwrap_or_default();
    v["layout"] = serde_json::to_value(layout).unwrap_or_default();
    v["supports_seeking"] = serde_json::Value::Bool(t.playable);
    Ok(HttpResponse::Ok().json(v))
}

/// `GET /api/tracks/{id}/original`: the file itself, with Range support (206, 416).
async fn original(state: web::Data<AppState>, id: web::Path<String>) -> Result<NamedFile, ApiError> {
    let t = find(&state, &id)?;
    // The scan kept only files inside the media folder; one replaced by a link since is not served.
    let inside = match (t.path.canonicalize(), state.config.media.canonicalize()) {
        (Ok(real), Ok(root)) => real.starts_with(root),
        _ => false,
    };
    if !inside {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: ErrorCode::UnknownTrack,
            error: "file unavailable: it is no longer inside the media folder".into(),
        });
    }
    NamedFile::open_async(&t.path).await.map_err(|e| ApiError {
        status: StatusCode::NOT_FOUND,
        code: ErrorCode::UnknownTrack,
        error: format!("file unavailable: {e}"),
    })
}

#[derive(Deserialize)]
struct OggQuery {
    bitrate: Option<u32>,
    complexity: Option<u8>,
    profile: Option<String>,
}

/// `GET /api/tracks/{id}/stream.ogg`: the track as Ogg Opus, streamed as it is encoded (or
/// straight from the chunk cache).
async fn stream_ogg(
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<OggQuery>,
) -> Result<HttpResponse, ApiError> {
    let t = find(&state, &id)?;
    playable(t)?;
    let bad = |error: String| ApiError { status: StatusCode::BAD_REQUEST, code: ErrorCode::InvalidParameter, error };
    let mut params = OpusParams::default();
    match q.profile.as_deref() {
        None | Some("music") => {}
        Some("voice") => params.voice = true,
        Some(_) => return Err(bad("profile must be music or voice".into())),
    }
    if let Some(b) = q.bitrate {
        if !(MIN_OPUS_BITRATE..=MAX_OPUS_BITRATE).contains(&b) {
            return Err(bad(format!("bitrate must be from {MIN_OPUS_BITRATE} to {MAX_OPUS_BITRATE}")));
        }
        params.bitrate = Some(b);
    }
    if let Some(c) = q.complexity {
        if c > 10 {
            return Err(bad("complexity must be from 0 to 10".into()));
        }
        params.complexity = Some(c);
    }
    let settings = OpusSettings::resolve(&params, t.channels);
    let src = OpusSource { path: t.path.clone(), track_id: t.id.clone(), settings, cache: state.cache.clone() };
    let job = web::block(move || start_opus(src, 0, 16))
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: ErrorCode::Internal,
            error: e.to_string(),
        })?
        .map_err(|e| ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, code: e.code, error: e.message })?;
    let mut tags: Vec<(&str, &str)> = vec![("TITLE", t.title.as_str())];
    if let Some(a) = &t.artist {
        tags.push(("ARTIST", a));
    }
    if let Some(a) = &t.album {
        tags.push(("ALBUM", a));
    }
    let serial = u32::from_str_radix(&t.id[1..9], 16).unwrap_or(1);
    let mut writer =
        OggOpusWriter::new(serial, settings.channels, job.pre_skip, t.sample_rate, &tags).map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: ErrorCode::Internal,
            error: e.to_string(),
        })?;
    let head = writer.take();
    state.metrics.ogg_streams.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    struct St {
        rx: tokio::sync::mpsc::Receiver<crate::decode::StreamEvent>,
        w: OggOpusWriter,
        head: Option<Bytes>,
        done: bool,
        shutdown: tokio::sync::watch::Receiver<bool>,
        _active: crate::metrics::ActiveStream,
    }
    let st = St {
        rx: job.rx,
        w: writer,
        head: Some(head),
        done: false,
        shutdown: state.shutdown.subscribe(),
        _active: crate::metrics::ActiveStream::new(state.clone().into_inner()),
    };
    let body = futures_util::stream::unfold(st, |mut st| async move {
        if let Some(h) = st.head.take() {
            return Some((Ok::<Bytes, std::io::Error>(h), st));
        }
        if st.done {
            return None;
        }
        loop {
            let ev = tokio::select! {
                ev = st.rx.recv() => ev,
                Ok(_) = st.shutdown.wait_for(|down| *down) => None,
            };
            let Some(ev) = ev else {
                if !*st.shutdown.borrow() {
                    return None; // the decode thread is gone
                }
                // A server shutdown: the file ends here, whole, with its EOS page.
                st.done = true;
                return match st.w.finish_here() {
                    Ok(()) => Some((Ok(st.w.take()), st)),
                    Err(e) => Some((Err(e), st)),
                };
            };
            match st.w.event(ev) {
                Ok(finished) => {
                    let bytes = st.w.take();
                    if finished || !bytes.is_empty() {
                        st.done = finished;
                        return Some((Ok(bytes), st));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "ogg stream failed");
                    st.done = true;
                    return Some((Err(e), st));
                }
            }
        }
    });
    Ok(HttpResponse::Ok().content_type("audio/ogg").insert_header(("Cache-Control", "no-store")).streaming(body))
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut out = state.metrics.render(&state.cache);
    crate::metrics::render_live(&state.live, &mut out);
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(out)
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok", "tracks": state.library.tracks().len()}))
}

async fn not_found() -> HttpResponse {
    ApiError { status: StatusCode::NOT_FOUND, code: ErrorCode::InvalidParameter, error: "no such route".into() }
        .error_response()
}

/// CORS for every route, from `--allow-origin` (see [`crate::origin`]). A request from an origin
/// not allowed is still answered, without `Access-Control-Allow-Origin`, so the browser keeps
/// the response from the page; its preflight gets 400. Requests without `Origin` and
/// same-origin ones (the demo page, its module scripts and workers) are never affected.
/// `/ws` checks the origin itself: browsers apply no CORS to WebSockets.
fn cors(state: web::Data<AppState>) -> Cors {
    Cors::default()
        .allowed_origin_fn(move |origin, head| {
            crate::origin::allowed(Some(origin), crate::origin::request_host(head), &state.config.allow_origins)
        })
        .allowed_methods([Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::OPTIONS])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::RANGE])
        .expose_headers([header::CONTENT_RANGE, header::ACCEPT_RANGES, header::CONTENT_LENGTH, header::CONTENT_TYPE])
        .max_age(3600)
        .block_on_origin_mismatch(false)
}

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
    let live = Arc::new(crate::live::LiveRegistry::new(config.live()));
    let ingest_port = ingest.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.port());
    let state = web::Data::from(Arc::new(AppState {
        config,
        library,
        cache,
        metrics: Metrics::default(),
        opus_pre_skip,
        live,
        ingest_port,
        shutdown: tokio::sync::watch::channel(false).0,
    }));
    let shared = state.clone().into_inner();
    if let Some(ingest) = ingest {
        actix_web::rt::spawn(crate::icecast::serve(state.clone().into_inner(), ingest));
    }
    let sweeper = state.live.clone();
    actix_web::rt::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(10)).await;
            sweeper.sweep();
        }
    });
    let server = HttpServer::new(move || {
        let cfg = &state.config;
        let index = cfg.web_dir.join("index.html");
        App::new()
            .wrap(cors(state.clone()))
            .app_data(state.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/api/tracks", web::get().to(tracks))
            .route("/metrics", web::get().to(metrics))
            .route("/api/tracks/{id}", web::get().to(track))
            .route("/api/tracks/{id}/original", web::get().to(original))
            .route("/api/tracks/{id}/stream.ogg", web::get().to(stream_ogg))
            .route("/ws", web::get().to(crate::session::ws_route))
            .route("/api/streams", web::post().to(crate::live_http::create))
            .route("/api/streams/{id}/listen_token", web::post().to(crate::live_http::renew))
            .route("/live/{name}", web::get().to(crate::live_http::listen_ogg))
            .route("/live/{id}", web::put().to(crate::live_http::put_ingest))
            .route(
                "/",
                web::get().to(move || {
                    let index = index.clone();
                    async move { NamedFile::open_async(index).await }
                }),
            )
            .service(Files::new("/worklet", &cfg.worklet_dir))
            .service(Files::new("/", &cfg.web_dir))
            .default_service(web::to(not_found))
    })
    .workers(2)
    // Audio frames are small and must leave at once: without this, Nagle's algorithm holds a
    // frame that follows an unacknowledged one (the first Opus frame waited ~20 ms for the
    // client's delayed ACK).
    .tcp_nodelay(true)
    .disable_signals()
    .shutdown_timeout(shared.config.shutdown_grace_s.max(1));
    let server = match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?,
        None => server.listen(listener)?,
    }
    .run();
    Ok((server, shared))
}
