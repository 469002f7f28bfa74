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

use stream_core::ogg::{write_page, FLAG_BOS};
use stream_core::STREAM_SAMPLE_RATE;

use super::{ListenerGuard, LiveEvent, LiveFrame, LiveRegistry, LiveStream, Subscription, SHUTDOWN_STREAM_END};
use crate::media::ogg::{opus_head, opus_tags};

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
                    // (Ogg listeners get titles as a new logical stream, with their frame.)
                    Some(Ok(LiveEvent::Title(_))) => continue,
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
            if frame.ogg_chain.is_empty() {
                return Some(frame.ogg.clone());
            }
            let mut out = Vec::with_capacity(frame.ogg_chain.len() + frame.ogg.len());
            out.extend_from_slice(&frame.ogg_chain);
            out.extend_from_slice(&frame.ogg);
            return Some(Bytes::from(out));
        }
        self.started = true;
        self.live.ttfb.observe(self.asked.elapsed());
        let (channels, pre_skip) = self.guard.stream.format();
        let head = ogg_headers(&self.guard.stream, channels, pre_skip, &frame);
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

/// An HTTP listener's wait for its stream's next event, aware of a server shutdown.
pub struct ShutdownWait {
    shutdown: tokio::sync::watch::Receiver<bool>,
    closed: bool,
    deadline: Option<tokio::time::Instant>,
}

impl ShutdownWait {
    pub fn new(shutdown: tokio::sync::watch::Receiver<bool>) -> Self {
        ShutdownWait { shutdown, closed: false, deadline: None }
    }

    /// The next event; `None` when the server shuts down and the stream did not end in time.
    pub async fn recv(
        &mut self,
        rx: &mut tokio::sync::broadcast::Receiver<LiveEvent>,
    ) -> Option<Result<LiveEvent, tokio::sync::broadcast::error::RecvError>> {
        loop {
            if let Some(d) = self.deadline {
                return tokio::time::timeout_at(d, rx.recv()).await.ok();
            }
            tokio::select! {
                ev = rx.recv() => return Some(ev),
                down = self.shutdown.wait_for(|down| *down), if !self.closed => match down {
                    Ok(_) => self.deadline = Some(tokio::time::Instant::now() + SHUTDOWN_STREAM_END),
                    Err(_) => self.closed = true,
                },
            }
        }
    }
}

/// The two header pages an Ogg listener gets before the shared pages, for the logical stream
/// of `first` (the first shared page it will receive), numbered to directly precede it, with
/// the title in effect there (or the stream's id).
pub fn ogg_headers(stream: &LiveStream, channels: u8, pre_skip: u32, first: &LiveFrame) -> Bytes {
    let crc = stream_core::ogg::crc_table();
    let seq0 = first.ogg_seq.saturating_sub(2);
    let serial = first.ogg_serial;
    let title = stream.title_at(first.pos).map_or_else(|| stream.id.clone(), |t| t.title.clone());
    let mut v = write_page(&crc, serial, seq0, 0, FLAG_BOS, &[opus_head(channels, pre_skip, STREAM_SAMPLE_RATE)]);
    v.extend(write_page(&crc, serial, seq0 + 1, 0, 0, &[opus_tags(&[("TITLE", &title)])]));
    Bytes::from(v)
}
