//! The match model: finds the last place where the most recent bytes occurred before and
//! predicts that what followed them then follows them now, more surely the longer the match.

use super::adaptive::Counters;
use super::logistic::stretch;

/// Bytes hashed to find a match candidate.
const MIN_LEN: usize = 6;
/// Longest match length told apart by the model's counters.
const MAX_BUCKET: usize = 31;

/// State of the match model over the bytes coded so far.
#[derive(Debug, Clone)]
pub struct Matcher {
    last: Vec<u32>,
    bits: u32,
    /// Where the predicted byte is in the history, and how many bytes matched before it.
    ptr: usize,
    len: usize,
    /// The predicted byte, and whether the current byte still agrees with it.
    expected: u8,
    agrees: bool,
    counters: Counters,
    slot: usize,
}

fn bucket(len: usize) -> usize {
    if len < 16 {
        len
    } else {
        (16 + (len - 16) / 16).min(MAX_BUCKET)
    }
}

impl Matcher {
    /// A matcher sized for an input of `len` bytes.
    pub fn new(len: usize) -> Self {
        let bits = (usize::BITS - len.max(1).leading_zeros()).clamp(10, 21);
        Self {
            last: vec![0; 1 << bits],
            bits,
            ptr: 0,
            len: 0,
            expected: 0,
            agrees: false,
            counters: Counters::new((MAX_BUCKET + 1) * 2, 1023),
            slot: 0,
        }
    }

    /// How many counters [`Matcher::counters`] has.
    pub fn counter_count(&self) -> usize {
        (MAX_BUCKET + 1) * 2
    }

    /// The counters that map a match's length to how often it is right.
    pub fn counters(&mut self) -> &mut Counters {
        &mut self.counters
    }

    /// A small context for mixers: 0 without a match, else the length bucket and the
    /// predicted bit.
    pub fn context(&self, bitpos: u32) -> usize {
        if !self.agrees || self.len == 0 {
            return 0;
        }
        let bit = (self.expected >> (7 - bitpos)) & 1;
        1 + (bucket(self.len).min(15) << 1 | bit as usize)
    }

    /// The byte the match predicts and the match's length, while the current byte agrees.
    pub fn predicted(&self) -> Option<(u8, usize)> {
        (self.agrees && self.len > 0).then_some((self.expected, self.len))
    }

    /// Follows the byte just coded (`hist` ends with it).
    pub fn end_byte(&mut self, hist: &[u8]) {
        let pos = hist.len();
        let b = hist[pos - 1];
        if self.len > 0 && self.ptr < pos && hist[self.ptr] == b {
            self.len = (self.len + 1).min(65_535);
            self.ptr += 1;
        } else {
            self.len = 0;
        }
        if pos >= MIN_LEN {
            let mut h: u32 = 0;
            for &c in &hist[pos - MIN_LEN..] {
                h = (h ^ u32::from(c)).wrapping_mul(0x2F0B_3C4D).rotate_left(7);
            }
            let slot = (h.wrapping_mul(0x9E37_79B1) >> (32 - self.bits)) as usize;
            if self.len == 0 {
                let cand = self.last[slot] as usize;
                if cand > 0 {
                    let mut n = 0;
                    while n < 32 && n < cand && hist[cand - 1 - n] == hist[pos - 1 - n] {
                        n += 1;
                    }
                    if n >= MIN_LEN {
                        self.len = n;
                        self.ptr = cand;
                    }
                }
            }
            self.last[slot] = pos as u32;
        }
        self.expected = if self.len > 0 { hist[self.ptr] } else { 0 };
        self.agrees = self.len > 0;
    }

    /// Adds the model's inputs for the next bit (partial byte `c0` with its leading 1,
    /// `bitpos` bits known) to `add`.
    pub fn predict(&mut self, c0: u32, bitpos: u32, add: &mut impl FnMut(i32)) {
        if self.agrees && (u32::from(self.expected) | 256) >> (8 - bitpos) != c0 {
            self.agrees = false;
        }
        if !self.agrees {
            self.slot = usize::MAX;
            add(0);
            add(0);
            return;
        }
        let bit = u32::from(self.expected >> (7 - bitpos)) & 1;
        self.slot = bucket(self.len) * 2 + bit as usize;
        let st = stretch(self.counters.p(self.slot));
        add(st);
        let sure = (bucket(self.len) as i32 * 64).min(2047);
        add(if bit == 1 { sure } else { -sure });
    }

    /// Trains on the coded bit.
    pub fn update(&mut self, bit: u32) {
        if self.slot != usize::MAX {
            self.counters.update(self.slot, bit);
        }
    }
}
