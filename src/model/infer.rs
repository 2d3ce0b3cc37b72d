//! Float inference in plain Rust: one token at a time with a KV cache.
//!
//! The same function as the burn model (a test checks it), written with f32 `+ − × ÷`, `sqrt`
//! and the portable [`super::math`] functions only, in a fixed order: encoder and decoder compute
//! bit-identical distributions, on this machine and in wasm alike.

use super::config::{ModelConfig, VOCAB};
use super::math;
use super::weights::{Weights, WeightsError};

struct Layer {
    wq: Vec<f32>,
    wk: Vec<f32>,
    wv: Vec<f32>,
    wo: Vec<f32>,
    ln1: (Vec<f32>, Vec<f32>),
    fc1: (Vec<f32>, Vec<f32>),
    fc2: (Vec<f32>, Vec<f32>),
    ln2: (Vec<f32>, Vec<f32>),
}

/// A model ready for inference.
pub struct FloatModel {
    config: ModelConfig,
    embed: Vec<f32>,
    layers: Vec<Layer>,
    head: (Vec<f32>, Vec<f32>),
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl FloatModel {
    /// Checks every tensor's shape and builds the model.
    pub fn new(w: &Weights) -> Result<Self, WeightsError> {
        let c = w.config;
        c.validate().map_err(|e| WeightsError::Invalid(e.into()))?;
        let (d, h) = (c.d_model, c.widening * c.d_model);
        let get = |name: &str, dims: &[usize]| w.get(name, dims).map(<[f32]>::to_vec);
        let mut layers = Vec::with_capacity(c.n_layers);
        for i in 0..c.n_layers {
            let p = |s: &str| format!("layers.{i}.{s}");
            layers.push(Layer {
                wq: get(&p("wq"), &[d, d])?,
                wk: get(&p("wk"), &[d, d])?,
                wv: get(&p("wv"), &[d, d])?,
                wo: get(&p("wo"), &[d, d])?,
                ln1: (get(&p("ln1.gamma"), &[d])?, get(&p("ln1.beta"), &[d])?),
                fc1: (get(&p("fc1.w"), &[d, h])?, get(&p("fc1.b"), &[h])?),
                fc2: (get(&p("fc2.w"), &[h, d])?, get(&p("fc2.b"), &[d])?),
                ln2: (get(&p("ln2.gamma"), &[d])?, get(&p("ln2.beta"), &[d])?),
            });
        }
        let half = c.head_dim() / 2;
        Ok(Self {
            config: c,
            embed: get("embed", &[VOCAB, d])?,
            layers,
            head: (get("head.w", &[d, VOCAB])?, get("head.b", &[VOCAB])?),
            cos: get("rope.cos", &[c.context, half])?,
            sin: get("rope.sin", &[c.context, half])?,
        })
    }

    /// The model's shape.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// A fresh context (no tokens seen).
    pub fn session(&self) -> Session<'_> {
        Session {
            m: self,
            pos: 0,
            keys: vec![Vec::new(); self.layers.len()],
            values: vec![Vec::new(); self.layers.len()],
        }
    }
}

/// `y = x·W (+ b)` for row-major `W[in, out]`, accumulating in input order.
fn matvec(x: &[f32], w: &[f32], bias: Option<&[f32]>, out: &mut Vec<f32>) {
    let n = w.len() / x.len();
    out.clear();
    match bias {
        Some(b) => out.extend_from_slice(b),
        None => out.resize(n, 0.0),
    }
    for (i, &xi) in x.iter().enumerate() {
        let row = &w[i * n..(i + 1) * n];
        for (o, &wij) in out.iter_mut().zip(row) {
            *o += xi * wij;
        }
    }
}

fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32]) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv = 1.0 / (var + 1e-5).sqrt();
    for ((v, g), b) in x.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

fn rotate(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    let half = x.len() / 2;
    for i in 0..half {
        let (a, b) = (x[i], x[half + i]);
        x[i] = a * cos[i] - b * sin[i];
        x[half + i] = a * sin[i] + b * cos[i];
    }
}

/// A running context: feed tokens, get the next token's log-probabilities.
pub struct Session<'m> {
    m: &'m FloatModel,
    pos: usize,
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
}

impl Session<'_> {
    /// Tokens fed so far.
    pub fn len(&self) -> usize {
        self.pos
    }

    /// True before the first token.
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// Feeds `token` at the next position and returns log-probabilities (natural log) of the
    /// byte after it. Feed 0 first to get the first byte's distribution, as in training.
    ///
    /// # Panics
    /// When called more than `context` times.
    pub fn step(&mut self, token: u8) -> [f32; VOCAB] {
        let m = self.m;
        let c = &m.config;
        assert!(self.pos < c.context, "context of {} exhausted", c.context);
        let (d, hd, heads) = (c.d_model, c.head_dim(), c.n_heads);
        let half = hd / 2;
        let scale = (d as f64).sqrt() as f32;
        let mut x: Vec<f32> = m.embed[token as usize * d..(token as usize + 1) * d]
            .iter()
            .map(|v| v * scale)
            .collect();
        let cos = &m.cos[self.pos * half..(self.pos + 1) * half];
        let sin = &m.sin[self.pos * half..(self.pos + 1) * half];
        let att_scale = 1.0 / (hd as f32).sqrt();
        let (mut q, mut k, mut v, mut y, mut h1) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut scores = Vec::with_capacity(self.pos + 1);
        for (li, l) in m.layers.iter().enumerate() {
            matvec(&x, &l.wq, None, &mut q);
            matvec(&x, &l.wk, None, &mut k);
            matvec(&x, &l.wv, None, &mut v);
            for hh in 0..heads {
                rotate(&mut q[hh * hd..(hh + 1) * hd], cos, sin);
                rotate(&mut k[hh * hd..(hh + 1) * hd], cos, sin);
            }
            self.keys[li].extend_from_slice(&k);
            self.values[li].extend_from_slice(&v);
            let (keys, values) = (&self.keys[li], &self.values[li]);
            let mut attn = vec![0.0f32; d];
            for hh in 0..heads {
                let qh = &q[hh * hd..(hh + 1) * hd];
                scores.clear();
                for t in 0..=self.pos {
                    let kt = &keys[t * d + hh * hd..t * d + (hh + 1) * hd];
                    let s: f32 = qh.iter().zip(kt).map(|(a, b)| a * b).sum();
                    scores.push(s * att_scale);
                }
                let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut total = 0.0f32;
                for s in scores.iter_mut() {
                    *s = math::exp(*s - max);
                    total += *s;
                }
                let out = &mut attn[hh * hd..(hh + 1) * hd];
                for (t, &p) in scores.iter().enumerate() {
                    let w = p / total;
                    let vt = &values[t * d + hh * hd..t * d + (hh + 1) * hd];
                    for (o, &vv) in out.iter_mut().zip(vt) {
                        *o += w * vv;
                    }
                }
            }
            matvec(&attn, &l.wo, None, &mut y);
            for (a, b) in x.iter_mut().zip(&y) {
                *a += b;
            }
            layer_norm(&mut x, &l.ln1.0, &l.ln1.1);
            matvec(&x, &l.fc1.0, Some(&l.fc1.1), &mut h1);
            for hv in h1.iter_mut() {
                *hv = math::gelu(*hv);
            }
            matvec(&h1, &l.fc2.0, Some(&l.fc2.1), &mut y);
            for (a, b) in x.iter_mut().zip(&y) {
                *a += b;
            }
            layer_norm(&mut x, &l.ln2.0, &l.ln2.1);
        }
        let mut logits = Vec::new();
        matvec(&x, &m.head.0, Some(&m.head.1), &mut logits);
        self.pos += 1;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let total: f32 = logits.iter().map(|&l| math::exp(l - max)).sum();
        let log_total = total.ln_portable();
        let mut out = [0.0f32; VOCAB];
        for (o, l) in out.iter_mut().zip(&logits) {
            *o = l - max - log_total;
        }
        out
    }
}

/// Natural log from basic operations (the same bits everywhere), for log-softmax.
trait LnPortable {
    fn ln_portable(self) -> f32;
}

impl LnPortable for f32 {
    fn ln_portable(self) -> f32 {
        // x = m·2^e with m in [1, 2): ln x = e·ln2 + 2·atanh((m−1)/(m+1)).
        let bits = self.to_bits();
        let e = ((bits >> 23) & 0xFF) as i32 - 127;
        let m = f32::from_bits((bits & 0x007F_FFFF) | 0x3F80_0000);
        let s = (m - 1.0) / (m + 1.0);
        let s2 = s * s;
        let series = s
            * (2.0
                + s2 * (2.0 / 3.0
                    + s2 * (2.0 / 5.0 + s2 * (2.0 / 7.0 + s2 * (2.0 / 9.0 + s2 * (2.0 / 11.0))))));
        e as f32 * std::f32::consts::LN_2 + series
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_ln_is_close() {
        for x in [1.0f32, 1.5, 2.0, 3.7, 100.0, 255.9, 1e-3] {
            assert!((x.ln_portable() - x.ln()).abs() < 2e-6, "{x}");
        }
    }
}
