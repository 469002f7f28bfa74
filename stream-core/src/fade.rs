//! The equal-power fade: the one shape every audible seam goes through.
//!
//! A fade-in follows `sin(pi/2 * t)` and a fade-out `cos(pi/2 * t)` for `t` in `[0, 1]`, so a
//! fade-out summed with a fade-in of uncorrelated material keeps constant power
//! (`sin^2 + cos^2 = 1`). No allocation, no state beyond two counters.

use core::f32::consts::FRAC_PI_2;

/// Direction of a fade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FadeDir {
    In,
    Out,
}

/// A running equal-power fade of a fixed length in frames.
#[derive(Clone, Copy, Debug)]
pub struct Fade {
    dir: FadeDir,
    pos: u32,
    len: u32,
}

impl Fade {
    /// A fade of `len` frames (at least one).
    pub fn new(dir: FadeDir, len: u32) -> Self {
        Fade { dir, pos: 0, len: len.max(1) }
    }

    /// Whether the fade has run to its end.
    pub fn done(&self) -> bool {
        self.pos >= self.len
    }

    /// The direction.
    pub fn dir(&self) -> FadeDir {
        self.dir
    }

    /// The gain for the next frame, advancing the fade. After the end it stays at the final
    /// gain (1 for a fade-in, 0 for a fade-out).
    #[inline]
    pub fn next_gain(&mut self) -> f32 {
        let g = gain(self.dir, self.pos, self.len);
        if self.pos < self.len {
            self.pos += 1;
        }
        g
    }

    /// Applies the fade to planar stereo frames in place.
    pub fn apply(&mut self, left: &mut [f32], right: &mut [f32]) {
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let g = self.next_gain();
            *l *= g;
            *r *= g;
        }
    }
}

/// Gain of frame `pos` of a fade of `len` frames. Frame 0 of a fade-in is silent-adjacent
/// (`sin(pi/2 * 0.5/len)`), the midpoint of each frame is used so the in and out gains of the
/// same frame are exact complements in power.
#[inline]
pub fn gain(dir: FadeDir, pos: u32, len: u32) -> f32 {
    if pos >= len {
        return match dir {
            FadeDir::In => 1.0,
            FadeDir::Out => 0.0,
        };
    }
    let t = (pos as f32 + 0.5) / len as f32;
    match dir {
        FadeDir::In => (FRAC_PI_2 * t).sin(),
        FadeDir::Out => (FRAC_PI_2 * t).cos(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_and_out_are_power_complementary() {
        for len in [1u32, 7, 480, 2400] {
            for pos in 0..len {
                let (a, b) = (gain(FadeDir::In, pos, len), gain(FadeDir::Out, pos, len));
                assert!((a * a + b * b - 1.0).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn fades_are_monotonic_and_end_at_their_target() {
        let mut f = Fade::new(FadeDir::In, 100);
        let mut last = 0.0;
        for _ in 0..100 {
            let g = f.next_gain();
            assert!(g > last && g <= 1.0);
            last = g;
        }
        assert!(f.done());
        assert_eq!(f.next_gain(), 1.0);
        let mut f = Fade::new(FadeDir::Out, 100);
        let mut last = 1.0;
        for _ in 0..100 {
            let g = f.next_gain();
            assert!(g < last && g >= 0.0);
            last = g;
        }
        assert_eq!(f.next_gain(), 0.0);
    }

    /// Largest step between neighbouring gains of a 10 ms fade stays tiny: no click.
    #[test]
    fn steps_are_small() {
        let len = 480;
        let max_step =
            (0..len).map(|p| (gain(FadeDir::In, p + 1, len) - gain(FadeDir::In, p, len)).abs()).fold(0.0f32, f32::max);
        assert!(max_step < 0.004, "{max_step}");
    }
}
