//! The engine's one hot product, `i16 · i16` dot products accumulated in wrapping i32, for
//! blocks of rows against one weight matrix. Integer sums are the same in any order, so the
//! SIMD kernels give exactly the portable loop's bits.

use super::fixed::dot;

/// `out[r · stride + o] = dot(x_r, w_o)` for every row `x_r` of `xs` and row `w_o` of `w`
/// (both `n_in` wide).
#[inline(always)]
pub fn dots(xs: &[i16], w: &[i16], n_in: usize, out: &mut [i32], stride: usize) {
    let (rows, n_out) = (xs.len() / n_in, w.len() / n_in);
    assert!(rows == 0 || n_out == 0 || out.len() >= (rows - 1) * stride + n_out);
    #[cfg(target_arch = "x86_64")]
    if n_in.is_multiple_of(16) && std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above; `out` holds every sum (asserted).
        unsafe { avx2::dots(xs, w, n_in, out, stride) };
        return;
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if n_in.is_multiple_of(8) {
        simd128::dots(xs, w, n_in, out, stride);
        return;
    }
    dots_portable(xs, w, n_in, out, stride)
}

#[inline(always)]
fn dots_portable(xs: &[i16], w: &[i16], n_in: usize, out: &mut [i32], stride: usize) {
    for (r, x) in xs.chunks_exact(n_in).enumerate() {
        for (o, wr) in w.chunks_exact(n_in).enumerate() {
            out[r * stride + o] = dot(x, wr);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Four rows against two weight rows per pass: six loads feed eight `vpmaddwd`.
    #[target_feature(enable = "avx2")]
    pub unsafe fn dots(xs: &[i16], w: &[i16], n_in: usize, out: &mut [i32], stride: usize) {
        let rows = xs.len() / n_in;
        let n_out = w.len() / n_in;
        assert!(n_in.is_multiple_of(16));
        let (xp, wp) = (xs.as_ptr(), w.as_ptr());
        let load = |p: *const i16| _mm256_loadu_si256(p as *const __m256i);
        let mut r = 0;
        while r < rows {
            let rn = (rows - r).min(4);
            // Rows past the end repeat the last one; their sums are not stored.
            let x: [*const i16; 4] = std::array::from_fn(|i| xp.add((r + i.min(rn - 1)) * n_in));
            let mut o = 0;
            while o < n_out {
                let on = (n_out - o).min(2);
                let w0 = wp.add(o * n_in);
                let w1 = wp.add((o + on - 1) * n_in);
                let mut acc = [_mm256_setzero_si256(); 8];
                let mut k = 0;
                while k < n_in {
                    let (a, b) = (load(w0.add(k)), load(w1.add(k)));
                    for i in 0..4 {
                        let v = load(x[i].add(k));
                        acc[2 * i] = _mm256_add_epi32(acc[2 * i], _mm256_madd_epi16(v, a));
                        acc[2 * i + 1] = _mm256_add_epi32(acc[2 * i + 1], _mm256_madd_epi16(v, b));
                    }
                    k += 16;
                }
                // Horizontal sums of the eight accumulators at once.
                let h0 = _mm256_hadd_epi32(acc[0], acc[1]);
                let h1 = _mm256_hadd_epi32(acc[2], acc[3]);
                let h2 = _mm256_hadd_epi32(acc[4], acc[5]);
                let h3 = _mm256_hadd_epi32(acc[6], acc[7]);
                let h01 = _mm256_hadd_epi32(h0, h1);
                let h23 = _mm256_hadd_epi32(h2, h3);
                // Lanes: [r0o0 r0o1 r1o0 r1o1 | same upper] for h01; add the halves.
                let s01 = _mm_add_epi32(
                    _mm256_castsi256_si128(h01),
                    _mm256_extracti128_si256(h01, 1),
                );
                let s23 = _mm_add_epi32(
                    _mm256_castsi256_si128(h23),
                    _mm256_extracti128_si256(h23, 1),
                );
                let mut sums = [0i32; 8];
                _mm_storeu_si128(sums.as_mut_ptr() as *mut __m128i, s01);
                _mm_storeu_si128(sums.as_mut_ptr().add(4) as *mut __m128i, s23);
                for i in 0..rn {
                    for j in 0..on {
                        out[(r + i) * stride + o + j] = sums[2 * i + j];
                    }
                }
                o += 2;
            }
            r += 4;
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use std::arch::wasm32::*;

    /// Two rows against two weight rows per pass with `i32x4.dot_i16x8_s`.
    pub fn dots(xs: &[i16], w: &[i16], n_in: usize, out: &mut [i32], stride: usize) {
        let rows = xs.len() / n_in;
        let n_out = w.len() / n_in;
        let load = |s: &[i16], at: usize| -> v128 {
            let c: &[i16; 8] = s[at..at + 8].try_into().expect("8 lanes");
            // SAFETY: 8 × i16 is 16 bytes; v128_load reads them unaligned.
            unsafe { v128_load(c.as_ptr() as *const v128) }
        };
        let hsum = |v: v128| -> i32 {
            i32x4_extract_lane::<0>(v)
                .wrapping_add(i32x4_extract_lane::<1>(v))
                .wrapping_add(i32x4_extract_lane::<2>(v))
                .wrapping_add(i32x4_extract_lane::<3>(v))
        };
        let mut r = 0;
        while r < rows {
            let rn = (rows - r).min(2);
            let x0 = &xs[r * n_in..(r + 1) * n_in];
            let x1 = &xs[(r + rn - 1) * n_in..(r + rn) * n_in];
            let mut o = 0;
            while o < n_out {
                let on = (n_out - o).min(2);
                let w0 = &w[o * n_in..(o + 1) * n_in];
                let w1 = &w[(o + on - 1) * n_in..(o + on) * n_in];
                let mut acc = [i32x4_splat(0); 4];
                let mut k = 0;
                while k < n_in {
                    let (a, b) = (load(w0, k), load(w1, k));
                    let (u, v) = (load(x0, k), load(x1, k));
                    acc[0] = i32x4_add(acc[0], i32x4_dot_i16x8(u, a));
                    acc[1] = i32x4_add(acc[1], i32x4_dot_i16x8(u, b));
                    acc[2] = i32x4_add(acc[2], i32x4_dot_i16x8(v, a));
                    acc[3] = i32x4_add(acc[3], i32x4_dot_i16x8(v, b));
                    k += 8;
                }
                for i in 0..rn {
                    for j in 0..on {
                        out[(r + i) * stride + o + j] = hsum(acc[2 * i + j]);
                    }
                }
                o += 2;
            }
            r += 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_equal_the_portable_loop_on_every_shape() {
        let mut x = 7u32;
        let mut next = || {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            // Include the extremes, where pair sums wrap.
            match x >> 28 {
                0 => i16::MIN,
                1 => i16::MAX,
                _ => (x >> 16) as i16,
            }
        };
        for (rows, n_out, n_in) in [
            (1, 1, 16),
            (3, 5, 32),
            (4, 2, 64),
            (7, 9, 256),
            (16, 3, 1024),
        ] {
            let xs: Vec<i16> = (0..rows * n_in).map(|_| next()).collect();
            let w: Vec<i16> = (0..n_out * n_in).map(|_| next()).collect();
            let mut fast = vec![0; rows * n_out];
            let mut slow = vec![0; rows * n_out];
            dots(&xs, &w, n_in, &mut fast, n_out);
            dots_portable(&xs, &w, n_in, &mut slow, n_out);
            assert_eq!(fast, slow, "{rows}×{n_in} · {n_out}×{n_in}");
        }
    }
}
