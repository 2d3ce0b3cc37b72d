//! What a predictor learned on training data (mixer weights, the maps from bit histories,
//! match lengths and sample-prediction distances to probabilities, the transformer's calibration), saved as the starting state
//! of every new stream: a 2,048-byte chunk then starts from a trained mixer, not from zero.
//!
//! File layout (little-endian): `LMZP`, a version byte, a section count, then per section a
//! kind byte (0 bytes, 1 image, 2 audio) and its arrays, each a u32 length and its values
//! (weights as i16 in units of 1/4096, the rest as stored).

use super::contexts::Kind;

const MAGIC: &[u8; 4] = b"LMZP";
const VERSION: u8 = 2;
/// Saved weights are i16 in units of 2^-12 (the mixer keeps 2^-16).
const WEIGHT_SHIFT: u32 = 4;

/// Why a prime file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrimeError {
    /// Not a prime file, another version, or cut short.
    #[error("not a valid mixer prime file: {0}")]
    Format(&'static str),
    /// Arrays of another shape than this build's predictor.
    #[error("the mixer prime file was made for another predictor shape")]
    Shape,
}

/// One kind's learned state, in the predictor's own shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learned {
    pub(crate) layer1: Vec<i32>,
    pub(crate) layer2: Vec<i32>,
    pub(crate) indirect: Vec<u32>,
    pub(crate) order0: Vec<u32>,
    pub(crate) matcher: Vec<u32>,
    pub(crate) samples: Vec<u32>,
    pub(crate) prior_apm: Vec<u16>,
}

/// Learned starting states, one per kind of data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prime {
    parts: [Option<Learned>; 3],
}

fn slot(kind: Kind) -> usize {
    match kind {
        Kind::Bytes => 0,
        Kind::Image { .. } => 1,
        Kind::Audio => 2,
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PrimeError> {
        if self.0.len() < n {
            return Err(PrimeError::Format("cut short"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, PrimeError> {
        Ok(self.take(1)?[0])
    }
    fn len(&mut self, width: usize) -> Result<(usize, &[u8]), PrimeError> {
        let b = self.take(4)?;
        let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let bytes = n
            .checked_mul(width)
            .ok_or(PrimeError::Format("bad length"))?;
        Ok((n, self.take(bytes)?))
    }
    fn i16s(&mut self) -> Result<Vec<i32>, PrimeError> {
        let (_, b) = self.len(2)?;
        Ok(b.chunks_exact(2)
            .map(|c| i32::from(i16::from_le_bytes([c[0], c[1]])) << WEIGHT_SHIFT)
            .collect())
    }
    fn u16s(&mut self) -> Result<Vec<u16>, PrimeError> {
        let (_, b) = self.len(2)?;
        Ok(b.chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect())
    }
    fn u32s(&mut self) -> Result<Vec<u32>, PrimeError> {
        let (_, b) = self.len(4)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

impl Prime {
    /// The learned state for `kind`, if the prime has one.
    pub fn get(&self, kind: Kind) -> Option<&Learned> {
        self.parts[slot(kind)].as_ref()
    }

    /// Sets the learned state for `kind`.
    pub fn set(&mut self, kind: Kind, learned: Learned) {
        self.parts[slot(kind)] = Some(learned);
    }

    /// How many learned values it holds (parameters, for the paper's adjusted rate).
    pub fn param_count(&self) -> usize {
        self.parts
            .iter()
            .flatten()
            .map(|l| {
                l.layer1.len()
                    + l.layer2.len()
                    + l.indirect.len()
                    + l.order0.len()
                    + l.matcher.len()
                    + l.samples.len()
                    + l.prior_apm.len()
            })
            .sum()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(Option::is_none)
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(VERSION);
        out.push(self.parts.iter().flatten().count() as u8);
        for (k, part) in self.parts.iter().enumerate() {
            let Some(l) = part else { continue };
            out.push(k as u8);
            for w in [&l.layer1, &l.layer2] {
                put_len(&mut out, w.len());
                for &v in w.iter() {
                    let q = (v >> WEIGHT_SHIFT).clamp(i32::from(i16::MIN), i32::from(i16::MAX));
                    out.extend_from_slice(&(q as i16).to_le_bytes());
                }
            }
            for t in [&l.indirect, &l.order0, &l.matcher, &l.samples] {
                put_len(&mut out, t.len());
                for &v in t.iter() {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            put_len(&mut out, l.prior_apm.len());
            for &v in &l.prior_apm {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Reads a prime file (shapes are checked when a predictor uses it).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PrimeError> {
        let mut r = Reader(bytes);
        if r.take(4)? != MAGIC {
            return Err(PrimeError::Format("no LMZP magic"));
        }
        if r.u8()? != VERSION {
            return Err(PrimeError::Format("another version"));
        }
        let count = r.u8()?;
        let mut prime = Prime::default();
        for _ in 0..count {
            let k = r.u8()? as usize;
            if k >= 3 || prime.parts[k].is_some() {
                return Err(PrimeError::Format("bad section"));
            }
            prime.parts[k] = Some(Learned {
                layer1: r.i16s()?,
                layer2: r.i16s()?,
                indirect: r.u32s()?,
                order0: r.u32s()?,
                matcher: r.u32s()?,
                samples: r.u32s()?,
                prior_apm: r.u16s()?,
            });
        }
        if !r.0.is_empty() {
            return Err(PrimeError::Format("trailing bytes"));
        }
        Ok(prime)
    }

    /// Weights rounded as the file stores them, so a prime used before saving codes exactly
    /// as the same prime read back.
    pub fn rounded(mut self) -> Self {
        for l in self.parts.iter_mut().flatten() {
            for w in [&mut l.layer1, &mut l.layer2] {
                for v in w.iter_mut() {
                    *v = (*v >> WEIGHT_SHIFT).clamp(i32::from(i16::MIN), i32::from(i16::MAX))
                        << WEIGHT_SHIFT;
                }
            }
        }
        self
    }
}
