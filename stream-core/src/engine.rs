//! The render engine the AudioWorklet runs: wire frames (or decoded PCM) in, planar stereo
//! quanta out, with every seam crossfaded.
//!
//! Real-time contract: everything is allocated in [`Engine::new`]; no method allocates, locks,
//! logs or panics afterwards (a counting-allocator test proves it for the whole API).
//!
//! Model: three *voices*, each a ring of one stream's audio addressed by track position (the
//! playing stream, a stream fading out, and a stream filling for a seek or the next track),
//! and up to two *readers* on them: the `current` one, and an `outgoing` one fading out. Every audible
//! change is an equal-power crossfade ([`Fade`]) between readers, or between a reader and
//! silence:
//! - start mid-track, resume, recovery after an underrun: fade in; stop, pause, underrun: fade out;
//! - a seek whose target is still in the ring (ahead, or played and not yet overwritten): the
//!   current reader crossfades to a reader at the target at once (after any crossfade still
//!   running), no network needed;
//! - a seek elsewhere, or another track: the new stream fills the other voice while the current
//!   one keeps playing; once the new one has its start threshold, they crossfade;
//! - a queued next track fills the other voice ahead of time and takes over at the current
//!   track's end, gapless (to the sample, inside one quantum) or crossfading over N frames;
//! - a reconnect rebinds a voice to the new session; its audio continues at the next position.
//!
//! The start threshold adapts (in the spirit of WebRTC NetEQ's target delay): it doubles after
//! an underrun, up to a maximum, and shrinks by a quarter after 30 s without one.

use crate::fade::{Fade, FadeDir};
use crate::ring::StereoRing;
use crate::wire::{decode_pcm_into, FrameHeader, WireError, FLAG_END_OF_STREAM, MAX_CHANNELS};

/// Frames decoded from a payload per step (bounds the scratch buffer).
const DECODE_CHUNK_FRAMES: usize = 1024;
/// Most frames one render call may ask for.
pub const MAX_RENDER_FRAMES: usize = 1024;
/// A rendered sample above this magnitude (-80 dBFS) counts as audible for time-to-first-audio.
pub const AUDIBLE_THRESHOLD: f32 = 1e-4;
/// Voices: playing, fading out, filling.
const VOICES: usize = 3;
/// Playing this long without an underrun lowers the start threshold.
const STEADY_SECONDS: u64 = 30;

/// Settings fixed at construction.
#[derive(Clone, Copy, Debug)]
pub struct EngineConfig {
    /// Output sample rate (the AudioContext's); the wire is always 48 kHz and the page asks
    /// for a 48 kHz context.
    pub sample_rate: u32,
    /// Capacity of each voice's ring in milliseconds.
    pub capacity_ms: u32,
    /// Audio buffered before playback starts (the adaptive threshold never goes below it).
    pub start_threshold_ms: u32,
    /// Length of fades at start (mid-track), stop, pause, resume and underrun.
    pub fade_ms: f32,
    /// Length of the crossfade of a seek or of an unqueued track change.
    pub crossfade_ms: f32,
    /// Highest the adaptive start threshold may grow to.
    pub max_threshold_ms: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            sample_rate: 48_000,
            capacity_ms: 6_000,
            start_threshold_ms: 100,
            fade_ms: 10.0,
            crossfade_ms: 30.0,
            max_threshold_ms: 2_000,
        }
    }
}

/// What the engine is doing. The discriminants are exported to JS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PlayState {
    /// Nothing to play.
    Idle = 0,
    /// Waiting for the start threshold (at start, or after an underrun).
    Buffering = 1,
    /// Rendering audio.
    Playing = 2,
    /// The last frame of the last stream has been rendered.
    Ended = 3,
    /// Fading out after `stop`, then idle.
    Stopping = 4,
    /// Paused: the position and the buffer are kept.
    Paused = 5,
}

/// How a queued track follows the current one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The next track's first frame follows the current track's last frame directly.
    Gapless,
    /// The last `n` frames of the current track and the first `n` of the next overlap,
    /// crossfaded with equal power.
    Crossfade(u32),
}

/// Counters the engine keeps; all in frames at the output rate unless named otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EngineStats {
    /// Session of the current reader's stream.
    pub session: u32,
    /// Frames buffered ahead of the current reader.
    pub buffered_frames: u64,
    /// Position (from the track start) of the next frame the current reader renders.
    pub play_pos: u64,
    /// Position the current stream's next frame is expected at.
    pub write_pos: u64,
    /// Times playback ran dry before the end of the stream.
    pub underruns: u32,
    /// Frames of silence rendered because of underruns.
    pub underrun_frames: u64,
    /// Frames rendered since construction (silence included).
    pub frames_rendered: u64,
    /// Frames of the current session rendered from the stream.
    pub stream_frames_rendered: u64,
    /// Frames refused because the ring was full.
    pub dropped_frames: u64,
    /// Frames that arrived behind the write position (duplicates) and were skipped.
    pub late_frames: u64,
    /// Frames before the start position (a decoder's pre-roll), skipped.
    pub preroll_frames: u64,
    /// Frames of silence inserted for positions that never arrived.
    pub gap_frames: u64,
    /// Wire frames refused as malformed.
    pub bad_frames: u32,
    /// Wire frames of no current session, ignored.
    pub stale_frames: u32,
    /// Fades run (start, stop, pause, resume, underrun, recovery).
    pub fades: u32,
    /// Crossfades between two streams or two positions (seeks, track changes).
    pub crossfades: u32,
    /// Queued track changes made (gapless or crossfaded).
    pub transitions: u32,
    /// The adaptive start threshold.
    pub target_frames: u64,
    /// Clock frame (as passed to `render`) at which the session's first frame was rendered.
    pub start_clock: Option<u64>,
    /// Clock frame of the first audible sample of the session.
    pub first_audio_clock: Option<u64>,
    /// Clock frame of the last queued-track change (its first frame of the new track).
    pub transition_clock: Option<u64>,
}

/// Why a wire frame was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushError {
    /// The bytes are not a valid frame.
    Wire(WireError),
    /// Compressed payloads are decoded before they reach the engine.
    NotPcm,
}

struct Voice {
    ring: StereoRing,
    /// 0: unused.
    session: u32,
    start: u64,
    end: Option<u64>,
    /// Nothing written since the start or a rebind: frames behind the write position are
    /// a decoder's pre-roll, not duplicates.
    fresh: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reader {
    voice: usize,
    pos: u64,
}

struct Outgoing {
    reader: Reader,
    fade: Fade,
}

#[derive(Clone, Copy)]
struct Queued {
    voice: usize,
    transition: Transition,
}

/// The engine: voices, readers, state machine, fades, counters.
pub struct Engine {
    config: EngineConfig,
    voices: [Voice; VOICES],
    current: Option<Reader>,
    fade_in: Option<Fade>,
    outgoing: Option<Outgoing>,
    /// A started stream waiting for its threshold to take over from the current one.
    pending: Option<usize>,
    queued: Option<Queued>,
    paused_at: Option<Reader>,
    /// Where the last stream ended (for stats after the end).
    ended_at: Option<Reader>,
    /// A local seek waiting for the running crossfade to finish.
    deferred_seek: Option<u64>,
    state: PlayState,
    fade_len: u32,
    xfade_len: u32,
    min_threshold: u64,
    max_threshold: u64,
    threshold: u64,
    steady_frames: u64,
    scratch: Vec<f32>,
    tmp_l: Vec<f32>,
    tmp_r: Vec<f32>,
    stats: EngineStats,
}

fn ms_to_frames(ms: f32, rate: u32) -> u32 {
    ((ms.max(0.0) * rate as f32 / 1000.0) as u32).max(1)
}

impl Engine {
    /// Allocates both voices' rings and scratch space; nothing allocates after this.
    pub fn new(config: EngineConfig) -> Self {
        let frames = |ms: u32| config.sample_rate as u64 * ms as u64 / 1000;
        let voice = || Voice {
            ring: StereoRing::new(frames(config.capacity_ms.max(100)) as usize),
            session: 0,
            start: 0,
            end: None,
            fresh: true,
        };
        let min_threshold = frames(config.start_threshold_ms);
        let max_threshold = frames(config.max_threshold_ms).max(min_threshold).min(frames(config.capacity_ms) / 2);
        Engine {
            config,
            voices: [voice(), voice(), voice()],
            current: None,
            fade_in: None,
            outgoing: None,
            pending: None,
            queued: None,
            paused_at: None,
            ended_at: None,
            deferred_seek: None,
            state: PlayState::Idle,
            fade_len: ms_to_frames(config.fade_ms, config.sample_rate),
            xfade_len: ms_to_frames(config.crossfade_ms, config.sample_rate),
            min_threshold,
            max_threshold,
            threshold: min_threshold,
            steady_frames: 0,
            scratch: vec![0.0; DECODE_CHUNK_FRAMES * MAX_CHANNELS as usize],
            tmp_l: vec![0.0; MAX_RENDER_FRAMES],
            tmp_r: vec![0.0; MAX_RENDER_FRAMES],
            stats: EngineStats { target_frames: min_threshold, ..Default::default() },
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The state.
    pub fn state(&self) -> PlayState {
        self.state
    }

    /// Sets the lowest start threshold (the adaptive one never goes below it), at most the
    /// highest one: a live stream,
    /// whose audio arrives in real time, needs more in hand than a file sent ahead.
    pub fn set_min_threshold_ms(&mut self, ms: u32) {
        // The adaptation starts anew from it.
        let f = (self.config.sample_rate as u64 * ms as u64 / 1000).clamp(1, self.max_threshold);
        self.min_threshold = f;
        self.threshold = f;
    }

    /// Capacity of one voice's ring in frames.
    pub fn capacity_frames(&self) -> usize {
        self.voices[0].ring.capacity_frames()
    }

    /// Output clock of the current stream's first audible frame, once it has played (cheap:
    /// the render thread reads it after every quantum).
    pub fn first_audio_clock(&self) -> Option<u64> {
        self.stats.first_audio_clock
    }

    /// A copy of the counters, with the current reader's positions.
    pub fn stats(&self) -> EngineStats {
        let mut s = self.stats;
        s.target_frames = self.threshold;
        let reader = self.current.or(self.paused_at).or(self.ended_at);
        if let Some(r) = reader {
            let v = &self.voices[r.voice];
            s.session = v.session;
            s.play_pos = r.pos;
            s.write_pos = v.ring.write_pos();
            s.buffered_frames = v.ring.available_from(r.pos) as u64;
        } else {
            s.buffered_frames = 0;
        }
        s
    }

    fn voice_of(&self, session: u32) -> Option<usize> {
        if session == 0 {
            return None;
        }
        (0..VOICES).find(|&v| self.voices[v].session == session)
    }

    /// A voice no reader, pending or queued stream uses (there is always one: at most two
    /// readers plus one filling stream are live at once).
    fn free_voice(&self) -> usize {
        let busy = |v: usize| {
            self.current.is_some_and(|r| r.voice == v)
                || self.outgoing.as_ref().is_some_and(|o| o.reader.voice == v)
                || self.paused_at.is_some_and(|r| r.voice == v)
                || self.pending == Some(v)
                || self.queued.is_some_and(|q| q.voice == v)
        };
        (0..VOICES).find(|&v| !busy(v)).unwrap_or(VOICES - 1)
    }

    fn reset_voice(&mut self, v: usize, session: u32, pos: u64) {
        self.ended_at = None;
        let voice = &mut self.voices[v];
        voice.ring.reset(pos);
        voice.session = session;
        voice.start = pos;
        voice.end = None;
        voice.fresh = true;
    }

    fn begin_session_stats(&mut self) {
        let s = &mut self.stats;
        s.stream_frames_rendered = 0;
        s.start_clock = None;
        s.first_audio_clock = None;
    }

    /// Starts session `session` whose first frame is at `start_pos`. While something is audible
    /// the new stream fills the other voice and crossfades in once it has its start threshold
    /// (a seek, or another track); otherwise it starts at once, fading in if it starts
    /// mid-track (a start at the very beginning plays the track's first sample untouched).
    pub fn start(&mut self, session: u32, start_pos: u64) {
        if let Some(q) = self.queued.take() {
            self.voices[q.voice].session = 0;
        }
        self.deferred_seek = None;
        if self.state == PlayState::Playing && self.current.is_some() {
            if let Some(p) = self.pending.take() {
                self.voices[p].session = 0;
            }
            let v = self.free_voice();
            self.reset_voice(v, session, start_pos);
            self.pending = Some(v);
            return;
        }
        // Nothing audible (idle, ended, paused, buffering): start directly.
        if self.state != PlayState::Stopping {
            self.outgoing = None;
        }
        if let Some(p) = self.pending.take() {
            self.voices[p].session = 0;
        }
        self.paused_at = None;
        self.current = None;
        let v = self.free_voice();
        self.reset_voice(v, session, start_pos);
        self.current = Some(Reader { voice: v, pos: start_pos });
        self.fade_in = (start_pos > 0).then(|| Fade::new(FadeDir::In, self.fade_len));
        self.state = PlayState::Buffering;
        self.begin_session_stats();
    }

    /// Queues session `session` (the next track, first frame at `start_pos`) to follow the
    /// current stream's end with `transition`. With nothing playing it starts at once.
    pub fn queue(&mut self, session: u32, start_pos: u64, transition: Transition) {
        if self.current.is_none() || matches!(self.state, PlayState::Ended | PlayState::Idle | PlayState::Stopping) {
            self.start(session, start_pos);
            return;
        }
        if let Some(q) = self.queued.take() {
            self.voices[q.voice].session = 0;
        }
        let v = self.free_voice();
        self.reset_voice(v, session, start_pos);
        self.queued = Some(Queued { voice: v, transition });
    }

    /// Marks where the stream of `session` ends, in frames from the track start.
    pub fn end_at(&mut self, session: u32, end_pos: u64) {
        if let Some(v) = self.voice_of(session) {
            self.voices[v].end = Some(end_pos);
        }
    }

    /// Moves a voice from session `old` to session `new` (a reconnect): frames of `new`
    /// continue at the voice's write position, overlap before it is skipped as pre-roll.
    pub fn rebind(&mut self, old: u32, new: u32) -> bool {
        match self.voice_of(old) {
            Some(v) if new != 0 => {
                // A restarted server numbers sessions anew: no other voice may keep the id.
                for (i, other) in self.voices.iter_mut().enumerate() {
                    if i != v && other.session == new {
                        other.session = 0;
                    }
                }
                self.voices[v].session = new;
                self.voices[v].fresh = true;
                true
            }
            _ => false,
        }
    }

    /// Position the stream of `session` needs next (where a reconnect must resume).
    pub fn write_pos_of(&self, session: u32) -> Option<u64> {
        self.voice_of(session).map(|v| self.voices[v].ring.write_pos())
    }

    /// Seeks the current stream to `pos` if the ring still holds enough audio there (ahead of
    /// the reader, or played and not yet overwritten): crossfades to it at once and returns
    /// `true`. Returns `false` when the audio must come from the network.
    pub fn seek_local(&mut self, pos: u64) -> bool {
        let Some(reader) = self.current.or(self.paused_at) else { return false };
        let v = &self.voices[reader.voice];
        let needed = self.threshold.min(v.end.map_or(u64::MAX, |e| e.saturating_sub(pos)));
        if pos < v.ring.base() || (v.ring.available_from(pos) as u64) < needed.max(1) {
            return false;
        }
        if let Some(p) = self.pending.take() {
            self.voices[p].session = 0;
        }
        let target = Reader { voice: reader.voice, pos };
        if self.state == PlayState::Paused {
            self.paused_at = Some(target);
            return true;
        }
        if self.state == PlayState::Playing && self.outgoing.is_some() {
            // One crossfade at a time: this one starts when the running one ends.
            self.deferred_seek = Some(pos);
            return true;
        }
        self.deferred_seek = None;
        if self.state == PlayState::Playing {
            self.outgoing = Some(Outgoing { reader, fade: Fade::new(FadeDir::Out, self.xfade_len) });
            self.fade_in = Some(Fade::new(FadeDir::In, self.xfade_len));
            self.stats.crossfades += 1;
        } else {
            self.fade_in = Some(Fade::new(FadeDir::In, self.fade_len));
        }
        self.current = Some(target);
        true
    }

    /// Fades out and keeps position and buffer. Returns `false` if nothing was playing.
    pub fn pause(&mut self) -> bool {
        let Some(reader) = self.current else { return false };
        if !matches!(self.state, PlayState::Playing | PlayState::Buffering) {
            return false;
        }
        let resume_at = match self.deferred_seek.take() {
            Some(pos) => Reader { voice: reader.voice, pos },
            None => reader,
        };
        if self.state == PlayState::Playing && self.outgoing.is_none() {
            self.outgoing = Some(Outgoing { reader, fade: Fade::new(FadeDir::Out, self.fade_len) });
            self.stats.fades += 1;
        }
        self.paused_at = Some(resume_at);
        self.current = None;
        self.fade_in = None;
        self.state = PlayState::Paused;
        true
    }

    /// Resumes from the exact position of the pause, fading in. Returns `false` if not paused.
    pub fn resume(&mut self) -> bool {
        if self.state != PlayState::Paused {
            return false;
        }
        let Some(reader) = self.paused_at.take() else { return false };
        self.current = Some(reader);
        self.fade_in = Some(Fade::new(FadeDir::In, self.fade_len));
        self.stats.fades += 1;
        self.state = PlayState::Buffering;
        true
    }

    /// Fades out and goes idle.
    pub fn stop(&mut self) {
        self.pending = None;
        self.queued = None;
        self.paused_at = None;
        self.deferred_seek = None;
        match (self.state, self.current.take()) {
            (PlayState::Playing, Some(reader)) => {
                if self.outgoing.is_none() {
                    self.outgoing = Some(Outgoing { reader, fade: Fade::new(FadeDir::Out, self.fade_len) });
                    self.stats.fades += 1;
                }
                self.state = PlayState::Stopping;
            }
            _ if self.outgoing.is_some() => self.state = PlayState::Stopping,
            _ => self.go_idle(),
        }
    }

    fn go_idle(&mut self) {
        self.state = PlayState::Idle;
        self.current = None;
        self.outgoing = None;
        for v in &mut self.voices {
            v.session = 0;
        }
    }

    /// Takes one PCM wire frame. Frames of no live session are ignored; a frame behind the
    /// write position has its overlap skipped; a frame ahead of it is preceded by silence.
    pub fn push_frame(&mut self, bytes: &[u8]) -> Result<(), PushError> {
        let (h, payload) = match FrameHeader::parse(bytes) {
            Ok(v) => v,
            Err(e) => {
                self.stats.bad_frames += 1;
                return Err(PushError::Wire(e));
            }
        };
        let Some(bps) = h.codec.pcm_bytes_per_sample() else {
            self.stats.bad_frames += 1;
            return Err(PushError::NotPcm);
        };
        let channels = h.channels as usize;
        let Some((v, skip)) = self.admit(h.session, h.sample_pos, h.frame_count as usize) else { return Ok(()) };
        let frame_bytes = channels * bps;
        let mut offset = skip * frame_bytes;
        let mut remaining = h.frame_count as usize - skip;
        let protect = self.protect_from(v);
        while remaining > 0 {
            let n = remaining.min(DECODE_CHUNK_FRAMES);
            let bytes = &payload[offset..offset + n * frame_bytes];
            let samples = decode_pcm_into(h.codec, bytes, &mut self.scratch[..n * channels]);
            let written = self.voices[v].ring.write_interleaved(&self.scratch[..samples], channels, protect);
            self.stats.dropped_frames += (n - written) as u64;
            offset += n * frame_bytes;
            remaining -= n;
            if written < n {
                break;
            }
        }
        if h.flags & FLAG_END_OF_STREAM != 0 {
            self.voices[v].end = Some(h.sample_pos + h.frame_count as u64);
        }
        Ok(())
    }

    /// Takes decoded PCM (interleaved f32, `channels` channels) whose first frame is at
    /// `sample_pos` of `session`: what the Worker posts after decoding Opus. Same rules as
    /// [`Engine::push_frame`].
    pub fn push_pcm(&mut self, session: u32, sample_pos: u64, channels: usize, interleaved: &[f32]) {
        if channels == 0 || channels > MAX_CHANNELS as usize {
            self.stats.bad_frames += 1;
            return;
        }
        let frames = interleaved.len() / channels;
        let Some((v, skip)) = self.admit(session, sample_pos, frames) else { return };
        let protect = self.protect_from(v);
        let written =
            self.voices[v].ring.write_interleaved(&interleaved[skip * channels..frames * channels], channels, protect);
        self.stats.dropped_frames += (frames - skip - written) as u64;
    }

    /// The oldest position of voice `v` a reader still needs.
    fn protect_from(&self, v: usize) -> u64 {
        let readers = [self.current, self.outgoing.as_ref().map(|o| o.reader), self.paused_at];
        readers.iter().flatten().filter(|r| r.voice == v).map(|r| r.pos).min().unwrap_or(self.voices[v].start)
    }

    /// Session routing and position bookkeeping before writing `frames` frames at `sample_pos`:
    /// `None` to ignore them, else the voice and how many leading frames to skip. Fills a gap
    /// ahead with silence.
    fn admit(&mut self, session: u32, sample_pos: u64, frames: usize) -> Option<(usize, usize)> {
        let Some(v) = self.voice_of(session).filter(|_| self.state != PlayState::Idle) else {
            self.stats.stale_frames += 1;
            return None;
        };
        let protect = self.protect_from(v);
        let voice = &mut self.voices[v];
        let write_pos = voice.ring.write_pos();
        if sample_pos < write_pos {
            let skip = ((write_pos - sample_pos) as usize).min(frames);
            if voice.fresh {
                self.stats.preroll_frames += skip as u64;
            } else {
                self.stats.late_frames += skip as u64;
            }
            if skip < frames {
                voice.fresh = false;
            }
            Some((v, skip))
        } else {
            if sample_pos > write_pos {
                let gap = (sample_pos - write_pos) as usize;
                let written = voice.ring.write_silence(gap, protect);
                self.stats.gap_frames += gap as u64;
                self.stats.dropped_frames += (gap - written) as u64;
            }
            voice.fresh = false;
            Some((v, 0))
        }
    }

    /// Whether voice `v` can start playing from `pos`: the threshold is buffered, or the whole
    /// rest of the stream is.
    fn ready(&self, v: usize, pos: u64) -> bool {
        let voice = &self.voices[v];
        let avail = voice.ring.available_from(pos) as u64;
        match voice.end {
            Some(end) if voice.ring.write_pos() >= end => avail > 0 || pos >= end,
            _ => avail >= self.threshold.max(1),
        }
    }

    /// Renders `left.len()` frames (both slices the same length, at most
    /// [`MAX_RENDER_FRAMES`]) for the quantum whose first frame is at `clock_frame` on the
    /// output clock. Never allocates.
    pub fn render(&mut self, left: &mut [f32], right: &mut [f32], clock_frame: u64) {
        let n = left.len().min(right.len()).min(MAX_RENDER_FRAMES);
        let (left, right) = (&mut left[..n], &mut right[..n]);
        left.fill(0.0);
        right.fill(0.0);
        self.stats.frames_rendered += n as u64;
        if self.outgoing.is_none() {
            if let Some(pos) = self.deferred_seek.take() {
                if !self.seek_local(pos) {
                    // The target left the ring meanwhile: jump there and wait for the network.
                    if let Some(r) = self.current.as_mut() {
                        r.pos = pos;
                    }
                }
            }
        }
        self.take_over_if_ready();
        if self.state == PlayState::Buffering {
            if let Some(r) = self.current {
                let v = &self.voices[r.voice];
                if v.end.is_some_and(|e| r.pos >= e && v.ring.write_pos() >= e) {
                    self.current = None;
                    self.state = PlayState::Ended;
                } else if self.ready(r.voice, r.pos) {
                    self.state = PlayState::Playing;
                } else if self.stats.start_clock.is_some() {
                    self.stats.underrun_frames += n as u64;
                }
            }
        }
        let mut i = 0;
        while i < n {
            let mut seg = n - i;
            if self.state == PlayState::Playing {
                if let (Some(cur), Some(q)) = (self.current, self.queued) {
                    if let Some(end) = self.voices[cur.voice].end {
                        let overlap = match q.transition {
                            Transition::Gapless => 0,
                            Transition::Crossfade(f) => f as u64,
                        };
                        let at = end.saturating_sub(overlap).max(self.voices[cur.voice].start);
                        if cur.pos >= at && self.outgoing.is_none() {
                            self.queued_takeover(q, overlap, clock_frame + i as u64);
                            continue;
                        }
                        if cur.pos < at {
                            seg = seg.min((at - cur.pos) as usize);
                        }
                    }
                }
            }
            self.render_current(left, right, i, seg, clock_frame);
            self.render_outgoing(left, right, i, seg);
            i += seg;
        }
        match self.state {
            PlayState::Stopping if self.outgoing.is_none() => self.go_idle(),
            PlayState::Playing if self.current.is_none() && self.outgoing.is_none() => self.state = PlayState::Ended,
            PlayState::Playing => {
                self.steady_frames += n as u64;
                if self.steady_frames > STEADY_SECONDS * self.config.sample_rate as u64 {
                    self.steady_frames = 0;
                    self.threshold = (self.threshold * 3 / 4).max(self.min_threshold);
                }
            }
            _ => {}
        }
    }

    /// A pending stream (seek or track change) with its threshold buffered crossfades in.
    fn take_over_if_ready(&mut self) {
        let Some(p) = self.pending else { return };
        let start = self.voices[p].start;
        if self.outgoing.is_some() || !self.ready(p, start) {
            return;
        }
        self.pending = None;
        // (A track queued now was queued after this stream's start, which dropped the one
        // queued before: it follows this stream.)
        if let (PlayState::Playing, Some(reader)) = (self.state, self.current) {
            self.outgoing = Some(Outgoing { reader, fade: Fade::new(FadeDir::Out, self.xfade_len) });
            self.fade_in = Some(Fade::new(FadeDir::In, self.xfade_len));
            self.stats.crossfades += 1;
        } else {
            self.fade_in = (start > 0).then(|| Fade::new(FadeDir::In, self.fade_len));
        }
        self.current = Some(Reader { voice: p, pos: start });
        self.state = PlayState::Playing;
        self.begin_session_stats();
    }

    fn queued_takeover(&mut self, q: Queued, overlap: u64, clock: u64) {
        let cur = self.current.expect("checked by the caller");
        self.queued = None;
        if overlap > 0 {
            self.outgoing = Some(Outgoing { reader: cur, fade: Fade::new(FadeDir::Out, overlap as u32) });
            self.fade_in = Some(Fade::new(FadeDir::In, overlap as u32));
            self.stats.crossfades += 1;
        } else {
            self.fade_in = None;
        }
        self.current = Some(Reader { voice: q.voice, pos: self.voices[q.voice].start });
        self.stats.transitions += 1;
        self.stats.transition_clock = Some(clock);
        self.begin_session_stats();
    }

    fn render_current(&mut self, left: &mut [f32], right: &mut [f32], i: usize, seg: usize, clock: u64) {
        if !matches!(self.state, PlayState::Playing) {
            return;
        }
        let Some(mut cur) = self.current else { return };
        let (l, r) = (&mut left[i..i + seg], &mut right[i..i + seg]);
        let voice = &self.voices[cur.voice];
        let got = voice.ring.read_planar(cur.pos, l, r);
        let end = voice.end;
        if let Some(f) = self.fade_in.as_mut() {
            f.apply(&mut l[..got], &mut r[..got]);
            if f.done() {
                self.fade_in = None;
            }
        }
        if got > 0 {
            let clock = clock + i as u64;
            if self.stats.start_clock.is_none() {
                self.stats.start_clock = Some(clock);
            }
            if self.stats.first_audio_clock.is_none() {
                if let Some(k) = l[..got]
                    .iter()
                    .zip(r[..got].iter())
                    .position(|(a, b)| a.abs() > AUDIBLE_THRESHOLD || b.abs() > AUDIBLE_THRESHOLD)
                {
                    self.stats.first_audio_clock = Some(clock + k as u64);
                }
            }
        }
        cur.pos += got as u64;
        self.stats.stream_frames_rendered += got as u64;
        self.current = Some(cur);
        if got < seg {
            if end.is_some_and(|e| cur.pos >= e) {
                // The stream is over; a queued track would have taken over at the boundary.
                self.ended_at = Some(cur);
                self.current = None;
                self.fade_in = None;
            } else {
                // Running dry: fade out what there is, wait for the threshold, fade back in.
                let tail = got.min(self.fade_len as usize);
                let mut out = Fade::new(FadeDir::Out, tail as u32);
                out.apply(&mut l[got - tail..got], &mut r[got - tail..got]);
                self.fade_in = Some(Fade::new(FadeDir::In, self.fade_len));
                self.stats.fades += 2;
                self.stats.underruns += 1;
                self.stats.underrun_frames += (seg - got) as u64;
                self.state = PlayState::Buffering;
                self.steady_frames = 0;
                self.threshold = (self.threshold * 2).clamp(self.min_threshold.max(1), self.max_threshold.max(1));
            }
        }
    }

    fn render_outgoing(&mut self, left: &mut [f32], right: &mut [f32], i: usize, seg: usize) {
        let Some(out) = self.outgoing.as_mut() else { return };
        let (tl, tr) = (&mut self.tmp_l[..seg], &mut self.tmp_r[..seg]);
        let got = self.voices[out.reader.voice].ring.read_planar(out.reader.pos, tl, tr);
        tl[got..].fill(0.0);
        tr[got..].fill(0.0);
        for k in 0..seg {
            let g = out.fade.next_gain();
            left[i + k] += g * tl[k];
            right[i + k] += g * tr[k];
        }
        out.reader.pos += got as u64;
        if out.fade.done() {
            let v = out.reader.voice;
            self.outgoing = None;
            // Release the voice if nothing else reads or fills it.
            let used = self.current.is_some_and(|r| r.voice == v)
                || self.paused_at.is_some_and(|r| r.voice == v)
                || self.pending == Some(v)
                || self.queued.is_some_and(|q| q.voice == v);
            if !used {
                self.voices[v].session = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fade::gain;
    use crate::wire::{encode_pcm_frame, Codec};

    const Q: usize = 128;

    fn frame(session: u32, pos: u64, samples: &[f32], channels: u8, flags: u8) -> Vec<u8> {
        let mut v = Vec::new();
        encode_pcm_frame(Codec::PcmF32, channels, flags, session, pos, samples, &mut v).expect("encode");
        v
    }

    /// Stereo counter: left = offset + position, right = -(offset + position).
    fn counter(offset: f32, pos: u64, frames: usize) -> Vec<f32> {
        (0..frames as u64).flat_map(|i| [offset + (pos + i) as f32, -(offset + (pos + i) as f32)]).collect()
    }

    fn config() -> EngineConfig {
        EngineConfig {
            sample_rate: 48_000,
            capacity_ms: 1000,
            start_threshold_ms: 10,
            fade_ms: 1.0,
            crossfade_ms: 2.0,
            max_threshold_ms: 200,
        }
    }

    /// Pushes a whole stream of `frames` counter frames in 960-frame wire frames.
    fn feed(e: &mut Engine, session: u32, offset: f32, from: u64, to: u64) {
        let mut pos = from;
        while pos < to {
            let n = (to - pos).min(960) as usize;
            e.push_frame(&frame(session, pos, &counter(offset, pos, n), 2, 0)).expect("push");
            pos += n as u64;
        }
    }

    fn run(e: &mut Engine, quanta: usize, out: &mut Vec<f32>) {
        let (mut l, mut r) = ([0.0f32; Q], [0.0f32; Q]);
        for _ in 0..quanta {
            let clock = (out.len() / 2) as u64;
            e.render(&mut l, &mut r, clock);
            for k in 0..Q {
                out.push(l[k]);
                out.push(r[k]);
            }
        }
    }

    fn left(out: &[f32]) -> Vec<f32> {
        out.chunks_exact(2).map(|f| f[0]).collect()
    }

    /// Asserts `xs[from..from + len]` counts up by one from `first`: nothing repeated or skipped.
    fn assert_counts(xs: &[f32], from: usize, len: usize, first: f32) {
        for k in 0..len {
            assert_eq!(xs[from + k], first + k as f32, "frame {} of a run starting at {from}", from + k);
        }
    }

    #[test]
    fn counter_plays_in_order_from_the_start_unfaded_and_ends() {
        let mut e = Engine::new(config());
        e.start(1, 0);
        feed(&mut e, 1, 0.0, 0, 20_000);
        e.end_at(1, 20_000);
        let mut out = Vec::new();
        run(&mut e, 200, &mut out);
        let l = left(&out);
        let start = e.stats().start_clock.expect("started") as usize;
        assert_eq!(start, 0);
        assert_counts(&l, 0, 20_000, 0.0);
        assert!(l[20_000..].iter().all(|&x| x == 0.0));
        assert_eq!(e.state(), PlayState::Ended);
        let s = e.stats();
        assert_eq!((s.underruns, s.late_frames, s.gap_frames, s.dropped_frames), (0, 0, 0, 0));
        assert_eq!(s.first_audio_clock, Some(1), "position 0 is silent, 1 is the first audible frame");
    }

    #[test]
    fn waits_for_the_start_threshold() {
        let mut e = Engine::new(config()); // threshold 10 ms = 480 frames
        e.start(1, 0);
        feed(&mut e, 1, 0.0, 0, 400);
        let mut out = Vec::new();
        run(&mut e, 1, &mut out);
        assert_eq!(e.state(), PlayState::Buffering);
        assert!(out.iter().all(|&x| x == 0.0));
        feed(&mut e, 1, 0.0, 400, 500);
        run(&mut e, 1, &mut out);
        assert_eq!(e.state(), PlayState::Playing);
        assert_eq!(left(&out)[Q + 5], 5.0);
    }

    #[test]
    fn a_track_queued_before_the_new_one_takes_over_follows_it() {
        // play() during playback, then queue() at once: the queue arrives while the new stream
        // still waits for its threshold, and follows the new stream, not the replaced one.
        let mut e = Engine::new(config());
        e.start(1, 0);
        feed(&mut e, 1, 0.0, 0, 20_000);
        let mut out = Vec::new();
        run(&mut e, 10, &mut out);
        e.start(2, 0);
        e.queue(3, 0, Transition::Gapless);
        feed(&mut e, 2, 100_000.0, 0, 8_000);
        e.end_at(2, 8_000);
        feed(&mut e, 3, 200_000.0, 0, 4_000);
        e.end_at(3, 4_000);
        run(&mut e, 120, &mut out);
        let s = e.stats();
        assert_eq!((s.transitions, s.crossfades, s.underruns), (1, 1, 0), "{s:?}");
        let l = left(&out);
        let at = s.transition_clock.expect("a transition") as usize;
        assert_eq!(l[at - 1], 100_000.0 + 7_999.0, "the new stream played to its last frame");
        assert_counts(&l, at, 4_000, 200_000.0);
        assert_eq!(e.state(), PlayState::Ended);
    }

    #[test]
    fn gapless_track_change_is_sample_exact() {
        let mut e = Engine::new(config());
        e.start(1, 0);
        feed(&mut e, 1, 0.0, 0, 10_000);
        e.end_at(1, 10_000);
        e.queue(2, 0, Transition::Gapless);
        feed(&mut e, 2, 100_000.0, 0, 8_000);
        e.end_at(2, 8_000);
        let mut out = Vec::new();
        run(&mut e, 160, &mut out);
        let l = left(&out);
        assert_counts(&l, 0, 10_000, 0.0);
        assert_counts(&l, 10_000, 8_000, 100_000.0);
        assert!(l[18_000..].iter().all(|&x| x == 0.0));
        let s = e.stats();
        assert_eq!((s.transitions, s.crossfades, s.underruns), (1, 0, 0));
        assert_eq!(s.transition_clock, Some(10_000), "the change lands mid-quantum, on the sample");
        assert_eq!(e.state(), PlayState::Ended);
    }

    #[test]
    fn crossfaded_track_change_overlaps_with_equal_power_gains() {
        let mut e = Engine::new(config());
        e.start(1, 0);
        feed(&mut e, 1, 0.0, 0, 10_000);
        e.end_at(1, 10_000);
        e.queue(2, 0, Transition::Crossfade(2_400));
        feed(&mut e, 2, 100_000.0, 0, 8_000);
        e.end_at(2, 8_000);
        let mut out = Vec::new();
        run(&mut e, 160, &mut out);
        let l = left(&out);
        assert_counts(&l, 0, 7_600, 0.0);
        for k in 0..2_400u32 {
            let a = (7_600 + k) as f32 * gain(FadeDir::Out, k, 2_400);
            let b = (100_000 + k) as f32 * gain(FadeDir::In, k, 2_400);
            let got = l[7_600 + k as usize];
            assert!(
                (got - (a + b)).abs() <= 1e-6 * (a + b).abs().max(1.0) * 10.0,
                "overlap frame {k}: {got} vs {}",
                a + b
            );
        }
        assert_counts(&l, 10_000, 5_600, 102_400.0);
        assert_eq!(e.stats().crossfades, 1);
    }

    #[test]
    fn local_seeks_forward_and_back_crossfade_without_the_network() {
        let mut e = Engine::new(config()); // crossfade 2 ms = 96 frames
        e.start(1, 0);
        feed(&mut e, 1, 0.0, 0, 40_000);
        let mut out = Vec::new();
        run(&mut e, 50, &mut out); // 6400 frames played
        assert!(e.seek_local(30_000), "ahead, in the ring");
        run(&mut e, 10, &mut out);
        assert!(e.seek_local(1_000), "behind, played but not overwritten");
        run(&mut e, 10, &mut out);
        assert!(!e.seek_local(45_000), "not received yet: needs the network");
        let l = left(&out);
        assert_counts(&l, 0, 6_400, 0.0);
        // Crossfade region, then the new position counts on.
        assert_counts(&l, 6_400 + 96, 1_280 - 96, 30_096.0);
        assert_counts(&l, 7_680 + 96, 1_280 - 96, 1_096.0);
        let s = e.stats();
        assert_eq!((s.crossfades, s.underruns, s.stale_frames), (2, 0, 0));
    }

    #[test]
    fn network_seek_keeps_playing_the_old_position_until_the_new_one_is_ready() {
        let mut e = Engine::new(config());
        e.start(1, 0);
        feed(&mut e, 1, 0.0, 0, 20_000);
        let mut out = Vec::new();
        run(&mut e, 10, &mut out);
        e.start(2, 100_000);
        run(&mut e, 5, &mut out); // nothing of session 2 yet: session 1 plays on
        feed(&mut e, 1, 0.0, 20_000, 21_000); // late frames of the old stream still land
        feed(&mut e, 2, 0.0, 100_000, 101_000);
        run(&mut e, 10, &mut out);
        let l = left(&out);
        assert_counts(&l, 0, 1_920, 0.0);
        // 1000 frames of the new position arrived: they play after the crossfade, then the
        // stream runs dry (and fades out over its last 48 frames).
        assert_counts(&l, 1_920 + 96, 1_000 - 96 - 48, 100_096.0);
        assert_eq!(e.stats().session, 2);
        assert_eq!(e.stats().crossfades, 1);
        assert_eq!(e.stats().start_clock, Some(1_920));
    }

    #[test]
    fn pause_fades_out_and_resume_continues_at_the_exact_frame() {
        let mut e = Engine::new(config()); // fade 1 ms = 48 frames
        e.start(1, 0);
        feed(&mut e, 1, 0.0, 0, 20_000);
        let mut out = Vec::new();
        run(&mut e, 10, &mut out);
        assert!(e.pause());
        run(&mut e, 5, &mut out);
        assert_eq!(e.state(), PlayState::Paused);
        assert!(e.resume());
        run(&mut e, 5, &mut out);
        let l = left(&out);
        assert_counts(&l, 0, 1_280, 0.0);
        for k in 1..48 {
            assert!(l[1_280 + k] < l[1_280 + k - 1] + 1.0, "fading out");
        }
        assert!(l[1_280 + 48..1_920].iter().all(|&x| x == 0.0), "silent while paused");
        // Resume fades in from the very frame the pause took, then counts on from there.
        assert!(l[1_920] < 1_280.0 * 0.05);
        assert_counts(&l, 1_920 + 48, 640 - 48, 1_328.0);
        assert!(!e.resume(), "resume when not paused does nothing");
    }

    #[test]
    fn a_reconnect_rebinds_the_voice_and_continues_without_repeat_or_gap() {
        let mut e = Engine::new(config());
        e.start(1, 0);
        feed(&mut e, 1, 0.0, 0, 5_000);
        let mut out = Vec::new();
        run(&mut e, 10, &mut out);
        assert_eq!(e.write_pos_of(1), Some(5_000));
        assert!(e.rebind(1, 7));
        // The new session's decoder pre-roll overlaps what was received: skipped, not played.
        feed(&mut e, 7, 0.0, 4_000, 20_000);
        run(&mut e, 100, &mut out);
        let l = left(&out);
        assert_counts(&l, 0, 12_800, 0.0);
        let s = e.stats();
        assert_eq!((s.preroll_frames, s.late_frames, s.gap_frames, s.underruns, s.session), (1_000, 0, 0, 0, 7));
    }

    #[test]
    fn underrun_fades_out_counts_and_recovers_with_fade_in() {
        let mut e = Engine::new(config());
        e.start(1, 0);
        e.push_frame(&frame(1, 0, &[0.5f32; 2 * 600], 2, 0)).expect("push");
        let mut out = Vec::new();
        run(&mut e, 5, &mut out); // 640 frames asked, 600 there
        let l = left(&out);
        assert!(l[..552].iter().all(|&x| x == 0.5));
        assert!(l[599] < 0.05 && l[599] > 0.0, "faded out: {}", l[599]);
        assert!(l[600..].iter().all(|&x| x == 0.0));
        assert_eq!(e.stats().underruns, 1);
        assert_eq!(e.stats().target_frames, 960, "the threshold doubled");
        e.push_frame(&frame(1, 600, &[0.5f32; 2 * 1200], 2, 0)).expect("push");
        run(&mut e, 5, &mut out);
        let l = left(&out);
        assert!(l[640] < 0.05, "fades back in");
        for w in l[640..].windows(2) {
            assert!((w[1] - w[0]).abs() < 0.02);
        }
    }

    #[test]
    fn stop_fades_out_then_goes_idle_and_ignores_late_frames() {
        let mut e = Engine::new(config());
        e.start(1, 0);
        e.push_frame(&frame(1, 0, &[0.5f32; 2 * 4800], 2, 0)).expect("push");
        let mut out = Vec::new();
        run(&mut e, 1, &mut out);
        e.stop();
        run(&mut e, 1, &mut out);
        let l = left(&out);
        assert!(l[Q] > 0.49 && l[Q + 47] < 0.05 && l[Q + 48..].iter().all(|&x| x == 0.0));
        assert_eq!(e.state(), PlayState::Idle);
        e.push_frame(&frame(1, 4800, &[0.5f32; 2 * 10], 2, 0)).expect("ignored while idle");
        assert_eq!(e.stats().stale_frames, 1);
    }

    #[test]
    fn decoded_pcm_with_preroll_lands_exactly_at_the_start_position() {
        let mut e = Engine::new(config());
        e.start(4, 10_000);
        e.push_pcm(4, 6_160, 2, &counter(0.0, 6_160, 4_800));
        let s = e.stats();
        assert_eq!((s.preroll_frames, s.late_frames, s.write_pos), (3_840, 0, 10_960));
        let mut out = Vec::new();
        run(&mut e, 5, &mut out);
        let l = left(&out);
        assert_counts(&l, 48, 592, 10_048.0); // after the 1 ms fade-in of a mid-track start
        e.push_pcm(4, 10_900, 2, &counter(0.0, 10_900, 100)); // a duplicate now counts as late
        assert_eq!(e.stats().late_frames, 60);
    }

    #[test]
    fn mono_plays_on_both_channels_and_bad_frames_are_counted() {
        let mut e = Engine::new(config());
        e.start(1, 0);
        let mono: Vec<f32> = (0..960).map(|i| i as f32).collect();
        e.push_frame(&frame(1, 0, &mono, 1, FLAG_END_OF_STREAM)).expect("push");
        assert!(e.push_frame(&[1, 2, 3]).is_err());
        assert_eq!(e.stats().bad_frames, 1);
        let (mut l, mut r) = ([0.0f32; Q], [0.0f32; Q]);
        e.render(&mut l, &mut r, 0);
        assert_eq!(l, r);
        assert_eq!(l[127], 127.0);
    }

    /// White noise from a seeded xorshift.
    fn noise(seed: u32, n: usize) -> Vec<f32> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn push_mono(e: &mut Engine, session: u32, pos: u64, samples: &[f32]) {
        let stereo: Vec<f32> = samples.iter().flat_map(|&x| [x, x]).collect();
        e.push_pcm(session, pos, 2, &stereo);
    }

    /// Summed power of two uncorrelated signals through the crossfade stays within 0.5 dB.
    #[test]
    fn crossfade_keeps_constant_power_for_uncorrelated_inputs() {
        let mut c = config();
        c.capacity_ms = 2000;
        let mut e = Engine::new(c);
        e.start(1, 0);
        push_mono(&mut e, 1, 0, &noise(1, 48_000));
        e.end_at(1, 48_000);
        e.queue(2, 0, Transition::Crossfade(9_600));
        push_mono(&mut e, 2, 0, &noise(99, 48_000));
        let mut out = Vec::new();
        run(&mut e, 600, &mut out);
        let l = left(&out);
        let power = |xs: &[f32]| xs.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / xs.len() as f64;
        let reference = power(&l[0..20_000]);
        for w in (38_400..48_000).step_by(960) {
            let db = 10.0 * (power(&l[w..w + 960]) / reference).log10();
            assert!(db.abs() < 0.5, "power at frame {w} is {db:.2} dB off");
        }
    }

    /// Through every seam (pause, resume, local and network seek, crossfaded track change,
    /// stop) the output's first difference stays within 1.5x the largest the sources have
    /// (an equal-power crossfade of two sines may reach sqrt(2) times either): no click. The
    /// same detector flags a hard cut.
    #[test]
    fn seams_are_free_of_discontinuities() {
        let sine = |f: f32, offset: u64, n: usize| -> Vec<f32> {
            (0..n)
                .map(|i| 0.8 * (2.0 * core::f32::consts::PI * f * (offset + i as u64) as f32 / 48_000.0).sin())
                .collect()
        };
        let mut e = Engine::new(EngineConfig { capacity_ms: 1000, ..EngineConfig::default() });
        e.start(1, 0);
        push_mono(&mut e, 1, 0, &sine(440.0, 0, 40_000));
        let mut out = Vec::new();
        run(&mut e, 20, &mut out);
        e.pause();
        run(&mut e, 5, &mut out);
        e.resume();
        run(&mut e, 10, &mut out);
        e.seek_local(20_000);
        run(&mut e, 10, &mut out);
        e.start(2, 5_000);
        push_mono(&mut e, 2, 5_000, &sine(660.0, 5_000, 20_000));
        e.end_at(2, 25_000);
        run(&mut e, 10, &mut out);
        e.queue(3, 0, Transition::Crossfade(960));
        push_mono(&mut e, 3, 0, &sine(550.0, 0, 20_000));
        run(&mut e, 160, &mut out);
        e.stop();
        run(&mut e, 5, &mut out);
        let l = left(&out);
        let max_src_step = 0.8 * 2.0 * core::f32::consts::PI * 660.0 / 48_000.0;
        let clicks = |xs: &[f32]| xs.windows(2).filter(|w| (w[1] - w[0]).abs() > 1.5 * max_src_step).count();
        let max_step = l.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0f32, f32::max);
        assert_eq!(clicks(&l), 0, "largest step {max_step}, sources' {max_src_step}");
        let s = e.stats();
        assert_eq!((s.underruns, s.transitions), (0, 1));
        assert!(s.crossfades >= 3, "{s:?}");
        // The detector catches a hard cut: the same output stopped abruptly where it is loud.
        let loud = l.iter().position(|x| x.abs() > 0.7).expect("loud sample");
        let mut cut = l[..=loud].to_vec();
        cut.extend(std::iter::repeat_n(0.0, 100));
        assert_eq!(clicks(&cut), 1);
    }
}
