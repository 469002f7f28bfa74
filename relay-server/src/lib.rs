//! The relay server: library scan, decode → resample → frame pipeline, WebSocket sessions and
//! HTTP routes. The wire format and control messages come from `stream-core`; this crate only
//! adapts them to files, threads and sockets.

pub mod config;
pub mod decode;
pub mod http;
pub mod hygiene;
pub mod icecast;
pub mod library;
pub mod live;
pub mod live_http;
pub mod live_ingest;
pub mod live_ws;
pub mod metrics;
pub mod ogg_stream;
pub mod opus_stream;
pub mod origin;
pub mod resample;
pub mod session;

pub use config::Config;

/// Thousands of listeners need as many sockets: lifts the soft limit of open files to the hard
/// one (the relay and `relay-client load` call it at start).
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
