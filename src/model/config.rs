//! Model shapes: the paper's presets, and the arithmetic of their sizes.

use serde::{Deserialize, Serialize};

/// Vocabulary: one symbol per byte.
pub const VOCAB: usize = 256;

/// The shape of a byte-level decoder-only transformer (post-LayerNorm blocks as in the paper,
/// rotary positions on queries and keys, GELU MLP, biases as in the paper's code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Width of the residual stream.
    pub d_model: usize,
    /// Attention heads (`d_model` must divide evenly).
    pub n_heads: usize,
    /// Transformer blocks.
    pub n_layers: usize,
    /// Hidden width of the MLP as a multiple of `d_model`.
    pub widening: usize,
    /// Longest context the model is trained and run on.
    pub context: usize,
}

impl ModelConfig {
    /// A named preset after the paper: `200k`, `800k` or `3m`.
    pub fn preset(name: &str) -> Option<Self> {
        let (d_model, n_heads) = match name {
            "200k" => (64, 4),
            "800k" => (128, 4),
            "3m" => (256, 8),
            // Test-sized, never shipped.
            "tiny" => (16, 2),
            _ => return None,
        };
        Some(Self {
            d_model,
            n_heads,
            n_layers: if name == "tiny" { 1 } else { 4 },
            widening: 4,
            context: 2048,
        })
    }

    /// The names of the shipped presets.
    pub const PRESETS: [&'static str; 3] = ["200k", "800k", "3m"];

    /// Dimensions per head.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads
    }

    /// Exact parameter count: `V·d + L·(12d² + 9d) + d·V + V` (the paper's formula; rotary adds none).
    pub fn param_count(&self) -> usize {
        let (d, l, w) = (self.d_model, self.n_layers, self.widening);
        let attn = 4 * d * d;
        let mlp = d * w * d + w * d + w * d * d + d;
        let norms = 2 * 2 * d;
        VOCAB * d + l * (attn + mlp + norms) + d * VOCAB + VOCAB
    }

    /// Rotary tables `(cos, sin)`, each `[context, head_dim / 2]`, in f32.
    ///
    /// Computed in f64 and rounded once, and shipped inside exported weights, so inference never
    /// depends on a platform's `sin`/`cos`.
    pub fn rope_tables(&self) -> (Vec<f32>, Vec<f32>) {
        let half = self.head_dim() / 2;
        let mut cos = Vec::with_capacity(self.context * half);
        let mut sin = Vec::with_capacity(self.context * half);
        for pos in 0..self.context {
            for i in 0..half {
                let inv_freq = 10_000f64.powf(-(2.0 * i as f64) / self.head_dim() as f64);
                let angle = pos as f64 * inv_freq;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        (cos, sin)
    }

    /// Checks the invariants the model code relies on.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.d_model == 0 || self.n_heads == 0 || self.n_layers == 0 || self.widening == 0 {
            return Err("every dimension must be positive");
        }
        if !self.d_model.is_multiple_of(self.n_heads) {
            return Err("d_model must be a multiple of n_heads");
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err("rotary positions need an even head dimension");
        }
        if self.context == 0 || self.context > 1 << 16 {
            return Err("context must be 1..=65536");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_match_the_paper() {
        let counts: Vec<usize> = ModelConfig::PRESETS
            .iter()
            .map(|p| ModelConfig::preset(p).unwrap().param_count())
            .collect();
        assert_eq!(counts, vec![231_936, 856_832, 3_286_272]);
        for p in ModelConfig::PRESETS {
            ModelConfig::preset(p).unwrap().validate().unwrap();
        }
    }
}
