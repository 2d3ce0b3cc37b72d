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

use super::fixed::{self, EXP2_STEPS, GELU_ENTRIES, Q};

/// Outputs per packed block.
pub const BLOCK: usize = 8;

/// Where `W[o][k]` lies in a packed matrix whose blocks are `stride` apart.
#[inline(always)]
pub fn packed_index(o: usize, k: usize, stride: usize) -> usize {
    (o / BLOCK) * stride + (k / 2) * 2 * BLOCK + (o % BLOCK) * 2 + k % 2
}

/// A matrix element: i16 (cached keys and values) or i8 (weights, half the bytes to stream).
pub trait Weight: Copy + Default + Into<i32> {
    /// Bytes per element.
    const BYTES: usize;
}

impl Weight for i16 {
    const BYTES: usize = 2;
}

impl Weight for i8 {
    const BYTES: usize = 1;
}

/// Packs `w` (`n_out` rows of `n_in`; `n_in` even, `n_out` a multiple of [`BLOCK`]); its blocks
/// are `n_in · BLOCK` apart.
pub fn pack<T: Weight>(w: &[T], n_in: usize) -> Vec<T> {
    assert!(n_in.is_multiple_of(2) && w.len().is_multiple_of(n_in * BLOCK));
    let mut out = vec![T::default(); w.len()];
    for (o, row) in w.chunks_exact(n_in).enumerate() {
        for (k, &v) in row.iter().enumerate() {
            out[packed_index(o, k, n_in * BLOCK)] = v;
        }
    }
    out
}

/// A packed matrix (or the first `blocks` blocks of one): block `b` starts at `b · stride`.
#[derive(Clone, Copy)]
pub struct Packed<'a, T: Weight = i16> {
    /// The packed values.
    pub w: &'a [T],
    /// Distance between blocks.
    pub stride: usize,
    /// Blocks in use: `BLOCK · blocks` outputs.
    pub blocks: usize,
}

impl<'a, T: Weight> Packed<'a, T> {
    /// The whole of a matrix that [`pack`] packed from rows of `n_in`.
    pub fn whole(w: &'a [T], n_in: usize) -> Self {
        Self {
            w,
            stride: n_in * BLOCK,
            blocks: w.len() / (n_in * BLOCK),
        }
    }
}

/// `out[r · os + o] = Σ_{k < n_in} x[r · xs + k] · W[o][k]` for `rows` rows and every output of
/// `w`; `n_in` is even.
#[inline(always)]
pub fn matmul<T: Weight>(
    x: &[i16],
    xs: usize,
    rows: usize,
    n_in: usize,
    w: Packed<T>,
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
    if has_vnni() {
        // SAFETY: the CPU has these features (checked just above); every read and write is
        // in bounds (asserted above).
        unsafe { avx2::matmul_vnni(x, xs, rows, n_in, w, out, os) };
        return;
    }
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

/// Whether the CPU has AVX-512 VNNI on 256-bit vectors (besides AVX2); std caches each answer.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn has_vnni() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512vnni")
}

#[inline(always)]
fn matmul_portable<T: Weight>(
    x: &[i16],
    xs: usize,
    rows: usize,
    n_in: usize,
    w: Packed<T>,
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
                    let s = (x0 * ww[0].into()).wrapping_add(x1 * ww[1].into());
                    *a = a.wrapping_add(s);
                }
            }
            out[r * os + b * BLOCK..r * os + (b + 1) * BLOCK].copy_from_slice(&acc);
        }
    }
}

/// Beyond 2^-31 every softmax weight rounds to zero anyway.
const LIMIT: u32 = 31 << Q;
/// Fractional bits of the exponent dropped before the `2^-x` table.
const STEP_BITS: u32 = Q - EXP2_STEPS.trailing_zeros();

/// `2^-y` for `y` in [`Q`] fixed point, from the table: the fraction looked up, the integer
/// part a rounding shift.
#[inline(always)]
fn weight(y: u32, exp2: &[i32; EXP2_STEPS]) -> u32 {
    let y = (y.min(LIMIT) + (1 << (STEP_BITS - 1))) >> STEP_BITS;
    let n = y >> (Q - STEP_BITS);
    let w = exp2[(y as usize) & (EXP2_STEPS - 1)] as u32;
    (w + ((1u32 << n) >> 1)) >> n
}

/// Softmax weights `2^-(max − s)` of one head's scores in `exp2`'s fixed point, where `to_q`
/// shifts a score difference to [`Q`] fixed point in log2 units; returns their sum. The table
/// holds positive values of at most 2^30 (the model loader checks).
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
#[cfg_attr(target_arch = "wasm32", inline(never))]
pub fn softmax_weights(
    scores: &[i32],
    max: i32,
    to_q: i32,
    exp2: &[i32; EXP2_STEPS],
    out: &mut [u32],
) -> u64 {
    let n = scores.len().min(out.len());
    #[cfg(target_arch = "x86_64")]
    let (done, mut total) = if to_q > -32 && std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { avx2::softmax_weights(&scores[..n], max, to_q, exp2, out) }
    } else {
        (0, 0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let (done, mut total) = (0, 0u64);
    let (scores, out) = (&scores[done..n], &mut out[done..n]);
    if to_q >= 0 {
        let l = to_q.min(31) as u32;
        let cap = LIMIT >> l;
        for (o, &sc) in out.iter_mut().zip(scores) {
            *o = weight((max.wrapping_sub(sc) as u32).min(cap) << l, exp2);
            total += u64::from(*o);
        }
    } else if to_q > -32 {
        let r = to_q.unsigned_abs();
        for (o, &sc) in out.iter_mut().zip(scores) {
            let diff = u64::from(max.wrapping_sub(sc) as u32);
            *o = weight(((diff + (1 << (r - 1))) >> r) as u32, exp2);
            total += u64::from(*o);
        }
    } else {
        // Differences vanish at this scale: every position weighs the same.
        out.fill(weight(0, exp2));
        total = u64::from(weight(0, exp2)) * out.len() as u64;
    }
    total
}

/// [`fixed::gelu_row`]: with AVX2, four values at a time where the shift is a rounding right
/// shift (as it is in practice). The table's entries are at most 2^20 in size (the model loader
/// checks), so the interpolation fits 32-bit lanes.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
#[cfg_attr(target_arch = "wasm32", inline(never))]
pub fn gelu_row(row: &mut [i64], n: i32, table: &[i32; GELU_ENTRIES + 1]) {
    #[cfg(target_arch = "x86_64")]
    if (-62..0).contains(&n) && std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        let done = unsafe { avx2::gelu_row(row, n.unsigned_abs(), table) };
        fixed::gelu_row(&mut row[done..], n, table);
        return;
    }
    fixed::gelu_row(row, n, table)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::super::fixed::{GELU_RANGE, GELU_STEP_BITS};
    use super::GELU_ENTRIES;
    use super::{Packed, Weight, BLOCK, EXP2_STEPS, LIMIT, Q, STEP_BITS};
    use std::arch::x86_64::*;

    /// GELU of `rshift(v, s)` (`1 ≤ s ≤ 62`) for the first multiple of four values of `row`,
    /// in place; returns how many it did.
    #[target_feature(enable = "avx2")]
    pub unsafe fn gelu_row(row: &mut [i64], s: u32, table: &[i32; GELU_ENTRIES + 1]) -> usize {
        const STEP: i32 = (Q - GELU_STEP_BITS) as i32;
        let n = row.len() / 4 * 4;
        let (lo, hi) = (-(GELU_RANGE << Q), GELU_RANGE << Q);
        let (lov, top) = (_mm256_set1_epi64x(lo), _mm256_set1_epi64x(hi - 1));
        let half = _mm256_set1_epi64x(1 << (s - 1));
        let count = _mm_cvtsi32_si128(s as i32);
        let (mask, round) = (
            _mm256_set1_epi64x((1 << STEP) - 1),
            _mm_set1_epi32(1 << (STEP - 1)),
        );
        let low_dwords = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
        let zero = _mm256_setzero_si256();
        let t = table.as_ptr();
        for i in (0..n).step_by(4) {
            let p = row.as_mut_ptr().add(i) as *mut __m256i;
            // The rounding shift, arithmetic: a logical shift of the bits flipped by the sign.
            let y = _mm256_add_epi64(_mm256_loadu_si256(p), half);
            let sign = _mm256_cmpgt_epi64(zero, y);
            let x = _mm256_xor_si256(_mm256_srl_epi64(_mm256_xor_si256(y, sign), count), sign);
            let above = _mm256_cmpgt_epi64(x, top);
            let below = _mm256_cmpgt_epi64(lov, x);
            let xc = _mm256_blendv_epi8(_mm256_blendv_epi8(x, top, above), lov, below);
            let u = _mm256_sub_epi64(xc, lov);
            let at = _mm256_srli_epi64::<STEP>(u);
            let a = _mm256_i64gather_epi32::<4>(t, at);
            let b = _mm256_i64gather_epi32::<4>(t.add(1), at);
            let fr = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(
                _mm256_and_si256(u, mask),
                low_dwords,
            ));
            let d = _mm_add_epi32(_mm_mullo_epi32(_mm_sub_epi32(b, a), fr), round);
            let g = _mm256_cvtepi32_epi64(_mm_add_epi32(a, _mm_srai_epi32::<STEP>(d)));
            let out = _mm256_andnot_si256(below, _mm256_blendv_epi8(g, x, above));
            _mm256_storeu_si256(p, out);
        }
        n
    }

    /// Sixteen elements at `p` as i16 lanes (i8 ones sign-extended).
    #[inline(always)]
    unsafe fn load<T: Weight>(p: *const T) -> __m256i {
        if T::BYTES == 1 {
            _mm256_cvtepi8_epi16(_mm_loadu_si128(p as *const __m128i))
        } else {
            _mm256_loadu_si256(p as *const __m256i)
        }
    }

    /// [`super::softmax_weights`] for `to_q > -32`, eight positions at a time (the table
    /// read by a gather); returns how many positions it did (whole vectors) and their sum.
    #[target_feature(enable = "avx2")]
    pub unsafe fn softmax_weights(
        scores: &[i32],
        max: i32,
        to_q: i32,
        exp2: &[i32; EXP2_STEPS],
        out: &mut [u32],
    ) -> (usize, u64) {
        let n = scores.len() / 8 * 8;
        let maxv = _mm256_set1_epi32(max);
        let (limit, one) = (_mm256_set1_epi32(LIMIT as i32), _mm256_set1_epi32(1));
        let round = _mm256_set1_epi32(1 << (STEP_BITS - 1));
        let mask = _mm256_set1_epi32(EXP2_STEPS as i32 - 1);
        let mut total = _mm256_setzero_si256();
        let (l, r) = (to_q.clamp(0, 31), (-to_q).clamp(0, 31));
        let cap = _mm256_set1_epi32((LIMIT >> l) as i32);
        let (lv, rv) = (_mm_cvtsi32_si128(l), _mm_cvtsi32_si128(r));
        let rv1 = _mm_cvtsi32_si128((r - 1).max(0));
        for i in (0..n).step_by(8) {
            let sc = _mm256_loadu_si256(scores.as_ptr().add(i) as *const __m256i);
            let diff = _mm256_sub_epi32(maxv, sc);
            let y = if to_q >= 0 {
                _mm256_sll_epi32(_mm256_min_epu32(diff, cap), lv)
            } else {
                // (diff + 2^(r-1)) >> r without a carry out of 32 bits: bit r-1 rounds.
                let up = _mm256_and_si256(_mm256_srl_epi32(diff, rv1), one);
                _mm256_add_epi32(_mm256_srl_epi32(diff, rv), up)
            };
            let y = _mm256_add_epi32(_mm256_min_epu32(y, limit), round);
            let y = _mm256_srli_epi32::<{ STEP_BITS as i32 }>(y);
            let shift = _mm256_srli_epi32::<{ (Q - STEP_BITS) as i32 }>(y);
            let w = _mm256_i32gather_epi32::<4>(exp2.as_ptr(), _mm256_and_si256(y, mask));
            let half = _mm256_srli_epi32::<1>(_mm256_sllv_epi32(one, shift));
            let w = _mm256_srlv_epi32(_mm256_add_epi32(w, half), shift);
            _mm256_storeu_si256(out.as_mut_ptr().add(i) as *mut __m256i, w);
            let lo = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(w));
            let hi = _mm256_cvtepu32_epi64(_mm256_extracti128_si256::<1>(w));
            total = _mm256_add_epi64(total, _mm256_add_epi64(lo, hi));
        }
        let mut sums = [0u64; 4];
        _mm256_storeu_si256(sums.as_mut_ptr() as *mut __m256i, total);
        (n, sums.iter().sum())
    }

    /// Tiles of up to four rows by two blocks: per input pair, two loads and four broadcasts
    /// feed eight `vpmaddwd` into eight accumulators (fewer rows split the pairs among more
    /// accumulators, so that no chain of additions waits on the one before).
    #[target_feature(enable = "avx2")]
    pub unsafe fn matmul<T: Weight>(
        x: &[i16],
        xs: usize,
        rows: usize,
        n_in: usize,
        w: Packed<T>,
        out: &mut [i32],
        os: usize,
    ) {
        tiles::<T, false>(x, xs, rows, n_in, w, out, os)
    }

    /// [`matmul`] with `vpdpwssd` (AVX-512 VNNI on 256-bit vectors): the multiply-add and the
    /// accumulation in one instruction, the same wrapping sums.
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
    pub unsafe fn matmul_vnni<T: Weight>(
        x: &[i16],
        xs: usize,
        rows: usize,
        n_in: usize,
        w: Packed<T>,
        out: &mut [i32],
        os: usize,
    ) {
        tiles::<T, true>(x, xs, rows, n_in, w, out, os)
    }

    #[inline(always)]
    unsafe fn tiles<T: Weight, const V: bool>(
        x: &[i16],
        xs: usize,
        rows: usize,
        n_in: usize,
        w: Packed<T>,
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
                    (4, 2) => tile::<4, 2, 1, T, V>(xr, xs, wb, s, pairs, o, os),
                    (3, 2) => tile::<3, 2, 1, T, V>(xr, xs, wb, s, pairs, o, os),
                    (2, 2) => tile::<2, 2, 2, T, V>(xr, xs, wb, s, pairs, o, os),
                    (1, 2) => tile::<1, 2, 4, T, V>(xr, xs, wb, s, pairs, o, os),
                    (4, _) => tile::<4, 1, 2, T, V>(xr, xs, wb, s, pairs, o, os),
                    (3, _) => tile::<3, 1, 2, T, V>(xr, xs, wb, s, pairs, o, os),
                    (2, _) => tile::<2, 1, 4, T, V>(xr, xs, wb, s, pairs, o, os),
                    _ => tile::<1, 1, 4, T, V>(xr, xs, wb, s, pairs, o, os),
                }
                r += 4;
            }
            b += 2;
        }
    }

    /// `R` rows by `B` blocks, the pairs dealt round-robin to `U` sets of accumulators that are
    /// summed at the end (wrapping sums: any order gives the same bits).
    #[inline(always)]
    unsafe fn tile<const R: usize, const B: usize, const U: usize, T: Weight, const V: bool>(
        x: *const i16,
        xs: usize,
        w: *const T,
        stride: usize,
        pairs: usize,
        out: *mut i32,
        os: usize,
    ) {
        let mut acc = [[[_mm256_setzero_si256(); B]; R]; U];
        let mut p = 0;
        while p + U <= pairs {
            for (u, acc) in acc.iter_mut().enumerate() {
                step::<R, B, T, V>(acc, x, xs, w, stride, p + u);
            }
            p += U;
        }
        while p < pairs {
            step::<R, B, T, V>(&mut acc[0], x, xs, w, stride, p);
            p += 1;
        }
        for r in 0..R {
            for b in 0..B {
                let mut a = acc[0][r][b];
                for more in &acc[1..] {
                    a = _mm256_add_epi32(a, more[r][b]);
                }
                _mm256_storeu_si256(out.add(r * os + b * BLOCK) as *mut __m256i, a);
            }
        }
    }

    /// One input pair of a tile into one set of accumulators. A plain function, not a closure:
    /// a closure would not inherit the caller's `avx2`, and its intrinsics would become calls.
    #[inline(always)]
    unsafe fn step<const R: usize, const B: usize, T: Weight, const V: bool>(
        acc: &mut [[__m256i; B]; R],
        x: *const i16,
        xs: usize,
        w: *const T,
        stride: usize,
        p: usize,
    ) {
        let mut wv = [_mm256_setzero_si256(); B];
        for (b, v) in wv.iter_mut().enumerate() {
            *v = load(w.add(b * stride + p * 2 * BLOCK));
        }
        for (r, row) in acc.iter_mut().enumerate() {
            let pair = (x.add(r * xs + 2 * p) as *const i32).read_unaligned();
            let xv = _mm256_set1_epi32(pair);
            for (a, &wb) in row.iter_mut().zip(&wv) {
                *a = if V {
                    _mm256_dpwssd_epi32(*a, xv, wb)
                } else {
                    _mm256_add_epi32(*a, _mm256_madd_epi16(xv, wb))
                };
            }
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use super::{Packed, Weight, BLOCK};
    use std::arch::wasm32::*;

    /// Eight elements at `p` as i16 lanes (i8 ones sign-extended).
    #[inline(always)]
    unsafe fn load<T: Weight>(p: *const T) -> v128 {
        if T::BYTES == 1 {
            i16x8_load_extend_i8x8(p as *const i8)
        } else {
            v128_load(p as *const v128)
        }
    }

    /// Tiles of up to four rows by one block (two vectors of four sums).
    pub unsafe fn matmul<T: Weight>(
        x: &[i16],
        xs: usize,
        rows: usize,
        n_in: usize,
        w: Packed<T>,
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
                    4 => tile::<4, 1, T>(xr, xs, wb, pairs, o, os),
                    3 => tile::<3, 1, T>(xr, xs, wb, pairs, o, os),
                    2 => tile::<2, 2, T>(xr, xs, wb, pairs, o, os),
                    _ => tile::<1, 4, T>(xr, xs, wb, pairs, o, os),
                }
                r += 4;
            }
        }
    }

    /// `R` rows by one block, the pairs dealt round-robin to `U` sets of accumulators summed
    /// at the end (as in the AVX2 kernel).
    #[inline(always)]
    unsafe fn tile<const R: usize, const U: usize, T: Weight>(
        x: *const i16,
        xs: usize,
        w: *const T,
        pairs: usize,
        out: *mut i32,
        os: usize,
    ) {
        let mut acc = [[[i32x4_splat(0); 2]; R]; U];
        let step = |acc: &mut [[v128; 2]; R], p: usize| {
            let lo = load(w.add(p * 2 * BLOCK));
            let hi = load(w.add(p * 2 * BLOCK + BLOCK));
            for (r, a) in acc.iter_mut().enumerate() {
                let pair = (x.add(r * xs + 2 * p) as *const i32).read_unaligned();
                let xv = i32x4_splat(pair);
                a[0] = i32x4_add(a[0], i32x4_dot_i16x8(xv, lo));
                a[1] = i32x4_add(a[1], i32x4_dot_i16x8(xv, hi));
            }
        };
        let mut p = 0;
        while p + U <= pairs {
            for (u, acc) in acc.iter_mut().enumerate() {
                step(acc, p + u);
            }
            p += U;
        }
        while p < pairs {
            step(&mut acc[0], p);
            p += 1;
        }
        for r in 0..R {
            for half in 0..2 {
                let mut a = acc[0][r][half];
                for more in &acc[1..] {
                    a = i32x4_add(a, more[r][half]);
                }
                v128_store(out.add(r * os + 4 * half) as *mut v128, a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_rows_equal_the_scalar_rows() {
        let g: Vec<i32> = (0..=GELU_ENTRIES as i32)
            .map(|i| (i - 512) * 1021 % (1 << 20))
            .collect();
        let table: &[i32; GELU_ENTRIES + 1] = g.as_slice().try_into().unwrap();
        let row = fixed::tests::awkward_row(11, 203);
        for n in [-70, -62, -40, -16, -3, -1, 0, 4] {
            let (mut fast, mut slow) = (row.clone(), row.clone());
            gelu_row(&mut fast, n, table);
            fixed::gelu_row(&mut slow, n, table);
            assert_eq!(fast, slow, "shift {n}");
        }
    }

    #[test]
    fn softmax_weights_equal_the_scalar_rule_at_every_scale() {
        let exp2: Box<[i32; EXP2_STEPS]> = super::super::fixed::tests::exp2_table();
        let mut x = 3u32;
        let scores: Vec<i32> = (0..203)
            .map(|i| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                match i % 50 {
                    0 => -(1 << 30),
                    1 => 1 << 30,
                    _ => (x as i32) >> (x % 24),
                }
            })
            .collect();
        let max = *scores.iter().max().unwrap();
        for to_q in [-40, -31, -20, -5, -1, 0, 1, 7, 16, 31, 40] {
            let mut fast = vec![0; scores.len()];
            let total = softmax_weights(&scores, max, to_q, &exp2, &mut fast);
            let mut slow = vec![0u32; scores.len()];
            for (o, &sc) in slow.iter_mut().zip(&scores) {
                let d = i64::from(max) - i64::from(sc);
                // The rule in plain words: the difference at Q16, rounded to the nearest (at
                // a large scale, capped first: the engine's rule, which the tables pin).
                let y = if to_q >= 0 {
                    let l = to_q.min(31);
                    d.min(i64::from(LIMIT >> l)) << l
                } else if to_q > -32 {
                    (d + (1 << (-to_q - 1))) >> -to_q
                } else {
                    0
                };
                *o = weight(y.min(i64::from(LIMIT)) as u32, &exp2);
            }
            assert_eq!(fast, slow, "to_q {to_q}");
            assert_eq!(total, slow.iter().map(|&w| u64::from(w)).sum::<u64>());
        }
    }

    /// Every kernel (dispatched, plain AVX2 where the dispatch took VNNI, portable) against
    /// plain sums, for `w` packed from rows of `n_in`.
    fn check_products<T: Weight>(xs: &[i16], w: &[T], n_in: usize, label: &str) {
        let (rows, n_out) = (xs.len() / n_in, w.len() / n_in);
        let want: Vec<i32> = xs
            .chunks_exact(n_in)
            .flat_map(|xr| {
                w.chunks_exact(n_in).map(move |wr| {
                    xr.iter()
                        .zip(wr)
                        .fold(0i32, |s, (&a, &b)| s.wrapping_add(i32::from(a) * b.into()))
                })
            })
            .collect();
        let packed = pack(w, n_in);
        let view = Packed::whole(&packed, n_in);
        let shape = format!("{label} {rows}×{n_in} · {n_out}×{n_in}");
        let mut fast = vec![0; rows * n_out];
        matmul(xs, n_in, rows, n_in, view, &mut fast, n_out);
        assert_eq!(fast, want, "{shape}");
        let mut slow = vec![0; rows * n_out];
        matmul_portable(xs, n_in, rows, n_in, view, &mut slow, n_out);
        assert_eq!(slow, want, "portable {shape}");
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            let mut plain = vec![0; rows * n_out];
            // SAFETY: AVX2 is checked just above; the shapes are those matmul checked.
            unsafe { avx2::matmul(xs, n_in, rows, n_in, view, &mut plain, n_out) };
            assert_eq!(plain, want, "avx2 {shape}");
        }
    }

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
            check_products(&xs, &w, n_in, "words");
            // The same products with the weights as bytes.
            let w8: Vec<i8> = w.iter().map(|&v| (v >> 8) as i8).collect();
            check_products(&xs, &w8, n_in, "bytes");
        }
    }
}
