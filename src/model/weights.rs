//! Exported weights: a small self-describing file that inference reads without burn.
//!
//! Layout (little-endian): `LMZW`, version u32 (1), config JSON (u32 length + bytes),
//! tensor count u32, then per tensor: name (u8 length + ASCII), rank u8, dims u32 × rank,
//! f32 values. Linear weights are stored `[in, out]` (y = x·W + b), as burn keeps them.
//! The file's SHA-256 is the model's identity in `.lmz` headers.

use super::config::ModelConfig;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

const MAGIC: &[u8; 4] = b"LMZW";
const VERSION: u32 = 1;

/// Why a weights file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WeightsError {
    /// Not a weights file.
    #[error("not an lmzip weights file")]
    BadMagic,
    /// A newer or unknown version.
    #[error("weights format version {0} is not supported")]
    Version(u32),
    /// The file ends early.
    #[error("the weights file is truncated")]
    Truncated,
    /// The config or a tensor is malformed or missing.
    #[error("invalid weights: {0}")]
    Invalid(String),
}

/// A model's configuration and named f32 tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    /// The model's shape.
    pub config: ModelConfig,
    /// Tensors by name: dims and row-major values.
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Weights {
    /// An empty set for `config`.
    pub fn new(config: ModelConfig) -> Self {
        Self {
            config,
            tensors: BTreeMap::new(),
        }
    }

    /// Adds a tensor.
    pub fn insert(&mut self, name: impl Into<String>, dims: Vec<usize>, values: Vec<f32>) {
        debug_assert_eq!(dims.iter().product::<usize>(), values.len());
        self.tensors.insert(name.into(), (dims, values));
    }

    /// A tensor's values, checking its shape.
    pub fn get(&self, name: &str, dims: &[usize]) -> Result<&[f32], WeightsError> {
        match self.tensors.get(name) {
            Some((d, v)) if d == dims => Ok(v),
            Some((d, _)) => Err(WeightsError::Invalid(format!(
                "{name} has shape {d:?}, expected {dims:?}"
            ))),
            None => Err(WeightsError::Invalid(format!("missing tensor {name}"))),
        }
    }

    /// Limits the model to its first `context` positions (a model trained on shorter windows than
    /// its preset's maximum is only reliable that far): updates the config and cuts the rotary
    /// tables. Longer values change nothing.
    pub fn limit_context(&mut self, context: usize) {
        if context == 0 || context >= self.config.context {
            return;
        }
        let half = self.config.head_dim() / 2;
        for name in ["rope.cos", "rope.sin"] {
            if let Some((dims, values)) = self.tensors.get_mut(name) {
                dims[0] = context;
                values.truncate(context * half);
            }
        }
        self.config.context = context;
    }

    /// Serialises to the file format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = write_header(MAGIC, VERSION, &self.config, self.tensors.len());
        for (name, (dims, values)) in &self.tensors {
            write_tensor_head(&mut out, name, dims);
            for v in values {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Parses the file format, validating every length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        let (config, count, mut r) = read_header(bytes, MAGIC, VERSION)?;
        let mut w = Weights::new(config);
        for _ in 0..count {
            let (name, dims) = r.tensor_head()?;
            let len = dims
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .filter(|&l| l <= r.left() / 4)
                .ok_or(WeightsError::Truncated)?;
            let raw = r.take(4 * len)?;
            let values = raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            w.insert(name, dims, values);
        }
        if r.left() != 0 {
            return Err(WeightsError::Invalid("bytes after the last tensor".into()));
        }
        Ok(w)
    }
}

/// SHA-256 of a weights file's bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The start of a model file: magic, version, config JSON, tensor count.
pub(crate) fn write_header(
    magic: &[u8; 4],
    version: u32,
    config: &ModelConfig,
    tensors: usize,
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
    let json = serde_json::to_vec(config).expect("config serialises");
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&(tensors as u32).to_le_bytes());
    out
}

/// A tensor's name and dims.
pub(crate) fn write_tensor_head(out: &mut Vec<u8>, name: &str, dims: &[usize]) {
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.push(dims.len() as u8);
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_le_bytes());
    }
}

/// Checks magic and version and reads the config and the tensor count.
pub(crate) fn read_header<'a>(
    bytes: &'a [u8],
    magic: &[u8; 4],
    version: u32,
) -> Result<(ModelConfig, usize, Cursor<'a>), WeightsError> {
    let mut r = Cursor { b: bytes, at: 0 };
    if r.take(4)? != magic {
        return Err(WeightsError::BadMagic);
    }
    let v = r.u32()?;
    if v != version {
        return Err(WeightsError::Version(v));
    }
    let json_len = r.u32()? as usize;
    let config: ModelConfig = serde_json::from_slice(r.take(json_len)?)
        .map_err(|e| WeightsError::Invalid(format!("config: {e}")))?;
    config
        .validate()
        .map_err(|e| WeightsError::Invalid(e.to_string()))?;
    let count = r.u32()? as usize;
    Ok((config, count, r))
}

/// A bounds-checked reader over a model file.
pub(crate) struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// A tensor's name and dims.
    pub(crate) fn tensor_head(&mut self) -> Result<(String, Vec<usize>), WeightsError> {
        let n = self.take(1)?[0] as usize;
        let name = String::from_utf8(self.take(n)?.to_vec())
            .map_err(|_| WeightsError::Invalid("tensor name is not UTF-8".into()))?;
        let rank = self.take(1)?[0] as usize;
        let mut dims = Vec::with_capacity(rank);
        for _ in 0..rank {
            dims.push(self.u32()? as usize);
        }
        Ok((name, dims))
    }

    /// Bytes not read yet.
    pub(crate) fn left(&self) -> usize {
        self.b.len() - self.at
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WeightsError> {
        if self.b.len() - self.at < n {
            return Err(WeightsError::Truncated);
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, WeightsError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_damage() {
        let mut w = Weights::new(ModelConfig::preset("tiny").unwrap());
        w.insert("a", vec![2, 3], vec![1.0, -2.0, 3.5, 0.0, 1e-8, 7.0]);
        w.insert("b", vec![1], vec![f32::MAX]);
        let bytes = w.to_bytes();
        assert_eq!(Weights::from_bytes(&bytes).unwrap(), w);
        assert_eq!(w.get("a", &[2, 3]).unwrap()[2], 3.5);
        assert!(w.get("a", &[3, 2]).is_err());
        for cut in [0, 3, 10, bytes.len() - 1] {
            assert!(Weights::from_bytes(&bytes[..cut]).is_err());
        }
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(
            Weights::from_bytes(&bad).unwrap_err(),
            WeightsError::BadMagic
        );
    }
}
