//! The Ogg listener loop, for every listener that gets a live stream as an Ogg/Opus byte stream
//! (`GET /live/{id}.ogg` on the HTTP port and on the Icecast-compatible port): the join burst,
//! then the shared pages, skipping by position what the burst already held; the two header
//! pages before the first page; the end of the stream, a lagging listener and a server
//! shutdown. The transport only writes the bytes out.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use tokio::sync::watch;

use super::{ogg_headers, ListenerGuard, LiveEvent, LiveFrame, LiveRegistry, ShutdownWait, Subscription};

/// One Ogg listener's cursor over its stream.
pub struct OggListener {
    rx: Receiver<LiveEvent>,
    burst: std::vec::IntoIter<Arc<LiveFrame>>,
    guard: ListenerGuard,
    live: Arc<LiveRegistry>,
    shutdown: ShutdownWait,
    started: bool,
    next_pos: u64,
    asked: Instant,
}

impl OggListener {
    /// For a listener admitted (`guard`) and subscribed (`sub`, whose `over` was checked) at
    /// `asked`, the time of its request (for the time-to-first-byte histogram).
    pub fn new(
        live: Arc<LiveRegistry>,
        guard: ListenerGuard,
        mut sub: Subscription,
        shutdown: watch::Receiver<bool>,
        asked: Instant,
    ) -> Self {
        OggListener {
            rx: sub.rx,
            burst: std::mem::take(&mut sub.burst).into_iter(),
            guard,
            live,
            shutdown: ShutdownWait::new(shutdown),
            started: false,
            next_pos: 0,
            asked,
        }
    }

    /// The next bytes to send: the header pages with the first frame's pages, then each frame's
    /// pages. `None` once the stream is over for this listener: ended (its EOS page went out
    /// with the last frame), failed, the server shut down (after whole pages), or the listener
    /// lagged behind the shared queue (counted as dropped for slowness).
    pub async fn next(&mut self) -> Option<Bytes> {
        let frame = match self.burst.next() {
            Some(f) => f,
            None => loop {
                match self.shutdown.recv(&mut self.rx).await {
                    Some(Ok(LiveEvent::Frame(f))) if f.pos < self.next_pos => continue,
                    Some(Ok(LiveEvent::Frame(f))) => break f,
                    None | Some(Ok(_)) | Some(Err(RecvError::Closed)) => return None,
                    Some(Err(RecvError::Lagged(_))) => {
                        self.guard.dropped_slow();
                        return None;
                    }
                }
            },
        };
        self.next_pos = frame.pos + frame.frames as u64;
        if self.started {
            return Some(frame.ogg.clone());
        }
        self.started = true;
        self.live.ttfb.observe(self.asked.elapsed());
        let (channels, pre_skip) = self.guard.stream.format();
        let head = ogg_headers(&self.guard.stream, channels, pre_skip, frame.ogg_seq);
        let mut out = Vec::with_capacity(head.len() + frame.ogg.len());
        out.extend_from_slice(&head);
        out.extend_from_slice(&frame.ogg);
        Some(Bytes::from(out))
    }

    /// `n` bytes went out.
    pub fn sent(&self, n: usize) {
        self.guard.sent(n);
    }

    /// The listener stopped reading: it is dropped as too slow.
    pub fn stalled(&self) {
        self.guard.dropped_slow();
    }
}
