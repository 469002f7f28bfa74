//! The HTTP routes: library, live streams, operations, the WebSocket upgrade and the static
//! files of the demo and the player.

pub mod library;
pub mod live;

use std::net::TcpListener;

use actix_cors::Cors;
use actix_files::{Files, NamedFile};
use actix_web::http::{header, Method};
use actix_web::{dev::Server, web, App, HttpResponse, HttpServer, ResponseError};
use stream_core::control::ErrorCode;

use crate::transport::error::ApiError;
use crate::transport::state::AppState;

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut out = state.metrics.render(&state.cache);
    crate::transport::metrics::render_live(&state.live, &mut out);
    if let Some(c) = &state.cluster {
        crate::transport::metrics::render_cluster(c, &mut out);
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(out)
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok", "tracks": state.library.tracks().len()}))
}

async fn not_found() -> HttpResponse {
    ApiError::new(ErrorCode::NotFound, "no such route").error_response()
}

/// CORS for every route, from `--allow-origin` (see [`crate::origin`]). A request from an origin
/// not allowed is still answered, without `Access-Control-Allow-Origin`, so the browser keeps
/// the response from the page; its preflight gets 400. Requests without `Origin` and
/// same-origin ones (the demo page, its module scripts and workers) are never affected.
/// `/ws` checks the origin itself: browsers apply no CORS to WebSockets.
fn cors(state: web::Data<AppState>) -> Cors {
    Cors::default()
        .allowed_origin_fn(move |origin, head| {
            crate::origin::allowed(
                super::origin_of(Some(origin)),
                super::request_host(head),
                &state.config.allow_origins,
            )
        })
        .allowed_methods([Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::OPTIONS])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::RANGE])
        .expose_headers([header::CONTENT_RANGE, header::ACCEPT_RANGES, header::CONTENT_LENGTH, header::CONTENT_TYPE])
        .max_age(3600)
        .block_on_origin_mismatch(false)
}
/// Binds the routes to `listener` (with TLS when given) and returns the running server future.
pub fn serve(
    state: web::Data<AppState>,
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
) -> std::io::Result<Server> {
    let grace = state.config.shutdown_grace_s.max(1);
    let server = HttpServer::new(move || {
        let cfg = &state.config;
        let index = cfg.web_dir.join("index.html");
        App::new()
            .wrap(cors(state.clone()))
            .app_data(state.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/api/tracks", web::get().to(library::tracks))
            .route("/metrics", web::get().to(metrics))
            .route("/api/tracks/{id}", web::get().to(library::track))
            .route("/api/tracks/{id}/original", web::get().to(library::original))
            .route("/api/tracks/{id}/stream.ogg", web::get().to(library::stream_ogg))
            .route("/ws", web::get().to(crate::transport::ws::session::ws_route))
            .route("/api/streams", web::post().to(live::create))
            .route("/api/streams", web::get().to(live::list))
            .route("/api/streams/{id}", web::get().to(live::info))
            .route("/api/streams/{id}/listen_token", web::post().to(live::renew))
            .route("/api/cluster", web::get().to(live::cluster))
            .route("/admin/metadata", web::get().to(live::admin_metadata))
            .route("/live/{name}", web::get().to(live::listen_ogg))
            .route("/live/{id}", web::put().to(live::put_ingest))
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
    .shutdown_timeout(grace);
    let server = match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?,
        None => server.listen(listener)?,
    }
    .run();
    Ok(server)
}
