//! Adaptive bit probabilities: counters that learn fast at first and then settle, and APMs
//! (secondary estimation) that refine a probability given a small context.

use super::logistic::{squash, stretch};

/// 65536 / (n + 1.5), the step size of a counter that has seen `n` bits.
const RECIP: [u32; 1024] = {
    let mut t = [0u32; 1024];
    let mut n = 0;
    while n < 1024 {
        t[n] = 65536 * 2 / (2 * n as u32 + 3);
        n += 1;
    }
    t
};

/// A table of context slots. Each slot holds a 16-bit probability of a 1 (learning fast at
/// first, then averaging over up to `limit` bits), the last bits seen in the slot (up to 7,
/// behind a leading 1), and a count of bits seen.
#[derive(Debug, Clone)]
pub struct Counters {
    slots: Vec<u32>,
    limit: u32,
}

/// Asks the CPU to bring the cache line holding `v[i]` closer (a hint: no effect on results;
/// nothing where the target has no such instruction).
#[inline(always)]
fn prefetch<T>(v: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(x) = v.get(i) {
        // SAFETY: a prefetch reads nothing architecturally; the address is inside `v`.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                std::ptr::from_ref(x).cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (v, i);
}

/// A fresh slot: probability ½, empty history, nothing seen.
const FRESH: u32 = 1 << 31 | 1 << 8;

impl Counters {
    /// `len` fresh slots that average over at most `limit` (< 256) recent bits.
    pub fn new(len: usize, limit: u32) -> Self {
        Self {
            slots: vec![FRESH; len],
            limit: limit.min(255),
        }
    }

    /// Slot `i`'s probability of a 1, 12-bit.
    #[inline]
    pub fn p(&self, i: usize) -> i32 {
        (self.slots[i] >> 20).clamp(1, 4095) as i32
    }

    /// How many bits slot `i` has seen (up to its limit).
    #[inline]
    pub fn seen(&self, i: usize) -> u32 {
        self.slots[i] & 255
    }

    /// Slot `i`'s recent bits behind a leading 1 (1 when it has seen none).
    #[inline]
    pub fn history(&self, i: usize) -> usize {
        ((self.slots[i] >> 8) & 255) as usize
    }

    /// Every slot's raw state (for saving what was learned).
    pub fn raw(&self) -> &[u32] {
        &self.slots
    }

    /// Replaces every slot's state; `raw` must have this table's length.
    pub fn set_raw(&mut self, raw: &[u32]) {
        self.slots.copy_from_slice(raw);
    }

    /// The block of 16 slots for a context hashed to block `base` with check value `tag`: slot
    /// 0 of a block holds its tag, slots 1–15 the counters of a nibble's bits. Of the blocks at
    /// `base`, `base ^ 16` and `base ^ 32` the one with this tag is used, else the one whose
    /// first counter has seen least is cleared for it, so contexts that collide do not share
    /// counters.
    #[inline]
    pub fn claim(&mut self, base: usize, tag: u16) -> usize {
        let tag = 1 << 16 | u32::from(tag);
        let blocks = [base, base ^ 16, base ^ 32];
        if let Some(&b) = blocks.iter().find(|&&b| self.slots[b] == tag) {
            return b;
        }
        let b = blocks
            .into_iter()
            .min_by_key(|&b| self.slots[b + 1] & 255)
            .unwrap_or(base);
        self.slots[b] = tag;
        self.slots[b + 1..b + 16].fill(FRESH);
        b
    }

    /// Moves slot `i` towards `bit`.
    #[inline]
    pub fn update(&mut self, i: usize, bit: u32) {
        let v = self.slots[i];
        let n = v & 255;
        let p = i64::from(v >> 16);
        let target = if bit != 0 { 65535 } else { 0 };
        let p = p + (((target - p) * i64::from(RECIP[n as usize])) >> 16);
        let n = if n < self.limit { n + 1 } else { n };
        let mut h = ((v >> 8) & 255) << 1 | bit;
        if h >= 256 {
            h = (h & 127) | 128;
        }
        self.slots[i] = (p as u32) << 16 | h << 8 | n;
    }
}

/// An adaptive probability map: for each context, 33 knots over the logit of an input
/// probability, interpolated; refines a prediction given what followed it before.
#[derive(Debug, Clone)]
pub struct Apm {
    knots: Vec<u16>,
    rate: u32,
    /// The knot pair and weight of the last refinement, for the update.
    at: usize,
    w: i32,
}

impl Apm {
    /// `contexts` maps, each starting as the identity; larger `rate` adapts more slowly.
    pub fn new(contexts: usize, rate: u32) -> Self {
        let identity: [u16; 33] =
            std::array::from_fn(|j| (squash((j as i32 - 16) * 128) * 16) as u16);
        Self {
            knots: identity.repeat(contexts),
            rate,
            at: 0,
            w: 0,
        }
    }

    /// Every knot (for saving what was learned).
    pub fn knots(&self) -> &[u16] {
        &self.knots
    }

    /// Replaces every knot; `knots` must have this map's length.
    pub fn set_knots(&mut self, knots: &[u16]) {
        self.knots.copy_from_slice(knots);
    }

    /// Prefetches context `cx`'s knots (for a refinement soon).
    #[inline]
    pub fn prefetch(&self, cx: usize) {
        prefetch(&self.knots, cx * 33);
        prefetch(&self.knots, cx * 33 + 32);
    }

    /// The refined 12-bit probability of `p` in context `cx`.
    #[inline]
    pub fn refine(&mut self, p: i32, cx: usize) -> i32 {
        let s = stretch(p) + 2048;
        let lo = (s >> 7) as usize;
        let w = s & 127;
        self.at = cx * 33 + lo.min(31);
        self.w = if lo >= 32 { 128 } else { w };
        let a = i32::from(self.knots[self.at]);
        let b = i32::from(self.knots[self.at + 1]);
        ((a * (128 - self.w) + b * self.w) >> 11).clamp(1, 4095)
    }

    /// Moves the last refinement's two knots towards `bit`, each by its share.
    #[inline]
    pub fn update(&mut self, bit: u32) {
        let target = if bit != 0 { 65535 } else { 0 };
        for (k, share) in [(self.at, 128 - self.w), (self.at + 1, self.w)] {
            let v = i32::from(self.knots[k]);
            let step = ((target - v) * share) >> (7 + self.rate);
            self.knots[k] = (v + step) as u16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_learn_a_biased_source() {
        let mut c = Counters::new(1, 255);
        for i in 0..2000 {
            c.update(0, u32::from(i % 10 != 0));
        }
        let p = c.p(0);
        assert!((3500..3800).contains(&p), "{p}");
        assert_eq!(c.seen(0), 255);
        // The last seven bits: 1999 % 10 != 0 … 1993, and 1990 was a 0.
        assert_eq!(c.history(0), 0b1111_1111);
        c.update(0, 0);
        assert_eq!(c.history(0), 0b1111_1110);
    }

    #[test]
    fn an_apm_learns_that_its_input_is_overconfident() {
        let mut a = Apm::new(2, 6);
        assert!((a.refine(3000, 1) - 3000).abs() < 40);
        for i in 0..5000 {
            a.refine(3600, 0);
            a.update(u32::from(i % 2 == 0));
        }
        let p = a.refine(3600, 0);
        assert!((1900..2200).contains(&p), "{p}");
        // The other context is untouched.
        assert!((a.refine(3600, 1) - 3600).abs() < 40);
    }
}
