//! The audio sample model: an adaptive linear predictor (normalised LMS over the last samples)
//! gives the next sample's expected value and spread, and each bit's probability follows from
//! a logistic distribution around it; a small table learns how far to trust that, by where the
//! bit's interval lies from the prediction. Speech and music change slowly, so this starts
//! predicting well within a few hundred samples, where hashed contexts still know nothing.
//!
//! Images use the same machinery over a pixel's neighbours (left, above, the diagonals, two
//! back, and the median edge detector's guess) instead of past samples, with a spread per
//! level of local activity: a 64×32 patch is too short for hashed pixel contexts to learn much,
//! but a linear predictor settles within a row or two.

use super::adaptive::Counters;
use super::logistic::{squash, LOGIT_MAX};

/// Past samples the predictor weighs.
const ORDER: usize = 16;
/// Step size of the weight update, as a shift: μ = ½ (tried on dev audio chunks: ½ beats 1, ¼,
/// ⅛ and 1/32; 16 past samples beat 4, 8 and 32).
const STEP: u32 = 1;
/// Buckets of the interval's distance from the prediction, in quarter spreads.
const BUCKETS: usize = 64;

/// Inputs of the image predictor: left, above, above-left, above-right, two left, two above,
/// two right above, and the median edge detector.
const PIXEL_INPUTS: usize = 8;
/// The image predictor's step (μ = 1/16; tried on dev image chunks: 1/16 and ⅛ beat ¼ and ½).
const PIXEL_STEP: u32 = 4;
/// Levels of local activity in an image, each with its own spread.
const ACTIVITY: usize = 8;

/// The linear predictor's state and the table of its calibration.
#[derive(Debug, Clone)]
pub struct SampleModel {
    /// Weights in units of 2^-16, newest sample first (images: in [`PIXEL_INPUTS`] order).
    w: [i32; ORDER],
    /// The last samples, centred (−128..=127), newest first (images: the neighbours).
    x: [i32; ORDER],
    energy: i64,
    /// Prediction of the next sample, in units of 1/256 sample.
    pred: i32,
    /// Mean absolute error (1/256 sample) per level of local activity (audio: level 0 only),
    /// and the next value's level.
    spreads: [i32; ACTIVITY],
    activity: usize,
    /// The weight update's step, as a shift.
    step: u32,
    /// Cumulative logistic distribution over the 256 byte values, every value given ≥ 1.
    cdf: [u32; 257],
    table: Counters,
    slot: usize,
}

impl Default for SampleModel {
    fn default() -> Self {
        let mut w = [0; ORDER];
        w[0] = 1 << 16;
        Self {
            w,
            x: [0; ORDER],
            energy: 0,
            pred: 0,
            spreads: [8 << 8; ACTIVITY],
            activity: 0,
            step: STEP,
            cdf: [0; 257],
            table: Counters::new(8 * BUCKETS, 1023),
            slot: 0,
        }
    }
}

impl SampleModel {
    /// A model of pixels (see [`SampleModel::end_pixel`]), starting from the median edge
    /// detector's guess.
    pub fn for_images() -> Self {
        let mut w = [0; ORDER];
        w[PIXEL_INPUTS - 1] = 1 << 16;
        Self {
            w,
            step: PIXEL_STEP,
            ..Self::default()
        }
    }

    /// The calibration table (learned offline, part of a prime).
    pub fn table(&mut self) -> &mut Counters {
        &mut self.table
    }

    /// How many counters [`SampleModel::table`] has.
    pub const fn table_len() -> usize {
        8 * BUCKETS
    }

    /// The logistic's scale in 1/256 sample (mean absolute deviation ≈ 1.39 scales).
    fn scale(&self) -> i32 {
        ((self.spreads[self.activity] * 184) >> 8).max(64)
    }

    /// Predicts the next sample and its distribution.
    pub fn begin_byte(&mut self) {
        let dot: i64 = self
            .w
            .iter()
            .zip(&self.x)
            .map(|(&w, &x)| i64::from(w) * i64::from(x))
            .sum();
        self.pred = (dot >> 8).clamp(-128 << 8, 127 << 8) as i32;
        let scale = i64::from(self.scale());
        for (v, c) in self.cdf.iter_mut().enumerate() {
            // The boundary below byte value v, as a centred sample: v − 128 − ½.
            let edge = (v as i64 - 128) * 256 - 128;
            let z = ((edge - i64::from(self.pred)) * 256 / scale)
                .clamp(-i64::from(LOGIT_MAX) - 1, i64::from(LOGIT_MAX) + 1);
            *c = squash(z as i32) as u32 * 64 + v as u32;
        }
    }

    /// The two inputs for the next bit (partial byte `c0` with its leading 1, `bitpos` known):
    /// the distribution's probability of a 1 and the table's, both 12-bit.
    pub fn predict(&mut self, c0: u32, bitpos: u32) -> (i32, i32) {
        let prefix = (c0 ^ (1 << bitpos)) as usize;
        let lo = prefix << (8 - bitpos);
        let hi = lo + (1 << (8 - bitpos));
        let mid = lo + (1 << (7 - bitpos));
        let all = self.cdf[hi] - self.cdf[lo];
        let ones = self.cdf[hi] - self.cdf[mid];
        let p = ((u64::from(ones) << 12) + u64::from(all) / 2) / u64::from(all.max(1));
        let edge = (mid as i32 - 128) * 256 - 128;
        let q = ((edge - self.pred) * 4 / self.scale() + BUCKETS as i32 / 2)
            .clamp(0, BUCKETS as i32 - 1) as usize;
        self.slot = bitpos as usize * BUCKETS + q;
        ((p as i32).clamp(1, 4095), self.table.p(self.slot))
    }

    /// The table slot of the last prediction: bit position and distance (a mixer context).
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Trains the table on the coded bit.
    pub fn update(&mut self, bit: u32) {
        self.table.update(self.slot, bit);
    }

    /// Learns the coded sample `b` and slides the window of past samples.
    pub fn end_byte(&mut self, b: u8) {
        let s = self.learn(b);
        let old = self.x[ORDER - 1];
        self.energy += i64::from(s * s) - i64::from(old * old);
        self.x.rotate_right(1);
        self.x[0] = s;
    }

    /// Learns the coded value `b`, returning it centred: the weights move along the error
    /// (normalised by the inputs' energy), the spread towards the error's size.
    fn learn(&mut self, b: u8) -> i32 {
        let s = i32::from(b) - 128;
        let err = (s << 8) - self.pred;
        let norm = self.energy + 16;
        for (w, &x) in self.w.iter_mut().zip(&self.x) {
            let step = ((i64::from(err) * i64::from(x)) << (8 - self.step)) / norm;
            *w = (i64::from(*w) + step).clamp(-(4 << 16), 4 << 16) as i32;
        }
        let spread = &mut self.spreads[self.activity];
        *spread += (err.abs() - *spread) >> 3;
        s
    }

    /// Images: learns the coded pixel `b` (none before the first) and takes the next pixel's
    /// position: `hist` holds the pixels so far, rows `width` long.
    pub fn end_pixel(&mut self, b: Option<u8>, hist: &[u8], width: usize) {
        if let Some(b) = b {
            self.learn(b);
        }
        let w = width.max(1);
        let n = hist.len();
        let (row, col) = (n / w, n % w);
        // The pixel dx across and dy up from the next one, where the image has it.
        let at = |dx: isize, dy: usize| -> Option<i32> {
            let c = col.checked_add_signed(dx).filter(|&c| c < w)?;
            let r = row.checked_sub(dy)?;
            (dy > 0 || dx < 0).then(|| i32::from(hist[r * w + c]))
        };
        let base = at(-1, 0).or(at(0, 1)).unwrap_or(128);
        let l = at(-1, 0).unwrap_or(base);
        let u = at(0, 1).unwrap_or(base);
        let ul = at(-1, 1).unwrap_or(u);
        let ur = at(1, 1).unwrap_or(u);
        let ll = at(-2, 0).unwrap_or(l);
        let uu = at(0, 2).unwrap_or(u);
        let urr = at(2, 1).unwrap_or(ur);
        let med = if ul >= l.max(u) {
            l.min(u)
        } else if ul <= l.min(u) {
            l.max(u)
        } else {
            l + u - ul
        };
        let inputs = [l, u, ul, ur, ll, uu, urr, med];
        self.energy = 0;
        for (x, v) in self.x.iter_mut().zip(inputs) {
            *x = v - 128;
            self.energy += i64::from(*x * *x);
        }
        let act = (l - ul).abs() + (u - ul).abs() + (u - ur).abs() + (l - ll).abs();
        self.activity =
            (u32::BITS - (act as u32).leading_zeros()).min(ACTIVITY as u32 - 1) as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sine_is_predicted_closely_and_its_bits_surely() {
        let mut m = SampleModel::default();
        let mut sure = 0;
        for t in 0..4000 {
            let s = (100.0 * (t as f64 * 0.05).sin()).round() as i32;
            let b = (s + 128) as u8;
            m.begin_byte();
            let mut c0 = 1u32;
            for k in 0..8 {
                let bit = u32::from(b >> (7 - k)) & 1;
                let (p, _) = m.predict(c0, k);
                if t > 2000 && (if bit == 1 { p } else { 4096 - p }) > 3900 {
                    sure += 1;
                }
                m.update(bit);
                c0 = c0 << 1 | bit;
            }
            m.end_byte(b);
        }
        // Most of the last 2,000 samples' 16,000 bits are predicted with > 95 % certainty.
        assert!(sure > 12_000, "{sure}");
        assert!(m.spreads[0] < 256, "spread {}", m.spreads[0]);
    }

    #[test]
    fn a_smooth_image_is_predicted_from_its_neighbours() {
        // A 64-wide plane with a horizontal and a vertical slope: left + above − above-left
        // is exact, and the predictor starts from the median edge detector, which is that here.
        let width = 64;
        let pixels: Vec<u8> = (0..64 * 32)
            .map(|i| (i % width + 2 * (i / width)) as u8)
            .collect();
        let mut m = SampleModel::for_images();
        m.end_pixel(None, &[], width);
        let mut bits = 0.0;
        for (n, &b) in pixels.iter().enumerate() {
            m.begin_byte();
            let mut c0 = 1u32;
            for k in 0..8 {
                let bit = u32::from(b >> (7 - k)) & 1;
                let (p, _) = m.predict(c0, k);
                if n >= 2 * width {
                    bits -= (f64::from(if bit == 1 { p } else { 4096 - p }) / 4096.0).log2();
                }
                m.update(bit);
                c0 = c0 << 1 | bit;
            }
            m.end_pixel(Some(b), &pixels[..=n], width);
        }
        // Past the first two rows a pixel costs under a bit (8 raw).
        let per_pixel = bits / (30.0 * 64.0);
        assert!(per_pixel < 1.0, "{per_pixel} bits per pixel");
    }
}
