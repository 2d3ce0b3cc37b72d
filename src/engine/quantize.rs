//! Float weights → the integer model: int8 weights with a fixed-point scale per output
//! channel, block-exponent vectors for embeddings, biases and norms, and integer tables for
//! rotary positions, `2^-x` and GELU. Floats are used here only, once, at export: the file
//! written is what every engine computes from.

use super::file::IntWeights;
use super::fixed::{
    ACT_BITS, EXP2_STEPS, EXP_BITS, GELU_ENTRIES, GELU_RANGE, GELU_STEP_BITS, Q, ROPE_BITS,
};
use crate::model::{Weights, WeightsError, VOCAB};

/// Mantissa bits of biases.
const BIAS_BITS: u32 = 24;
/// Mantissa bits of LayerNorm gains and offsets, and of per-channel weight scales.
const PARAM_BITS: u32 = 15;

/// `v ≈ m · 2^e` with `max |m| ≤ 2^bits`, as large as that allows.
fn quant_vec(v: &[f64], bits: u32) -> (Vec<i32>, i32) {
    let max = v.iter().fold(0f64, |a, x| a.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        return (vec![0; v.len()], 0);
    }
    let limit = f64::from(1u32 << bits);
    let mut e = (max / limit).log2().ceil() as i32;
    while max / 2f64.powi(e) > limit {
        e += 1;
    }
    while max / 2f64.powi(e - 1) <= limit {
        e -= 1;
    }
    let scale = 2f64.powi(-e);
    (v.iter().map(|x| (x * scale).round() as i32).collect(), e)
}

fn floats(w: &Weights, name: &str, dims: &[usize]) -> Result<Vec<f64>, WeightsError> {
    Ok(w.get(name, dims)?.iter().map(|&x| f64::from(x)).collect())
}

/// A `[n_in, n_out]` float matrix (times `gain`) as `name.w [out, in]` int8, `name.mul [out]`
/// and `name.e`: weight `(i, j)` ≈ `w[j][i] · mul[j] · 2^e`.
fn linear(out: &mut IntWeights, name: &str, m: &[f64], n_in: usize, n_out: usize, gain: f64) {
    let mut q = vec![0i32; n_in * n_out];
    let mut scales = vec![0f64; n_out];
    for (j, s) in scales.iter_mut().enumerate() {
        let max = (0..n_in).fold(0f64, |a, i| a.max((m[i * n_out + j] * gain).abs()));
        if max == 0.0 {
            continue;
        }
        *s = max / 127.0;
        for i in 0..n_in {
            q[j * n_in + i] = ((m[i * n_out + j] * gain) / *s)
                .round()
                .clamp(-127.0, 127.0) as i32;
        }
    }
    let (mul, e) = quant_vec(&scales, PARAM_BITS);
    out.insert(format!("{name}.w"), vec![n_out, n_in], q);
    out.insert(format!("{name}.mul"), vec![n_out], mul);
    out.insert(format!("{name}.e"), vec![1], vec![e]);
}

fn vector(out: &mut IntWeights, name: &str, v: &[f64], bits: u32) {
    let (m, e) = quant_vec(v, bits);
    out.insert(format!("{name}.m"), vec![v.len()], m);
    out.insert(format!("{name}.e"), vec![1], vec![e]);
}

/// The tanh form of GELU, as the model was trained with.
fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + (0.797_884_560_802_865_4 * (x + 0.044_715 * x * x * x)).tanh())
}

/// Quantizes exported float weights into the integer model.
pub fn quantize(w: &Weights) -> Result<IntWeights, WeightsError> {
    let c = w.config;
    let (d, h, hd) = (c.d_model, c.widening * c.d_model, c.head_dim());
    let mut out = IntWeights::new(c);

    let embed = floats(w, "embed", &[VOCAB, d])?;
    let (mut em, mut ee) = (Vec::with_capacity(VOCAB * d), Vec::with_capacity(VOCAB));
    let sqrt_d = (d as f64).sqrt();
    for row in embed.chunks(d) {
        let scaled: Vec<f64> = row.iter().map(|x| x * sqrt_d).collect();
        let (m, e) = quant_vec(&scaled, ACT_BITS);
        em.extend(m);
        ee.push(e);
    }
    out.insert("embed.m", vec![VOCAB, d], em);
    out.insert("embed.e", vec![VOCAB], ee);

    for i in 0..c.n_layers {
        let p = |s: &str| format!("layers.{i}.{s}");
        // The attention scale 1/√head_dim rides on the query weights, and so does log2(e):
        // the engine's softmax is a power of two.
        let q_gain = std::f64::consts::LOG2_E / (hd as f64).sqrt();
        for (name, gain) in [("wq", q_gain), ("wk", 1.0), ("wv", 1.0), ("wo", 1.0)] {
            linear(
                &mut out,
                &p(name),
                &floats(w, &p(name), &[d, d])?,
                d,
                d,
                gain,
            );
        }
        linear(
            &mut out,
            &p("fc1"),
            &floats(w, &p("fc1.w"), &[d, h])?,
            d,
            h,
            1.0,
        );
        vector(
            &mut out,
            &p("fc1.b"),
            &floats(w, &p("fc1.b"), &[h])?,
            BIAS_BITS,
        );
        linear(
            &mut out,
            &p("fc2"),
            &floats(w, &p("fc2.w"), &[h, d])?,
            h,
            d,
            1.0,
        );
        vector(
            &mut out,
            &p("fc2.b"),
            &floats(w, &p("fc2.b"), &[d])?,
            BIAS_BITS,
        );
        for ln in ["ln1", "ln2"] {
            let gamma = floats(w, &p(&format!("{ln}.gamma")), &[d])?;
            let beta = floats(w, &p(&format!("{ln}.beta")), &[d])?;
            vector(&mut out, &p(&format!("{ln}.gamma")), &gamma, PARAM_BITS);
            vector(&mut out, &p(&format!("{ln}.beta")), &beta, PARAM_BITS);
        }
    }
    // Logits in log2 units, like the attention scores.
    let log2e = std::f64::consts::LOG2_E;
    linear(
        &mut out,
        "head",
        &floats(w, "head.w", &[d, VOCAB])?,
        d,
        VOCAB,
        log2e,
    );
    let head_b: Vec<f64> = floats(w, "head.b", &[VOCAB])?
        .iter()
        .map(|b| b * log2e)
        .collect();
    vector(&mut out, "head.b", &head_b, BIAS_BITS);

    let half = hd / 2;
    for name in ["rope.cos", "rope.sin"] {
        let t = floats(w, name, &[c.context, half])?;
        let one = f64::from(1u32 << ROPE_BITS);
        out.insert(
            name,
            vec![c.context, half],
            t.iter().map(|x| (x * one).round() as i32).collect(),
        );
    }
    let exp2 = (0..EXP2_STEPS)
        .map(|i| {
            (2f64.powf(-(i as f64) / EXP2_STEPS as f64) * (1u64 << EXP_BITS) as f64).round() as i32
        })
        .collect();
    out.insert("lut.exp2", vec![EXP2_STEPS], exp2);
    let gelu_t = (0..=GELU_ENTRIES)
        .map(|i| {
            let x = i as f64 / f64::from(1u32 << GELU_STEP_BITS) - GELU_RANGE as f64;
            (gelu(x) * f64::from(1u32 << Q)).round() as i32
        })
        .collect();
    out.insert("lut.gelu", vec![GELU_ENTRIES + 1], gelu_t);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_use_their_bits() {
        let (m, e) = quant_vec(&[0.5, -0.25, 0.001], 13);
        assert_eq!(m[0], 8192);
        assert_eq!(e, -14);
        assert_eq!(m[1], -4096);
        assert_eq!(quant_vec(&[0.0, 0.0], 13), (vec![0, 0], 0));
        let (m, e) = quant_vec(&[3.0], 4);
        assert!(m[0] <= 16 && f64::from(m[0]) * 2f64.powi(e) == 3.0);
    }
}
