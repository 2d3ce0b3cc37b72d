//! A binary arithmetic coder for 12-bit probabilities (carry-less, 32-bit interval).
//!
//! The interval `[x1, x2]` shrinks by each bit's probability; bytes leave once `x1` and `x2`
//! agree on their top byte. The flush writes one byte; the decoder reads zeros past the end,
//! but at most [`MAX_OVERREAD`] of them, so a decoder's work is bounded by its input.

/// Most bytes the decoder may read past its input (it reads 3 past a well-formed stream).
pub const MAX_OVERREAD: usize = 8;

/// Codes bits into bytes.
#[derive(Debug)]
pub struct BitEncoder {
    x1: u32,
    x2: u32,
    out: Vec<u8>,
}

impl Default for BitEncoder {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn split(x1: u32, x2: u32, p1: i32) -> u32 {
    x1 + ((u64::from(x2 - x1) * p1 as u64) >> 12) as u32
}

impl BitEncoder {
    /// A fresh encoder.
    pub fn new() -> Self {
        Self {
            x1: 0,
            x2: u32::MAX,
            out: Vec::new(),
        }
    }

    /// Codes `bit`, whose probability of being 1 is `p1 / 4096` (`p1` in `1..=4095`).
    #[inline]
    pub fn encode(&mut self, bit: u32, p1: i32) {
        let mid = split(self.x1, self.x2, p1);
        if bit != 0 {
            self.x2 = mid;
        } else {
            self.x1 = mid + 1;
        }
        while (self.x1 ^ self.x2) & 0xFF00_0000 == 0 {
            self.out.push((self.x2 >> 24) as u8);
            self.x1 <<= 8;
            self.x2 = (self.x2 << 8) | 255;
        }
    }

    /// Ends the stream: one byte that, followed by zeros, lies in the final interval.
    pub fn finish(mut self) -> Vec<u8> {
        // x1 and x2 differ in their top byte, so x1 rounded up to a multiple of 2^24 is ≤ x2
        // and its top byte is below 255.
        let v = (u64::from(self.x1) + 0x00FF_FFFF) >> 24;
        self.out.push(v as u8);
        self.out
    }
}

/// Decodes bits from [`BitEncoder`]'s bytes given the same probabilities.
#[derive(Debug)]
pub struct BitDecoder<'a> {
    input: &'a [u8],
    pos: usize,
    x1: u32,
    x2: u32,
    x: u32,
}

impl<'a> BitDecoder<'a> {
    /// Starts decoding `input`.
    pub fn new(input: &'a [u8]) -> Self {
        let mut d = Self {
            input,
            pos: 0,
            x1: 0,
            x2: u32::MAX,
            x: 0,
        };
        for _ in 0..4 {
            d.x = (d.x << 8) | u32::from(d.next_byte());
        }
        d
    }

    #[inline]
    fn next_byte(&mut self) -> u8 {
        let b = self.input.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// The next bit, whose probability of being 1 is `p1 / 4096`.
    #[inline]
    pub fn decode(&mut self, p1: i32) -> u32 {
        let mid = split(self.x1, self.x2, p1);
        let bit = u32::from(self.x <= mid);
        if bit != 0 {
            self.x2 = mid;
        } else {
            self.x1 = mid + 1;
        }
        while (self.x1 ^ self.x2) & 0xFF00_0000 == 0 {
            self.x1 <<= 8;
            self.x2 = (self.x2 << 8) | 255;
            self.x = (self.x << 8) | u32::from(self.next_byte());
        }
        bit
    }

    /// Whether the decoder has read more than [`MAX_OVERREAD`] bytes past its input: the
    /// stream is truncated or not a stream of this coder.
    pub fn past_end(&self) -> bool {
        self.pos > self.input.len() + MAX_OVERREAD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(n: usize, seed: u32) -> Vec<(u32, i32)> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let p = ((x >> 8) % 4095 + 1) as i32;
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                // Mostly bits the probability favours, some against it.
                let bit = u32::from(((x >> 8) % 4096) < p as u32);
                (bit, p)
            })
            .collect()
    }

    #[test]
    fn round_trips_and_stays_near_the_entropy() {
        for (n, seed) in [(0, 1), (1, 2), (7, 3), (50_000, 4)] {
            let input = bits(n, seed);
            let mut e = BitEncoder::new();
            let mut ideal = 0.0f64;
            for &(b, p) in &input {
                e.encode(b, p);
                let q = if b == 1 { p } else { 4096 - p };
                ideal -= (f64::from(q) / 4096.0).log2();
            }
            let out = e.finish();
            assert!((out.len() as f64) * 8.0 <= ideal * 1.001 + 16.0, "{n}");
            let mut d = BitDecoder::new(&out);
            for &(b, p) in &input {
                assert_eq!(d.decode(p), b);
                assert!(!d.past_end());
            }
        }
    }

    #[test]
    fn certain_bits_cost_almost_nothing_and_extremes_round_trip() {
        let mut e = BitEncoder::new();
        for i in 0..10_000 {
            e.encode(u32::from(i % 3 != 0), if i % 3 != 0 { 4095 } else { 1 });
        }
        let out = e.finish();
        assert!(out.len() < 10, "{}", out.len());
        let mut d = BitDecoder::new(&out);
        for i in 0..10_000 {
            let p = if i % 3 != 0 { 4095 } else { 1 };
            assert_eq!(d.decode(p), u32::from(i % 3 != 0));
        }
    }

    #[test]
    fn a_decoder_on_nothing_runs_out() {
        let mut d = BitDecoder::new(&[]);
        let mut n = 0;
        while !d.past_end() && n < 1_000_000 {
            d.decode(2048);
            n += 1;
        }
        assert!(d.past_end());
    }
}
