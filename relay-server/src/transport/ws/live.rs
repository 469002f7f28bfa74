//! Live streams on `/ws`: a `listen` turns the connection into a listener of one stream, a
//! `publish` into its producer. Both return to the connection's ordinary loop when the stream
//! ends (or the listener sends `stop`), so one socket can play library tracks and live streams.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError, Session};
use stream_core::control::{parse_client_message, ClientMessage, ErrorCode, ServerMessage, StreamStart};
use stream_core::wire::{Codec, FrameHeader};
use stream_core::STREAM_SAMPLE_RATE;
use tokio::sync::broadcast::error::RecvError;

use super::hygiene::{shutdown_close, Guard, Tick};
use super::send;
use crate::live::ingest::FrameIngest;
use crate::live::{
    start_pipeline, IngestError, ListenerGuard, LiveEvent, LiveFrame, LiveStream, Scope, LIVE_FRAME_FRAMES,
    SHUTDOWN_END, SHUTDOWN_STREAM_END,
};
use crate::transport::state::AppState;

/// How a live loop ended.
pub enum Outcome {
    /// Back to the connection's ordinary loop.
    Continue,
    /// Close the connection with this reason.
    Close(CloseReason),
    /// The socket is gone.
    Gone,
}

fn close(code: CloseCode, why: &str) -> Outcome {
    Outcome::Close(CloseReason { code, description: Some(why.to_owned()) })
}

/// Refuses with an `audio_stream_error` and closes with 1008 (RFC 6455 7.4.1: policy violation).
async fn refuse(ws: &mut Session, code: ErrorCode, message: String) -> Outcome {
    if !send(ws, &ServerMessage::error(0, code, message.clone())).await {
        return Outcome::Gone;
    }
    close(CloseCode::Policy, &format!("{}: {message}", code.as_str()))
}

fn start_message(stream: &LiveStream, session: u32, codec: Codec, first: u64) -> ServerMessage {
    let (channels, pre_skip) = stream.format();
    let (window_start, _, _) = stream.window();
    let cap = stream.history_cap.load(std::sync::atomic::Ordering::Relaxed);
    let timeshift_s = (cap > 0).then(|| cap as f64 * LIVE_FRAME_FRAMES as f64 / STREAM_SAMPLE_RATE as f64);
    ServerMessage::AudioStreamStart(StreamStart {
        timeshift_s,
        window_start_sample: timeshift_s.map(|_| window_start),
        session,
        track_id: stream.id.clone(),
        codec: codec.name().to_owned(),
        sample_rate: STREAM_SAMPLE_RATE,
        channels,
        total_duration: 0.0,
        total_samples: None,
        start_position_s: first as f64 / STREAM_SAMPLE_RATE as f64,
        start_sample: first,
        frames_per_packet: LIVE_FRAME_FRAMES as u32,
        pre_skip: if codec == Codec::Opus { pre_skip } else { 0 },
        bitrate: None,
        complexity: None,
        queued: false,
        send_ahead_ms: 0,
        live: true,
    })
}

/// Serves one listener of stream `stream_id` until the stream ends, the listener stops or
/// falls too far behind.
pub async fn listen(
    state: &Arc<AppState>,
    ws: &mut Session,
    incoming: &mut AggregatedMessageStream,
    hygiene: &mut Guard,
    msg: ClientMessage,
) -> Outcome {
    let ClientMessage::Listen { stream_id, token, codec, from_sample } = msg else {
        return Outcome::Continue;
    };
    let (stream_id, token) = (stream_id.as_str(), token.as_str());
    let live = &state.live;
    let stream = match state.authorize(stream_id, Some(token), Scope::Listen).await {
        Ok(s) => s,
        Err((code, m)) => return refuse(ws, code, m).await,
    };
    state.feed(&stream).await;
    if !live.admit_listener() {
        let m = format!("the server holds its maximum of {} listeners", live.config.max_listeners);
        if !send(ws, &ServerMessage::error(0, ErrorCode::TooManyListeners, m)).await {
            return Outcome::Gone;
        }
        return close(CloseCode::Again, "too_many_listeners");
    }
    let guard = ListenerGuard::new(live.clone(), stream.clone());
    let mut from = from_sample.map(Shift::Rejoin);
    loop {
        let step = match from {
            Some(Shift::To(p)) => timeshift(state, ws, incoming, hygiene, &stream, &guard, codec, p).await,
            other => {
                live_part(state, ws, incoming, hygiene, &stream, &guard, codec, other.and_then(Shift::rejoin)).await
            }
        };
        match step {
            Step::Out(o) => return o,
            Step::Seek(to) => from = Some(to),
        }
    }
}

/// Where a listener goes after a `seek`.
#[derive(Clone, Copy, Debug)]
enum Shift {
    /// A rejoin at this position (`listen.from_sample`), live.
    Rejoin(u64),
    /// Back to the live edge.
    Live,
    /// Into the time-shift window at this position.
    To(u64),
}

impl Shift {
    fn rejoin(self) -> Option<u64> {
        match self {
            Shift::Rejoin(p) => Some(p),
            _ => None,
        }
    }
}

/// What a live loop gives back: the connection's outcome, or a seek.
enum Step {
    Out(Outcome),
    Seek(Shift),
}

/// The seek position (seconds of stream time) as a target: the live edge (at or past it), a
/// position in the window, or `out_of_window` before it.
fn seek_target(stream: &LiveStream, position_s: f64) -> Result<Shift, (ErrorCode, String)> {
    let target = (position_s.max(0.0) * STREAM_SAMPLE_RATE as f64).round() as u64;
    let edge = stream.next_pos();
    // Within a frame of the edge is the edge.
    if target + LIVE_FRAME_FRAMES as u64 >= edge {
        return Ok(Shift::Live);
    }
    let (start, _, _) = stream.window();
    if stream.history_cap.load(std::sync::atomic::Ordering::Relaxed) == 0 || target < start {
        return Err((
            ErrorCode::OutOfWindow,
            format!(
                "{:.1} s is before the time-shift window, which starts at {:.1} s (the live edge is at {:.1} s)",
                position_s,
                start as f64 / STREAM_SAMPLE_RATE as f64,
                edge as f64 / STREAM_SAMPLE_RATE as f64
            ),
        ));
    }
    Ok(Shift::To(target))
}

/// The live part of a listener: from the live edge (or its rejoin position) on.
#[allow(clippy::too_many_arguments)]
async fn live_part(
    state: &Arc<AppState>,
    ws: &mut Session,
    incoming: &mut AggregatedMessageStream,
    hygiene: &mut Guard,
    stream: &Arc<LiveStream>,
    guard: &ListenerGuard,
    codec: Codec,
    from_sample: Option<u64>,
) -> Step {
    let live = &state.live;
    let asked = Instant::now();
    let mut sub = stream.subscribe_from(from_sample);
    if let Some(over) = sub.over.take() {
        return Step::Out(finish(ws, stream.session, over).await);
    }
    let session = stream.session;
    let mut started = false;
    let mut next_pos = 0u64;
    // The latest title's sample sent (titles go once: as they come, or with their frame).
    let mut titles_sent: Option<u64> = None;
    let burst = std::mem::take(&mut sub.burst);
    for f in &burst {
        if !started {
            if !send(ws, &start_message(stream, session, codec, f.pos)).await {
                return Step::Out(Outcome::Gone);
            }
            if !send_title_at(ws, stream, f).await {
                return Step::Out(Outcome::Gone);
            }
            started = true;
        }
        match send_frame(ws, guard, f, codec, live.config.send_timeout, &mut titles_sent).await {
            Sent::Ok => {}
            Sent::Gone => return Step::Out(Outcome::Gone),
            Sent::Stalled => {
                return Step::Out(too_slow(ws, guard, session, "the listener stopped taking audio".into()).await)
            }
        }
        if next_pos == 0 {
            live.ttfb.observe(asked.elapsed());
        }
        next_pos = f.pos + f.frames as u64;
    }
    drop(burst);
    // After a shutdown: until when the stream may still end with its last frame (see below).
    let mut shutdown_by: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            biased;
            m = incoming.recv() => {
                hygiene.seen();
                let cost = match &m {
                    Some(Ok(AggregatedMessage::Text(t))) if super::is_ack(t) => 0.1,
                    Some(Ok(AggregatedMessage::Text(_) | AggregatedMessage::Binary(_))) => 1.0,
                    _ => 0.0,
                };
                if cost > 0.0 && !hygiene.admit(cost) {
                    let why = format!("more than {} messages per second", hygiene.rate());
                    let _ = send(ws, &ServerMessage::error(session, ErrorCode::TooManyMessages, why)).await;
                    return Step::Out(Outcome::Close(hygiene.rate_close()));
                }
                match m {
                    None => return Step::Out(Outcome::Gone),
                    Some(Err(ProtocolError::Overflow)) => return Step::Out(close(CloseCode::Size, "message too big")),
                    Some(Err(e)) => return Step::Out(close(CloseCode::Protocol, &e.to_string())),
                    Some(Ok(AggregatedMessage::Close(r))) => return Step::Out(Outcome::Close(r.unwrap_or(CloseReason { code: CloseCode::Normal, description: None }))),
                    Some(Ok(AggregatedMessage::Ping(b))) => { if ws.pong(&b).await.is_err() { return Step::Out(Outcome::Gone); } }
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                    Some(Ok(AggregatedMessage::Binary(_))) => {
                        let m = ServerMessage::error(session, ErrorCode::BinaryNotExpected, "listeners send no audio");
                        if !send(ws, &m).await { return Step::Out(Outcome::Gone); }
                    }
                    Some(Ok(AggregatedMessage::Text(t))) => match parse_client_message(&t) {
                        Ok(ClientMessage::Ping { id }) => { if !send(ws, &ServerMessage::Pong { id }).await { return Step::Out(Outcome::Gone); } }
                        Ok(ClientMessage::Ack { .. }) => {}
                        Ok(ClientMessage::Stop) => return Step::Out(Outcome::Continue),
                        Ok(ClientMessage::Seek { position_s }) => match seek_target(stream, position_s) {
                            Ok(Shift::To(p)) => return Step::Seek(Shift::To(p)),
                            Ok(_) => {} // already at the live edge
                            Err((code, m)) => { if !send(ws, &ServerMessage::error(0, code, m)).await { return Step::Out(Outcome::Gone); } }
                        },
                        Ok(_) => {
                            let m = ServerMessage::error(session, ErrorCode::InvalidParameter, "a live stream takes only seek, stop, ack and ping; stop first");
                            if !send(ws, &m).await { return Step::Out(Outcome::Gone); }
                        }
                        Err(e) => { if !send(ws, &ServerMessage::error(0, e.code, e.message)).await { return Step::Out(Outcome::Gone); } }
                    },
                }
            }
            ev = sub.rx.recv() => {
                match ev {
                    Ok(LiveEvent::Title(t)) => {
                        if started && titles_sent.is_none_or(|s| t.sample > s) {
                            titles_sent = Some(t.sample);
                            if !send(ws, &ServerMessage::Metadata { session, sample: t.sample, title: t.title.clone() }).await {
                                return Step::Out(Outcome::Gone);
                            }
                        }
                    }
                    Ok(LiveEvent::Frame(f)) => {
                        if f.pos < next_pos {
                            continue; // already sent in the burst
                        }
                        if !started {
                            if !send(ws, &start_message(stream, session, codec, f.pos)).await {
                                return Step::Out(Outcome::Gone);
                            }
                            if !send_title_at(ws, stream, &f).await {
                                return Step::Out(Outcome::Gone);
                            }
                            started = true;
                        }
                        if next_pos == 0 {
                            live.ttfb.observe(asked.elapsed());
                        }
                        match send_frame(ws, guard, &f, codec, live.config.send_timeout, &mut titles_sent).await {
                            Sent::Ok => {}
                            Sent::Gone => return Step::Out(Outcome::Gone),
                            Sent::Stalled => return Step::Out(too_slow(ws, guard, session, "the listener stopped taking audio".into()).await),
                        }
                        next_pos = f.pos + f.frames as u64;
                    }
                    // At a shutdown the producer's side ends the stream: its end says why.
                    Ok(LiveEvent::End { total_samples }) if hygiene.shutting_down() => return Step::Out(shutdown_end(ws, session, total_samples).await),
                    Ok(other) => return Step::Out(finish(ws, session, other).await),
                    Err(RecvError::Lagged(n)) => {
                        let m = format!("the listener fell {n} frames ({:.1} s) behind the live stream", n as f64 * LIVE_FRAME_FRAMES as f64 / STREAM_SAMPLE_RATE as f64);
                        return Step::Out(too_slow(ws, guard, session, m).await);
                    }
                    Err(RecvError::Closed) => return Step::Out(Outcome::Continue),
                }
            }
            t = hygiene.tick(), if shutdown_by.is_none() => match t {
                Tick::Ping => { if ws.ping(b"").await.is_err() { return Step::Out(Outcome::Gone); } }
                Tick::TimedOut => return Step::Out(Outcome::Close(hygiene.timeout_close())),
                // The producer ends the stream at once (its last frame is on its way)); every
                // listener gets it, unless it does not come in time.
                Tick::Shutdown => shutdown_by = Some(tokio::time::Instant::now() + SHUTDOWN_STREAM_END),
            },
            _ = tokio::time::sleep_until(shutdown_by.unwrap_or_else(tokio::time::Instant::now)), if shutdown_by.is_some() => {
                return Step::Out(shutdown_end(ws, session, next_pos).await);
            }
        }
    }
}

/// Frames a time-shifted listener is sent ahead of real time (its player's buffer fills at
/// once, then it gets one frame per frame played).
const TIMESHIFT_LEAD_FRAMES: u64 = 10;

/// A listener in the time-shift window: the stream's kept Opus frames from `target` on, paced at
/// real time, under a session of its own (its player crossfades from the live audio as for any
/// seek). PCM listeners get the Opus frames decoded here (the window keeps Opus only), with the
/// decoder warmed up on the frame before. Back to live with a seek to the live edge.
#[allow(clippy::too_many_arguments)]
async fn timeshift(
    state: &Arc<AppState>,
    ws: &mut Session,
    incoming: &mut AggregatedMessageStream,
    hygiene: &mut Guard,
    stream: &Arc<LiveStream>,
    guard: &ListenerGuard,
    codec: Codec,
    target: u64,
) -> Step {
    let live = &state.live;
    let session = live.next_session.fetch_add(1, std::sync::atomic::Ordering::Relaxed) as u32 & 0x3fff_ffff;
    let (channels, pre_skip) = stream.format();
    let Some(first) = stream.history_from(target, 1).and_then(|v| v.into_iter().next()) else {
        return Step::Seek(Shift::Live); // gone meanwhile: back to live
    };
    let mut pcm_dec = if codec == Codec::Opus {
        None
    } else {
        match crate::media::opus::opus_decoder(channels) {
            Ok(mut d) => {
                // Warm up on the frame before (its output is not sent).
                if let Some(prev) = first.pos.checked_sub(1).and_then(|p| stream.history_from(p, 1)) {
                    if let Some(f) = prev.first().filter(|f| f.pos < first.pos) {
                        let _ = opus_to_pcm(&mut d, f, channels, Codec::PcmF32, session, 0, 0);
                    }
                }
                Some(d)
            }
            Err(e) => return Step::Out(refuse(ws, e.code, e.message).await),
        }
    };
    let shift = if codec == Codec::Opus { 0 } else { pre_skip as u64 };
    let start = first.pos.saturating_sub(shift);
    if !send(ws, &start_message(stream, session, codec, start)).await {
        return Step::Out(Outcome::Gone);
    }
    if let Some(t) = stream.title_at(first.pos) {
        if !send(ws, &ServerMessage::Metadata { session, sample: t.sample, title: t.title.clone() }).await {
            return Step::Out(Outcome::Gone);
        }
    }
    let began = tokio::time::Instant::now();
    let frame_time = Duration::from_secs_f64(LIVE_FRAME_FRAMES as f64 / STREAM_SAMPLE_RATE as f64);
    let mut next = first.pos;
    let mut sent = 0u64;
    loop {
        let due = began + frame_time * sent.saturating_sub(TIMESHIFT_LEAD_FRAMES) as u32;
        tokio::select! {
            biased;
            m = incoming.recv() => {
                hygiene.seen();
                match m {
                    None => return Step::Out(Outcome::Gone),
                    Some(Err(ProtocolError::Overflow)) => return Step::Out(close(CloseCode::Size, "message too big")),
                    Some(Err(e)) => return Step::Out(close(CloseCode::Protocol, &e.to_string())),
                    Some(Ok(AggregatedMessage::Close(r))) => return Step::Out(Outcome::Close(r.unwrap_or(CloseReason { code: CloseCode::Normal, description: None }))),
                    Some(Ok(AggregatedMessage::Ping(b))) => { if ws.pong(&b).await.is_err() { return Step::Out(Outcome::Gone); } }
                    Some(Ok(AggregatedMessage::Text(t))) => {
                        if !super::is_ack(&t) && !hygiene.admit(1.0) {
                            let why = format!("more than {} messages per second", hygiene.rate());
                            let _ = send(ws, &ServerMessage::error(session, ErrorCode::TooManyMessages, why)).await;
                            return Step::Out(Outcome::Close(hygiene.rate_close()));
                        }
                        match parse_client_message(&t) {
                            Ok(ClientMessage::Ping { id }) => { if !send(ws, &ServerMessage::Pong { id }).await { return Step::Out(Outcome::Gone); } }
                            Ok(ClientMessage::Ack { .. }) => {}
                            Ok(ClientMessage::Stop) => return Step::Out(Outcome::Continue),
                            Ok(ClientMessage::Seek { position_s }) => match seek_target(stream, position_s) {
                                Ok(to) => return Step::Seek(to),
                                Err((code, m)) => { if !send(ws, &ServerMessage::error(0, code, m)).await { return Step::Out(Outcome::Gone); } }
                            },
                            Ok(_) => {
                                let m = ServerMessage::error(session, ErrorCode::InvalidParameter, "a live stream takes only seek, stop, ack and ping; stop first");
                                if !send(ws, &m).await { return Step::Out(Outcome::Gone); }
                            }
                            Err(e) => { if !send(ws, &ServerMessage::error(0, e.code, e.message)).await { return Step::Out(Outcome::Gone); } }
                        }
                    }
                    Some(Ok(_)) => {}
                }
            }
            t = hygiene.tick() => match t {
                Tick::Ping => { if ws.ping(b"").await.is_err() { return Step::Out(Outcome::Gone); } }
                Tick::TimedOut => return Step::Out(Outcome::Close(hygiene.timeout_close())),
                Tick::Shutdown => return Step::Out(shutdown_end(ws, session, next.saturating_sub(shift)).await),
            },
            _ = tokio::time::sleep_until(due) => {
                let Some(batch) = stream.history_from(next, 1) else {
                    let m = "the time-shift window moved past this listener's position".to_owned();
                    if !send(ws, &ServerMessage::error(session, ErrorCode::OutOfWindow, m)).await {
                        return Step::Out(Outcome::Gone);
                    }
                    return Step::Seek(Shift::Live);
                };
                let Some(f) = batch.into_iter().next() else {
                    // Caught up with the live edge (the stream ended, or only a frame behind):
                    // an ended stream ends here, a live one goes on live.
                    if !stream.is_open() {
                        let m = ServerMessage::AudioStreamEnd { session, total_samples: next.saturating_sub(shift), duration: next as f64 / STREAM_SAMPLE_RATE as f64, reason: None };
                        return Step::Out(if send(ws, &m).await { Outcome::Continue } else { Outcome::Gone });
                    }
                    return Step::Seek(Shift::Live);
                };
                for t in &f.meta {
                    if !send(ws, &ServerMessage::Metadata { session, sample: t.sample, title: t.title.clone() }).await {
                        return Step::Out(Outcome::Gone);
                    }
                }
                let bytes = match pcm_dec.as_mut() {
                    None => reheader(&f.opus, session),
                    Some(d) => match opus_to_pcm(d, &f, channels, codec, session, shift, pre_skip) {
                        Some(b) => b,
                        None => return Step::Out(refuse(ws, ErrorCode::Internal, "a kept frame did not decode".into()).await),
                    },
                };
                let n = bytes.len();
                match tokio::time::timeout(live.config.send_timeout, ws.binary(bytes)).await {
                    Ok(Ok(())) => guard.sent(n),
                    Ok(Err(_)) => return Step::Out(Outcome::Gone),
                    Err(_) => return Step::Out(too_slow(ws, guard, session, "the listener stopped taking audio".into()).await),
                }
                next = f.pos + f.frames as u64;
                sent += 1;
            }
        }
    }
}

/// A kept Opus wire frame under another session (the header's session field).
fn reheader(opus: &bytes::Bytes, session: u32) -> bytes::Bytes {
    let mut v = opus.to_vec();
    if let Ok((h, payload)) = FrameHeader::parse(opus) {
        let h = FrameHeader { session, ..h };
        let _ = h.write(payload.len(), &mut v);
    }
    bytes::Bytes::from(v)
}

/// A kept Opus frame decoded to a PCM wire frame of `codec`, positioned `shift` (the pre-skip)
/// earlier: the decoder's output of a frame at X starts at X - pre_skip.
fn opus_to_pcm(
    dec: &mut opus::Decoder,
    f: &LiveFrame,
    channels: u8,
    codec: Codec,
    session: u32,
    shift: u64,
    _pre_skip: u32,
) -> Option<bytes::Bytes> {
    let (h, payload) = FrameHeader::parse(&f.opus).ok()?;
    let ch = channels as usize;
    let mut pcm = Vec::with_capacity(h.frame_count as usize * ch);
    let mut scratch = vec![0f32; crate::media::opus::MAX_FRAME_SAMPLES * ch];
    for p in stream_core::wire::OpusPackets::new(payload) {
        let n = dec.decode_float(p.ok()?, &mut scratch, false).ok()?;
        pcm.extend_from_slice(&scratch[..n * ch]);
    }
    let mut out = Vec::new();
    stream_core::wire::encode_pcm_frame(codec, channels, 0, session, f.pos.saturating_sub(shift), &pcm, &mut out)?;
    Some(bytes::Bytes::from(out))
}

/// A listener's end at a shutdown: `audio_stream_end` (reason `server_shutdown`) where the last
/// whole frame sent ends, then 1001.
async fn shutdown_end(ws: &mut Session, session: u32, next_pos: u64) -> Outcome {
    let m = ServerMessage::AudioStreamEnd {
        session,
        total_samples: next_pos,
        duration: next_pos as f64 / STREAM_SAMPLE_RATE as f64,
        reason: Some("server_shutdown".into()),
    };
    let _ = send(ws, &m).await;
    Outcome::Close(shutdown_close())
}

/// A joiner's first title: the one in effect where its audio starts (unless that frame brings
/// its own).
async fn send_title_at(ws: &mut Session, stream: &crate::live::LiveStream, f: &LiveFrame) -> bool {
    if f.meta.first().is_some_and(|t| t.sample == f.pos) {
        return true;
    }
    match stream.title_at(f.pos) {
        Some(t) => {
            send(ws, &ServerMessage::Metadata { session: stream.session, sample: t.sample, title: t.title.clone() })
                .await
        }
        None => true,
    }
}

enum Sent {
    Ok,
    Gone,
    Stalled,
}

/// Sends one frame. It may wait `timeout` (`--live-send-timeout-ms`) for room in the send
/// queue: a listener whose queue is full (32 frames, 6.4 s, already wait) and stays full this
/// long is too slow.
async fn send_frame(
    ws: &mut Session,
    guard: &ListenerGuard,
    f: &LiveFrame,
    codec: Codec,
    timeout: Duration,
    titles_sent: &mut Option<u64>,
) -> Sent {
    // The frame's titles, unless they went out already (as they came: LiveEvent::Title).
    for t in &f.meta {
        if titles_sent.is_some_and(|s| t.sample <= s) {
            continue;
        }
        *titles_sent = Some(t.sample);
        let m = ServerMessage::Metadata { session: guard.stream.session, sample: t.sample, title: t.title.clone() };
        if !send(ws, &m).await {
            return Sent::Gone;
        }
    }
    let b = f.wire(codec).clone();
    let n = b.len();
    if n == 0 {
        return Sent::Ok;
    }
    match tokio::time::timeout(timeout, ws.binary(b)).await {
        Ok(Ok(())) => {
            guard.sent(n);
            Sent::Ok
        }
        Ok(Err(_)) => Sent::Gone,
        Err(_) => Sent::Stalled,
    }
}

async fn too_slow(ws: &mut Session, guard: &ListenerGuard, session: u32, why: String) -> Outcome {
    guard.dropped_slow();
    tracing::info!(stream = %guard.stream.id, "{why}");
    // The socket may be stalled: the reason waits behind the queued frames, for a bounded time.
    let m = ServerMessage::error(session, ErrorCode::ListenerTooSlow, why);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), ws.text(m.to_json())).await;
    close(CloseCode::Policy, "listener_too_slow")
}

async fn finish(ws: &mut Session, session: u32, ev: LiveEvent) -> Outcome {
    let m = match ev {
        LiveEvent::End { total_samples } => ServerMessage::AudioStreamEnd {
            session,
            total_samples,
            duration: total_samples as f64 / STREAM_SAMPLE_RATE as f64,
            reason: None,
        },
        LiveEvent::Error { code, message } => ServerMessage::error(session, code, message),
        LiveEvent::Frame(_) | LiveEvent::Title(_) => return Outcome::Continue,
    };
    if send(ws, &m).await {
        Outcome::Continue
    } else {
        Outcome::Gone
    }
}

/// Serves the producer of stream `stream_id`: binary frames in, until `end` or the socket goes.
pub async fn publish(
    state: &Arc<AppState>,
    ws: &mut Session,
    incoming: &mut AggregatedMessageStream,
    hygiene: &mut Guard,
    msg: ClientMessage,
) -> Outcome {
    let ClientMessage::Publish { stream_id, token, codec, channels, sample_rate } = msg else {
        return Outcome::Continue;
    };
    let live = &state.live;
    let stream = match state.authorize(&stream_id, Some(&token), Scope::Publish).await {
        Ok(s) => s,
        Err((code, m)) => return refuse(ws, code, m).await,
    };
    if sample_rate != STREAM_SAMPLE_RATE {
        let m = format!("live audio is {STREAM_SAMPLE_RATE} Hz; resample before publishing (got {sample_rate} Hz)");
        if !send(ws, &ServerMessage::error(0, ErrorCode::UnsupportedSampleRate, m)).await {
            return Outcome::Gone;
        }
        return Outcome::Continue;
    }
    // A takeover in a cluster (the producer's node went away) goes on where the stream stands:
    // its backlog first.
    state.before_producer(&stream).await;
    if !stream.attach_producer() {
        let m = "the stream already has a producer, or has ended".to_owned();
        if !send(ws, &ServerMessage::error(0, ErrorCode::StreamBusy, m)).await {
            return Outcome::Gone;
        }
        return Outcome::Continue;
    }
    let mut producer = match start_pipeline(live, stream.clone(), channels) {
        Ok(p) => p,
        Err(e) => {
            let _ = send(ws, &ServerMessage::error(0, e.code, e.message)).await;
            return Outcome::Continue;
        }
    };
    let mut frames = match FrameIngest::new(codec, channels, producer.start_pos) {
        Ok(f) => f,
        Err(e) => {
            producer.fail(&e);
            return Outcome::Continue;
        }
    };
    let ready = ServerMessage::PublishReady { stream_id: stream_id.clone(), channels, next_sample: producer.start_pos };
    if !send(ws, &ready).await {
        return Outcome::Gone; // dropping the producer reports producer_lost
    }
    loop {
        // A producer's pace is checked against real time (producer_too_fast), not counted here.
        let m = tokio::select! {
            m = incoming.recv() => m,
            _ = stream.replaced.notified() => {
                producer.abandon();
                let m = "another producer took this stream over (on this node or another of the cluster)";
                let _ = send(ws, &ServerMessage::error(stream.session, ErrorCode::ProducerReplaced, m)).await;
                return close(CloseCode::Policy, ErrorCode::ProducerReplaced.as_str());
            }
            t = hygiene.tick() => {
                match t {
                    Tick::Ping => {
                        if ws.ping(b"").await.is_err() {
                            return Outcome::Gone;
                        }
                    }
                    Tick::TimedOut => return Outcome::Close(hygiene.timeout_close()),
                    Tick::Shutdown => {
                        // The stream ends normally where its audio does (Ogg listeners get the
                        // EOS page); the producer is told why.
                        producer.end();
                        let m = ServerMessage::error(stream.session, ErrorCode::ServerShutdown, SHUTDOWN_END);
                        let _ = send(ws, &m).await;
                        return Outcome::Close(shutdown_close());
                    }
                }
                continue;
            }
        };
        hygiene.seen();
        let bytes = match m {
            None => return Outcome::Gone,
            Some(Err(ProtocolError::Overflow)) => {
                let max = state.config.max_message_bytes;
                producer.fail(&IngestError::new(ErrorCode::MessageTooLarge, format!("a message exceeded {max} bytes")));
                return close(CloseCode::Size, "message too big");
            }
            Some(Err(e)) => return close(CloseCode::Protocol, &e.to_string()),
            Some(Ok(AggregatedMessage::Close(r))) => {
                return Outcome::Close(r.unwrap_or(CloseReason { code: CloseCode::Normal, description: None }))
            }
            Some(Ok(AggregatedMessage::Ping(b))) => {
                if ws.pong(&b).await.is_err() {
                    return Outcome::Gone;
                }
                continue;
            }
            Some(Ok(AggregatedMessage::Pong(_))) => continue,
            Some(Ok(AggregatedMessage::Text(t))) => {
                match parse_client_message(&t) {
                    Ok(ClientMessage::End) => {
                        // Confirmed, so the producer can close knowing nothing was lost.
                        let total_samples = producer.start_pos + producer.frames;
                        producer.end();
                        let m = ServerMessage::AudioStreamEnd {
                            session: stream.session,
                            total_samples,
                            duration: total_samples as f64 / STREAM_SAMPLE_RATE as f64,
                            reason: None,
                        };
                        return if send(ws, &m).await { Outcome::Continue } else { Outcome::Gone };
                    }
                    Ok(ClientMessage::Ping { id }) => {
                        if !send(ws, &ServerMessage::Pong { id }).await {
                            return Outcome::Gone;
                        }
                    }
                    Ok(_) => {
                        let m = ServerMessage::error(
                            0,
                            ErrorCode::InvalidParameter,
                            "while publishing: frames, end or ping",
                        );
                        if !send(ws, &m).await {
                            return Outcome::Gone;
                        }
                    }
                    Err(e) => {
                        if !send(ws, &ServerMessage::error(0, e.code, e.message)).await {
                            return Outcome::Gone;
                        }
                    }
                }
                continue;
            }
            Some(Ok(AggregatedMessage::Binary(b))) => b,
        };
        let r = frames.push(&bytes).and_then(|samples| producer.push(samples));
        if let Err(e) = r {
            tracing::warn!(stream = %stream_id, error = %e, "producer refused");
            let _ = send(ws, &ServerMessage::error(0, e.code, e.message.clone())).await;
            producer.fail(&e);
            return close(CloseCode::Policy, e.code.as_str());
        }
    }
}
