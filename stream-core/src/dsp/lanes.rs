//! Two `f64` lanes (left and right) as one SIMD value where the target has one: SSE2 on x86-64
//! (always present there) and simd128 in wasm (built with `+simd128`, see .cargo/config.toml);
//! plain arrays elsewhere. The stereo biquad cascade runs on it, so both channels of a filter
//! step cost one multiply-add sequence, natively and in wasm alike.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::*;
    #[derive(Clone, Copy)]
    pub struct F2(v128);
    impl F2 {
        #[inline(always)]
        pub fn new(a: f64, b: f64) -> Self {
            F2(f64x2(a, b))
        }
        #[inline(always)]
        pub fn splat(a: f64) -> Self {
            F2(f64x2_splat(a))
        }
        #[inline(always)]
        pub fn lanes(self) -> [f64; 2] {
            [f64x2_extract_lane::<0>(self.0), f64x2_extract_lane::<1>(self.0)]
        }
        #[inline(always)]
        pub fn mul_add(self, m: F2, a: F2) -> F2 {
            F2(f64x2_add(f64x2_mul(self.0, m.0), a.0))
        }
        #[inline(always)]
        pub fn mul_sub(self, m: F2, a: F2) -> F2 {
            F2(f64x2_sub(a.0, f64x2_mul(self.0, m.0)))
        }
        #[inline(always)]
        pub fn mul(self, m: F2) -> F2 {
            F2(f64x2_mul(self.0, m.0))
        }
        #[inline(always)]
        pub fn add(self, a: F2) -> F2 {
            F2(f64x2_add(self.0, a.0))
        }
    }
}

#[cfg(target_arch = "x86_64")]
// SAFETY (every `unsafe` below): SSE2 is part of the x86-64 baseline, so these intrinsics
// are always available; the only memory access is the store into a local array.
mod imp {
    use core::arch::x86_64::*;
    #[derive(Clone, Copy)]
    pub struct F2(__m128d);
    impl F2 {
        #[inline(always)]
        pub fn new(a: f64, b: f64) -> Self {
            F2(unsafe { _mm_set_pd(b, a) })
        }
        #[inline(always)]
        pub fn splat(a: f64) -> Self {
            F2(unsafe { _mm_set1_pd(a) })
        }
        #[inline(always)]
        pub fn lanes(self) -> [f64; 2] {
            let mut out = [0.0f64; 2];
            // SAFETY: `out` has room for the two lanes; unaligned store.
            unsafe { _mm_storeu_pd(out.as_mut_ptr(), self.0) };
            out
        }
        #[inline(always)]
        pub fn mul_add(self, m: F2, a: F2) -> F2 {
            F2(unsafe { _mm_add_pd(_mm_mul_pd(self.0, m.0), a.0) })
        }
        #[inline(always)]
        pub fn mul_sub(self, m: F2, a: F2) -> F2 {
            F2(unsafe { _mm_sub_pd(a.0, _mm_mul_pd(self.0, m.0)) })
        }
        #[inline(always)]
        pub fn mul(self, m: F2) -> F2 {
            F2(unsafe { _mm_mul_pd(self.0, m.0) })
        }
        #[inline(always)]
        pub fn add(self, a: F2) -> F2 {
            F2(unsafe { _mm_add_pd(self.0, a.0) })
        }
    }
}

#[cfg(not(any(all(target_arch = "wasm32", target_feature = "simd128"), target_arch = "x86_64")))]
mod imp {
    #[derive(Clone, Copy)]
    pub struct F2([f64; 2]);
    impl F2 {
        #[inline(always)]
        pub fn new(a: f64, b: f64) -> Self {
            F2([a, b])
        }
        #[inline(always)]
        pub fn splat(a: f64) -> Self {
            F2([a, a])
        }
        #[inline(always)]
        pub fn lanes(self) -> [f64; 2] {
            self.0
        }
        #[inline(always)]
        pub fn mul_add(self, m: F2, a: F2) -> F2 {
            F2([self.0[0] * m.0[0] + a.0[0], self.0[1] * m.0[1] + a.0[1]])
        }
        #[inline(always)]
        pub fn mul_sub(self, m: F2, a: F2) -> F2 {
            F2([a.0[0] - self.0[0] * m.0[0], a.0[1] - self.0[1] * m.0[1]])
        }
        #[inline(always)]
        pub fn mul(self, m: F2) -> F2 {
            F2([self.0[0] * m.0[0], self.0[1] * m.0[1]])
        }
        #[inline(always)]
        pub fn add(self, a: F2) -> F2 {
            F2([self.0[0] + a.0[0], self.0[1] + a.0[1]])
        }
    }
}

pub use imp::F2;
