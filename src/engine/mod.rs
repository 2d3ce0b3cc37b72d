//! The integer engine: the transformer's forward pass in integer arithmetic only, so a `.lmz`
//! made on one machine decodes on any other (native, wasm, browser) bit for bit.
//!
//! `lmzip export` quantizes the float weights once ([`quantize`]) into an `.lmzi` file
//! ([`IntWeights`]); [`IntModel`] runs it token by token with an integer KV cache and turns
//! the last layer into a frequency table with integer arithmetic only (a square root's float
//! first guess is corrected to the exact integer root).
//!
//! The per-row helpers are inlined natively, so that they compile into the AVX2 builds of a
//! step, and kept out of line in wasm (`cfg_attr(target_arch = "wasm32", inline(never))`),
//! which measured about 15 % faster under V8 than one large inlined step.

mod batch;
mod file;
mod fixed;
mod forward;
#[cfg(feature = "gpu-engine")]
pub mod gpu;
mod kernels;
mod quantize;

pub use batch::IntLanes;
pub use file::IntWeights;
pub use forward::{Cpu, IntModel, IntSession, Linear, Products};
pub use quantize::{dequantize, quantize};

use crate::coder::{FreqTable, TOTAL};
use sha2::{Digest, Sha256};

/// SHA-256 of every frequency table the model gives while reading `input` from a fresh
/// context (at most its context length): the cross-target determinism fingerprint.
pub fn table_hash(model: &IntModel, input: &[u8]) -> [u8; 32] {
    let mut s = model.session();
    let tokens = hash_tokens(model, input);
    hash_tables(tokens.iter().map(|&t| s.step(t)))
}

/// The tokens [`table_hash`] feeds: a zero, then `input` but its last byte, at most a context.
pub(crate) fn hash_tokens(model: &IntModel, input: &[u8]) -> Vec<u8> {
    let n = input.len().min(model.config().context);
    let mut tokens = vec![0u8];
    tokens.extend_from_slice(&input[..n.saturating_sub(1)]);
    tokens.truncate(n);
    tokens
}

/// [`table_hash`]'s digest of a sequence of tables, wherever they were computed.
pub(crate) fn hash_tables(tables: impl IntoIterator<Item = FreqTable>) -> [u8; 32] {
    let mut h = Sha256::new();
    for t in tables {
        for sym in 0..t.len() {
            h.update(t.freq(sym).to_le_bytes());
        }
    }
    h.update(TOTAL.to_le_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed fingerprint of `models/200k/model.lmzi` on the first 512 bytes of
    /// `tests/data/sample.txt`; the wasm and browser tests check the same value.
    /// `LMZIP_UPDATE_GOLDEN=1` rewrites it after a deliberate model or engine change.
    #[test]
    fn golden_table_hash() {
        let root = crate::repo_root();
        let model = std::fs::read(root.join("models/200k/model.lmzi")).expect("shipped model");
        let input = std::fs::read(root.join("tests/data/sample.txt")).expect("sample");
        let m = IntModel::new(&IntWeights::from_bytes(&model).unwrap()).unwrap();
        let hex: String = table_hash(&m, &input[..512])
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let golden = root.join("tests/data/engine-golden.txt");
        if std::env::var_os("LMZIP_UPDATE_GOLDEN").is_some() {
            std::fs::write(&golden, format!("{hex}\n")).unwrap();
        }
        let want = std::fs::read_to_string(&golden).expect("golden file");
        assert_eq!(hex, want.trim(), "integer engine tables changed");
    }
}
