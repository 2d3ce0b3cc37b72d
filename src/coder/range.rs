//! A byte-oriented range coder with exact interval splits and a shortest-tail flush.
//!
//! The interval `[low, low + range)` lives in a 32-bit window (`low` keeps one carry bit).
//! A symbol with cumulative frequencies `[c, c + f)` out of `TOTAL` narrows it to
//! `[low + ⌊range·c/T⌋, low + ⌊range·(c+f)/T⌋)`: no slice of the range is ever wasted, so the
//! output is within a few bits of Σ −log2 p (the classic `range / T` split loses up to
//! 2^-8 of the range per symbol). The decoder inverts the floor exactly.
//!
//! At the end the encoder picks the value in the final interval with the most trailing
//! zero bytes and drops up to [`MAX_STRIP`] of them; the decoder reads zeros past the end of
//! its input, but never more than [`MAX_OVERREAD`]: a stream that needs more is damaged or
//! hostile, and [`RangeDecoder::past_end`] says so, which bounds a decoder's work by its input.

use super::freq::{FreqTable, TOTAL_BITS};

const TOP: u64 = 1 << 24;
const WINDOW: u64 = 1 << 32;
/// Most trailing zero bytes the encoder drops (the flush's own zeros; earlier zeros stay).
pub const MAX_STRIP: usize = 4;
/// Most bytes a decoder may read past its input's end. Above [`MAX_STRIP`] so that files from
/// encoders that dropped every trailing zero (before the cap) still decode in all but
/// pathological cases.
pub const MAX_OVERREAD: usize = 16;

/// Encodes symbols against [`FreqTable`]s into bytes.
#[derive(Debug)]
pub struct RangeEncoder {
    low: u64,
    range: u64,
    /// The last byte produced but held back because a carry may still reach it.
    cache: Option<u8>,
    /// Bytes of 0xFF after `cache`, held back for the same reason.
    pending_ff: usize,
    /// Renormalisation shifts so far: the decoder reads exactly `shifts + 4` bytes in all.
    shifts: usize,
    out: Vec<u8>,
}

impl Default for RangeEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl RangeEncoder {
    /// A fresh encoder covering the whole window.
    pub fn new() -> Self {
        Self {
            low: 0,
            range: WINDOW - 1,
            cache: None,
            pending_ff: 0,
            shifts: 0,
            out: Vec::new(),
        }
    }

    /// Narrows the interval to `symbol` under `table`.
    #[inline]
    pub fn encode(&mut self, table: &FreqTable, symbol: usize) {
        let (c, f) = table.range(symbol);
        let lo = (self.range * u64::from(c)) >> TOTAL_BITS;
        let hi = (self.range * u64::from(c + f)) >> TOTAL_BITS;
        self.low += lo;
        self.range = hi - lo;
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
            self.shifts += 1;
        }
    }

    fn shift_low(&mut self) {
        if self.low < 0xFF00_0000 || self.low >= WINDOW {
            let carry = (self.low >> 32) as u8;
            match self.cache {
                Some(c) => self.out.push(c.wrapping_add(carry)),
                // The interval never leaves [0, 1), so a carry past the first byte is impossible.
                None => debug_assert_eq!(carry, 0),
            }
            for _ in 0..self.pending_ff {
                self.out.push(0xFFu8.wrapping_add(carry));
            }
            self.pending_ff = 0;
            self.cache = Some((self.low >> 24) as u8);
        } else {
            self.pending_ff += 1;
        }
        self.low = (self.low & 0x00FF_FFFF) << 8;
    }

    /// Flushes the shortest tail that still identifies the final interval; returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        // The value in [low, low + range) with the most trailing zero bits in the window.
        let end = self.low + self.range;
        let mut value = self.low;
        for shift in (0..=32).rev().step_by(8) {
            let step = 1u64 << shift;
            let v = self.low.div_ceil(step) * step;
            if v < end {
                value = v;
                break;
            }
        }
        self.low = value;
        for _ in 0..5 {
            self.shift_low();
        }
        let reads = self.shifts + 4;
        debug_assert_eq!(
            self.out.len(),
            reads,
            "the decoder reads what the encoder wrote"
        );
        let keep = reads.saturating_sub(MAX_STRIP);
        while self.out.len() > keep && self.out.last() == Some(&0) {
            self.out.pop();
        }
        self.out
    }
}

/// Decodes symbols from bytes produced by [`RangeEncoder`], given the same tables.
#[derive(Debug)]
pub struct RangeDecoder<'a> {
    input: &'a [u8],
    pos: usize,
    /// Offset of the code value above the interval's low end.
    code: u64,
    range: u64,
}

impl<'a> RangeDecoder<'a> {
    /// Starts decoding `input` (bytes past its end read as zero).
    pub fn new(input: &'a [u8]) -> Self {
        let mut d = Self {
            input,
            pos: 0,
            code: 0,
            range: WINDOW - 1,
        };
        for _ in 0..4 {
            d.code = (d.code << 8) | u64::from(d.next_byte());
        }
        d
    }

    #[inline]
    fn next_byte(&mut self) -> u8 {
        let b = self.input.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// Decodes one symbol under `table`. Corrupt input yields some symbol, never a panic.
    #[inline]
    pub fn decode(&mut self, table: &FreqTable) -> usize {
        // Largest cumulative c with ⌊range·c/T⌋ <= code, i.e. c <= ⌊((code+1)·T − 1)/range⌋.
        let target = (((self.code + 1) << TOTAL_BITS) - 1) / self.range;
        let symbol = table.find(target.min(u64::from(u32::MAX)) as u32);
        let (c, f) = table.range(symbol);
        let lo = (self.range * u64::from(c)) >> TOTAL_BITS;
        let hi = (self.range * u64::from(c + f)) >> TOTAL_BITS;
        self.code = self.code.wrapping_sub(lo) & (WINDOW - 1);
        self.range = hi - lo;
        while self.range < TOP {
            self.range <<= 8;
            self.code = ((self.code << 8) | u64::from(self.next_byte())) & (WINDOW - 1);
        }
        symbol
    }

    /// True when the decoder has read more than [`MAX_OVERREAD`] bytes past its input: no
    /// stream an encoder wrote does, so the input is damaged or cut short and decoding must stop.
    pub fn past_end(&self) -> bool {
        self.pos > self.input.len() + MAX_OVERREAD
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coder::freq::TOTAL;
    use proptest::prelude::*;

    fn ideal_bits(tables: &[FreqTable], symbols: &[usize]) -> f64 {
        tables.iter().zip(symbols).map(|(t, &s)| t.bits(s)).sum()
    }

    fn roundtrip(tables: &[FreqTable], symbols: &[usize]) -> Vec<u8> {
        let mut enc = RangeEncoder::new();
        for (t, &s) in tables.iter().zip(symbols) {
            enc.encode(t, s);
        }
        let bytes = enc.finish();
        let mut dec = RangeDecoder::new(&bytes);
        for (t, &s) in tables.iter().zip(symbols) {
            assert_eq!(dec.decode(t), s);
            assert!(!dec.past_end());
        }
        assert!(dec.pos <= bytes.len() + MAX_STRIP);
        bytes
    }

    /// A deterministic pseudo-random generator (splitmix64) for tests without extra crates.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    fn skewed_table(next: &mut impl FnMut() -> u64) -> FreqTable {
        let w: Vec<f64> = (0..256)
            .map(|_| ((next() % 1000) as f64 / 100.0).exp())
            .collect();
        FreqTable::from_weights(&w).unwrap()
    }

    #[test]
    fn empty_input_is_empty_output() {
        assert!(roundtrip(&[], &[]).is_empty());
    }

    #[test]
    fn one_byte() {
        let t = FreqTable::uniform(256);
        for s in [0usize, 1, 127, 255] {
            let out = roundtrip(std::slice::from_ref(&t), &[s]);
            assert!(out.len() <= 2, "{s}: {out:?}");
        }
    }

    #[test]
    fn one_megabyte_is_within_two_bytes_of_ideal() {
        let mut next = rng(7);
        let tables: Vec<FreqTable> = (0..64).map(|_| skewed_table(&mut next)).collect();
        let n = 1 << 20;
        let mut tabs = Vec::with_capacity(n);
        let mut syms = Vec::with_capacity(n);
        for _ in 0..n {
            let t = &tables[(next() % 64) as usize];
            // Draw the symbol from the table itself so the cost is realistic.
            let s = t.find((next() % u64::from(TOTAL)) as u32);
            tabs.push(t.clone());
            syms.push(s);
        }
        let out = roundtrip(&tabs, &syms);
        let ideal = ideal_bits(&tabs, &syms) / 8.0;
        assert!(
            (out.len() as f64 - ideal).abs() <= 2.0,
            "coded {} bytes, ideal {ideal:.2}",
            out.len()
        );
    }

    #[test]
    fn extreme_tables_roundtrip() {
        // One symbol takes nearly everything; code the rare ones many times in a row.
        let mut f = vec![1u32; 256];
        f[0] = TOTAL - 255;
        let t = FreqTable::from_freqs(&f).unwrap();
        let syms: Vec<usize> = (0..5000)
            .map(|i| if i % 3 == 0 { 0 } else { 255 })
            .collect();
        let tabs = vec![t; syms.len()];
        let out = roundtrip(&tabs, &syms);
        assert!((out.len() as f64 - ideal_bits(&tabs, &syms) / 8.0).abs() <= 2.0);
    }

    #[test]
    fn corrupt_input_never_panics() {
        let t = FreqTable::uniform(256);
        let junk: Vec<u8> = (0..100u32).map(|i| (i * 37 % 256) as u8).collect();
        let mut dec = RangeDecoder::new(&junk);
        for _ in 0..1000 {
            assert!(dec.decode(&t) < 256);
        }
        assert!(dec.past_end());
    }

    #[test]
    fn zero_tails_are_capped_and_an_empty_stream_ends_soon() {
        // A long run of the first symbol under a confident table codes to zero bytes: the
        // encoder keeps all but MAX_STRIP of them, so the decoder stays within its bound.
        let mut f = vec![1u32; 256];
        f[0] = TOTAL - 255;
        let t = FreqTable::from_freqs(&f).unwrap();
        let syms = vec![0usize; 200_000];
        let tabs = vec![t; syms.len()];
        let out = roundtrip(&tabs, &syms);
        assert!(out.len() > MAX_OVERREAD, "{} bytes", out.len());
        // Nothing at all to read: a decoder gives up after a handful of uniform symbols.
        let u = FreqTable::uniform(256);
        let mut dec = RangeDecoder::new(&[]);
        let mut steps = 0;
        while !dec.past_end() {
            dec.decode(&u);
            steps += 1;
        }
        assert!(steps <= MAX_OVERREAD, "{steps} symbols from nothing");
    }

    proptest! {
        #[test]
        fn random_tables_and_inputs(seed in any::<u64>(), len in 0usize..3000, nsym in 1usize..300) {
            let mut next = rng(seed);
            let mut tabs = Vec::with_capacity(len);
            let mut syms = Vec::with_capacity(len);
            for _ in 0..len {
                let w: Vec<f64> = (0..nsym).map(|_| (next() % 50) as f64).collect();
                let t = FreqTable::from_weights(&w).unwrap();
                syms.push((next() % nsym as u64) as usize);
                tabs.push(t);
            }
            let out = roundtrip(&tabs, &syms);
            let ideal = ideal_bits(&tabs, &syms) / 8.0;
            prop_assert!(out.len() as f64 <= ideal + 2.0, "coded {} ideal {}", out.len(), ideal);
        }
    }
}
