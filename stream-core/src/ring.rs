//! A fixed-capacity stereo ring of f32 frames addressed by absolute stream position.
//!
//! Capacity is allocated once in [`StereoRing::new`]; nothing after allocates, locks or panics.
//! The ring holds the frames `[base, write)`: what is not yet played and, behind the readers,
//! what was played and not yet overwritten, so a seek back into the recent past needs no
//! network. A writer never overwrites frames at or after the `protect_from` position it is
//! given (the oldest position a reader still needs). The engine is single-threaded (one wasm
//! instance per worklet), so this is a plain ring, not an SPSC queue.

/// Interleaved stereo storage over absolute positions.
pub struct StereoRing {
    buf: Vec<f32>,
    capacity_frames: usize,
    base: u64,
    write: u64,
}

impl StereoRing {
    /// Allocates room for `capacity_frames` stereo frames (at least one).
    pub fn new(capacity_frames: usize) -> Self {
        let capacity_frames = capacity_frames.max(1);
        StereoRing { buf: vec![0.0; capacity_frames * 2], capacity_frames, base: 0, write: 0 }
    }

    /// Frames the ring can hold.
    pub fn capacity_frames(&self) -> usize {
        self.capacity_frames
    }

    /// Empties the ring; the next frame written is at `pos`.
    pub fn reset(&mut self, pos: u64) {
        self.base = pos;
        self.write = pos;
    }

    /// Oldest position held.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Position the next written frame gets.
    pub fn write_pos(&self) -> u64 {
        self.write
    }

    /// Frames held from `pos` on (0 if `pos` is not held).
    pub fn available_from(&self, pos: u64) -> usize {
        if pos < self.base || pos > self.write {
            0
        } else {
            (self.write - pos) as usize
        }
    }

    /// Frames that can be written without overwriting anything at or after `protect_from`.
    pub fn free(&self, protect_from: u64) -> usize {
        let keep_from = protect_from.clamp(self.base, self.write);
        self.capacity_frames - (self.write - keep_from) as usize
    }

    fn advance_write(&mut self, frames: usize) {
        self.write += frames as u64;
        self.base = self.base.max(self.write.saturating_sub(self.capacity_frames as u64));
    }

    /// Appends frames from interleaved `src` with `src_channels` channels: mono is copied to
    /// both sides, more than two channels keep the first two. Returns the frames written, fewer
    /// than offered when that would overwrite frames at or after `protect_from`.
    pub fn write_interleaved(&mut self, src: &[f32], src_channels: usize, protect_from: u64) -> usize {
        if src_channels == 0 {
            return 0;
        }
        let frames = (src.len() / src_channels).min(self.free(protect_from));
        let cap = self.capacity_frames;
        let mut idx = (self.write % cap as u64) as usize;
        for frame in src.chunks_exact(src_channels).take(frames) {
            let (l, r) = if src_channels == 1 { (frame[0], frame[0]) } else { (frame[0], frame[1]) };
            self.buf[2 * idx] = l;
            self.buf[2 * idx + 1] = r;
            idx += 1;
            if idx == cap {
                idx = 0;
            }
        }
        self.advance_write(frames);
        frames
    }

    /// Appends up to `frames` frames of silence (a gap). Returns frames written.
    pub fn write_silence(&mut self, frames: usize, protect_from: u64) -> usize {
        let frames = frames.min(self.free(protect_from));
        let cap = self.capacity_frames;
        let mut idx = (self.write % cap as u64) as usize;
        for _ in 0..frames {
            self.buf[2 * idx] = 0.0;
            self.buf[2 * idx + 1] = 0.0;
            idx += 1;
            if idx == cap {
                idx = 0;
            }
        }
        self.advance_write(frames);
        frames
    }

    /// Copies frames from position `pos` into planar `left`/`right` (as many as both hold and
    /// the ring has). Returns the frames copied; the rest of the outputs is left untouched.
    pub fn read_planar(&self, pos: u64, left: &mut [f32], right: &mut [f32]) -> usize {
        let frames = left.len().min(right.len()).min(self.available_from(pos));
        let cap = self.capacity_frames;
        let mut idx = (pos % cap as u64) as usize;
        for (l, r) in left.iter_mut().zip(right.iter_mut()).take(frames) {
            *l = self.buf[2 * idx];
            *r = self.buf[2 * idx + 1];
            idx += 1;
            if idx == cap {
                idx = 0;
            }
        }
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter signal written in odd-sized pieces and read in other odd-sized pieces comes out
    /// in order, across many wrap-arounds, with nothing repeated or skipped.
    #[test]
    fn counter_survives_wrap_around_in_order() {
        let mut ring = StereoRing::new(1000);
        ring.reset(5);
        let mut next_in = 5u32;
        let mut next_out = 5u64;
        let mut seed = 12345u32;
        let mut l = vec![0.0f32; 300];
        let mut r = vec![0.0f32; 300];
        for _ in 0..5000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let n_in = (seed >> 16) as usize % 257;
            let src: Vec<f32> =
                (0..n_in).flat_map(|i| [(next_in + i as u32) as f32, -((next_in + i as u32) as f32)]).collect();
            let written = ring.write_interleaved(&src, 2, next_out);
            assert!(written <= n_in);
            next_in += written as u32;
            let n_out = (seed >> 8) as usize % 300;
            let got = ring.read_planar(next_out, &mut l[..n_out], &mut r[..n_out]);
            for i in 0..got {
                assert_eq!(l[i], next_out as f32);
                assert_eq!(r[i], -(next_out as f32));
                next_out += 1;
            }
            assert_eq!(ring.available_from(next_out), (next_in as u64 - next_out) as usize);
        }
        assert!(next_out > 100_000, "the test must actually wrap many times");
    }

    #[test]
    fn unplayed_frames_are_protected_and_played_ones_stay_readable_until_overwritten() {
        let mut ring = StereoRing::new(4);
        assert_eq!(ring.write_interleaved(&[1.0, 2.0, 3.0], 1, 0), 3);
        assert_eq!(ring.write_interleaved(&[4.0, 5.0], 1, 0), 1, "position 0 is still needed");
        let (mut l, mut r) = ([0.0; 8], [0.0; 8]);
        assert_eq!(ring.read_planar(0, &mut l, &mut r), 4);
        assert_eq!(&l[..4], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(&r[..4], &[1.0, 2.0, 3.0, 4.0]);
        // A reader at 2: positions 0 and 1 may be overwritten, 2 and on may not.
        assert_eq!(ring.write_interleaved(&[5.0, 6.0, 7.0], 1, 2), 2);
        assert_eq!((ring.base(), ring.write_pos()), (2, 6));
        assert_eq!(ring.read_planar(1, &mut l, &mut r), 0, "position 1 is gone");
        assert_eq!(ring.read_planar(2, &mut l, &mut r), 4);
        assert_eq!(&l[..4], &[3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn surround_keeps_front_pair_and_silence_fills_gaps() {
        let mut ring = StereoRing::new(4);
        assert_eq!(ring.write_interleaved(&[1.0, 2.0, 9.0, 9.0, 9.0, 9.0], 6, 0), 1);
        assert_eq!(ring.write_silence(2, 0), 2);
        let (mut l, mut r) = ([7.0; 3], [7.0; 3]);
        assert_eq!(ring.read_planar(0, &mut l, &mut r), 3);
        assert_eq!((l, r), ([1.0, 0.0, 0.0], [2.0, 0.0, 0.0]));
    }
}
