//! A fixed-capacity stereo ring buffer of f32 frames, addressed by absolute sample position.
//!
//! Capacity is allocated once in [`StereoRing::new`]; nothing after allocates, locks or panics.
//! The engine is single-threaded (one wasm instance per worklet), so this is a plain ring, not
//! an SPSC queue: the writer and the reader are the same thread, one message apart.

/// Interleaved stereo storage with a read and a write cursor counted in frames since creation.
pub struct StereoRing {
    buf: Vec<f32>,
    capacity_frames: usize,
    read: u64,
    write: u64,
}

impl StereoRing {
    /// Allocates room for `capacity_frames` stereo frames (at least one).
    pub fn new(capacity_frames: usize) -> Self {
        let capacity_frames = capacity_frames.max(1);
        StereoRing { buf: vec![0.0; capacity_frames * 2], capacity_frames, read: 0, write: 0 }
    }

    /// Frames the ring can hold.
    pub fn capacity_frames(&self) -> usize {
        self.capacity_frames
    }

    /// Frames written and not yet read.
    pub fn len(&self) -> usize {
        (self.write - self.read) as usize
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.write == self.read
    }

    /// Frames that can still be written.
    pub fn free(&self) -> usize {
        self.capacity_frames - self.len()
    }

    /// Drops everything buffered.
    pub fn clear(&mut self) {
        self.read = self.write;
    }

    /// Appends frames from interleaved `src` with `src_channels` channels: mono is copied to
    /// both sides, more than two channels keep the first two. Returns the frames written,
    /// fewer than offered when the ring is full.
    pub fn write_interleaved(&mut self, src: &[f32], src_channels: usize) -> usize {
        if src_channels == 0 {
            return 0;
        }
        let frames = (src.len() / src_channels).min(self.free());
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
        self.write += frames as u64;
        frames
    }

    /// Appends `frames` frames of silence (a gap the engine chose to fill). Returns frames written.
    pub fn write_silence(&mut self, frames: usize) -> usize {
        let frames = frames.min(self.free());
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
        self.write += frames as u64;
        frames
    }

    /// Moves up to `left.len().min(right.len())` frames into planar `left`/`right`. Returns the
    /// frames read; the rest of the outputs is left untouched.
    pub fn read_planar(&mut self, left: &mut [f32], right: &mut [f32]) -> usize {
        let frames = left.len().min(right.len()).min(self.len());
        let cap = self.capacity_frames;
        let mut idx = (self.read % cap as u64) as usize;
        for (l, r) in left.iter_mut().zip(right.iter_mut()).take(frames) {
            *l = self.buf[2 * idx];
            *r = self.buf[2 * idx + 1];
            idx += 1;
            if idx == cap {
                idx = 0;
            }
        }
        self.read += frames as u64;
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
        let mut next_in = 0u32;
        let mut next_out = 0u32;
        let mut seed = 12345u32;
        let mut l = vec![0.0f32; 300];
        let mut r = vec![0.0f32; 300];
        for _ in 0..5000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let n_in = (seed >> 16) as usize % 257;
            let src: Vec<f32> =
                (0..n_in).flat_map(|i| [(next_in + i as u32) as f32, -((next_in + i as u32) as f32)]).collect();
            let written = ring.write_interleaved(&src, 2);
            assert!(written <= n_in);
            next_in += written as u32;
            let n_out = (seed >> 8) as usize % 300;
            let got = ring.read_planar(&mut l[..n_out], &mut r[..n_out]);
            for i in 0..got {
                assert_eq!(l[i], next_out as f32);
                assert_eq!(r[i], -(next_out as f32));
                next_out += 1;
            }
            assert_eq!(ring.len(), (next_in - next_out) as usize);
        }
        assert!(next_out > 100_000, "the test must actually wrap many times");
    }

    #[test]
    fn mono_is_copied_to_both_sides_and_full_ring_refuses() {
        let mut ring = StereoRing::new(4);
        assert_eq!(ring.write_interleaved(&[1.0, 2.0, 3.0], 1), 3);
        assert_eq!(ring.write_interleaved(&[4.0, 5.0], 1), 1);
        assert_eq!(ring.free(), 0);
        let (mut l, mut r) = ([0.0; 8], [0.0; 8]);
        assert_eq!(ring.read_planar(&mut l, &mut r), 4);
        assert_eq!(&l[..4], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(&r[..4], &[1.0, 2.0, 3.0, 4.0]);
        assert!(ring.is_empty());
    }

    #[test]
    fn surround_keeps_front_pair() {
        let mut ring = StereoRing::new(4);
        assert_eq!(ring.write_interleaved(&[1.0, 2.0, 9.0, 9.0, 9.0, 9.0], 6), 1);
        let (mut l, mut r) = ([0.0; 1], [0.0; 1]);
        ring.read_planar(&mut l, &mut r);
        assert_eq!((l[0], r[0]), (1.0, 2.0));
    }
}
