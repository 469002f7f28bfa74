//! WebSocket helpers: connect to the relay's `/ws`, send and read JSON control messages.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::Server;

/// A client connection to the relay.
pub type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to the relay's `/ws`.
pub async fn connect(server: &Server) -> Ws {
    tokio_tungstenite::connect_async(server.ws_url()).await.expect("ws connect").0
}

/// Sends one JSON control message.
pub async fn send_json(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.expect("send");
}

/// The next text message as JSON, within 20 s (binary frames, pings and pongs are skipped; a
/// close or the end of the stream fails the test).
pub async fn next_json(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("a message within 20 s") {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).expect("json"),
            Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}
