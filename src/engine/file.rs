//! The integer model file (`.lmzi`): what `lmzip export` writes and the engine reads.
//!
//! Layout (little-endian): `LMZI`, version u32 (1), config JSON (u32 length + bytes), tensor
//! count u32, then per tensor: name (u8 length + ASCII), rank u8, dims u32 × rank, width u8
//! (1, 2 or 4 bytes per value), then the signed values at that width. Every value is an
//! integer: the file fixes the whole computation, so its SHA-256 names the model in `.lmz`
//! headers.

use crate::model::weights::{read_header, write_header, write_tensor_head};
use crate::model::{ModelConfig, WeightsError};
use std::collections::BTreeMap;

const MAGIC: &[u8; 4] = b"LMZI";
const VERSION: u32 = 1;

/// A model's configuration and named integer tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntWeights {
    /// The model's shape.
    pub config: ModelConfig,
    /// Tensors by name: dims and row-major values.
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<i32>)>,
}

impl IntWeights {
    /// An empty set for `config`.
    pub fn new(config: ModelConfig) -> Self {
        Self {
            config,
            tensors: BTreeMap::new(),
        }
    }

    /// Adds a tensor.
    pub fn insert(&mut self, name: impl Into<String>, dims: Vec<usize>, values: Vec<i32>) {
        debug_assert_eq!(dims.iter().product::<usize>(), values.len());
        self.tensors.insert(name.into(), (dims, values));
    }

    /// A tensor's values, checking its shape.
    pub fn get(&self, name: &str, dims: &[usize]) -> Result<&[i32], WeightsError> {
        match self.tensors.get(name) {
            Some((d, v)) if d == dims => Ok(v),
            Some((d, _)) => Err(WeightsError::Invalid(format!(
                "{name} has shape {d:?}, expected {dims:?}"
            ))),
            None => Err(WeightsError::Invalid(format!("missing tensor {name}"))),
        }
    }

    /// A one-value tensor.
    pub fn scalar(&self, name: &str) -> Result<i32, WeightsError> {
        Ok(self.get(name, &[1])?[0])
    }

    /// Serialises to the file format, each tensor at the narrowest width that holds it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = write_header(MAGIC, VERSION, &self.config, self.tensors.len());
        for (name, (dims, values)) in &self.tensors {
            write_tensor_head(&mut out, name, dims);
            let width = width_for(values);
            out.push(width as u8);
            for &v in values {
                out.extend_from_slice(&v.to_le_bytes()[..width]);
            }
        }
        out
    }

    /// Parses the file format, validating every length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        let (config, count, mut r) = read_header(bytes, MAGIC, VERSION)?;
        let mut w = IntWeights::new(config);
        for _ in 0..count {
            let (name, dims) = r.tensor_head()?;
            let width = r.take(1)?[0] as usize;
            if !matches!(width, 1 | 2 | 4) {
                return Err(WeightsError::Invalid(format!("{name}: width {width}")));
            }
            let len = dims
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .filter(|&l| l <= r.left() / width)
                .ok_or(WeightsError::Truncated)?;
            let raw = r.take(width * len)?;
            let values = raw
                .chunks_exact(width)
                .map(|c| match width {
                    1 => i32::from(c[0] as i8),
                    2 => i32::from(i16::from_le_bytes([c[0], c[1]])),
                    _ => i32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                })
                .collect();
            w.insert(name, dims, values);
        }
        if r.left() != 0 {
            return Err(WeightsError::Invalid("bytes after the last tensor".into()));
        }
        Ok(w)
    }
}

fn width_for(values: &[i32]) -> usize {
    let (lo, hi) = values
        .iter()
        .fold((0i32, 0i32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if lo >= i32::from(i8::MIN) && hi <= i32::from(i8::MAX) {
        1
    } else if lo >= i32::from(i16::MIN) && hi <= i32::from(i16::MAX) {
        2
    } else {
        4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_every_width_and_damage() {
        let mut w = IntWeights::new(ModelConfig::preset("tiny").unwrap());
        w.insert("a", vec![2, 2], vec![1, -128, 127, 0]);
        w.insert("b", vec![3], vec![300, -32768, 5]);
        w.insert("c", vec![1], vec![i32::MIN]);
        let bytes = w.to_bytes();
        assert_eq!(IntWeights::from_bytes(&bytes).unwrap(), w);
        assert_eq!(w.scalar("c").unwrap(), i32::MIN);
        for cut in [0, 3, 10, bytes.len() - 1] {
            assert!(IntWeights::from_bytes(&bytes[..cut]).is_err());
        }
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(
            IntWeights::from_bytes(&bad).unwrap_err(),
            WeightsError::BadMagic
        );
    }
}
