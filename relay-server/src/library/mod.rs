//! Library playback: the scanned media folder, producer threads that decode (and encode) a track
//! from any position, and the chunk cache of encoded Opus. Builds on `media`; knows nothing of
//! sockets, HTTP or live streams.

pub mod cache;
pub mod jobs;
pub mod opus_job;
pub mod scan;

pub use scan::*;
