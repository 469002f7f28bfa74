//! Transport: the only layer that sees actix. The shared state of the handlers, the HTTP routes,
//! the WebSocket connections, the Icecast-compatible source port, the error answer and the
//! transport's own counters. Library playback and live streams below it know nothing of it.

pub mod error;
pub mod http;
pub mod icecast;
pub mod metrics;
pub mod state;
pub mod ws;
