//! Gated logistic mixing: the logits of many predictions weighed by weights chosen by a small
//! context and trained online to cut the code length (gradient of −log p), in integers.

use super::logistic::{squash, LOGIT_MAX};

/// Weights are fixed-point with this many fraction bits (1.0 = 65536).
pub const WEIGHT_ONE: i32 = 1 << 16;
/// Weights stay within ±8.0 (what a prime file can hold), so a runaway input cannot take over
/// for long and the dot product's terms fit 32-bit lanes (see [`dot_all`]).
const WEIGHT_MAX: i32 = 8 * WEIGHT_ONE;
/// The dot product weighs inputs by weights in units of 2^-12 (the low bits only steer
/// learning), so a ±2047 logit times a weight takes 26 bits and a lane of 32 such terms fits
/// an i32: 32-bit multiplies, twice the lanes of 64-bit ones.
const DOT_SHIFT: u32 = 4;
/// A set whose prediction missed the coded bit by at most this (of 4096) is not trained.
const SURE: i32 = 64;
/// Most inputs a layer may have (32 terms per 32-bit lane).
const MAX_INPUTS: usize = 32 * LANES;

/// One layer: `n` inputs, several selectors each choosing one weight set by its context,
/// one output logit per selector.
#[derive(Debug, Clone)]
pub struct Mixer {
    n: usize,
    /// Length of a weight set in memory: `n` rounded up to whole vectors, the rest zero (with
    /// zero inputs there, those weights stay zero and add nothing).
    stride: usize,
    /// Inputs added this bit; `inputs` is `stride` long.
    len: usize,
    inputs: Vec<i32>,
    weights: Vec<i32>,
    /// Offset of each selector's weight block, and the chosen set's offset this bit.
    blocks: Vec<usize>,
    sizes: Vec<usize>,
    chosen: Vec<usize>,
    /// Each selector's output logit and probability this bit.
    logits: Vec<i32>,
    probs: Vec<i32>,
    rate: i32,
}

/// Weight sets are padded to a multiple of this many weights.
const LANES: usize = 8;
/// Most selectors a layer has (their sums and errors live on the stack).
const MAX_SETS: usize = 16;

impl Mixer {
    /// A layer over `n` inputs with one selector per entry of `sets` (its number of contexts),
    /// every weight starting at `init(input)`; `rate` scales the learning step.
    pub fn new(n: usize, sets: &[usize], rate: i32, init: impl Fn(usize) -> i32) -> Self {
        let stride = n.next_multiple_of(LANES);
        let row: Vec<i32> = (0..stride)
            .map(|i| if i < n { init(i) } else { 0 })
            .collect();
        let total: usize = sets.iter().sum();
        Self::shaped(n, sets, rate, row.repeat(total))
    }

    /// A layer as [`Mixer::new`] makes it, starting from `w` (as [`Mixer::weights`] gives
    /// them, which must have this layer's [count](Mixer::weight_count)).
    pub fn with_weights(n: usize, sets: &[usize], rate: i32, w: &[i32]) -> Self {
        let stride = n.next_multiple_of(LANES);
        let mut weights = Vec::with_capacity(w.len() / n.max(1) * stride);
        for row in w.chunks_exact(n) {
            weights.extend_from_slice(row);
            weights.resize(weights.len() + stride - n, 0);
        }
        Self::shaped(n, sets, rate, weights)
    }

    fn shaped(n: usize, sets: &[usize], rate: i32, weights: Vec<i32>) -> Self {
        let stride = n.next_multiple_of(LANES);
        let mut blocks = Vec::with_capacity(sets.len());
        let mut total = 0;
        for &s in sets {
            blocks.push(total);
            total += s * stride;
        }
        assert!(sets.len() <= MAX_SETS, "at most {MAX_SETS} selectors");
        assert!(n <= MAX_INPUTS, "at most {MAX_INPUTS} inputs");
        assert_eq!(weights.len(), total, "a mixer's weights have its shape");
        Self {
            n,
            stride,
            len: 0,
            inputs: vec![0; stride],
            weights,
            blocks,
            sizes: sets.to_vec(),
            chosen: vec![0; sets.len()],
            logits: vec![0; sets.len()],
            probs: vec![2048; sets.len()],
            rate,
        }
    }

    /// How many weights the layer has (what [`Mixer::weights`] gives).
    pub fn weight_count(&self) -> usize {
        self.weights.len() / self.stride * self.n
    }

    /// Every weight, set after set (for saving what was learned).
    pub fn weights(&self) -> Vec<i32> {
        self.weights
            .chunks_exact(self.stride)
            .flat_map(|row| &row[..self.n])
            .copied()
            .collect()
    }

    /// Changes how fast the weights learn from here on.
    pub fn set_rate(&mut self, rate: i32) {
        self.rate = rate;
    }

    /// Clears the inputs for the next bit.
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Adds an input logit.
    #[inline]
    pub fn add(&mut self, x: i32) {
        debug_assert!(self.len < self.n);
        debug_assert!(x.abs() <= LOGIT_MAX, "inputs are logits");
        self.inputs[self.len] = x;
        self.len += 1;
    }

    /// Chooses selector `k`'s weight set (`cx` below its number of contexts).
    #[inline]
    pub fn select(&mut self, k: usize, cx: usize) {
        debug_assert!(cx < self.sizes[k]);
        self.chosen[k] = self.blocks[k] + cx.min(self.sizes[k] - 1) * self.stride;
    }

    /// Each selector's output logit for the current inputs.
    pub fn mix(&mut self) -> &[i32] {
        // Inputs not given this bit count as 0.
        self.inputs[self.len..self.n].fill(0);
        let mut dots = [0i64; MAX_SETS];
        let dots = &mut dots[..self.chosen.len()];
        dot_all(&self.weights, &self.chosen, &self.inputs, dots);
        for (k, &dot) in dots.iter().enumerate() {
            let logit =
                (dot >> (16 - DOT_SHIFT)).clamp(-i64::from(LOGIT_MAX), i64::from(LOGIT_MAX)) as i32;
            self.logits[k] = logit;
            self.probs[k] = squash(logit);
        }
        &self.logits
    }

    /// Trains every chosen weight set on the coded `bit`.
    pub fn update(&mut self, bit: u32) {
        let target = (bit as i32) << 12;
        let mut errs = [0i32; MAX_SETS];
        let errs = &mut errs[..self.chosen.len()];
        for (e, &p) in errs.iter_mut().zip(&self.probs) {
            // A set that was nearly sure and right is left as it is: most bits are such bits,
            // and their step would be tiny (as paq8's mixers skip them).
            let miss = target - p;
            *e = if miss.abs() <= SURE {
                0
            } else {
                miss * self.rate
            };
        }
        train_all(&mut self.weights, &self.chosen, &self.inputs, errs);
    }
}

/// Σ (w >> [`DOT_SHIFT`])·x for each chosen weight set, exactly: each lane's sum of at most 32
/// terms of |x| ≤ 2047 and |w >> 4| ≤ 2^15 fits an i32 (the mixer's hottest loop with
/// [`train_all`]: AVX2 does both several times faster than the baseline x86-64 build, with the
/// same integers).
#[inline]
fn dot_all(w: &[i32], chosen: &[usize], x: &[i32], out: &mut [i64]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { dot_all_avx2(w, chosen, x, out) };
    }
    dot_all_portable(w, chosen, x, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_all_avx2(w: &[i32], chosen: &[usize], x: &[i32], out: &mut [i64]) {
    use std::arch::x86_64::*;
    for (o, &at) in out.iter_mut().zip(chosen) {
        let w = &w[at..at + x.len()];
        let mut acc = _mm256_setzero_si256();
        for (w, x) in w.chunks_exact(LANES).zip(x.chunks_exact(LANES)) {
            // SAFETY: each chunk is LANES = 8 i32s, one unaligned 256-bit load.
            let (w, x) = unsafe {
                (
                    _mm256_loadu_si256(w.as_ptr().cast()),
                    _mm256_loadu_si256(x.as_ptr().cast()),
                )
            };
            let term = _mm256_mullo_epi32(_mm256_srai_epi32::<{ DOT_SHIFT as i32 }>(w), x);
            acc = _mm256_add_epi32(acc, term);
        }
        let mut lanes = [0i32; LANES];
        // SAFETY: `lanes` is 8 i32s, one unaligned 256-bit store.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
        *o = lanes.iter().map(|&a| i64::from(a)).sum();
    }
}

#[inline(always)]
fn dot_all_portable(w: &[i32], chosen: &[usize], x: &[i32], out: &mut [i64]) {
    for (o, &at) in out.iter_mut().zip(chosen) {
        let mut acc = [0i32; LANES];
        for (w, x) in w[at..at + x.len()]
            .chunks_exact(LANES)
            .zip(x.chunks_exact(LANES))
        {
            for j in 0..LANES {
                acc[j] += (w[j] >> DOT_SHIFT) * x[j];
            }
        }
        *o = acc.iter().map(|&a| i64::from(a)).sum();
    }
}

/// Moves each chosen set's weights by their input times the set's `err` (the step of
/// −log p's gradient), clamped.
#[inline]
fn train_all(w: &mut [i32], chosen: &[usize], x: &[i32], errs: &[i32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { train_all_avx2(w, chosen, x, errs) };
    }
    train_all_portable(w, chosen, x, errs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn train_all_avx2(w: &mut [i32], chosen: &[usize], x: &[i32], errs: &[i32]) {
    train_all_portable(w, chosen, x, errs)
}

#[inline(always)]
fn train_all_portable(w: &mut [i32], chosen: &[usize], x: &[i32], errs: &[i32]) {
    for (&at, &err) in chosen.iter().zip(errs) {
        if err == 0 {
            continue;
        }
        for (w, x) in w[at..at + x.len()]
            .chunks_exact_mut(LANES)
            .zip(x.chunks_exact(LANES))
        {
            for j in 0..LANES {
                w[j] = (w[j] + ((x[j] * err) >> 14)).clamp(-WEIGHT_MAX, WEIGHT_MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mix::logistic::stretch;

    #[test]
    fn learns_to_trust_the_input_that_is_right() {
        let mut m = Mixer::new(2, &[1], 24, |_| WEIGHT_ONE / 2);
        let mut x = 7u32;
        for _ in 0..20_000 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let bit = (x >> 31) & 1;
            m.clear();
            // Input 0 knows the bit, input 1 is noise.
            m.add(stretch(if bit == 1 { 3900 } else { 196 }));
            m.add(stretch(((x >> 8) & 4095).max(1) as i32));
            m.select(0, 0);
            m.mix();
            m.update(bit);
        }
        assert!(m.weights[0] > WEIGHT_ONE / 2, "{:?}", &m.weights);
        assert!(m.weights[1].abs() < WEIGHT_ONE / 8, "{:?}", &m.weights);
    }

    #[test]
    fn the_vector_dot_product_is_the_portable_one() {
        // Extreme weights and inputs included: the lanes must not overflow on any platform.
        let n = 72;
        let mut x = 1u32;
        let mut next = || {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            x
        };
        let w: Vec<i32> = (0..4 * n)
            .map(|i| match i % 7 {
                0 => WEIGHT_MAX,
                1 => -WEIGHT_MAX,
                _ => (next() as i32) % WEIGHT_MAX,
            })
            .collect();
        let inputs: Vec<i32> = (0..n)
            .map(|i| match i % 5 {
                0 => LOGIT_MAX,
                1 => -LOGIT_MAX,
                _ => (next() as i32) % LOGIT_MAX,
            })
            .collect();
        let chosen = [0, n, 2 * n, 3 * n];
        let mut a = [0i64; 4];
        let mut b = [0i64; 4];
        dot_all(&w, &chosen, &inputs, &mut a);
        dot_all_portable(&w, &chosen, &inputs, &mut b);
        assert_eq!(a, b);
        let exact: Vec<i64> = chosen
            .iter()
            .map(|&at| {
                (0..n)
                    .map(|i| i64::from(w[at + i] >> DOT_SHIFT) * i64::from(inputs[i]))
                    .sum()
            })
            .collect();
        assert_eq!(a.to_vec(), exact);
    }
}
