//! WebSocket connections on `/ws`: the upgrade (origin check), then a library session
//! (`session`) that may turn into a live listener or producer (`live`), under the connection
//! hygiene rules (`hygiene`: idle, rate and shutdown).

pub mod hygiene;
pub mod live;
pub mod session;

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::Session;
use stream_core::control::{ErrorCode, ServerMessage};

use crate::transport::state::AppState;

/// `GET /ws`: upgrades and spawns the session task. A browser page of an origin the relay does
/// not allow gets 403 `origin_not_allowed` before the upgrade: browsers do not apply CORS to
/// WebSockets, so this check is the only thing that keeps other sites' pages off the socket.
pub async fn ws_route(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let origin = req.headers().get(actix_web::http::header::ORIGIN);
    if !crate::origin::allowed(super::origin_of(origin), super::request_host(req.head()), &state.config.allow_origins) {
        let origin = origin.map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned()).unwrap_or_default();
        state.metrics.ws_origin_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(%origin, "WebSocket upgrade refused: origin not allowed");
        return Err(crate::transport::error::ApiError::new(
            ErrorCode::OriginNotAllowed,
            crate::origin::refusal_message(&origin),
        )
        .into());
    }
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let max = state.config.max_message_bytes;
    let stream = stream.max_frame_size(max).aggregate_continuations().max_continuation_size(max);
    actix_web::rt::spawn(session::run(state.into_inner(), session, stream));
    Ok(response)
}

/// Whether a text message is an `ack` (a cheap look at its type, before the full parse).
pub(crate) fn is_ack(text: &str) -> bool {
    text.len() < 256 && text.contains(r#""type":"ack""#)
}
/// Sends one control message; `false` when the socket is gone.
pub(crate) async fn send(ws: &mut Session, msg: &ServerMessage) -> bool {
    ws.text(msg.to_json()).await.is_ok()
}
