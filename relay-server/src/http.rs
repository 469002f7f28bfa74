//! HTTP routes and server assembly.

use std::net::TcpListener;
use std::sync::Arc;

use actix_files::{Files, NamedFile};
use actix_web::{dev::Server, http::StatusCode, web, App, HttpResponse, HttpServer, ResponseError};
use serde::Serialize;
use stream_core::control::ErrorCode;

use crate::library::Library;
use crate::Config;

/// What every request handler shares.
pub struct AppState {
    pub config: Config,
    pub library: Library,
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

async fn track(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let t = state.library.get(&id).ok_or_else(|| ApiError {
        status: StatusCode::NOT_FOUND,
        code: ErrorCode::UnknownTrack,
        error: "no track with that id".into(),
    })?;
    Ok(HttpResponse::Ok().json(t))
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok", "tracks": state.library.tracks().len()}))
}

async fn not_found() -> HttpResponse {
    ApiError { status: StatusCode::NOT_FOUND, code: ErrorCode::InvalidParameter, error: "no such route".into() }
        .error_response()
}

/// Scans the library and binds the server to `listener`. Returns the server future.
pub fn build(config: Config, listener: TcpListener) -> std::io::Result<Server> {
    let library = Library::scan(&config.media)?;
    tracing::info!(tracks = library.tracks().len(), media = %config.media.display(), "library scanned");
    let state = web::Data::from(Arc::new(AppState { config, library }));
    let server = HttpServer::new(move || {
        let cfg = &state.config;
        let index = cfg.web_dir.join("index.html");
        App::new()
            .app_data(state.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/api/tracks", web::get().to(tracks))
            .route("/api/tracks/{id}", web::get().to(track))
            .route("/ws", web::get().to(crate::session::ws_route))
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
    .listen(listener)?
    .run();
    Ok(server)
}
