//! The relay server: library scan, decode → resample → frame pipeline, WebSocket sessions and
//! HTTP routes. The wire format and control messages come from `stream-core`; this crate only
//! adapts them to files, threads and sockets.

pub mod config;
pub mod decode;
pub mod http;
pub mod icecast;
pub mod library;
pub mod live;
pub mod live_http;
pub mod live_ingest;
pub mod live_ws;
pub mod metrics;
pub mod ogg_stream;
pub mod opus_stream;
pub mod resample;
pub mod session;

pub use config::Config;
