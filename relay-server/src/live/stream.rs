//! One live stream: its frames (encoded once for every listener), its phase, its counters and
//! the fan-out ring its listeners read.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use stream_core::control::ErrorCode;
use stream_core::wire::Codec;
use tokio::sync::broadcast;

use super::*;

/// One frame of a live stream, encoded once for every listener.
#[derive(Debug)]
pub struct LiveFrame {
    /// Position of the first frame (48 kHz frames from the stream start).
    pub pos: u64,
    pub frames: u32,
    pub opus: Bytes,
    pub pcm_s16: Bytes,
    pub pcm_f32: Bytes,
    /// One Ogg page with this frame's Opus packets (page sequence `ogg_seq` of logical stream
    /// `ogg_serial`).
    pub ogg: Bytes,
    pub ogg_seq: u32,
    pub ogg_serial: u32,
    /// When a title begins in this frame, Ogg listeners get a new logical stream (a chain, as
    /// from Icecast): the previous one's end, the new one's header pages with the title. Sent
    /// before `ogg` to a listener that had the previous logical stream.
    pub ogg_chain: Bytes,
    /// Titles that begin within this frame (listeners get them ahead of its audio).
    pub meta: Vec<Arc<Title>>,
}

impl LiveFrame {
    pub fn wire(&self, codec: Codec) -> &Bytes {
        match codec {
            Codec::Opus => &self.opus,
            Codec::PcmS16 => &self.pcm_s16,
            Codec::PcmF32 => &self.pcm_f32,
        }
    }
}

/// What listeners receive.
#[derive(Clone, Debug)]
pub enum LiveEvent {
    Frame(Arc<LiveFrame>),
    /// A title, as soon as the pipeline knows where it begins (ahead of the frame that holds
    /// its sample, which carries it too: for joiners, the time-shift window, Ogg and the bus).
    Title(Arc<Title>),
    /// The producer ended the stream after `total_samples` frames.
    End {
        total_samples: u64,
    },
    /// The stream failed (the producer vanished or sent bad audio).
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// Per-stream counters (exported on `/metrics` with a `stream` label).
#[derive(Default, Debug)]
pub struct StreamCounters {
    pub listeners: AtomicUsize,
    pub producers: AtomicUsize,
    pub bytes_sent: AtomicU64,
    pub frames_sent: AtomicU64,
    pub dropped_slow: AtomicU64,
}

/// The state of a stream's audio.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Created, no audio yet.
    Waiting,
    Live,
    Ended {
        total_samples: u64,
    },
    Failed {
        code: ErrorCode,
        message: String,
    },
}

pub struct LiveStream {
    pub id: String,
    pub session: u32,
    pub serial: u32,
    pub created: Instant,
    pub counters: StreamCounters,
    /// In a cluster: the stream's producer may move between nodes, so a producer here may take
    /// a live stream over when its own went away with its node.
    pub movable: bool,
    /// Which producer's audio this is: 0 for the first, one more at each takeover (a cluster
    /// refuses frames of an older producer).
    pub epoch: AtomicU32,
    /// Notified when another producer took the stream over (the local one must stop).
    pub replaced: tokio::sync::Notify,
    pub(super) tx: broadcast::Sender<LiveEvent>,
    pub(super) inner: Mutex<StreamInner>,
    /// Listed by `GET /api/streams` and heard without a listen token, as an Icecast mount.
    pub public: std::sync::atomic::AtomicBool,
    /// Frames of the time-shift window (0: none).
    pub history_cap: AtomicUsize,
    /// Counts the times the stream's source went away while live (an Icecast source that
    /// disconnected may come back and go on): odd while it is away.
    pub away: AtomicU64,
    /// The time-shift window: the stream's last frames, Opus only (the `Bytes` are shared
    /// with the frames listeners get: keeping them copies nothing), and its size in bytes.
    history: Mutex<VecDeque<Arc<LiveFrame>>>,
    pub history_bytes: AtomicUsize,
}

/// What a source says about itself and its songs (`GET /api/streams/{id}`).
#[derive(Default, Debug)]
pub struct SourceInfo {
    /// The source's `ice-*` headers (name, description, genre, bitrate, url, ...), without the
    /// prefix.
    pub ice: std::collections::BTreeMap<String, String>,
    /// `mp3`, `aac`, `ogg`, or `wire` for a `/ws` producer.
    pub format: Option<String>,
    /// A metadata update waiting for the ingest to place it in the audio.
    pub title_update: Option<String>,
    /// The title at the live edge (the last one published with audio).
    pub title: Option<Arc<Title>>,
    /// Damaged stretches of the source skipped so far, and the last one.
    pub damage: u64,
    pub last_damage: Option<String>,
}

pub(super) struct StreamInner {
    pub(super) phase: Phase,
    pub(super) channels: u8,
    pub(super) pre_skip: u32,
    /// The last frames ([`RING_FRAMES`]): the tail of it is a late joiner's burst, all of it
    /// the window a rejoining listener (`from_sample`) may resume in.
    pub(super) recent: VecDeque<Arc<LiveFrame>>,
    pub(super) burst_frames: usize,
    pub(super) producer: bool,
    pub(super) ended_at: Option<Instant>,
    pub(super) info: SourceInfo,
    /// Titles of the audio the stream still holds (the newest last), for a joiner's first title.
    pub(super) titles: VecDeque<Arc<Title>>,
}

/// What a new listener gets: the stream's format, a burst of recent frames and its cursor.
pub struct Subscription {
    pub rx: broadcast::Receiver<LiveEvent>,
    pub burst: Vec<Arc<LiveFrame>>,
    pub channels: u8,
    pub pre_skip: u32,
    /// The stream already ended or failed: tell the listener and stop.
    pub over: Option<LiveEvent>,
}

impl LiveStream {
    pub(super) fn new(id: String, session: u32, serial: u32, burst_frames: usize, movable: bool) -> Self {
        let (tx, _) = broadcast::channel(RING_FRAMES);
        LiveStream {
            id,
            session,
            serial,
            created: Instant::now(),
            counters: StreamCounters::default(),
            movable,
            epoch: AtomicU32::new(0),
            replaced: tokio::sync::Notify::new(),
            tx,
            inner: Mutex::new(StreamInner {
                phase: Phase::Waiting,
                channels: 2,
                pre_skip: 0,
                recent: VecDeque::new(),
                burst_frames,
                producer: false,
                ended_at: None,
                info: SourceInfo::default(),
                titles: VecDeque::new(),
            }),
            public: std::sync::atomic::AtomicBool::new(false),
            history_cap: AtomicUsize::new(0),
            away: AtomicU64::new(0),
            history: Mutex::new(VecDeque::new()),
            history_bytes: AtomicUsize::new(0),
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, StreamInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn phase(&self) -> Phase {
        self.lock().phase.clone()
    }

    /// Whether the stream still takes listeners and renewals.
    pub fn is_open(&self) -> bool {
        matches!(self.lock().phase, Phase::Waiting | Phase::Live)
    }

    /// Subscribes a listener: receiver first, then the burst, so no frame falls between.
    pub fn subscribe(&self) -> Subscription {
        self.subscribe_from(None)
    }

    /// Subscribes a listener that resumes at `from` (a rejoin): its burst starts with the frame
    /// holding `from` when the stream still has it, else it is the ordinary late-join burst.
    pub fn subscribe_from(&self, from: Option<u64>) -> Subscription {
        let rx = self.tx.subscribe();
        let inner = self.lock();
        let held = |f: u64| inner.recent.front().is_some_and(|first| first.pos <= f) && f <= next_of(&inner.recent);
        let burst: Vec<Arc<LiveFrame>> = match from {
            Some(f) if held(f) => inner.recent.iter().filter(|x| x.pos + x.frames as u64 > f).cloned().collect(),
            _ => inner.recent.iter().skip(inner.recent.len().saturating_sub(inner.burst_frames)).cloned().collect(),
        };
        let over = match &inner.phase {
            Phase::Ended { total_samples } => Some(LiveEvent::End { total_samples: *total_samples }),
            Phase::Failed { code, message } => Some(LiveEvent::Error { code: *code, message: message.clone() }),
            _ => None,
        };
        Subscription { rx, burst, channels: inner.channels, pre_skip: inner.pre_skip, over }
    }

    /// Channels and Opus pre-skip of the stream's audio (known once a producer started).
    pub fn format(&self) -> (u8, u32) {
        let inner = self.lock();
        (inner.channels, inner.pre_skip)
    }

    /// Where the next frame of the stream goes (0 before any audio).
    pub fn next_pos(&self) -> u64 {
        next_of(&self.lock().recent)
    }

    /// The Ogg page sequence number of the next frame.
    pub fn next_page_seq(&self) -> u32 {
        self.lock().recent.back().map_or(2, |f| f.ogg_seq + 1)
    }

    /// The Ogg logical stream of the next frame, and the stream position where it began.
    pub fn next_ogg_serial(&self) -> (u32, u64) {
        let inner = self.lock();
        let serial = inner.recent.back().map_or(self.serial, |f| f.ogg_serial);
        let base = inner.recent.iter().rev().find(|f| f.ogg_serial != serial).map_or(0, |f| f.pos + f.frames as u64);
        (serial, if serial == self.serial { 0 } else { base })
    }

    /// Whether a producer feeds the stream on this node.
    pub fn has_producer(&self) -> bool {
        self.lock().producer
    }

    /// Claims the stream for a producer; `false` if one is already attached or it is over. A
    /// stream of a cluster may be claimed while it is live: its producer moved here because its
    /// node went away (the audio goes on at [`LiveStream::next_pos`]).
    pub fn attach_producer(&self) -> bool {
        let mut inner = self.lock();
        let away = self.away.load(Ordering::Acquire) % 2 == 1;
        let open = match inner.phase {
            Phase::Waiting => true,
            Phase::Live => self.movable || away,
            _ => false,
        };
        if inner.producer || !open {
            return false;
        }
        if away {
            self.away.fetch_add(1, Ordering::AcqRel);
        }
        inner.producer = true;
        self.counters.producers.store(1, Ordering::Relaxed);
        true
    }

    /// A live stream's source went away without ending it: the stream stays live for `grace`,
    /// waiting for a source to go on where it stands; then it fails with `producer_lost`.
    pub fn source_away(self: &Arc<Self>, grace: Duration) {
        let gen = {
            let mut inner = self.lock();
            if !matches!(inner.phase, Phase::Live) {
                return;
            }
            inner.producer = false;
            self.counters.producers.store(0, Ordering::Relaxed);
            self.away.fetch_add(1, Ordering::AcqRel) + 1
        };
        let stream = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            if stream.away.load(Ordering::Acquire) == gen && stream.phase() == Phase::Live {
                stream.away.fetch_add(1, Ordering::AcqRel);
                stream.publish(LiveEvent::Error {
                    code: ErrorCode::ProducerLost,
                    message: format!("the source disconnected and did not come back within {} s", grace.as_secs()),
                });
            }
        });
    }

    /// Gives the stream back when a producer left before any audio (it may publish again).
    pub fn release_producer(&self) {
        let mut inner = self.lock();
        if matches!(inner.phase, Phase::Waiting) {
            inner.producer = false;
            self.counters.producers.store(0, Ordering::Relaxed);
        }
    }

    /// Publishes an event to every listener of this node (the pipeline's output, or what the
    /// cluster bus brings from the producer's node).
    pub fn publish(&self, ev: LiveEvent) {
        {
            let mut inner = self.lock();
            match &ev {
                LiveEvent::Frame(f) => {
                    inner.phase = Phase::Live;
                    for t in &f.meta {
                        inner.info.title = Some(t.clone());
                        inner.titles.push_back(t.clone());
                        while inner.titles.len() > MAX_TITLES_KEPT {
                            inner.titles.pop_front();
                        }
                    }
                    inner.recent.push_back(f.clone());
                    while inner.recent.len() > RING_FRAMES {
                        inner.recent.pop_front();
                    }
                }
                LiveEvent::End { total_samples } => {
                    inner.phase = Phase::Ended { total_samples: *total_samples };
                    inner.ended_at = Some(Instant::now());
                    inner.producer = false;
                }
                LiveEvent::Error { code, message } => {
                    inner.phase = Phase::Failed { code: *code, message: message.clone() };
                    inner.ended_at = Some(Instant::now());
                    inner.producer = false;
                }
                LiveEvent::Title(_) => {}
            }
            if matches!(ev, LiveEvent::End { .. } | LiveEvent::Error { .. }) {
                self.counters.producers.store(0, Ordering::Relaxed);
            }
        }
        if let LiveEvent::Frame(f) = &ev {
            self.keep(f);
        }
        // No receiver is fine: nobody listens yet.
        let _ = self.tx.send(ev);
    }

    /// The last `frames` frames of the stream's audio as interleaved PCM (from its last frame's
    /// pcm_f32 encoding), if it has that many and `channels` channels.
    pub fn last_pcm(&self, frames: usize, channels: u8) -> Option<Vec<f32>> {
        let last = self.lock().recent.back().cloned()?;
        let (h, payload) = stream_core::wire::FrameHeader::parse(&last.pcm_f32).ok()?;
        if h.channels != channels || (h.frame_count as usize) < frames {
            return None;
        }
        let mut pcm = vec![0f32; h.frame_count as usize * channels as usize];
        let n = stream_core::wire::decode_pcm_into(h.codec, payload, &mut pcm);
        Some(pcm[n - frames * channels as usize..n].to_vec())
    }

    /// The frames from `from` on that this node still holds (for another node's rejoin).
    pub fn frames_from(&self, from: u64) -> Vec<Arc<LiveFrame>> {
        self.lock().recent.iter().filter(|x| x.pos + x.frames as u64 > from).cloned().collect()
    }

    /// Another producer took the stream over: the local one stops (without ending the stream).
    pub fn replace_producer(&self) {
        let mut inner = self.lock();
        inner.producer = false;
        self.counters.producers.store(0, Ordering::Relaxed);
        drop(inner);
        self.replaced.notify_waiters();
    }

    pub fn set_format(&self, channels: u8, pre_skip: u32) {
        let mut inner = self.lock();
        inner.channels = channels;
        inner.pre_skip = pre_skip;
    }

    pub(super) fn ended_for(&self) -> Option<Duration> {
        self.lock().ended_at.map(|t| t.elapsed())
    }
}

/// Titles a stream remembers (a song change every few seconds over a long time-shift window).
const MAX_TITLES_KEPT: usize = 1024;

impl LiveStream {
    fn history(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<LiveFrame>>> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a frame to the time-shift window (its Opus bytes and titles only).
    fn keep(&self, f: &Arc<LiveFrame>) {
        let cap = self.history_cap.load(Ordering::Relaxed);
        if cap == 0 {
            return;
        }
        let slim = Arc::new(LiveFrame {
            pos: f.pos,
            frames: f.frames,
            opus: f.opus.clone(),
            pcm_s16: Bytes::new(),
            pcm_f32: Bytes::new(),
            ogg: Bytes::new(),
            ogg_seq: f.ogg_seq,
            ogg_serial: f.ogg_serial,
            ogg_chain: Bytes::new(),
            meta: f.meta.clone(),
        });
        let mut h = self.history();
        if h.back().is_some_and(|b| b.pos + b.frames as u64 > f.pos) {
            return; // a frame already kept (a backlog replayed by the cluster)
        }
        self.history_bytes.fetch_add(slim.opus.len(), Ordering::Relaxed);
        h.push_back(slim);
        while h.len() > cap {
            if let Some(old) = h.pop_front() {
                self.history_bytes.fetch_sub(old.opus.len(), Ordering::Relaxed);
            }
        }
    }

    /// The window's frames from the one holding `pos` on (at most `max`), or `None` when `pos`
    /// is before the window.
    pub fn history_from(&self, pos: u64, max: usize) -> Option<Vec<Arc<LiveFrame>>> {
        let h = self.history();
        let first = h.front()?;
        if pos < first.pos {
            return None;
        }
        let i = h.partition_point(|f| f.pos + f.frames as u64 <= pos);
        Some(h.iter().skip(i).take(max).cloned().collect())
    }

    /// The time-shift window: where it starts and ends (48 kHz positions) and its memory.
    pub fn window(&self) -> (u64, u64, usize) {
        let h = self.history();
        let start = h.front().map_or(0, |f| f.pos);
        let end = h.back().map_or(0, |f| f.pos + f.frames as u64);
        (start, end, self.history_bytes.load(Ordering::Relaxed))
    }

    pub fn window_json(&self) -> serde_json::Value {
        let (start, end, bytes) = self.window();
        serde_json::json!({ "start_sample": start, "end_sample": end, "bytes": bytes,
            "max_seconds": self.history_cap.load(Ordering::Relaxed) as f64 * super::LIVE_FRAME_FRAMES as f64 / 48_000.0 })
    }

    /// Whether the stream is public.
    pub fn is_public(&self) -> bool {
        self.public.load(Ordering::Relaxed)
    }

    /// The source's `ice-*` headers.
    pub fn set_ice(&self, ice: std::collections::BTreeMap<String, String>) {
        self.lock().info.ice = ice;
    }

    pub fn set_source_format(&self, format: &str) {
        self.lock().info.format = Some(format.to_owned());
    }

    /// A metadata update (`/admin/metadata`): the ingest places it where the audio stands.
    pub fn set_title_update(&self, title: String) {
        self.lock().info.title_update = Some(title);
    }

    pub fn take_title_update(&self) -> Option<String> {
        self.lock().info.title_update.take()
    }

    /// A damaged stretch of the source was skipped.
    pub fn note_damage(&self, what: String) {
        tracing::warn!(stream = %self.id, code = "corrupt_audio", %what, "source audio damaged");
        let mut inner = self.lock();
        inner.info.damage += 1;
        inner.info.last_damage = Some(what);
    }

    /// The title in effect at `pos`: the last one that began at or before it.
    pub fn title_at(&self, pos: u64) -> Option<Arc<Title>> {
        self.lock().titles.iter().rev().find(|t| t.sample <= pos).cloned()
    }

    /// What `GET /api/streams/{id}` shows of the source.
    pub fn source_json(&self) -> serde_json::Value {
        let inner = self.lock();
        serde_json::json!({
            "title": inner.info.title.as_ref().map(|t| t.title.clone()),
            "title_sample": inner.info.title.as_ref().map(|t| t.sample),
            "ice": inner.info.ice,
            "name": inner.info.ice.get("name"),
            "format": inner.info.format,
            "damaged": inner.info.damage,
            "last_damage": inner.info.last_damage,
        })
    }
}

fn next_of(recent: &VecDeque<Arc<LiveFrame>>) -> u64 {
    recent.back().map_or(0, |f| f.pos + f.frames as u64)
}
