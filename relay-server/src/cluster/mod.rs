//! Relays as one, on a NATS bus (`relay-server --nats URL[,URL...] --node-id NAME`).
//!
//! - The registry: streams and tokens live in JetStream key-value buckets (`relay_streams`,
//!   `relay_tokens`), written by the node that makes them and read by any node on first use, so
//!   a stream created or a token minted or renewed anywhere works everywhere. NATS 2.9 has no
//!   per-key TTL: a token's expiry is stored with it, checked on use, and every node sweeps
//!   the expired ones. `relay_nodes` holds each node's heartbeat (`GET /api/cluster`).
//! - Live audio crosses the bus once per stream: the node that holds the producer encodes each
//!   frame once (as it does alone) and publishes it on `live.{id}.f`; another node subscribes
//!   only while it has listeners of that stream, checks every message like an ingest
//!   ([`bus::decode`]) and fans it out locally. Its backlog (a late joiner's burst, a rejoin's
//!   frames, a hole after a reconnect to NATS) comes from `live.{id}.recent`, answered by one
//!   node that holds the stream's frames (a queue group).
//! - Failover: a listener whose node dies rejoins another with `from_sample` and gets the frame
//!   holding it from that node's copy; a producer whose node dies publishes on another, which
//!   takes the stream over where it stands ([`LiveStream::attach_producer`]) as the next
//!   producer epoch, announced on `live.{id}.ctl` (an older epoch's frames are refused).
//! - Without the bus (unreachable at start, lost later) the node keeps serving its library and
//!   its own streams; what needs another node answers `cluster_unavailable`.

pub mod bus;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use stream_core::control::ErrorCode;
use tokio::sync::{broadcast, watch};

use crate::live::{unix_now, AuthError, Created, IssuedToken, LiveEvent, LiveRegistry, LiveStream, Scope, SharedToken};

const STREAMS: &str = "relay_streams";
const TOKENS: &str = "relay_tokens";
const NODES: &str = "relay_nodes";
/// How often a node writes its heartbeat; a node silent for [`NODE_STALE`] is not listed.
const HEARTBEAT: Duration = Duration::from_secs(1);
const NODE_STALE: Duration = Duration::from_secs(5);
/// How long a node keeps feeding a stream nobody listens to here any more.
const FEED_IDLE: Duration = Duration::from_secs(5);
/// How long a backlog request waits for each message of its answer.
const RECENT_WAIT: Duration = Duration::from_millis(1000);

/// `--nats` and `--node-id`.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub urls: Vec<String>,
    pub node_id: String,
    /// Where this node serves HTTP (shown by `/api/cluster`).
    pub http: String,
}

/// Bytes and messages one stream sent to and took from the bus on this node.
#[derive(Default, Debug)]
pub struct BusCounters {
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub refused: AtomicU64,
}

/// Why the cluster could not authorize a request.
#[derive(Debug, PartialEq, Eq)]
pub enum ClusterAuthError {
    Auth(AuthError),
    /// The token is not known here and the bus cannot be asked.
    Unavailable,
}

impl ClusterAuthError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ClusterAuthError::Auth(_) => ErrorCode::Unauthorized,
            ClusterAuthError::Unavailable => ErrorCode::ClusterUnavailable,
        }
    }

    pub fn message(&self) -> String {
        match self {
            ClusterAuthError::Auth(e) => e.message(),
            ClusterAuthError::Unavailable => {
                "the token is not known on this node and the cluster bus cannot be reached to check it".into()
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
struct StreamRecord {
    session: u32,
    serial: u32,
    node: String,
    created_at: u64,
}

#[derive(Serialize, Deserialize)]
struct TokenRecord {
    stream_id: String,
    scope: String,
    expires_at: u64,
}

/// One node as `/api/cluster` shows it.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct NodeRecord {
    pub node_id: String,
    pub http: String,
    pub listeners: usize,
    pub streams: Vec<NodeStream>,
    pub bus_bytes_in: u64,
    pub bus_bytes_out: u64,
    pub updated_at_ms: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct NodeStream {
    pub id: String,
    pub listeners: usize,
    /// The producer is on this node.
    pub producer: bool,
}

struct Bus {
    client: async_nats::Client,
    streams: kv::Store,
    tokens: kv::Store,
    nodes: kv::Store,
}

/// This node's membership of the cluster.
pub struct Cluster {
    pub node_id: String,
    http: String,
    urls: Vec<String>,
    live: Arc<LiveRegistry>,
    rt: tokio::runtime::Handle,
    bus: watch::Receiver<Option<Arc<Bus>>>,
    /// Connected to a NATS server now.
    pub connected: AtomicBool,
    /// Streams fed from the bus on this node: the feed's stop signal.
    feeds: Mutex<HashMap<String, watch::Receiver<bool>>>,
    counters: Mutex<HashMap<String, Arc<BusCounters>>>,
}

fn ms_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Cluster {
    /// Joins the cluster in the background: returns at once; until the bus is reached (logged,
    /// retried) the node serves alone.
    pub fn start(config: ClusterConfig, live: Arc<LiveRegistry>) -> std::io::Result<Arc<Cluster>> {
        // The bus has its own runtime (one thread): the relay's workers never wait for it.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cluster")
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        std::mem::forget(rt); // lives as long as the process
        let (tx, rx) = watch::channel(None);
        let cluster = Arc::new(Cluster {
            node_id: config.node_id.clone(),
            http: config.http.clone(),
            urls: config.urls.clone(),
            live: live.clone(),
            rt: handle.clone(),
            bus: rx,
            connected: AtomicBool::new(false),
            feeds: Mutex::new(HashMap::new()),
            counters: Mutex::new(HashMap::new()),
        });
        live.clustered.store(true, Ordering::Release);
        let hook = Arc::downgrade(&cluster);
        let _ = live.on_pipeline.set(Box::new(move |stream: &Arc<LiveStream>| {
            if let Some(c) = hook.upgrade() {
                c.forward(stream);
            }
        }));
        let c = cluster.clone();
        handle.spawn(async move { c.join(tx).await });
        Ok(cluster)
    }

    fn bus(&self) -> Option<Arc<Bus>> {
        self.bus.borrow().clone()
    }

    /// Runs `f` on the cluster's runtime and waits for it from any runtime.
    async fn run<F, T>(&self, f: F) -> Option<T>
    where
        F: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.rt.spawn(f).await.ok()
    }

    pub fn counters(&self, stream: &str) -> Arc<BusCounters> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner()).entry(stream.to_owned()).or_default().clone()
    }

    /// Every stream's bus counters (for `/metrics`).
    pub fn all_counters(&self) -> Vec<(String, Arc<BusCounters>)> {
        let map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = map.iter().map(|(k, c)| (k.clone(), c.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    async fn join(self: Arc<Self>, tx: watch::Sender<Option<Arc<Bus>>>) {
        let addrs: Vec<async_nats::ServerAddr> = self.urls.iter().filter_map(|u| u.parse().ok()).collect();
        let me = self.clone();
        let options = async_nats::ConnectOptions::new()
            .name(format!("relay-{}", self.node_id))
            .retry_on_initial_connect()
            .retain_servers_order()
            .connection_timeout(Duration::from_secs(2))
            .ping_interval(Duration::from_secs(2))
            .reconnect_delay_callback(|n| Duration::from_millis((n as u64 * 100).min(2000)))
            .event_callback(move |event| {
                let me = me.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            me.connected.store(true, Ordering::Release);
                            tracing::info!(node = %me.node_id, "cluster: connected to NATS");
                        }
                        async_nats::Event::Disconnected => {
                            me.connected.store(false, Ordering::Release);
                            tracing::warn!(
                                node = %me.node_id,
                                code = ErrorCode::ClusterUnavailable.as_str(),
                                "cluster: lost NATS; reconnecting (this node's own streams and library go on)"
                            );
                        }
                        other => tracing::info!(node = %me.node_id, "cluster: {other}"),
                    }
                }
            });
        let client = match options.connect(addrs).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(code = ErrorCode::ClusterUnavailable.as_str(), "cluster: bad NATS address: {e}");
                return;
            }
        };
        let js = async_nats::jetstream::new(client.clone());
        let mut warned = false;
        let (streams, tokens, nodes) = loop {
            match tokio::try_join!(bucket(&js, STREAMS), bucket(&js, TOKENS), bucket(&js, NODES)) {
                Ok(b) => break b,
                Err(e) => {
                    if !warned {
                        tracing::error!(
                            code = ErrorCode::ClusterUnavailable.as_str(),
                            urls = ?self.urls,
                            "cluster: cannot reach NATS JetStream ({e}); serving alone until it can"
                        );
                        warned = true;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        };
        let bus = Arc::new(Bus { client, streams, tokens, nodes });
        let _ = tx.send(Some(bus.clone()));
        tracing::info!(node = %self.node_id, urls = ?self.urls, "cluster: joined");
        let me = self.clone();
        tokio::spawn(async move { me.watch_tokens(bus).await });
        let mut tick = tokio::time::interval(HEARTBEAT);
        let mut sweep_at = Instant::now();
        loop {
            tick.tick().await;
            let Some(bus) = self.bus() else { continue };
            let record = self.record();
            if let Ok(v) = serde_json::to_vec(&record) {
                let _ = tokio::time::timeout(HEARTBEAT, bus.nodes.put(&self.node_id, v.into())).await;
            }
            if sweep_at.elapsed() >= Duration::from_secs(5) {
                sweep_at = Instant::now();
                let _ = tokio::time::timeout(Duration::from_secs(5), sweep(&bus)).await;
            }
        }
    }

    /// Revocations and sweeps elsewhere: a token deleted from the bucket is forgotten here.
    async fn watch_tokens(&self, bus: Arc<Bus>) {
        loop {
            if let Ok(mut w) = bus.tokens.watch_all().await {
                while let Some(Ok(e)) = w.next().await {
                    if matches!(e.operation, kv::Operation::Delete | kv::Operation::Purge) {
                        self.live.forget_token(&e.key);
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    fn record(&self) -> NodeRecord {
        let streams: Vec<NodeStream> = self
            .live
            .all()
            .into_iter()
            .filter(|s| s.is_open())
            .map(|s| NodeStream {
                id: s.id.clone(),
                listeners: s.counters.listeners.load(Ordering::Relaxed),
                producer: s.has_producer(),
            })
            .filter(|s| s.producer || s.listeners > 0)
            .collect();
        let (mut bin, mut bout) = (0, 0);
        for (_, c) in self.all_counters() {
            bin += c.bytes_in.load(Ordering::Relaxed);
            bout += c.bytes_out.load(Ordering::Relaxed);
        }
        NodeRecord {
            node_id: self.node_id.clone(),
            http: self.http.clone(),
            listeners: self.live.listeners_total.load(Ordering::Relaxed),
            streams,
            bus_bytes_in: bin,
            bus_bytes_out: bout,
            updated_at_ms: ms_now(),
        }
    }

    /// The nodes alive now, from the bus (`GET /api/cluster`).
    pub async fn nodes(self: &Arc<Self>) -> Result<Vec<NodeRecord>, ErrorCode> {
        let bus = self.bus().ok_or(ErrorCode::ClusterUnavailable)?;
        let read = async move {
            let mut out = Vec::new();
            let mut keys = bus.nodes.keys().await.map_err(|_| ErrorCode::ClusterUnavailable)?;
            let mut names = Vec::new();
            while let Some(Ok(k)) = keys.next().await {
                names.push(k);
            }
            for k in names {
                if let Ok(Some(v)) = bus.nodes.get(&k).await {
                    if let Ok(r) = serde_json::from_slice::<NodeRecord>(&v) {
                        if ms_now().saturating_sub(r.updated_at_ms) <= NODE_STALE.as_millis() as u64 {
                            out.push(r);
                        }
                    }
                }
            }
            out.sort_by(|a, b| a.node_id.cmp(&b.node_id));
            Ok(out)
        };
        match self.run(tokio::time::timeout(Duration::from_secs(3), read)).await {
            Some(Ok(r)) => r,
            _ => Err(ErrorCode::ClusterUnavailable),
        }
    }

    /// Puts a stream made here, and its two tokens, in the buckets (waits for the bus to take
    /// them, so they work on every node when the creator hears back).
    pub async fn share_created(self: &Arc<Self>, stream: &LiveStream, created: &Created) -> Result<(), ErrorCode> {
        let record = StreamRecord {
            session: stream.session,
            serial: stream.serial,
            node: self.node_id.clone(),
            created_at: unix_now(),
        };
        let value = serde_json::to_vec(&record).map_err(|_| ErrorCode::Internal)?;
        let bus = self.bus().ok_or(ErrorCode::ClusterUnavailable)?;
        let id = stream.id.clone();
        let put = async move { put_retrying(&bus.streams, &id, value.into()).await };
        if self.run(put).await != Some(true) {
            return Err(ErrorCode::ClusterUnavailable);
        }
        self.share_token(&stream.id, Scope::Publish, &created.publish_token).await?;
        self.share_token(&stream.id, Scope::Listen, &created.listen_token).await
    }

    /// Puts a token minted or renewed here in the bucket.
    pub async fn share_token(
        self: &Arc<Self>,
        stream_id: &str,
        scope: Scope,
        t: &IssuedToken,
    ) -> Result<(), ErrorCode> {
        let record =
            TokenRecord { stream_id: stream_id.to_owned(), scope: scope.as_str().to_owned(), expires_at: t.expires_at };
        let value = serde_json::to_vec(&record).map_err(|_| ErrorCode::Internal)?;
        let bus = self.bus().ok_or(ErrorCode::ClusterUnavailable)?;
        let key = t.token.clone();
        let put = async move { put_retrying(&bus.tokens, &key, value.into()).await };
        match self.run(put).await {
            Some(true) => Ok(()),
            _ => Err(ErrorCode::ClusterUnavailable),
        }
    }

    /// Checks `token` for `scope` on stream `id`: here first, then, for a token this node has
    /// not seen, in the bucket (the token and its stream are then kept here).
    pub async fn authorize(
        self: &Arc<Self>,
        id: &str,
        token: Option<&str>,
        scope: Scope,
    ) -> Result<Arc<LiveStream>, ClusterAuthError> {
        match self.live.check(id, token, scope) {
            Err(AuthError::Invalid) => {}
            Ok(s) => return Ok(s),
            Err(e) => {
                self.live.auth_failures.fetch_add(1, Ordering::Relaxed);
                return Err(ClusterAuthError::Auth(e));
            }
        }
        let token = token.unwrap_or_default().to_owned();
        let Some(bus) = self.bus().filter(|_| self.connected.load(Ordering::Acquire)) else {
            self.live.auth_failures.fetch_add(1, Ordering::Relaxed);
            return Err(ClusterAuthError::Unavailable);
        };
        let id_owned = id.to_owned();
        let fetch = async move {
            let t = bus.tokens.get(&token).await.map_err(|_| ())?;
            let s = bus.streams.get(&id_owned).await.map_err(|_| ())?;
            Ok::<_, ()>((token, t, s))
        };
        let (token, t, s) = match self.run(tokio::time::timeout(Duration::from_secs(3), fetch)).await {
            Some(Ok(Ok(r))) => r,
            _ => {
                self.live.auth_failures.fetch_add(1, Ordering::Relaxed);
                return Err(ClusterAuthError::Unavailable);
            }
        };
        let parsed = t.and_then(|t| serde_json::from_slice::<TokenRecord>(&t).ok()).and_then(|t| {
            Some(SharedToken { stream_id: t.stream_id, scope: Scope::parse(&t.scope)?, expires_at: t.expires_at })
        });
        let stream = s.and_then(|s| serde_json::from_slice::<StreamRecord>(&s).ok());
        if let (Some(t), Some(s)) = (parsed, stream) {
            if t.stream_id == id {
                self.live.adopt(id, s.session, s.serial);
                self.live.adopt_token(&token, &t);
            }
        }
        self.live.authorize(id, Some(&token), scope).map_err(ClusterAuthError::Auth)
    }

    /// Makes sure `stream`'s audio reaches this node from the bus while it has listeners here:
    /// starts the feed if none runs and waits until its backlog is in (at most a second).
    pub async fn feed(self: &Arc<Self>, stream: &Arc<LiveStream>) {
        if stream.has_producer() || !stream.is_open() {
            return;
        }
        let mut ready = {
            let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
            match feeds.get(&stream.id) {
                Some(r) => r.clone(),
                None => {
                    let (tx, rx) = watch::channel(false);
                    feeds.insert(stream.id.clone(), rx.clone());
                    let (me, s) = (self.clone(), stream.clone());
                    self.rt.spawn(async move {
                        me.run_feed(&s, tx).await;
                        me.feeds.lock().unwrap_or_else(|e| e.into_inner()).remove(&s.id);
                    });
                    rx
                }
            }
        };
        let _ = tokio::time::timeout(RECENT_WAIT * 2, ready.wait_for(|r| *r)).await;
    }

    async fn run_feed(self: &Arc<Self>, stream: &Arc<LiveStream>, ready: watch::Sender<bool>) {
        let Some(bus) = self.bus() else {
            let _ = ready.send(true);
            return;
        };
        let counters = self.counters(&stream.id);
        let Ok(mut sub) = bus.client.subscribe(format!("live.{}.f", stream.id)).await else {
            let _ = ready.send(true);
            return;
        };
        self.fill(&bus, stream, &counters, stream.next_pos()).await;
        let _ = ready.send(true);
        let responder = self.answer_recent(&bus, stream);
        let mut idle: Option<Instant> = None;
        let mut check = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                m = sub.next() => match m {
                    Some(m) => self.accept(&bus, stream, &counters, m.payload).await,
                    None => break,
                },
                _ = check.tick() => {}
            }
            if stream.has_producer() || !stream.is_open() {
                break;
            }
            if stream.counters.listeners.load(Ordering::Relaxed) == 0 {
                if idle.get_or_insert_with(Instant::now).elapsed() > FEED_IDLE {
                    break;
                }
            } else {
                idle = None;
            }
        }
        responder.abort();
        let _ = sub.unsubscribe().await;
    }

    /// One message from the bus for `stream`: checked, then given to the listeners here. A
    /// frame past a hole (messages lost while this node reconnected to NATS) first fetches the
    /// hole from a node that has it.
    async fn accept(&self, bus: &Bus, stream: &Arc<LiveStream>, counters: &BusCounters, payload: Bytes) {
        let n = payload.len() as u64;
        let ev = match bus::decode(stream, payload) {
            Ok(ev) => ev,
            Err(bus::Refused(why)) => {
                if counters.refused.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(stream = %stream.id, code = ErrorCode::CorruptAudio.as_str(), "cluster: refused a bus message: {why}");
                }
                return;
            }
        };
        counters.bytes_in.fetch_add(n, Ordering::Relaxed);
        counters.messages_in.fetch_add(1, Ordering::Relaxed);
        if let LiveEvent::Frame(f) = &ev.event {
            let next = stream.next_pos();
            if next > 0 && f.pos > next {
                self.fill(bus, stream, counters, next).await;
            }
        }
        self.take(stream, counters, ev);
    }

    /// Gives a checked bus event to the stream, unless it is stale: an older producer's, a
    /// position already held, or any while a producer here feeds the stream.
    fn take(&self, stream: &Arc<LiveStream>, counters: &BusCounters, ev: bus::BusEvent) {
        let epoch = stream.epoch.load(Ordering::Acquire);
        let stale = match &ev.event {
            LiveEvent::Frame(f) => stream.next_pos() > f.pos,
            _ => false,
        };
        // Once audio flows, its format is the stream's: a message saying otherwise is forged.
        let format_changed = stream.next_pos() > 0 && stream.format() != (ev.channels, ev.pre_skip);
        if ev.epoch < epoch || stale || format_changed || stream.has_producer() || !stream.is_open() {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if ev.epoch > epoch {
            stream.epoch.store(ev.epoch, Ordering::Release);
        }
        stream.set_format(ev.channels, ev.pre_skip);
        stream.publish(ev.event);
    }

    /// Asks the cluster (one node that holds the stream) for its frames from `from` on.
    async fn fill(&self, bus: &Bus, stream: &Arc<LiveStream>, counters: &BusCounters, from: u64) {
        let inbox = bus.client.new_inbox();
        let Ok(mut sub) = bus.client.subscribe(inbox.clone()).await else { return };
        let subject = format!("live.{}.recent", stream.id);
        if bus.client.publish_with_reply(subject, inbox, Bytes::copy_from_slice(&from.to_le_bytes())).await.is_err() {
            return;
        }
        while let Ok(Some(m)) = tokio::time::timeout(RECENT_WAIT, sub.next()).await {
            if m.payload.is_empty() {
                break; // the end of the answer
            }
            let n = m.payload.len() as u64;
            match bus::decode(stream, m.payload) {
                Ok(ev) => {
                    counters.bytes_in.fetch_add(n, Ordering::Relaxed);
                    self.take(stream, counters, ev);
                }
                Err(_) => {
                    counters.refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let _ = sub.unsubscribe().await;
    }

    /// Answers other nodes' backlog requests for `stream` from this node's frames (one answer
    /// per request: a queue group of the nodes that hold the stream).
    fn answer_recent(self: &Arc<Self>, bus: &Arc<Bus>, stream: &Arc<LiveStream>) -> tokio::task::JoinHandle<()> {
        let (bus, stream, me) = (bus.clone(), stream.clone(), self.clone());
        self.rt.spawn(async move {
            let subject = format!("live.{}.recent", stream.id);
            let Ok(mut sub) = bus.client.queue_subscribe(subject, "recent".to_owned()).await else { return };
            let counters = me.counters(&stream.id);
            while let Some(m) = sub.next().await {
                let Some(reply) = m.reply else { continue };
                let from = m.payload.get(..8).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
                for f in stream.frames_from(from) {
                    let b = bus::encode(&stream, &LiveEvent::Frame(f));
                    counters.bytes_out.fetch_add(b.len() as u64, Ordering::Relaxed);
                    if bus.client.publish(reply.clone(), b).await.is_err() {
                        break;
                    }
                }
                let _ = bus.client.publish(reply, Bytes::new()).await;
            }
        })
    }

    /// A pipeline started here (the hook of [`LiveRegistry::on_pipeline`]): this node now
    /// produces `stream`, publishes its frames on the bus, answers backlog requests, and stops
    /// when another node's producer announces a later epoch.
    fn forward(self: &Arc<Self>, stream: &Arc<LiveStream>) {
        let mut rx = stream.subscribe().rx;
        let (me, stream) = (self.clone(), stream.clone());
        self.rt.spawn(async move {
            let bus = loop {
                if let Some(b) = me.bus() {
                    break b;
                }
                // Serving alone until the bus is there; frames meanwhile stay local.
                tokio::time::sleep(Duration::from_millis(200)).await;
                if !stream.is_open() {
                    return;
                }
            };
            let epoch = stream.epoch.load(Ordering::Acquire);
            let counters = me.counters(&stream.id);
            let ctl = format!("live.{}.ctl", stream.id);
            let Ok(mut ctl_sub) = bus.client.subscribe(ctl.clone()).await else { return };
            let announce = format!("{epoch} {}", me.node_id);
            let _ = bus.client.publish(ctl, announce.into()).await;
            let responder = me.answer_recent(&bus, &stream);
            let subject = format!("live.{}.f", stream.id);
            loop {
                tokio::select! {
                    ev = rx.recv() => {
                        let ev = match ev {
                            Ok(ev) => ev,
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                tracing::warn!(stream = %stream.id, "cluster: {n} frames not sent on the bus (it was too slow)");
                                continue;
                            }
                            Err(broadcast::error::RecvError::Closed) => break,
                        };
                        if stream.epoch.load(Ordering::Acquire) != epoch {
                            break;
                        }
                        // Titles cross with their frame.
                        if matches!(ev, LiveEvent::Title(_)) {
                            continue;
                        }
                        let last = !matches!(ev, LiveEvent::Frame(_));
                        let b = bus::encode(&stream, &ev);
                        let n = b.len() as u64;
                        if bus.client.publish(subject.clone(), b).await.is_ok() {
                            counters.bytes_out.fetch_add(n, Ordering::Relaxed);
                            counters.messages_out.fetch_add(1, Ordering::Relaxed);
                        }
                        if last {
                            break;
                        }
                    }
                    m = ctl_sub.next() => {
                        let Some(m) = m else { break };
                        let text = String::from_utf8_lossy(&m.payload).into_owned();
                        let mut it = text.split(' ');
                        let (Some(e), Some(node)) = (it.next().and_then(|e| e.parse::<u32>().ok()), it.next()) else { continue };
                        if e > epoch && node != me.node_id {
                            tracing::info!(stream = %stream.id, node = %node, "cluster: the producer moved to another node");
                            stream.epoch.store(e, Ordering::Release);
                            stream.replace_producer();
                            break;
                        }
                    }
                }
            }
            // Keep answering backlog requests a while (a takeover elsewhere may need them).
            tokio::time::sleep(Duration::from_secs(2)).await;
            responder.abort();
            if stream.is_open() && !stream.has_producer() && stream.counters.listeners.load(Ordering::Relaxed) > 0 {
                me.feed(&stream).await;
            }
        });
    }
}

async fn bucket(js: &async_nats::jetstream::Context, name: &str) -> Result<kv::Store, String> {
    use async_nats::jetstream::stream;
    if let Ok(s) = js.get_key_value(name).await {
        return Ok(s);
    }
    // The bucket's stream as the key-value convention makes it (`create_key_value` would first
    // ask for the account's details in a shape NATS 2.9 does not send). In memory; three
    // replicas where the cluster has them (a server may die), one on a lone server.
    let mut last = String::new();
    for replicas in [3, 1] {
        let config = stream::Config {
            name: format!("KV_{name}"),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: 1,
            max_bytes: -1,
            max_messages: -1,
            max_message_size: -1,
            storage: stream::StorageType::Memory,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            num_replicas: replicas,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        };
        match js.create_stream(config).await {
            Ok(_) => {}
            Err(e) => last = e.to_string(),
        }
        match js.get_key_value(name).await {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("{last}; {e}"),
        }
    }
    Err(last)
}

/// Puts `value` at `key`, trying again for up to 8 s: right after a NATS server died, the
/// bucket's other replicas take a few seconds to elect a new leader and refuse writes meanwhile.
async fn put_retrying(store: &kv::Store, key: &str, value: Bytes) -> bool {
    let t0 = Instant::now();
    loop {
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), store.put(key, value.clone())).await {
            return true;
        }
        if t0.elapsed() > Duration::from_secs(8) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Deletes the tokens whose expiry passed (any node may; deleting twice is harmless).
async fn sweep(bus: &Bus) {
    let Ok(mut keys) = bus.tokens.keys().await else { return };
    let mut names = Vec::new();
    while let Some(Ok(k)) = keys.next().await {
        names.push(k);
    }
    let now = unix_now();
    for k in names {
        if let Ok(Some(v)) = bus.tokens.get(&k).await {
            if serde_json::from_slice::<TokenRecord>(&v).is_ok_and(|t| t.expires_at <= now) {
                let _ = bus.tokens.delete(&k).await;
            }
        }
    }
}
