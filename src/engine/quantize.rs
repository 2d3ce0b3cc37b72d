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

/// `m · 2^e` as f32.
fn scaled(m: &[i32], e: i32, gain: f64) -> Vec<f32> {
    let s = 2f64.powi(e) / gain;
    m.iter().map(|&v| (f64::from(v) * s) as f32).collect()
}

/// An integer linear layer back to the float `[n_in, n_out]` matrix, the folded `gain` undone.
fn unlinear(
    w: &IntWeights,
    name: &str,
    n_in: usize,
    n_out: usize,
    gain: f64,
) -> Result<Vec<f32>, WeightsError> {
    let q = w.get(&format!("{name}.w"), &[n_out, n_in])?;
    let mul = w.get(&format!("{name}.mul"), &[n_out])?;
    let s = 2f64.powi(w.scalar(&format!("{name}.e"))?) / gain;
    let mut m = vec![0f32; n_in * n_out];
    for (j, row) in q.chunks(n_in).enumerate() {
        let scale = f64::from(mul[j]) * s;
        for (i, &v) in row.iter().enumerate() {
            m[i * n_out + j] = (f64::from(v) * scale) as f32;
        }
    }
    Ok(m)
}

fn unvector(w: &IntWeights, name: &str, n: usize, gain: f64) -> Result<Vec<f32>, WeightsError> {
    Ok(scaled(
        w.get(&format!("{name}.m"), &[n])?,
        w.scalar(&format!("{name}.e"))?,
        gain,
    ))
}

/// The integer model as float weights with the float model's names and meaning (the folded
/// attention and log2 scales undone): what the page's WebGPU analysis path runs, so that it
/// needs no second download. Close to the engine's function, not bit for bit.
pub fn dequantize(w: &IntWeights) -> Result<Weights, WeightsError> {
    let c = w.config;
    let (d, h, hd) = (c.d_model, c.widening * c.d_model, c.head_dim());
    let mut out = Weights::new(c);
    let em = w.get("embed.m", &[VOCAB, d])?;
    let ee = w.get("embed.e", &[VOCAB])?;
    let sqrt_d = (d as f64).sqrt();
    let embed = em
        .chunks(d)
        .zip(ee)
        .flat_map(|(row, &e)| scaled(row, e, sqrt_d))
        .collect();
    out.insert("embed", vec![VOCAB, d], embed);
    let q_gain = std::f64::consts::LOG2_E / (hd as f64).sqrt();
    for i in 0..c.n_layers {
        let p = |s: &str| format!("layers.{i}.{s}");
        for (name, gain) in [("wq", q_gain), ("wk", 1.0), ("wv", 1.0), ("wo", 1.0)] {
            out.insert(p(name), vec![d, d], unlinear(w, &p(name), d, d, gain)?);
        }
        out.insert(p("fc1.w"), vec![d, h], unlinear(w, &p("fc1"), d, h, 1.0)?);
        out.insert(p("fc1.b"), vec![h], unvector(w, &p("fc1.b"), h, 1.0)?);
        out.insert(p("fc2.w"), vec![h, d], unlinear(w, &p("fc2"), h, d, 1.0)?);
        out.insert(p("fc2.b"), vec![d], unvector(w, &p("fc2.b"), d, 1.0)?);
        for t in ["ln1.gamma", "ln1.beta", "ln2.gamma", "ln2.beta"] {
            out.insert(p(t), vec![d], unvector(w, &p(t), d, 1.0)?);
        }
    }
    let log2e = std::f64::consts::LOG2_E;
    out.insert(
        "head.w",
        vec![d, VOCAB],
        unlinear(w, "head", d, VOCAB, log2e)?,
    );
    out.insert("head.b", vec![VOCAB], unvector(w, "head.b", VOCAB, log2e)?);
    let half = hd / 2;
    for name in ["rope.cos", "rope.sin"] {
        let t = w.get(name, &[c.context, half])?;
        out.insert(
            name,
            vec![c.context, half],
            scaled(t, -(ROPE_BITS as i32), 1.0),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dequantized_tensors_are_the_floats_within_a_step() {
        let file = crate::codecs::lm::tests::tiny_weights(3);
        let w = Weights::from_bytes(&file).expect("valid");
        let back = dequantize(&quantize(&w).expect("quantizes")).expect("dequantizes");
        for (name, (dims, v)) in &w.tensors {
            let got = back.get(name, dims).expect("every tensor comes back");
            let max = v.iter().fold(0f32, |a, x| a.max(x.abs()));
            for (a, b) in v.iter().zip(got) {
                // int8 per channel: at most half a step of 1/127 of the largest weight.
                assert!((a - b).abs() <= max / 250.0 + 1e-6, "{name}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn dequantized_shipped_model_costs_what_the_engine_does() {
        use crate::codecs::lm::LmCodec;
        let dir = crate::repo_root();
        let lmzi = std::fs::read(dir.join("models/200k/model.lmzi")).expect("shipped model");
        let text = std::fs::read(dir.join("tests/data/sample.txt")).expect("sample");
        let text = &text[..1024];
        let int = IntWeights::from_bytes(&lmzi).expect("valid");
        let float = dequantize(&int).expect("dequantizes").to_bytes();
        let engine = LmCodec::new("200k", &lmzi).expect("loads");
        let analysis = LmCodec::new("200k", &float).expect("loads");
        let (a, b) = (
            engine.costs(text, &mut |_| {}),
            analysis.costs(text, &mut |_| {}),
        );
        let (sa, sb) = (a.iter().sum::<f32>(), b.iter().sum::<f32>());
        assert!(
            (sa - sb).abs() < 0.01 * sa,
            "engine {sa} bits, dequantized {sb}"
        );
        let mean_gap = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
        assert!(mean_gap < 0.1, "bytes differ by {mean_gap} bits on average");
    }

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
