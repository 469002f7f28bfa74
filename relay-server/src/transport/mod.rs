//! Transport: the only layer that sees actix. The shared state of the handlers, the HTTP routes,
//! the WebSocket connections, the Icecast-compatible source port, the error answer and the
//! transport's own counters. Library playback and live streams below it know nothing of it.

pub mod error;
pub mod http;
pub mod icecast;
pub mod metrics;
pub mod state;
pub mod ws;

/// The host (and port) a request was sent to: the `Host` header, or the URI's authority
/// (HTTP/2 requests carry it there).
pub fn request_host(head: &actix_web::dev::RequestHead) -> Option<&str> {
    head.headers
        .get(actix_web::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| head.uri.authority().map(|a| a.as_str()))
}

/// The `Origin` header as the origin policy reads it ([`crate::origin::allowed`]).
pub fn origin_of(value: Option<&actix_web::http::header::HeaderValue>) -> Option<&str> {
    value.map(|v| v.to_str().unwrap_or(""))
}
