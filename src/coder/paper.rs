//! The paper's binary arithmetic coder (base 2, 32-bit precision), for its accounting.
//!
//! Delétang et al. code each chunk with a Witten–Neal–Cleary coder that writes bits and
//! count `ceil(bits / 8)` bytes per chunk, with no header (PAPER.md §1.2–1.3). This module
//! reproduces that coder over our integer tables so `bench --paper` can count a chunk's
//! length exactly as the paper does. The product itself uses [`super::RangeEncoder`].

use super::freq::{FreqTable, TOTAL_BITS};

const MSB: u64 = 1 << 31;
const SECOND: u64 = 1 << 30;
const MASK: u64 = (1 << 32) - 1;

/// Drops the second-most-significant bit of a 32-bit value, keeping the first.
fn drop_second_bit(x: u64) -> u64 {
    (x - (x % MSB) + (x % SECOND) * 2) & MASK
}

/// The paper's encoder: bits out, one terminating bit plus pending carries at the end.
#[derive(Debug, Default)]
pub struct PaperEncoder {
    low: u64,
    high: u64,
    carries: u64,
    bits: Vec<bool>,
}

impl PaperEncoder {
    /// A fresh encoder with `low = 0` and `high = 2^32 − 1` (inclusive).
    pub fn new() -> Self {
        Self {
            low: 0,
            high: MASK,
            carries: 0,
            bits: Vec::new(),
        }
    }

    /// Codes one symbol.
    pub fn encode(&mut self, table: &FreqTable, symbol: usize) {
        let width = self.high - self.low + 1;
        let (c, f) = table.range(symbol);
        let lo = (width * u64::from(c)) >> TOTAL_BITS;
        let hi = (width * u64::from(c + f)) >> TOTAL_BITS;
        self.high = self.low + hi - 1;
        self.low += lo;
        while self.low / MSB == self.high / MSB {
            let bit = self.low >= MSB;
            self.bits.push(bit);
            for _ in 0..self.carries {
                self.bits.push(!bit);
            }
            self.carries = 0;
            self.low = (self.low % MSB) * 2;
            self.high = (self.high % MSB) * 2 + 1;
        }
        while self.low / SECOND + 1 == self.high / SECOND {
            self.carries += 1;
            self.low = drop_second_bit(self.low);
            self.high = drop_second_bit(self.high) + 1;
        }
    }

    /// Terminates the stream and returns its bits.
    pub fn finish(mut self) -> Vec<bool> {
        self.bits.push(self.low >= MSB);
        for _ in 0..self.carries {
            self.bits.push(true);
        }
        self.bits
    }
}

/// The paper's decoder: reads bits, then 1-bits past the end.
#[derive(Debug)]
pub struct PaperDecoder<'a> {
    bits: &'a [bool],
    pos: usize,
    low: u64,
    high: u64,
    code: u64,
}

impl<'a> PaperDecoder<'a> {
    /// Starts decoding a bit string made by [`PaperEncoder`].
    pub fn new(bits: &'a [bool]) -> Self {
        let mut d = Self {
            bits,
            pos: 0,
            low: 0,
            high: MASK,
            code: 0,
        };
        for _ in 0..32 {
            d.code = d.code * 2 + d.next_bit();
        }
        d
    }

    fn next_bit(&mut self) -> u64 {
        let b = self.bits.get(self.pos).copied().unwrap_or(true);
        self.pos += 1;
        u64::from(b)
    }

    /// Decodes one symbol under `table`.
    pub fn decode(&mut self, table: &FreqTable) -> usize {
        let width = self.high - self.low + 1;
        let offset = self.code.saturating_sub(self.low);
        // Largest c with ⌊width·c/T⌋ <= offset.
        let target = (((offset + 1) << TOTAL_BITS) - 1) / width;
        let symbol = table.find(target.min(u64::from(u32::MAX)) as u32);
        let (c, f) = table.range(symbol);
        let lo = (width * u64::from(c)) >> TOTAL_BITS;
        let hi = (width * u64::from(c + f)) >> TOTAL_BITS;
        self.high = self.low + hi - 1;
        self.low += lo;
        while self.low / MSB == self.high / MSB {
            self.low = (self.low % MSB) * 2;
            self.high = (self.high % MSB) * 2 + 1;
            self.code = (self.code % MSB) * 2 + self.next_bit();
        }
        while self.low / SECOND + 1 == self.high / SECOND {
            self.low = drop_second_bit(self.low);
            self.high = drop_second_bit(self.high) + 1;
            self.code = drop_second_bit(self.code) + self.next_bit();
        }
        symbol
    }
}

/// A chunk's length in bytes as the paper counts it: `ceil(bits / 8)` of its coder's output.
pub fn paper_chunk_bytes(bits: usize) -> usize {
    bits.div_ceil(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrips_and_matches_ideal_length() {
        let mut x = 12345u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let tables: Vec<FreqTable> = (0..16)
            .map(|_| {
                let w: Vec<f64> = (0..256)
                    .map(|_| ((next() % 800) as f64 / 100.0).exp())
                    .collect();
                FreqTable::from_weights(&w).unwrap()
            })
            .collect();
        for len in [0usize, 1, 2, 100, 2048] {
            let mut enc = PaperEncoder::new();
            let mut seq = Vec::new();
            let mut ideal = 0.0;
            for _ in 0..len {
                let t = &tables[(next() % 16) as usize];
                let s = (next() % 256) as usize;
                ideal += t.bits(s);
                enc.encode(t, s);
                seq.push((t, s));
            }
            let bits = enc.finish();
            assert!(
                (bits.len() as f64 - ideal).abs() <= 2.0,
                "{len}: {} vs {ideal}",
                bits.len()
            );
            let mut dec = PaperDecoder::new(&bits);
            for (t, s) in seq {
                assert_eq!(dec.decode(t), s);
            }
        }
    }
}
