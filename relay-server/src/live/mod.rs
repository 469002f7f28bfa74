//! Live streams: capabilities, one encoding pipeline per stream, fan-out to listeners.
//!
//! - A stream is created with `POST /api/streams` (server key). It gets an id and two kinds of
//!   capability: a publish token and listen tokens, each 128 bits from the OS RNG, scoped and
//!   expiring; listen tokens can be renewed while the stream is live.
//! - Audio comes in from one producer at a time (a WebSocket `publish`, an Icecast-style `PUT`
//!   of Ogg/Opus, or the relay itself playing library tracks), is decoded to 48 kHz PCM, and the
//!   stream's pipeline thread cuts it into 200 ms frames, each encoded once: Opus (libopus, the
//!   library's music settings), PCM s16 and f32 wire frames, and an Ogg page. Listeners share
//!   those bytes.
//! - Fan-out is a `tokio::sync::broadcast` ring of frames (the per-listener queue is a cursor into
//!   it, never a copy): a listener that falls more than the ring behind is told
//!   `listener_too_slow` and dropped, and server memory does not grow with it. A late joiner
//!   first gets the most recent burst (1 s) so its player starts at once.

pub mod ingest;
pub mod listen;
mod pipeline;
pub mod playout;
mod registry;
pub mod source;
mod stream;
mod token;

pub use listen::{ogg_headers, ShutdownWait};
pub use pipeline::*;
pub use registry::*;
pub use source::Title;
pub use stream::*;
pub use token::*;

use crate::media::opus::PACKET_FRAMES;

/// Opus packets (20 ms) per live frame: 200 ms frames. Each frame is one message (or one Ogg
/// page) per listener: at thousands of listeners the message rate is what costs CPU, and a late
/// joiner's burst makes the frame length irrelevant to how fast it starts.
pub const LIVE_PACKETS_PER_FRAME: usize = 10;
/// Frames (at 48 kHz) per live frame.
pub const LIVE_FRAME_FRAMES: usize = PACKET_FRAMES as usize * LIVE_PACKETS_PER_FRAME;
/// Live frames the fan-out ring holds: how far (6.4 s) a listener may fall behind before it is
/// dropped as too slow.
pub const RING_FRAMES: usize = 32;
/// The session number every listener of a live stream sees (frames are encoded once for all):
/// far above the per-connection counters of library playback.
pub const LIVE_SESSION_BASE: u32 = 0x4000_0000;
/// PCM chunks queued between an ingest and the pipeline thread.
const INGEST_QUEUE: usize = 64;
