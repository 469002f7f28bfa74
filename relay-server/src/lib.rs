//! The relay server, in layers whose dependencies only point down:
//!
//! - [`media`]: decode, resample, Opus settings, Ogg framing (no sockets, no actix);
//! - [`library`]: the scanned media folder, producer threads, the chunk cache;
//! - [`live`]: live streams, tokens, the ingest pipeline, fan-out, playout (no actix);
//! - [`cluster`]: relays as one on a NATS bus: the registry in JetStream key-value buckets, live
//!   frames on subjects (no actix);
//! - [`transport`]: the only code that sees actix (state, HTTP, WebSocket, Icecast port);
//! - [`server`]: the assembly the binaries start.
//!
//! The wire format and control messages come from `stream-core`; `config` and `origin` are
//! leaves every layer may read. docs/architecture.md draws the layers and the path of a play.

pub mod cluster;
pub mod config;
pub mod library;
pub mod live;
pub mod media;
pub mod origin;
pub mod server;
pub mod transport;

pub use config::Config;
pub use server::raise_fd_limit;
