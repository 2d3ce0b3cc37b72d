//! Gated logistic mixing: the logits of many predictions weighed by weights chosen by a small
//! context and trained online to cut the code length (gradient of −log p), in integers.

use super::logistic::{squash, LOGIT_MAX};

/// Weights are fixed-point with this many fraction bits (1.0 = 65536).
pub const WEIGHT_ONE: i32 = 1 << 16;
/// Weights stay within ±256.0, so a dot product of 2047-sized logits cannot overflow i64 sums
/// and a runaway input cannot take over for long.
const WEIGHT_MAX: i32 = 256 * WEIGHT_ONE;

/// One layer: `n` inputs, several selectors each choosing one weight set by its context,
/// one output logit per selector.
#[derive(Debug, Clone)]
pub struct Mixer {
    n: usize,
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

impl Mixer {
    /// A layer over `n` inputs with one selector per entry of `sets` (its number of contexts),
    /// every weight starting at `init(input)`; `rate` scales the learning step.
    pub fn new(n: usize, sets: &[usize], rate: i32, init: impl Fn(usize) -> i32) -> Self {
        let mut blocks = Vec::with_capacity(sets.len());
        let mut total = 0;
        for &s in sets {
            blocks.push(total);
            total += s * n;
        }
        let weights = (0..total).map(|k| init(k % n)).collect();
        Self {
            n,
            inputs: Vec::with_capacity(n),
            weights,
            blocks,
            sizes: sets.to_vec(),
            chosen: vec![0; sets.len()],
            logits: vec![0; sets.len()],
            probs: vec![2048; sets.len()],
            rate,
        }
    }

    /// Every weight (for saving what was learned).
    pub fn weights(&self) -> &[i32] {
        &self.weights
    }

    /// Replaces every weight; `w` must have this layer's length.
    pub fn set_weights(&mut self, w: &[i32]) {
        self.weights.copy_from_slice(w);
    }

    /// Changes how fast the weights learn from here on.
    pub fn set_rate(&mut self, rate: i32) {
        self.rate = rate;
    }

    /// Clears the inputs for the next bit.
    #[inline]
    pub fn clear(&mut self) {
        self.inputs.clear();
    }

    /// Adds an input logit.
    #[inline]
    pub fn add(&mut self, x: i32) {
        debug_assert!(self.inputs.len() < self.n);
        self.inputs.push(x);
    }

    /// Chooses selector `k`'s weight set (`cx` below its number of contexts).
    #[inline]
    pub fn select(&mut self, k: usize, cx: usize) {
        debug_assert!(cx < self.sizes[k]);
        self.chosen[k] = self.blocks[k] + cx.min(self.sizes[k] - 1) * self.n;
    }

    /// Each selector's output logit for the current inputs.
    pub fn mix(&mut self) -> &[i32] {
        while self.inputs.len() < self.n {
            self.inputs.push(0);
        }
        for k in 0..self.chosen.len() {
            let w = &self.weights[self.chosen[k]..self.chosen[k] + self.n];
            let dot = dot(w, &self.inputs);
            let logit = (dot >> 16).clamp(-i64::from(LOGIT_MAX), i64::from(LOGIT_MAX)) as i32;
            self.logits[k] = logit;
            self.probs[k] = squash(logit);
        }
        &self.logits
    }

    /// Trains every chosen weight set on the coded `bit`.
    pub fn update(&mut self, bit: u32) {
        let target = (bit as i32) << 12;
        for k in 0..self.chosen.len() {
            let err = (target - self.probs[k]) * self.rate;
            let w = &mut self.weights[self.chosen[k]..self.chosen[k] + self.n];
            train(w, &self.inputs, err);
        }
    }
}

/// Σ w·x over equal-length slices, exactly (the mixer's hottest loop with [`train`]: AVX2
/// does either several times faster than the baseline x86-64 build, with the same integers).
#[inline]
fn dot(w: &[i32], x: &[i32]) -> i64 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { dot_avx2(w, x) };
    }
    dot_portable(w, x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2(w: &[i32], x: &[i32]) -> i64 {
    dot_portable(w, x)
}

#[inline(always)]
fn dot_portable(w: &[i32], x: &[i32]) -> i64 {
    w.iter()
        .zip(x)
        .map(|(&w, &x)| i64::from(w) * i64::from(x))
        .sum()
}

/// Moves each weight by its input times `err` (the step of −log p's gradient), clamped.
#[inline]
fn train(w: &mut [i32], x: &[i32], err: i32) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { train_avx2(w, x, err) };
    }
    train_portable(w, x, err)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn train_avx2(w: &mut [i32], x: &[i32], err: i32) {
    train_portable(w, x, err)
}

#[inline(always)]
fn train_portable(w: &mut [i32], x: &[i32], err: i32) {
    for (w, &x) in w.iter_mut().zip(x) {
        *w = (*w + ((x * err) >> 14)).clamp(-WEIGHT_MAX, WEIGHT_MAX);
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
}
