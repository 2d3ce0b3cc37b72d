//! Integer frequency tables: the only form in which probabilities reach the coders.

use super::CoderError;

/// Bits of the fixed total every table sums to.
pub const TOTAL_BITS: u32 = 16;
/// The fixed total every table sums to (2^16).
pub const TOTAL: u32 = 1 << TOTAL_BITS;

/// A cumulative frequency table over `n` symbols: `cdf[0] = 0`, `cdf[n] = TOTAL`,
/// and every symbol has frequency `cdf[s + 1] - cdf[s] >= 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreqTable {
    cdf: Vec<u32>,
}

impl FreqTable {
    /// Builds a table from per-symbol frequencies, which must each be ≥ 1 and sum to [`TOTAL`].
    pub fn from_freqs(freqs: &[u32]) -> Result<Self, CoderError> {
        if freqs.is_empty() || freqs.len() > TOTAL as usize {
            return Err(CoderError::BadTable("symbol count out of range"));
        }
        let mut cdf = Vec::with_capacity(freqs.len() + 1);
        cdf.push(0u32);
        let mut acc = 0u64;
        for &f in freqs {
            if f == 0 {
                return Err(CoderError::BadTable("a symbol has frequency 0"));
            }
            acc += u64::from(f);
            if acc > u64::from(TOTAL) {
                return Err(CoderError::BadTable("frequencies exceed the total"));
            }
            cdf.push(acc as u32);
        }
        if acc != u64::from(TOTAL) {
            return Err(CoderError::BadTable("frequencies do not sum to the total"));
        }
        Ok(Self { cdf })
    }

    /// The uniform table over `n` symbols (the remainder goes to the first symbols).
    pub fn uniform(n: usize) -> Self {
        let n = n.clamp(1, TOTAL as usize);
        let base = TOTAL / n as u32;
        let extra = (TOTAL % n as u32) as usize;
        let freqs: Vec<u32> = (0..n).map(|i| base + u32::from(i < extra)).collect();
        Self::from_freqs(&freqs).expect("uniform table is valid by construction")
    }

    /// Quantises non-negative weights (need not be normalised) to a valid table.
    ///
    /// Every symbol gets at least 1; the rest of the total is shared in proportion to the
    /// weights, largest remainders first, so the result is deterministic for equal input.
    /// This is for float analysis paths and tests; the codec path uses integer inputs.
    pub fn from_weights(weights: &[f64]) -> Result<Self, CoderError> {
        let n = weights.len();
        if n == 0 || n > TOTAL as usize {
            return Err(CoderError::BadTable("symbol count out of range"));
        }
        let clean: Vec<f64> = weights
            .iter()
            .map(|&w| if w.is_finite() && w > 0.0 { w } else { 0.0 })
            .collect();
        let sum: f64 = clean.iter().sum();
        let spare = (TOTAL as usize - n) as f64;
        let mut freqs = vec![1u32; n];
        if sum <= 0.0 {
            return Ok(Self::uniform(n));
        }
        let mut given = 0u32;
        let mut rema: Vec<(f64, usize)> = Vec::with_capacity(n);
        for (i, w) in clean.iter().enumerate() {
            let share = w / sum * spare;
            let whole = share.floor();
            freqs[i] += whole as u32;
            given += whole as u32;
            rema.push((share - whole, i));
        }
        let left = (TOTAL as usize - n) as u32 - given;
        rema.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, i) in rema.iter().take(left as usize) {
            freqs[i] += 1;
        }
        Self::from_freqs(&freqs)
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.cdf.len() - 1
    }

    /// Always false: a table has at least one symbol.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Cumulative frequency below `symbol` and the symbol's own frequency.
    #[inline]
    pub fn range(&self, symbol: usize) -> (u32, u32) {
        let lo = self.cdf[symbol];
        (lo, self.cdf[symbol + 1] - lo)
    }

    /// The cumulative frequency below `symbol` (`symbol` up to `len()`, where it is the total).
    #[inline]
    pub fn cum(&self, symbol: usize) -> u32 {
        self.cdf[symbol]
    }

    /// Frequency of one symbol.
    pub fn freq(&self, symbol: usize) -> u32 {
        self.range(symbol).1
    }

    /// The symbol whose cumulative range contains `target` (`target < TOTAL`).
    #[inline]
    pub fn find(&self, target: u32) -> usize {
        // Largest s with cdf[s] <= target; cdf[0] = 0 so s exists.
        let pos = self.cdf.partition_point(|&c| c <= target);
        (pos - 1).min(self.len() - 1)
    }

    /// Ideal code length of `symbol` in bits: −log2(freq / TOTAL).
    pub fn bits(&self, symbol: usize) -> f64 {
        f64::from(TOTAL_BITS) - f64::from(self.freq(symbol)).log2()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_tables() {
        assert!(FreqTable::from_freqs(&[]).is_err());
        assert!(FreqTable::from_freqs(&[0, TOTAL]).is_err());
        assert!(FreqTable::from_freqs(&[1, 2]).is_err());
        assert!(FreqTable::from_freqs(&[TOTAL, 1]).is_err());
    }

    #[test]
    fn weights_quantise_to_valid_tables() {
        let t = FreqTable::from_weights(&[0.0, 1.0, f64::NAN, 3.0]).unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(t.freq(0), 1);
        assert_eq!(t.freq(2), 1);
        assert!(t.freq(3) > 2 * t.freq(1));
        let u = FreqTable::from_weights(&[0.0; 256]).unwrap();
        assert_eq!(u, FreqTable::uniform(256));
        assert_eq!(u.freq(0), 256);
    }

    #[test]
    fn find_inverts_range() {
        let t = FreqTable::from_weights(&[5.0, 1.0, 0.0, 9.0, 2.0]).unwrap();
        for s in 0..t.len() {
            let (lo, f) = t.range(s);
            assert_eq!(t.find(lo), s);
            assert_eq!(t.find(lo + f - 1), s);
        }
    }
}
