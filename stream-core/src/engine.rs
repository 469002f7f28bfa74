//! The render engine the AudioWorklet runs: wire frames in, planar stereo quanta out.
//!
//! Real-time contract: everything is allocated in [`Engine::new`]; [`Engine::push_frame`] and
//! [`Engine::render`] never allocate, lock, log or panic (a counting-allocator test proves it).
//! Every audible start, stop and underrun goes through the equal-power [`Fade`].

use crate::fade::{Fade, FadeDir};
use crate::ring::StereoRing;
use crate::wire::{decode_pcm_into, FrameHeader, WireError, FLAG_END_OF_STREAM, MAX_CHANNELS};

/// Frames decoded from a payload per step (bounds the scratch buffer).
const DECODE_CHUNK_FRAMES: usize = 1024;
/// A rendered sample above this magnitude (-80 dBFS) counts as audible for time-to-first-audio.
pub const AUDIBLE_THRESHOLD: f32 = 1e-4;

/// Settings fixed at construction.
#[derive(Clone, Copy, Debug)]
pub struct EngineConfig {
    /// Output sample rate (the AudioContext's); the wire is always 48 kHz and the page asks
    /// for a 48 kHz context.
    pub sample_rate: u32,
    /// Ring capacity in milliseconds.
    pub capacity_ms: u32,
    /// Audio buffered before playback starts (or restarts after an underrun).
    pub start_threshold_ms: u32,
    /// Length of fades at start (mid-track), stop and underrun.
    pub fade_ms: f32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { sample_rate: 48_000, capacity_ms: 6_000, start_threshold_ms: 100, fade_ms: 10.0 }
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
    /// The stream's last frame has been rendered.
    Ended = 3,
    /// Fading out after `stop`, then idle.
    Stopping = 4,
}

/// Counters the engine keeps; all in frames at the output rate unless named otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EngineStats {
    pub session: u32,
    /// Frames in the ring.
    pub buffered_frames: u64,
    /// Position (from the track start) of the next frame to render.
    pub play_pos: u64,
    /// Position the next wire frame is expected at.
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
    /// Wire frames of another session, ignored.
    pub stale_frames: u32,
    /// Fades run (start, stop, underrun, recovery).
    pub fades: u32,
    /// Clock frame (as passed to `render`) at which the session's first frame was rendered.
    pub start_clock: Option<u64>,
    /// Clock frame of the first audible sample of the session.
    pub first_audio_clock: Option<u64>,
}

/// Why a wire frame was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushError {
    /// The bytes are not a valid frame.
    Wire(WireError),
    /// Compressed payloads are decoded before they reach the engine.
    NotPcm,
}

/// The engine: ring, state machine, fades, counters.
pub struct Engine {
    config: EngineConfig,
    ring: StereoRing,
    scratch: Vec<f32>,
    state: PlayState,
    fade: Option<Fade>,
    fade_len: u32,
    start_threshold_frames: usize,
    /// Position of the last frame of the stream + 1, once known.
    end_pos: Option<u64>,
    /// Position of the session's first frame.
    start_pos: u64,
    stats: EngineStats,
}

impl Engine {
    /// Allocates the ring and scratch space; nothing allocates after this.
    pub fn new(config: EngineConfig) -> Self {
        let frames = |ms: u32| (config.sample_rate as u64 * ms as u64 / 1000) as usize;
        Engine {
            config,
            ring: StereoRing::new(frames(config.capacity_ms.max(100))),
            scratch: vec![0.0; DECODE_CHUNK_FRAMES * MAX_CHANNELS as usize],
            state: PlayState::Idle,
            fade: None,
            fade_len: ((config.fade_ms.max(0.0) * config.sample_rate as f32 / 1000.0) as u32).max(1),
            start_threshold_frames: frames(config.start_threshold_ms),
            end_pos: None,
            start_pos: 0,
            stats: EngineStats::default(),
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

    /// A copy of the counters.
    pub fn stats(&self) -> EngineStats {
        let mut s = self.stats;
        s.buffered_frames = self.ring.len() as u64;
        s
    }

    /// Ring capacity in frames.
    pub fn capacity_frames(&self) -> usize {
        self.ring.capacity_frames()
    }

    /// Begins a new session whose first frame is at `start_pos`. Whatever was buffered is
    /// dropped. A start mid-track fades in; a start at the very beginning plays the track's own
    /// first sample untouched.
    pub fn start(&mut self, session: u32, start_pos: u64) {
        self.ring.clear();
        self.state = PlayState::Buffering;
        self.end_pos = None;
        self.start_pos = start_pos;
        self.fade = if start_pos > 0 { Some(Fade::new(FadeDir::In, self.fade_len)) } else { None };
        let s = &mut self.stats;
        s.session = session;
        s.play_pos = start_pos;
        s.write_pos = start_pos;
        s.stream_frames_rendered = 0;
        s.start_clock = None;
        s.first_audio_clock = None;
    }

    /// Marks where the stream ends (from `audio_stream_end`), in frames from the track start.
    pub fn end_at(&mut self, session: u32, end_pos: u64) {
        if session == self.stats.session {
            self.end_pos = Some(end_pos);
        }
    }

    /// Fades out and goes idle.
    pub fn stop(&mut self) {
        match self.state {
            PlayState::Playing => {
                self.state = PlayState::Stopping;
                self.fade = Some(Fade::new(FadeDir::Out, self.fade_len));
                self.stats.fades += 1;
            }
            PlayState::Stopping => {}
            _ => {
                self.ring.clear();
                self.state = PlayState::Idle;
            }
        }
    }

    /// Takes one PCM wire frame. Frames of another session are ignored; a frame behind the write
    /// position has its overlap skipped; a frame ahead of it is preceded by silence for the
    /// gap. Never allocates.
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
        let Some(skip) = self.admit(h.session, h.sample_pos, h.frame_count as usize) else { return Ok(()) };
        let frame_bytes = channels * bps;
        let mut offset = skip * frame_bytes;
        let mut remaining = h.frame_count as usize - skip;
        while remaining > 0 {
            let n = remaining.min(DECODE_CHUNK_FRAMES);
            let bytes = &payload[offset..offset + n * frame_bytes];
            let samples = decode_pcm_into(h.codec, bytes, &mut self.scratch[..n * channels]);
            let written = self.ring.write_interleaved(&self.scratch[..samples], channels);
            self.stats.dropped_frames += (n - written) as u64;
            offset += n * frame_bytes;
            remaining -= n;
        }
        self.stats.write_pos = h.sample_pos.max(self.stats.write_pos) + (h.frame_count as usize - skip) as u64;
        if h.flags & FLAG_END_OF_STREAM != 0 {
            self.end_pos = Some(self.stats.write_pos);
        }
        Ok(())
    }

    /// Takes decoded PCM (interleaved f32, `channels` channels) whose first frame is at
    /// `sample_pos` of `session`: what the Worker posts after decoding Opus. Same rules as
    /// [`Engine::push_frame`]; never allocates.
    pub fn push_pcm(&mut self, session: u32, sample_pos: u64, channels: usize, interleaved: &[f32]) {
        if channels == 0 || channels > MAX_CHANNELS as usize {
            self.stats.bad_frames += 1;
            return;
        }
        let frames = interleaved.len() / channels;
        let Some(skip) = self.admit(session, sample_pos, frames) else { return };
        let written = self.ring.write_interleaved(&interleaved[skip * channels..frames * channels], channels);
        self.stats.dropped_frames += (frames - skip - written) as u64;
        self.stats.write_pos = sample_pos.max(self.stats.write_pos) + (frames - skip) as u64;
    }

    /// Session check and position bookkeeping before writing `frames` frames at `sample_pos`:
    /// `None` to ignore them, else how many leading frames to skip (already written, or before
    /// the start position). Fills a gap ahead with silence.
    fn admit(&mut self, session: u32, sample_pos: u64, frames: usize) -> Option<usize> {
        if session != self.stats.session || matches!(self.state, PlayState::Idle | PlayState::Stopping) {
            self.stats.stale_frames += 1;
            return None;
        }
        let write_pos = self.stats.write_pos;
        if sample_pos < write_pos {
            let skip = ((write_pos - sample_pos) as usize).min(frames);
            if write_pos == self.start_pos {
                // Decoder pre-roll before the start position: expected, not a duplicate.
                self.stats.preroll_frames += skip as u64;
            } else {
                self.stats.late_frames += skip as u64;
            }
            Some(skip)
        } else {
            if sample_pos > write_pos {
                let gap = (sample_pos - write_pos) as usize;
                let written = self.ring.write_silence(gap);
                self.stats.gap_frames += gap as u64;
                self.stats.dropped_frames += (gap - written) as u64;
                self.stats.write_pos = sample_pos;
            }
            Some(0)
        }
    }

    /// Renders `left.len()` frames (both slices the same length) for the quantum whose first
    /// frame is at `clock_frame` on the output clock. Never allocates.
    pub fn render(&mut self, left: &mut [f32], right: &mut [f32], clock_frame: u64) {
        let n = left.len().min(right.len());
        let (left, right) = (&mut left[..n], &mut right[..n]);
        left.fill(0.0);
        right.fill(0.0);
        self.stats.frames_rendered += n as u64;
        if self.state == PlayState::Buffering {
            let all_arrived = self.end_pos.is_some_and(|e| self.stats.write_pos >= e);
            if self.ring.len() >= self.start_threshold_frames || (all_arrived && !self.ring.is_empty()) {
                self.state = PlayState::Playing;
            } else if all_arrived {
                self.state = PlayState::Ended;
            }
        }
        match self.state {
            PlayState::Idle | PlayState::Ended | PlayState::Buffering => {
                if self.state == PlayState::Buffering && self.stats.start_clock.is_some() {
                    self.stats.underrun_frames += n as u64;
                }
            }
            PlayState::Playing | PlayState::Stopping => self.render_stream(left, right, clock_frame),
        }
    }

    fn render_stream(&mut self, left: &mut [f32], right: &mut [f32], clock_frame: u64) {
        let n = left.len();
        let mut got = self.ring.read_planar(left, right);
        if self.state == PlayState::Stopping {
            // Render through the fade-out, then drop the rest.
            let fade_left = self.fade.map_or(0, |f| if f.done() { 0 } else { n });
            got = got.min(fade_left);
            left[got..].fill(0.0);
            right[got..].fill(0.0);
        } else if got < n && self.ring.is_empty() && self.end_pos.is_none_or(|e| self.stats.play_pos + (got as u64) < e)
        {
            // Running dry before the end: fade out what there is, then silence until the start
            // threshold is met again, then fade in.
            let tail = got.min(self.fade_len as usize);
            let mut out = Fade::new(FadeDir::Out, tail as u32);
            out.apply(&mut left[got - tail..got], &mut right[got - tail..got]);
            self.fade = Some(Fade::new(FadeDir::In, self.fade_len));
            self.stats.fades += 2;
            self.stats.underruns += 1;
            self.stats.underrun_frames += (n - got) as u64;
            self.state = PlayState::Buffering;
        }
        if let Some(fade) = self.fade.as_mut() {
            // A pending fade-in waits while buffering after an underrun; otherwise it runs.
            let running =
                matches!((self.state, fade.dir()), (PlayState::Stopping, _) | (PlayState::Playing, FadeDir::In));
            if running {
                fade.apply(&mut left[..got], &mut right[..got]);
                if fade.done() {
                    self.fade = None;
                }
            }
        }
        if got > 0 {
            if self.stats.start_clock.is_none() {
                self.stats.start_clock = Some(clock_frame);
            }
            if self.stats.first_audio_clock.is_none() {
                if let Some(i) = left[..got]
                    .iter()
                    .zip(right[..got].iter())
                    .position(|(l, r)| l.abs() > AUDIBLE_THRESHOLD || r.abs() > AUDIBLE_THRESHOLD)
                {
                    self.stats.first_audio_clock = Some(clock_frame + i as u64);
                }
            }
        }
        self.stats.play_pos += got as u64;
        self.stats.stream_frames_rendered += got as u64;
        if self.state == PlayState::Stopping && self.fade.is_none() {
            self.ring.clear();
            self.state = PlayState::Idle;
        } else if self.state == PlayState::Playing && self.end_pos.is_some_and(|e| self.stats.play_pos >= e) {
            self.state = PlayState::Ended;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{encode_pcm_frame, Codec, FLAG_DISCONTINUITY};

    fn frame(session: u32, pos: u64, samples: &[f32], channels: u8, flags: u8) -> Vec<u8> {
        let mut v = Vec::new();
        encode_pcm_frame(Codec::PcmF32, channels, flags, session, pos, samples, &mut v).expect("encode");
        v
    }

    /// Stereo counter: left = position, right = -position (scaled to stay exact in f32).
    fn counter(pos: u64, frames: usize) -> Vec<f32> {
        (0..frames as u64).flat_map(|i| [(pos + i) as f32, -((pos + i) as f32)]).collect()
    }

    fn engine() -> Engine {
        Engine::new(EngineConfig { sample_rate: 48_000, capacity_ms: 1000, start_threshold_ms: 10, fade_ms: 1.0 })
    }

    #[test]
    fn counter_plays_in_order_from_the_start_unfaded() {
        let mut e = engine();
        e.start(1, 0);
        let mut pos = 0;
        let mut out = Vec::new();
        let (mut l, mut r) = ([0.0f32; 128], [0.0f32; 128]);
        for q in 0..200u64 {
            // 960-frame frames arrive a little ahead of the 128-frame quanta.
            while pos < (q + 4) * 128 + 960 && pos < 20_000 {
                let flags = if pos + 960 >= 20_000 { FLAG_END_OF_STREAM } else { 0 };
                e.push_frame(&frame(1, pos, &counter(pos, 960), 2, flags)).expect("push");
                pos += 960;
            }
            e.render(&mut l, &mut r, q * 128);
            for i in 0..128 {
                assert_eq!(l[i], -r[i]);
                out.push(l[i]);
            }
        }
        let start = e.stats().start_clock.expect("started") as usize;
        let expected: Vec<f32> = (0..20_160).map(|i| i as f32).collect();
        assert_eq!(&out[start..start + 20_160], &expected[..]);
        assert!(out[..start].iter().chain(&out[start + 20_160..]).all(|&x| x == 0.0));
        let expected = e.stats().play_pos;
        assert_eq!(expected, 20_160);
        assert_eq!(e.state(), PlayState::Ended);
        let s = e.stats();
        assert_eq!((s.underruns, s.late_frames, s.gap_frames, s.dropped_frames), (0, 0, 0, 0));
        assert_eq!(s.start_clock, Some(0));
        // Position 0 is silent (the counter starts at 0), so the first audible sample is frame 1.
        assert_eq!(s.first_audio_clock, Some(1));
    }

    #[test]
    fn waits_for_the_start_threshold() {
        let mut e = engine(); // threshold 10 ms = 480 frames
        e.start(1, 0);
        e.push_frame(&frame(1, 0, &counter(0, 400), 2, 0)).expect("push");
        let (mut l, mut r) = ([0.0f32; 128], [0.0f32; 128]);
        e.render(&mut l, &mut r, 0);
        assert_eq!(e.state(), PlayState::Buffering);
        assert!(l.iter().all(|&x| x == 0.0));
        e.push_frame(&frame(1, 400, &counter(400, 100), 2, 0)).expect("push");
        e.render(&mut l, &mut r, 128);
        assert_eq!(e.state(), PlayState::Playing);
        assert_eq!(l[5], 5.0);
    }

    #[test]
    fn duplicates_are_skipped_and_gaps_filled_with_silence_at_the_right_place() {
        let mut e = engine();
        e.start(2, 1000);
        e.push_frame(&frame(2, 1000, &counter(1000, 500), 2, FLAG_DISCONTINUITY)).expect("push");
        e.push_frame(&frame(2, 1400, &counter(1400, 200), 2, 0)).expect("push"); // 100 overlap
        e.push_frame(&frame(2, 1700, &counter(1700, 100), 2, 0)).expect("push"); // 100 gap
        e.push_frame(&frame(9, 1800, &counter(1800, 100), 2, 0)).expect("stale session");
        let s = e.stats();
        assert_eq!((s.late_frames, s.gap_frames, s.stale_frames, s.write_pos), (100, 100, 1, 1800));
        assert_eq!(s.buffered_frames, 800);
    }

    #[test]
    fn mono_frames_play_on_both_channels() {
        let mut e = engine();
        e.start(1, 0);
        let mono: Vec<f32> = (0..960).map(|i| i as f32).collect();
        e.push_frame(&frame(1, 0, &mono, 1, FLAG_END_OF_STREAM)).expect("push");
        let (mut l, mut r) = ([0.0f32; 128], [0.0f32; 128]);
        e.render(&mut l, &mut r, 0);
        assert_eq!(l, r);
        assert_eq!(l[127], 127.0);
    }

    #[test]
    fn underrun_fades_out_counts_and_recovers_with_fade_in() {
        let mut e = engine(); // fade 1 ms = 48 frames
        e.start(1, 0);
        let ones = vec![0.5f32; 2 * 600];
        e.push_frame(&frame(1, 0, &ones, 2, 0)).expect("push");
        let (mut l, mut r) = ([0.0f32; 128], [0.0f32; 128]);
        for q in 0..4 {
            e.render(&mut l, &mut r, q * 128);
            assert!(l.iter().all(|&x| x == 0.5));
        }
        e.render(&mut l, &mut r, 512); // 88 frames left: underrun inside this quantum
        assert_eq!(e.stats().underruns, 1);
        assert_eq!(e.state(), PlayState::Buffering);
        assert_eq!(l[0], 0.5);
        assert!(l[87] < 0.05 && l[87] > 0.0, "faded out: {}", l[87]);
        assert!(l[88..].iter().all(|&x| x == 0.0));
        // Recovery: enough data again, playback resumes with a fade-in, no step.
        e.push_frame(&frame(1, 600, &ones, 2, 0)).expect("push");
        e.render(&mut l, &mut r, 640);
        assert_eq!(e.state(), PlayState::Playing);
        assert!(l[0] < 0.05);
        for w in l.windows(2) {
            assert!((w[1] - w[0]).abs() < 0.02);
        }
        assert_eq!(l[127], 0.5);
        assert!(e.stats().underrun_frames >= 40);
    }

    #[test]
    fn stop_fades_out_then_goes_idle() {
        let mut e = engine();
        e.start(1, 0);
        e.push_frame(&frame(1, 0, &vec![0.5f32; 2 * 4800], 2, 0)).expect("push");
        let (mut l, mut r) = ([0.0f32; 128], [0.0f32; 128]);
        e.render(&mut l, &mut r, 0);
        e.stop();
        e.render(&mut l, &mut r, 128);
        assert!(l[0] > 0.49 && l[47] < 0.05 && l[48..].iter().all(|&x| x == 0.0));
        assert_eq!(e.state(), PlayState::Idle);
        assert_eq!(e.stats().buffered_frames, 0);
        e.push_frame(&frame(1, 4800, &[0.5f32; 2 * 10], 2, 0)).expect("ignored while idle");
        assert_eq!(e.stats().buffered_frames, 0);
    }

    #[test]
    fn decoded_pcm_with_preroll_lands_exactly_at_the_start_position() {
        let mut e = engine();
        e.start(4, 10_000);
        // An Opus decode starting 4 packets early: 3840 frames of pre-roll before 10_000.
        let first: Vec<f32> = counter(6_160, 4_800);
        e.push_pcm(4, 6_160, 2, &first);
        e.push_pcm(4, 10_960, 2, &counter(10_960, 960));
        let s = e.stats();
        assert_eq!((s.preroll_frames, s.late_frames, s.gap_frames, s.write_pos), (3_840, 0, 0, 11_920));
        let (mut l, mut r) = ([0.0f32; 128], [0.0f32; 128]);
        e.render(&mut l, &mut r, 0);
        // Mid-track start fades in; the underlying samples are the counter from 10_000.
        assert!(l[0] > 0.0 && l[0] < 10_000.0);
        for _ in 0..4 {
            e.render(&mut l, &mut r, 0);
        }
        assert_eq!(l[0], (10_000 + 4 * 128) as f32);
        e.push_pcm(4, 11_000, 2, &counter(11_000, 10)); // a duplicate now counts as late
        assert_eq!(e.stats().late_frames, 10);
    }

    #[test]
    fn bad_frames_are_counted_not_fatal() {
        let mut e = engine();
        e.start(1, 0);
        assert!(e.push_frame(&[1, 2, 3]).is_err());
        assert_eq!(e.stats().bad_frames, 1);
    }
}
