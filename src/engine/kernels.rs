//! The engine's one hot product: rows of i16 against a packed i16 matrix, accumulated in
//! wrapping i32. Integer sums are the same in any order, so the SIMD kernels give exactly the
//! portable loop's bits.
//!
//! A packed matrix stores its output rows in blocks of [`BLOCK`]; inside a block, for each
//! pair of inputs `k, k+1`, the block's outputs side by side, each with its two weights
//! (`W[o][k], W[o][k+1]`). One broadcast input pair times one load is then a multiply-add
//! into [`BLOCK`] separate sums (`vpmaddwd`, `i32x4.dot_i16x8_s`): no horizontal sums, and the
//! same layout serves the weights, the attention keys (outputs = positions) and the attention
//! values (inputs = positions).

/// Outputs per packed block.
pub const BLOCK: usize = 8;

/// Where `W[o][k]` lies in a packed matrix whose blocks are `stride` apart.
#[inline(always)]
pub fn packed_index(o: usize, k: usize, stride: usize) -> usize {
    (o / BLOCK) * stride + (k / 2) * 2 * BLOCK + (o % BLOCK) * 2 + k % 2
}

/// Packs `w` (`n_out` rows of `n_in`; `n_in` even, `n_out` a multiple of [`BLOCK`]); its blocks
/// are `n_in · BLOCK` apart.
pub fn pack(w: &[i16], n_in: usize) -> Vec<i16> {
    assert!(n_in.is_multiple_of(2) && w.len().is_multiple_of(n_in * BLOCK));
    let mut out = vec![0; w.len()];
    for (o, row) in w.chunks_exact(n_in).enumerate() {
        for (k, &v) in row.iter().enumerate() {
            out[packed_index(o, k, n_in * BLOCK)] = v;
        }
    }
    out
}

/// A packed matrix (or the first `blocks` blocks of one): block `b` starts at `b · stride`.
#[derive(Clone, Copy)]
pub struct Packed<'a> {
    /// The packed values.
    pub w: &'a [i16],
    /// Distance between blocks.
    pub stride: usize,
    /// Blocks in use: `BLOCK · blocks` outputs.
    pub blocks: usize,
}

/// `out[r · os + o] = Σ_{k < n_in} x[r · xs + k] · W[o][k]` for `rows` rows and every output of
/// `w`; `n_in` is even.
#[inline(always)]
pub fn matmul(
    x: &[i16],
    xs: usize,
    rows: usize,
    n_in: usize,
    w: Packed,
    out: &mut [i32],
    os: usize,
) {
    if rows == 0 || w.blocks == 0 {
        return;
    }
    assert!(n_in.is_multiple_of(2), "inputs come in pairs");
    assert!(x.len() >= (rows - 1) * xs + n_in, "rows of x");
    assert!(
        w.w.len() >= (w.blocks - 1) * w.stride + n_in * BLOCK,
        "blocks of w"
    );
    assert!(
        out.len() >= (rows - 1) * os + w.blocks * BLOCK,
        "room for the sums"
    );
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above); every read and write is in bounds
        // (asserted above).
        unsafe { avx2::matmul(x, xs, rows, n_in, w, out, os) };
        return;
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        // SAFETY: every read and write is in bounds (asserted above).
        unsafe { simd128::matmul(x, xs, rows, n_in, w, out, os) };
        return;
    }
    #[allow(unreachable_code)]
    matmul_portable(x, xs, rows, n_in, w, out, os)
}

#[inline(always)]
fn matmul_portable(
    x: &[i16],
    xs: usize,
    rows: usize,
    n_in: usize,
    w: Packed,
    out: &mut [i32],
    os: usize,
) {
    for r in 0..rows {
        let xr = &x[r * xs..r * xs + n_in];
        for b in 0..w.blocks {
            let wb = &w.w[b * w.stride..b * w.stride + n_in * BLOCK];
            let mut acc = [0i32; BLOCK];
            for (pair, wp) in xr.chunks_exact(2).zip(wb.chunks_exact(2 * BLOCK)) {
                let (x0, x1) = (i32::from(pair[0]), i32::from(pair[1]));
                for (a, ww) in acc.iter_mut().zip(wp.chunks_exact(2)) {
                    let s = (x0 * i32::from(ww[0])).wrapping_add(x1 * i32::from(ww[1]));
                    *a = a.wrapping_add(s);
                }
            }
            out[r * os + b * BLOCK..r * os + (b + 1) * BLOCK].copy_from_slice(&acc);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Packed, BLOCK};
    use std::arch::x86_64::*;

    /// Tiles of up to four rows by two blocks: per input pair, two loads and four broadcasts
    /// feed eight `vpmaddwd` into eight accumulators.
    #[target_feature(enable = "avx2")]
    pub unsafe fn matmul(
        x: &[i16],
        xs: usize,
        rows: usize,
        n_in: usize,
        w: Packed,
        out: &mut [i32],
        os: usize,
    ) {
        let (xp, wp, op) = (x.as_ptr(), w.w.as_ptr(), out.as_mut_ptr());
        let pairs = n_in / 2;
        let mut b = 0;
        while b < w.blocks {
            let nb = (w.blocks - b).min(2);
            let wb = wp.add(b * w.stride);
            let mut r = 0;
            while r < rows {
                let nr = (rows - r).min(4);
                let (xr, o) = (xp.add(r * xs), op.add(r * os + b * BLOCK));
                let s = w.stride;
                match (nr, nb) {
                    (4, 2) => tile::<4, 2>(xr, xs, wb, s, pairs, o, os),
                    (3, 2) => tile::<3, 2>(xr, xs, wb, s, pairs, o, os),
                    (2, 2) => tile::<2, 2>(xr, xs, wb, s, pairs, o, os),
                    (1, 2) => tile::<1, 2>(xr, xs, wb, s, pairs, o, os),
                    (4, _) => tile::<4, 1>(xr, xs, wb, s, pairs, o, os),
                    (3, _) => tile::<3, 1>(xr, xs, wb, s, pairs, o, os),
                    (2, _) => tile::<2, 1>(xr, xs, wb, s, pairs, o, os),
                    _ => tile::<1, 1>(xr, xs, wb, s, pairs, o, os),
                }
                r += 4;
            }
            b += 2;
        }
    }

    #[inline(always)]
    unsafe fn tile<const R: usize, const B: usize>(
        x: *const i16,
        xs: usize,
        w: *const i16,
        stride: usize,
        pairs: usize,
        out: *mut i32,
        os: usize,
    ) {
        let mut acc = [[_mm256_setzero_si256(); B]; R];
        for p in 0..pairs {
            let wv: [__m256i; B] = std::array::from_fn(|b| {
                _mm256_loadu_si256(w.add(b * stride + p * 2 * BLOCK) as *const __m256i)
            });
            for (r, row) in acc.iter_mut().enumerate() {
                let pair = (x.add(r * xs + 2 * p) as *const i32).read_unaligned();
                let xv = _mm256_set1_epi32(pair);
                for (a, &wb) in row.iter_mut().zip(&wv) {
                    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xv, wb));
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (b, &a) in row.iter().enumerate() {
                _mm256_storeu_si256(out.add(r * os + b * BLOCK) as *mut __m256i, a);
            }
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use super::{Packed, BLOCK};
    use std::arch::wasm32::*;

    /// Tiles of up to four rows by one block (two vectors of four sums).
    pub unsafe fn matmul(
        x: &[i16],
        xs: usize,
        rows: usize,
        n_in: usize,
        w: Packed,
        out: &mut [i32],
        os: usize,
    ) {
        let (xp, wp, op) = (x.as_ptr(), w.w.as_ptr(), out.as_mut_ptr());
        let pairs = n_in / 2;
        for b in 0..w.blocks {
            let wb = wp.add(b * w.stride);
            let mut r = 0;
            while r < rows {
                let (xr, o) = (xp.add(r * xs), op.add(r * os + b * BLOCK));
                match (rows - r).min(4) {
                    4 => tile::<4>(xr, xs, wb, pairs, o, os),
                    3 => tile::<3>(xr, xs, wb, pairs, o, os),
                    2 => tile::<2>(xr, xs, wb, pairs, o, os),
                    _ => tile::<1>(xr, xs, wb, pairs, o, os),
                }
                r += 4;
            }
        }
    }

    #[inline(always)]
    unsafe fn tile<const R: usize>(
        x: *const i16,
        xs: usize,
        w: *const i16,
        pairs: usize,
        out: *mut i32,
        os: usize,
    ) {
        let mut acc = [[i32x4_splat(0); 2]; R];
        for p in 0..pairs {
            let lo = v128_load(w.add(p * 2 * BLOCK) as *const v128);
            let hi = v128_load(w.add(p * 2 * BLOCK + BLOCK) as *const v128);
            for (r, a) in acc.iter_mut().enumerate() {
                let pair = (x.add(r * xs + 2 * p) as *const i32).read_unaligned();
                let xv = i32x4_splat(pair);
                a[0] = i32x4_add(a[0], i32x4_dot_i16x8(xv, lo));
                a[1] = i32x4_add(a[1], i32x4_dot_i16x8(xv, hi));
            }
        }
        for (r, a) in acc.iter().enumerate() {
            v128_store(out.add(r * os) as *mut v128, a[0]);
            v128_store(out.add(r * os + 4) as *mut v128, a[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_equal_the_plain_sums_on_every_shape() {
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
            (1, 8, 2),
            (3, 40, 32),
            (4, 16, 64),
            (7, 24, 256),
            (16, 8, 1024),
            (5, 256, 18),
        ] {
            let xs: Vec<i16> = (0..rows * n_in).map(|_| next()).collect();
            let w: Vec<i16> = (0..n_out * n_in).map(|_| next()).collect();
            let want: Vec<i32> = xs
                .chunks_exact(n_in)
                .flat_map(|xr| {
                    w.chunks_exact(n_in).map(move |wr| {
                        xr.iter().zip(wr).fold(0i32, |s, (&a, &b)| {
                            s.wrapping_add(i32::from(a) * i32::from(b))
                        })
                    })
                })
                .collect();
            let packed = pack(&w, n_in);
            let view = Packed {
                w: &packed,
                stride: n_in * BLOCK,
                blocks: n_out / BLOCK,
            };
            let mut fast = vec![0; rows * n_out];
            let mut slow = vec![0; rows * n_out];
            matmul(&xs, n_in, rows, n_in, view, &mut fast, n_out);
            matmul_portable(&xs, n_in, rows, n_in, view, &mut slow, n_out);
            assert_eq!(fast, want, "{rows}×{n_in} · {n_out}×{n_in}");
            assert_eq!(slow, want, "portable {rows}×{n_in} · {n_out}×{n_in}");
        }
    }
}
