//! WebSocket connections on `/ws`: the upgrade (origin check), then a library session
//! (`session`) that may turn into a live listener or producer (`live`), under the connection
//! hygiene rules (`hygiene`: idle, rate and shutdown).

pub mod hygiene;
pub mod live;
pub mod session;

use actix_ws::Session;
use stream_core::control::ServerMessage;

/// Whether a text message is an `ack` (a cheap look at its type, before the full parse).
pub(crate) fn is_ack(text: &str) -> bool {
    text.len() < 256 && text.contains(r#""type":"ack""#)
}
/// Sends one control message; `false` when the socket is gone.
pub(crate) async fn send(ws: &mut Session, msg: &ServerMessage) -> bool {
    ws.text(msg.to_json()).await.is_ok()
}
