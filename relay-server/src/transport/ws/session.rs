//! One WebSocket connection on `/ws`: control messages in, `audio_stream_*` messages and binary
//! audio frames out.
//!
//! Pacing: the session sends while the audio in flight — frames sent beyond the larger of the
//! client's acknowledged position and the real-time position since the first frame — is under
//! the send-ahead window; for a client that acknowledges (it said so in `play`, or it has sent
//! an ack), beyond its acknowledged position alone. A client that acknowledges as it plays or
//! stores gets audio as fast as it consumes it; one that never acknowledges gets real time after
//! an initial burst. Memory per
//! connection is bounded by the window, the decode queue and actix-ws's bounded send queue; a
//! slow socket blocks only its own task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError, Session};
use stream_core::control::{parse_client_message, ClientMessage, ErrorCode, OpusParams, ServerMessage, StreamStart};
use stream_core::wire::{encode_opus_frame, encode_pcm_frame, Codec, FrameHeader, FLAG_DISCONTINUITY};
use stream_core::STREAM_SAMPLE_RATE;

use super::hygiene::{shutdown_close, Guard, Tick};
use super::{is_ack, send};
use crate::library::jobs::{start_pcm, StreamJob};
use crate::library::opus_job::{start_opus, OpusSource, PACKETS_PER_FRAME};
use crate::media::opus::{OpusSettings, PACKET_FRAMES};
use crate::media::StreamEvent;
use crate::transport::state::AppState;

/// Decoded packets queued between the decode thread and the session.
const DECODE_QUEUE_PACKETS: usize = 8;

/// What was asked for, kept so that `seek` can restart it elsewhere.
#[derive(Clone)]
struct Request {
    track_id: String,
    codec: Codec,
    opus: OpusParams,
    /// The client declared that it acknowledges what it plays (`acks` in `play`).
    acks: bool,
}

struct Playback {
    session: u32,
    codec: Codec,
    first_frame: bool,
    channels: u8,
    start_pos: u64,
    next_pos: u64,
    acked_pos: u64,
    first_send: Option<Instant>,
    /// When the client paused; nothing is sent meanwhile.
    paused_since: Option<Instant>,
    /// Pacing by acks alone: the client has acknowledged this session's audio at least once,
    /// or declared that it will.
    acks_seen: bool,
    job: StreamJob,
    frame_buf: Vec<u8>,
}

impl Playback {
    /// How long to wait before the next frame may be sent.
    fn wait(&self, now: Instant, window_frames: u64) -> Duration {
        if self.paused_since.is_some() {
            return Duration::from_secs(3600); // woken by the next message
        }
        let Some(t0) = self.first_send else {
            return Duration::ZERO;
        };
        let realtime = self.start_pos + (now.duration_since(t0).as_secs_f64() * STREAM_SAMPLE_RATE as f64) as u64;
        // A client that acknowledges is paced by what it has played (it may pause, seek within
        // its buffer or stall); one that never does is paced by the clock.
        let consumed = if self.acks_seen { self.acked_pos } else { realtime.max(self.acked_pos) };
        let in_flight = self.next_pos.saturating_sub(consumed);
        if in_flight < window_frames {
            Duration::ZERO
        } else {
            let over = in_flight - window_frames + 1;
            Duration::from_secs_f64(over as f64 / STREAM_SAMPLE_RATE as f64).max(Duration::from_millis(2))
        }
    }
}

/// `GET /ws`: upgrades and spawns the session task. A browser page of an origin the relay does
/// not allow gets 403 `origin_not_allowed` before the upgrade: browsers do not apply CORS to
/// WebSockets, so this check is the only thing that keeps other sites' pages off the socket.
pub async fn ws_route(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let origin = req.headers().get(actix_web::http::header::ORIGIN);
    if !crate::origin::allowed(
        crate::transport::origin_of(origin),
        crate::transport::request_host(req.head()),
        &state.config.allow_origins,
    ) {
        let origin = origin.map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned()).unwrap_or_default();
        state.metrics.ws_origin_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(%origin, "WebSocket upgrade refused: origin not allowed");
        return Err(crate::transport::error::ApiError::new(
            ErrorCode::OriginNotAllowed,
            crate::origin::refusal_message(&origin),
        )
        .into());
    }
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let max = state.config.max_message_bytes;
    let stream = stream.max_frame_size(max).aggregate_continuations().max_continuation_size(max);
    actix_web::rt::spawn(run(state.into_inner(), session, stream));
    Ok(response)
}

enum Step {
    Incoming(Option<Result<AggregatedMessage, ProtocolError>>),
    Decoded(Option<StreamEvent>),
    Tick,
    Guard(Tick),
}

/// How the session goes on after one step.
enum Flow {
    Go,
    /// The socket is gone, or the session closes it (with this reason).
    Stop(Option<CloseReason>),
}

async fn run(state: Arc<AppState>, mut ws: Session, mut stream: actix_ws::AggregatedMessageStream) {
    let window_frames = state.config.send_ahead_ms as u64 * STREAM_SAMPLE_RATE as u64 / 1000;
    state.metrics.sessions_active.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut playback: Option<Playback> = None;
    let mut current: Option<Request> = None;
    let mut queued: Option<(Request, u64)> = None;
    let mut next_session: u32 = 1;
    let mut guard = Guard::new(&state.config, state.shutdown.subscribe());
    let mut counts = Counts::default();
    let close_reason = loop {
        let now = Instant::now();
        let wait = playback.as_ref().map(|p| p.wait(now, window_frames));
        let can_pull = wait == Some(Duration::ZERO);
        let sleep_for = wait.filter(|w| !w.is_zero());
        let step = {
            let rx = playback.as_mut().map(|p| &mut p.job.rx);
            tokio::select! {
                biased;
                m = stream.recv() => Step::Incoming(m),
                e = async move { match rx { Some(rx) => rx.recv().await, None => None } }, if can_pull => Step::Decoded(e),
                _ = tokio::time::sleep(sleep_for.unwrap_or_default()), if sleep_for.is_some() => Step::Tick,
                t = guard.tick() => Step::Guard(t),
            }
        };
        if let Step::Incoming(Some(Ok(m))) = &step {
            if let Flow::Stop(r) = admit(&mut ws, &mut guard, &mut counts, m).await {
                break r;
            }
        }
        let mut ctx = Ctx {
            playback: &mut playback,
            current: &mut current,
            queued: &mut queued,
            next_session: &mut next_session,
        };
        let flow = match step {
            Step::Tick => Flow::Go,
            Step::Guard(t) => on_guard(&mut ws, &guard, ctx.playback, t).await,
            Step::Incoming(None) => Flow::Stop(None),
            Step::Incoming(Some(Err(e))) => on_protocol_error(&state, &mut ws, e).await,
            Step::Incoming(Some(Ok(msg))) => on_message(&state, &mut ws, &mut stream, &mut guard, &mut ctx, msg).await,
            Step::Decoded(ev) => on_decoded(&state, &mut ws, &mut ctx, &mut counts, ev).await,
        };
        if let Flow::Stop(r) = flow {
            break r;
        }
    };
    drop(playback);
    state.metrics.sessions_active.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    // A stalled peer must not hold the task: the close waits a bounded time.
    let _ = tokio::time::timeout(Duration::from_secs(10), ws.close(close_reason)).await;
}

/// Frames sent and acks received on this connection (acks up to one per frame are free).
#[derive(Default)]
struct Counts {
    frames_sent: u64,
    acks: u64,
}

/// The message-rate limit: a client may acknowledge every frame it gets (relay-client does, as
/// fast as it stores them); only acks beyond that count, with every other message.
async fn admit(ws: &mut Session, guard: &mut Guard, counts: &mut Counts, m: &AggregatedMessage) -> Flow {
    guard.seen();
    let cost = match m {
        AggregatedMessage::Text(t) if is_ack(t) => {
            counts.acks += 1;
            if counts.acks <= counts.frames_sent + 64 {
                0.0
            } else {
                1.0
            }
        }
        AggregatedMessage::Text(_) | AggregatedMessage::Binary(_) => 1.0,
        _ => 0.0,
    };
    if cost > 0.0 && !guard.admit(cost) {
        let why = format!("more than {} messages per second", guard.rate());
        let _ = send(ws, &ServerMessage::error(0, ErrorCode::TooManyMessages, why)).await;
        return Flow::Stop(Some(guard.rate_close()));
    }
    Flow::Go
}

/// Keep-alive, idle timeout and server shutdown.
async fn on_guard(ws: &mut Session, guard: &Guard, playback: &mut Option<Playback>, tick: Tick) -> Flow {
    match tick {
        Tick::Ping => {
            if ws.ping(b"").await.is_err() {
                return Flow::Stop(None);
            }
            Flow::Go
        }
        Tick::TimedOut => Flow::Stop(Some(guard.timeout_close())),
        Tick::Shutdown => {
            // Whole frames only were sent; the client learns where they stop.
            if let Some(p) = playback.take() {
                let m = ServerMessage::AudioStreamEnd {
                    session: p.session,
                    total_samples: p.next_pos,
                    duration: p.next_pos as f64 / STREAM_SAMPLE_RATE as f64,
                    reason: Some("server_shutdown".into()),
                };
                let _ = send(ws, &m).await;
            }
            Flow::Stop(Some(shutdown_close()))
        }
    }
}

/// A message the WebSocket layer refused (too large, malformed): said, then closed.
async fn on_protocol_error(state: &AppState, ws: &mut Session, e: ProtocolError) -> Flow {
    let (code, reason) = match e {
        ProtocolError::Overflow => {
            (CloseCode::Size, format!("message exceeds {} bytes", state.config.max_message_bytes))
        }
        other => (CloseCode::Protocol, other.to_string()),
    };
    let err = if code == CloseCode::Size { ErrorCode::MessageTooLarge } else { ErrorCode::MalformedMessage };
    let _ = send(ws, &ServerMessage::error(0, err, reason.clone())).await;
    Flow::Stop(Some(CloseReason { code, description: Some(reason) }))
}

/// `false` (the socket is gone) as a [`Flow`].
fn go_if(ok: bool) -> Flow {
    if ok {
        Flow::Go
    } else {
        Flow::Stop(None)
    }
}

/// One message from the client: a command, or a live `listen`/`publish` that turns this
/// connection into a live listener or producer until the stream ends.
async fn on_message(
    state: &Arc<AppState>,
    ws: &mut Session,
    stream: &mut actix_ws::AggregatedMessageStream,
    guard: &mut Guard,
    ctx: &mut Ctx<'_>,
    msg: AggregatedMessage,
) -> Flow {
    match msg {
        AggregatedMessage::Text(text) => match parse_client_message(&text) {
            Ok(cmd @ (ClientMessage::Listen { .. } | ClientMessage::Publish { .. })) => {
                // Live: library playback stops.
                *ctx.playback = None;
                *ctx.queued = None;
                *ctx.current = None;
                let outcome = match cmd {
                    listen @ ClientMessage::Listen { .. } => {
                        super::live::listen(state, ws, stream, guard, listen).await
                    }
                    publish => super::live::publish(state, ws, stream, guard, publish).await,
                };
                match outcome {
                    super::live::Outcome::Continue => Flow::Go,
                    super::live::Outcome::Gone => Flow::Stop(None),
                    super::live::Outcome::Close(r) => Flow::Stop(Some(r)),
                }
            }
            Ok(ClientMessage::End) => {
                let m = ServerMessage::error(0, ErrorCode::NotPlaying, "end is for producers after publish");
                go_if(send(ws, &m).await)
            }
            Ok(cmd) => go_if(handle_command(state, ws, ctx, cmd).await),
            Err(e) => go_if(send(ws, &ServerMessage::error(0, e.code, e.message)).await),
        },
        AggregatedMessage::Binary(_) => {
            let m =
                ServerMessage::error(0, ErrorCode::BinaryNotExpected, "this endpoint takes JSON text messages only");
            go_if(send(ws, &m).await)
        }
        AggregatedMessage::Ping(bytes) => go_if(ws.pong(&bytes).await.is_ok()),
        AggregatedMessage::Pong(_) => Flow::Go,
        AggregatedMessage::Close(reason) => Flow::Stop(reason),
    }
}

impl Playback {
    /// Frames one decoded event (PCM or Opus packets) into `frame_buf` and advances the
    /// position; `false` if it cannot be framed (logged).
    fn frame(&mut self, ev: &StreamEvent) -> bool {
        let flags = if std::mem::take(&mut self.first_frame) { FLAG_DISCONTINUITY } else { 0 };
        match ev {
            StreamEvent::Pcm { sample_pos, samples } => {
                let (codec, channels, session) = (self.codec, self.channels, self.session);
                if encode_pcm_frame(codec, channels, flags, session, *sample_pos, samples, &mut self.frame_buf)
                    .is_none()
                {
                    tracing::error!("cannot frame {} samples", samples.len());
                    return false;
                }
                self.next_pos = sample_pos + (samples.len() / self.channels as usize) as u64;
            }
            StreamEvent::Packets { first_packet, packets } => {
                let header = FrameHeader {
                    codec: Codec::Opus,
                    channels: self.channels,
                    flags,
                    session: self.session,
                    sample_pos: first_packet * PACKET_FRAMES,
                    frame_count: (packets.len() as u64 * PACKET_FRAMES) as u32,
                };
                if encode_opus_frame(&header, packets, &mut self.frame_buf).is_none() {
                    tracing::error!("cannot frame {} opus packets", packets.len());
                    return false;
                }
                // Pacing counts decoded output, which trails the encoder input by pre-skip.
                self.next_pos =
                    ((first_packet + packets.len() as u64) * PACKET_FRAMES).saturating_sub(self.job.pre_skip as u64);
            }
            _ => return false,
        }
        self.first_send.get_or_insert_with(Instant::now);
        true
    }

    /// What the client still has to play of this stream when it ends at `total_samples`: the
    /// queued stream after it starts playing only then, so its send-ahead window starts then too.
    fn lead(&self, total_samples: u64) -> Duration {
        let realtime = self.first_send.map_or(self.start_pos, |t0| {
            self.start_pos + (Instant::now().duration_since(t0).as_secs_f64() * STREAM_SAMPLE_RATE as f64) as u64
        });
        let left = total_samples.saturating_sub(realtime.max(self.acked_pos));
        Duration::from_secs_f64(left as f64 / STREAM_SAMPLE_RATE as f64)
    }
}

/// One event of the producer thread: a frame to send, the end (and the queued track after it),
/// or a failure.
async fn on_decoded(
    state: &Arc<AppState>,
    ws: &mut Session,
    ctx: &mut Ctx<'_>,
    counts: &mut Counts,
    ev: Option<StreamEvent>,
) -> Flow {
    let Some(p) = ctx.playback.as_mut() else { return Flow::Go };
    match ev {
        Some(ev @ (StreamEvent::Pcm { .. } | StreamEvent::Packets { .. })) => {
            if !p.frame(&ev) {
                return Flow::Go;
            }
            state.metrics.count_frame(p.frame_buf.len());
            counts.frames_sent += 1;
            go_if(ws.binary(p.frame_buf.clone()).await.is_ok())
        }
        Some(StreamEvent::End { total_samples }) => {
            let m = ServerMessage::AudioStreamEnd {
                session: p.session,
                total_samples,
                duration: total_samples as f64 / STREAM_SAMPLE_RATE as f64,
                reason: None,
            };
            let lead = p.lead(total_samples);
            *ctx.playback = None;
            if !send(ws, &m).await {
                return Flow::Stop(None);
            }
            if let Some((req, start_sample)) = ctx.queued.take() {
                if !start(state, ws, ctx, req, start_sample, true).await {
                    return Flow::Stop(None);
                }
                if let Some(next) = ctx.playback.as_mut() {
                    next.first_send = Some(Instant::now() + lead);
                }
            }
            Flow::Go
        }
        Some(StreamEvent::Error(e)) => {
            tracing::warn!(session = p.session, error = %e, "stream failed");
            let m = ServerMessage::error(p.session, e.code, e.message);
            *ctx.playback = None;
            go_if(send(ws, &m).await)
        }
        None => {
            // The decode thread died without a word: report it, keep the connection.
            let m = ServerMessage::error(p.session, ErrorCode::Internal, "decoder stopped unexpectedly");
            *ctx.playback = None;
            go_if(send(ws, &m).await)
        }
    }
}

/// The session task's playback state, as commands see it.
struct Ctx<'a> {
    playback: &'a mut Option<Playback>,
    current: &'a mut Option<Request>,
    /// A track to stream when the current one has been sent to its end, and its start frame.
    queued: &'a mut Option<(Request, u64)>,
    next_session: &'a mut u32,
}

fn to_sample(position_s: f64) -> u64 {
    (position_s * STREAM_SAMPLE_RATE as f64).round() as u64
}

/// Handles one command; `false` when the socket is gone.
async fn handle_command(state: &Arc<AppState>, ws: &mut Session, ctx: &mut Ctx<'_>, cmd: ClientMessage) -> bool {
    match cmd {
        ClientMessage::Play {
            track_id,
            position_s,
            codec,
            opus,
            start_sample,
            queue,
            playing_sample,
            start_delay_ms,
            acks,
        } => {
            let req = Request { track_id, codec, opus, acks };
            let start_sample = start_sample.unwrap_or_else(|| to_sample(position_s));
            if queue && ctx.playback.is_some() {
                *ctx.queued = Some((req, start_sample));
                return true;
            }
            *ctx.queued = None;
            let ok = start(state, ws, ctx, req, start_sample, queue).await;
            if let (Some(p), Some(playing)) = (ctx.playback.as_mut(), playing_sample) {
                // A resume: the client plays from its buffer behind the start; pace from there.
                p.start_pos = p.start_pos.min(playing);
                p.acked_pos = p.acked_pos.min(playing);
            }
            if let (Some(p), Some(delay), true) = (ctx.playback.as_mut(), start_delay_ms, queue) {
                // Queued after a stream already sent in full: it plays once the client's rest of
                // the current one has played.
                p.first_send = Some(Instant::now() + Duration::from_millis(delay));
            }
            ok
        }
        ClientMessage::Seek { position_s } => match ctx.current.clone() {
            Some(req) => start(state, ws, ctx, req, to_sample(position_s), false).await,
            None => {
                send(ws, &ServerMessage::error(0, ErrorCode::NotPlaying, "seek needs a track: play one first")).await
            }
        },
        ClientMessage::Pause => match ctx.playback.as_mut() {
            Some(p) => {
                p.paused_since.get_or_insert_with(Instant::now);
                true
            }
            None => send(ws, &ServerMessage::error(0, ErrorCode::NotPlaying, "nothing is playing to pause")).await,
        },
        ClientMessage::Resume { session } => match ctx.playback.as_mut() {
            Some(p) if session.is_none_or(|s| s == p.session) => {
                if let Some(since) = p.paused_since.take() {
                    // Real time stood still while paused: the send-ahead window continues where it was.
                    if let Some(t0) = p.first_send.as_mut() {
                        *t0 += since.elapsed();
                    }
                }
                true
            }
            _ if session.is_some() => {
                let s = session.unwrap_or_default();
                send(ws, &ServerMessage::error(s, ErrorCode::UnknownSession, format!("no session {s} to resume"))).await
            }
            _ => send(ws, &ServerMessage::error(0, ErrorCode::NotPlaying, "nothing is paused to resume")).await,
        },
        ClientMessage::Stop => {
            *ctx.playback = None;
            *ctx.current = None;
            *ctx.queued = None;
            true
        }
        ClientMessage::Ack { session, sample_pos } => {
            if let Some(p) = ctx.playback.as_mut().filter(|p| p.session == session) {
                // The latest word counts: a client that seeks back in its buffer acks lower.
                p.acked_pos = sample_pos.min(p.next_pos);
                p.acks_seen = true;
            }
            true
        }
        ClientMessage::Ping { id } => send(ws, &ServerMessage::Pong { id }).await,
        _ => send(ws, &ServerMessage::error(0, ErrorCode::UnknownMessage, "command not supported")).await,
    }
}

/// Starts `req` at frame `start_sample` as a new session, replacing any current one.
async fn start(
    state: &Arc<AppState>,
    ws: &mut Session,
    ctx: &mut Ctx<'_>,
    req: Request,
    start_sample: u64,
    queued: bool,
) -> bool {
    // A request that fails leaves the current stream playing: it is replaced only on success.
    let session = *ctx.next_session;
    *ctx.next_session = ctx.next_session.wrapping_add(1).max(1);
    let Some(track) = state.library.get(&req.track_id) else {
        let shown: String = req.track_id.chars().take(64).collect();
        return send(
            ws,
            &ServerMessage::error(session, ErrorCode::UnknownTrack, format!("no track with id {shown:?}")),
        )
        .await;
    };
    if !track.playable {
        let code = track.error_code.unwrap_or(ErrorCode::UnsupportedFormat);
        let why = track.error.clone().unwrap_or_default();
        return send(ws, &ServerMessage::error(session, code, format!("track cannot be played: {why}"))).await;
    }
    let path = track.path.clone();
    let fpp = state.config.frames_per_packet.clamp(64, stream_core::wire::MAX_FRAMES_PER_PACKET) as usize;
    let settings = (req.codec == Codec::Opus).then(|| OpusSettings::resolve(&req.opus, track.channels));
    let opus_src = settings.map(|settings| OpusSource {
        path: path.clone(),
        track_id: track.id.clone(),
        settings,
        cache: state.cache.clone(),
    });
    let produced = web::block(move || match opus_src {
        Some(src) => start_opus(src, start_sample, DECODE_QUEUE_PACKETS),
        None => start_pcm(path, start_sample, fpp, DECODE_QUEUE_PACKETS),
    })
    .await;
    let job = match produced {
        Ok(Ok(job)) => job,
        Ok(Err(e)) => return send(ws, &ServerMessage::error(session, e.code, e.message)).await,
        Err(e) => return send(ws, &ServerMessage::error(session, ErrorCode::Internal, e.to_string())).await,
    };
    *ctx.playback = None; // stops the previous producer thread
    let start = StreamStart {
        session,
        track_id: track.id.clone(),
        codec: req.codec.name().to_owned(),
        sample_rate: STREAM_SAMPLE_RATE,
        channels: job.channels as u8,
        total_duration: job.total_samples.map_or(track.duration_s, |n| n as f64 / STREAM_SAMPLE_RATE as f64),
        total_samples: job.total_samples,
        start_position_s: start_sample as f64 / STREAM_SAMPLE_RATE as f64,
        start_sample,
        frames_per_packet: if settings.is_some() {
            (PACKETS_PER_FRAME as u64 * PACKET_FRAMES) as u32
        } else {
            fpp as u32
        },
        send_ahead_ms: state.config.send_ahead_ms,
        pre_skip: job.pre_skip,
        bitrate: settings.map(|s| s.bitrate),
        complexity: settings.map(|s| s.complexity),
        queued,
        live: false,
        timeshift_s: None,
        window_start_sample: None,
    };
    *ctx.playback = Some(Playback {
        session,
        codec: req.codec,
        first_frame: true,
        channels: job.channels as u8,
        start_pos: start_sample,
        next_pos: start_sample,
        acked_pos: start_sample,
        first_send: None,
        paused_since: None,
        // A client that declared its acks is paced by them from the first frame: its audio
        // may start late (a starved audio thread), and the real-time clock would then send
        // more than its buffer holds before its first ack arrives.
        acks_seen: req.acks,
        job,
        frame_buf: Vec::new(),
    });
    *ctx.current = Some(req);
    send(ws, &ServerMessage::AudioStreamStart(start)).await
}
