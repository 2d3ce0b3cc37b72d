//! The integer forward pass, one token at a time with an integer KV cache.
//!
//! Every value is an integer mantissa vector with one shared exponent (see [`super::fixed`]);
//! no value depends on float arithmetic (the one float, `isqrt`'s first guess, is corrected to
//! the exact integer root), so the frequency tables are the same bits on every target, and
//! a batched encoder would give the same tables as this incremental decoder by construction.

use super::file::IntWeights;
use super::fixed::{
    self, div_round, isqrt, normalize_into, normalize_wide, pow2_neg, rshift, shift, Divisor,
    ACT_BITS, EXP2_STEPS, EXP_BITS, GELU_ENTRIES, Q, QK_BITS, ROPE_BITS,
};
use super::kernels::{self, Packed, BLOCK};
use crate::coder::{FreqTable, TOTAL};
use crate::model::{ModelConfig, WeightsError, VOCAB};

/// Mantissa bits of the residual sum fed to LayerNorm.
const NORM_IN_BITS: u32 = 24;
/// Fractional bits of the normalised value inside LayerNorm.
const Z_BITS: u32 = 12;
/// Largest exponent gap bridged exactly when adding two vectors; beyond, the smaller is rounded.
const MAX_ALIGN: i32 = 30;

/// `y = x·W (+ b)`: int8 weights per output row, a fixed-point scale per output channel
/// (opaque outside the engine).
pub struct Linear {
    /// Its place among the model's linear maps (a GPU keeps their weights by it).
    #[cfg_attr(not(feature = "gpu-engine"), allow(dead_code))]
    pub(super) id: usize,
    pub(super) n_in: usize,
    /// Packed for [`kernels::matmul`], as bytes (checked to be int8 at load).
    pub(super) w: Vec<i8>,
    pub(super) mul: Vec<i32>,
    pub(super) e: i32,
    pub(super) bias: Option<(Vec<i64>, i32)>,
}

/// Where the products `x·W` of the linear maps run: this CPU's kernels, or a GPU. Integer sums
/// are the same bits wherever they are added up, so every backend gives the same tables.
pub trait Products {
    /// `sums[r · n_out + o] = Σ_k x[r · n_in + k] · W[o][k]` (wrapping i32) for `rows` rows.
    fn linear(&self, lin: &Linear, x: &[i16], rows: usize, sums: &mut [i32]);

    /// Layer `l`'s queries and keys (rotated to each row's position `pos(r)`, [`QK_BITS`]-bit
    /// mantissas) and values ([`ACT_BITS`]) for the rows of `x` (`d` wide, exponents `ex`), each
    /// into its `(mantissas, exponents)` of `outs`. False when this backend leaves it to the CPU.
    fn project(
        &self,
        _m: &IntModel,
        _l: &Layer,
        _x: &[i16],
        _ex: &[i32],
        _pos: &dyn Fn(usize) -> usize,
        _outs: [(&mut [i16], &mut [i32]); 3],
    ) -> bool {
        false
    }

    /// Every head's attention for the rows `from..from + eq.len()` of a window, row `r`
    /// against positions `0..=r` of `cache` ([`weigh`]'s rule), from their queries `q` (`d`
    /// wide, exponents `eq`) into `out` (`d` wide; exponent: the values' − 16). False when
    /// this backend leaves it to the CPU.
    fn attend_rows(
        &self,
        _m: &IntModel,
        _cache: &LayerCache,
        _q: &[i16],
        _eq: &[i32],
        _from: usize,
        _out: &mut [i64],
    ) -> bool {
        false
    }

    /// The rest of layer `l` after attention for the rows of `a` (`d` wide, exponents `ea`):
    /// the output projection, residual and LayerNorm, the MLP, residual and LayerNorm, taking
    /// the residual stream `x` (exponents `ex`) to the layer's output in place. False when
    /// this backend leaves it to the CPU.
    fn finish_layer(
        &self,
        _m: &IntModel,
        _l: &Layer,
        _a: &[i16],
        _ea: &[i32],
        _x: &mut [i16],
        _ex: &mut [i32],
    ) -> bool {
        false
    }

    /// The next byte's table for each row of final activations `x` (`d` wide, exponents `ex`):
    /// the head, then [`IntModel::table`], handed to `visit` with the row's index, in order.
    /// False when this backend leaves it to the CPU.
    fn tables(
        &self,
        _m: &IntModel,
        _x: &[i16],
        _ex: &[i32],
        _visit: &mut dyn FnMut(usize, FreqTable),
    ) -> bool {
        false
    }
}

/// The CPU's kernels.
#[derive(Clone, Copy, Default)]
pub struct Cpu;

impl Products for Cpu {
    #[inline(always)]
    fn linear(&self, lin: &Linear, x: &[i16], rows: usize, sums: &mut [i32]) {
        lin.products(x, rows, sums);
    }
}

impl Linear {
    fn load(
        w: &IntWeights,
        name: &str,
        id: usize,
        n_in: usize,
        n_out: usize,
        bias: bool,
    ) -> Result<Self, WeightsError> {
        let weights = w.get(&format!("{name}.w"), &[n_out, n_in])?;
        if weights.iter().any(|v| v.unsigned_abs() > 127) {
            return Err(WeightsError::Invalid(format!(
                "{name}: weights beyond int8"
            )));
        }
        let bias = if bias {
            Some(vector(w, &format!("{name}.b"), n_out)?)
        } else {
            None
        };
        Ok(Self {
            id,
            n_in,
            w: kernels::pack(&weights.iter().map(|&v| v as i8).collect::<Vec<_>>(), n_in),
            mul: w.get(&format!("{name}.mul"), &[n_out])?.to_vec(),
            e: exponent(w.scalar(&format!("{name}.e"))?, name)?,
            bias,
        })
    }

    /// Outputs of the map.
    pub(super) fn n_out(&self) -> usize {
        self.mul.len()
    }

    /// Writes `x·W (+ b)` as mantissas into `y` and returns their exponent.
    #[inline(always)]
    fn apply(&self, x: &[i16], ex: i32, y: &mut [i64], sums: &mut [i32]) -> i32 {
        let mut ey = [0];
        self.apply_rows(&Cpu, x, &[ex], y, &mut ey, sums);
        ey[0]
    }

    /// The products `x·W` of `rows` rows on this CPU, by blocks of weight rows that stay in
    /// cache while every row passes them.
    #[inline(always)]
    pub(super) fn products(&self, x: &[i16], rows: usize, sums: &mut [i32]) {
        let (n_in, n_out) = (self.n_in, self.n_out());
        let w = Packed::whole(&self.w, n_in);
        // Rows by the 16 KB that stay in L1 while the weights stream past.
        let chunk = (8192 / n_in).max(4);
        for r0 in (0..rows).step_by(chunk) {
            let r1 = (r0 + chunk).min(rows);
            let (x, out) = (&x[r0 * n_in..r1 * n_in], &mut sums[r0 * n_out..]);
            kernels::matmul(x, n_in, r1 - r0, n_in, w, out, n_out);
        }
    }

    /// [`Linear::apply`] on every row of `x` (`n_in` wide) into the rows of `y`, each row's
    /// exponent into `ey`: the same arithmetic per row, the products wherever `p` runs them.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(super) fn apply_rows<P: Products>(
        &self,
        p: &P,
        x: &[i16],
        ex: &[i32],
        y: &mut [i64],
        ey: &mut [i32],
        sums: &mut [i32],
    ) {
        p.linear(self, x, ex.len(), sums);
        self.finish_rows(sums, ex, y, ey);
    }

    /// The rest of [`Linear::apply_rows`] once the products are in `sums`: each row scaled,
    /// the bias added at the row's exponent.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(super) fn finish_rows(&self, sums: &[i32], ex: &[i32], y: &mut [i64], ey: &mut [i32]) {
        let n_out = self.n_out();
        for (r, (e, &xe)) in ey.iter_mut().zip(ex).enumerate() {
            *e = xe + self.e;
            let row = &mut y[r * n_out..(r + 1) * n_out];
            for ((o, &s), &m) in row.iter_mut().zip(&sums[r * n_out..]).zip(&self.mul) {
                *o = i64::from(s) * i64::from(m);
            }
            if let Some((b, be)) = &self.bias {
                // `shift(bv, be - e)`, its direction decided once per row.
                let k = be - *e;
                if k >= 0 {
                    let k = k.min(62) as u32;
                    for (o, &bv) in row.iter_mut().zip(b) {
                        *o = o.saturating_add(fixed::shl_sat(bv, k));
                    }
                } else {
                    let s = k.unsigned_abs();
                    for (o, &bv) in row.iter_mut().zip(b) {
                        *o = o.saturating_add(rshift(bv, s));
                    }
                }
            }
        }
    }
}

/// LayerNorm with gain and offset as block-exponent vectors.
pub(super) struct Norm {
    pub(super) gain: (Vec<i64>, i32),
    /// The offset already at the exponent of `z · gain` (fixed per model).
    pub(super) offset: Vec<i64>,
}

impl Norm {
    fn load(w: &IntWeights, name: &str, d: usize) -> Result<Self, WeightsError> {
        let gain = vector(w, &format!("{name}.gamma"), d)?;
        let (b, be) = vector(w, &format!("{name}.beta"), d)?;
        let ez = gain.1 - Z_BITS as i32;
        let offset = b.iter().map(|&v| shift(v, be - ez)).collect();
        Ok(Self { gain, offset })
    }

    /// Normalises `m` (wide mantissas of at most [`NORM_IN_BITS`] bits, as [`add`] leaves
    /// them; the shared exponent cancels out) into `out`; returns the exponent of `out`. The
    /// variance floor (ε) is left out: the residual sums it sees are never constant vectors,
    /// and a constant vector comes out as the offset alone.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(super) fn apply(&self, m: &mut [i64], out: &mut [i16], tmp: &mut [i64]) -> i32 {
        let d = m.len() as i64;
        let mean = div_round(m.iter().sum(), d);
        // Centred values have at most 25 bits: squares 50, their sum (d ≤ 2048) 61.
        let mut sq = 0u64;
        for v in m.iter_mut() {
            *v -= mean;
            sq += v.unsigned_abs() * v.unsigned_abs();
        }
        // σ in mantissa units, with 16 fractional bits.
        let sigma = isqrt((u128::from(sq) << 32) / d as u128) as i64;
        let by_sigma = Divisor::new(sigma as u64);
        let ez = self.gain.1 - Z_BITS as i32;
        for (((t, &v), &g), &b) in tmp
            .iter_mut()
            .zip(m.iter())
            .zip(&self.gain.0)
            .zip(&self.offset)
        {
            let z = if sigma == 0 {
                0
            } else {
                by_sigma.div_round(v << (Z_BITS + 16))
            };
            *t = (z * g).saturating_add(b);
        }
        normalize_into(tmp, ez, ACT_BITS, out)
    }
}

/// One transformer block's maps and norms (opaque outside the engine).
pub struct Layer {
    pub(super) wq: Linear,
    pub(super) wk: Linear,
    pub(super) wv: Linear,
    pub(super) wo: Linear,
    pub(super) fc1: Linear,
    pub(super) fc2: Linear,
    pub(super) ln1: Norm,
    pub(super) ln2: Norm,
}

/// The integer model, ready to run.
pub struct IntModel {
    config: ModelConfig,
    pub(super) embed: Vec<i16>,
    pub(super) embed_e: Vec<i32>,
    pub(super) layers: Vec<Layer>,
    pub(super) head: Linear,
    pub(super) cos: Vec<i64>,
    pub(super) sin: Vec<i64>,
    pub(super) exp2: Box<[i32; EXP2_STEPS]>,
    pub(super) gelu: Box<[i32; GELU_ENTRIES + 1]>,
}

fn wide(v: &[i32]) -> Vec<i64> {
    v.iter().map(|&x| i64::from(x)).collect()
}

fn vector(w: &IntWeights, name: &str, n: usize) -> Result<(Vec<i64>, i32), WeightsError> {
    Ok((
        wide(w.get(&format!("{name}.m"), &[n])?),
        exponent(w.scalar(&format!("{name}.e"))?, name)?,
    ))
}

/// A lookup table of a fixed length, boxed (its length was checked when it was read).
fn boxed_table<const N: usize>(v: &[i32], name: &str) -> Result<Box<[i32; N]>, WeightsError> {
    v.to_vec()
        .into_boxed_slice()
        .try_into()
        .map_err(|_| WeightsError::Invalid(format!("{name}: not {N} entries")))
}

/// Largest exponent magnitude a model file may hold: far beyond any real tensor's, small enough
/// that no sum of exponents in the forward pass can overflow.
const MAX_EXPONENT: i32 = 1 << 12;

/// An exponent read from a model file, if it is in range.
fn exponent(e: i32, name: &str) -> Result<i32, WeightsError> {
    if e.unsigned_abs() > MAX_EXPONENT as u32 {
        return Err(WeightsError::Invalid(format!(
            "{name}: exponent {e} out of range"
        )));
    }
    Ok(e)
}

impl IntModel {
    /// Checks every tensor's shape and range and builds the model.
    pub fn new(w: &IntWeights) -> Result<Self, WeightsError> {
        let c = w.config;
        c.validate().map_err(|e| WeightsError::Invalid(e.into()))?;
        let (d, h) = (c.d_model, c.widening * c.d_model);
        if h > 2048 || c.head_dim() > 64 || !c.head_dim().is_multiple_of(BLOCK) {
            return Err(WeightsError::Invalid(format!(
                "the integer engine supports fan-in up to 2048 and heads up to 64 wide, in \
                 multiples of {BLOCK}"
            )));
        }
        let mut layers = Vec::with_capacity(c.n_layers);
        for i in 0..c.n_layers {
            let p = |s: &str| format!("layers.{i}.{s}");
            let id = 6 * i;
            layers.push(Layer {
                wq: Linear::load(w, &p("wq"), id, d, d, false)?,
                wk: Linear::load(w, &p("wk"), id + 1, d, d, false)?,
                wv: Linear::load(w, &p("wv"), id + 2, d, d, false)?,
                wo: Linear::load(w, &p("wo"), id + 3, d, d, false)?,
                fc1: Linear::load(w, &p("fc1"), id + 4, d, h, true)?,
                fc2: Linear::load(w, &p("fc2"), id + 5, h, d, true)?,
                ln1: Norm::load(w, &p("ln1"), d)?,
                ln2: Norm::load(w, &p("ln2"), d)?,
            });
        }
        let embed = w.get("embed.m", &[VOCAB, d])?;
        if embed.iter().any(|v| v.unsigned_abs() > 1 << ACT_BITS) {
            return Err(WeightsError::Invalid("embedding beyond its bits".into()));
        }
        let embed_e = w.get("embed.e", &[VOCAB])?;
        for &e in embed_e {
            exponent(e, "embed")?;
        }
        // The softmax's 2^-x table: positive, at most 2^EXP_BITS, falling (the frequency tables
        // and attention weights rely on it; a hostile file could otherwise break them).
        let exp2 = w.get("lut.exp2", &[EXP2_STEPS])?;
        if exp2.iter().any(|&v| v <= 0 || v > 1 << EXP_BITS) || exp2.windows(2).any(|p| p[1] > p[0])
        {
            return Err(WeightsError::Invalid(
                "lut.exp2 is not a table of 2^-x".into(),
            ));
        }
        // GELU in Q16 is at most 8·2^16 in size; a table beyond 2^20 is no GELU (and the
        // interpolation relies on the bound to fit 32 bits).
        let gelu = w.get("lut.gelu", &[GELU_ENTRIES + 1])?;
        if gelu.iter().any(|v| v.unsigned_abs() > 1 << 20) {
            return Err(WeightsError::Invalid("lut.gelu is not a GELU table".into()));
        }
        let half = c.head_dim() / 2;
        let rope = |name: &str| -> Result<Vec<i64>, WeightsError> {
            let t = w.get(name, &[c.context, half])?;
            if t.iter().any(|v| v.unsigned_abs() > 1 << ROPE_BITS) {
                return Err(WeightsError::Invalid(format!("{name} beyond its bits")));
            }
            Ok(wide(t))
        };
        Ok(Self {
            config: c,
            embed: embed.iter().map(|&v| v as i16).collect(),
            embed_e: embed_e.to_vec(),
            layers,
            head: Linear::load(w, "head", 6 * c.n_layers, d, VOCAB, true)?,
            cos: rope("rope.cos")?,
            sin: rope("rope.sin")?,
            exp2: boxed_table(exp2, "lut.exp2")?,
            gelu: boxed_table(gelu, "lut.gelu")?,
        })
    }

    /// The model's shape.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Every linear map, in the order of their ids.
    #[cfg_attr(not(feature = "gpu-engine"), allow(dead_code))]
    pub(super) fn linears(&self) -> impl Iterator<Item = &Linear> {
        self.layers
            .iter()
            .flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.fc1, &l.fc2])
            .chain([&self.head])
    }

    /// A fresh context (no tokens seen).
    pub fn session(&self) -> IntSession<'_> {
        let c = &self.config;
        self.session_with((0..c.n_layers).map(|_| LayerCache::new(c)).collect(), 0)
    }

    /// A session whose layers' caches hold `pos` positions.
    pub(super) fn session_with(&self, caches: Vec<LayerCache>, pos: usize) -> IntSession<'_> {
        let c = &self.config;
        let (d, h) = (c.d_model, c.widening * c.d_model);
        IntSession {
            m: self,
            pos,
            caches,
            x: vec![0; d],
            q: vec![0; d],
            kv: vec![0; d],
            v: vec![0; d],
            a: vec![0; d],
            wide: vec![0; h.max(VOCAB)],
            wide2: vec![0; h.max(VOCAB)],
            hidden: vec![0; h],
            sums: vec![0; h.max(VOCAB)],
            scratch: Scratch::new(c),
        }
    }

    /// Integer frequencies from integer logits: softmax weights by the exp table, every symbol
    /// ≥ 1, the rounding remainder to the most likely symbol (the first, on ties).
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(super) fn table(&self, logits: &[i64], e: i32) -> FreqTable {
        let bound = 1i64 << 40;
        let mut best = 0;
        let mut fixed_logits = [0i64; VOCAB];
        for (j, &l) in logits.iter().enumerate() {
            fixed_logits[j] = shift(l, e + Q as i32).clamp(-bound, bound);
            if fixed_logits[j] > fixed_logits[best] {
                best = j;
            }
        }
        let top = fixed_logits[best];
        let mut weights = [0i64; VOCAB];
        let mut sum = 0i64;
        for (w, &f) in weights.iter_mut().zip(&fixed_logits) {
            *w = pow2_neg(top - f, &self.exp2);
            sum += *w;
        }
        let spare = i64::from(TOTAL) - VOCAB as i64;
        let mut freqs = [1u32; VOCAB];
        let mut used = 0i64;
        let by_sum = Divisor::new(sum as u64);
        for (f, &w) in freqs.iter_mut().zip(&weights) {
            let share = by_sum.div((w * spare) as u64) as i64;
            *f += share as u32;
            used += share;
        }
        freqs[best] += (spare - used) as u32;
        FreqTable::from_freqs(&freqs).expect("every symbol ≥ 1, total exact")
    }
}

/// A running context: feed tokens, get the next byte's frequency table.
pub struct IntSession<'m> {
    m: &'m IntModel,
    pos: usize,
    caches: Vec<LayerCache>,
    x: Vec<i16>,
    q: Vec<i16>,
    kv: Vec<i16>,
    v: Vec<i16>,
    a: Vec<i16>,
    wide: Vec<i64>,
    wide2: Vec<i64>,
    hidden: Vec<i16>,
    sums: Vec<i32>,
    scratch: Scratch,
}

/// One layer's keys and values so far, each kind under one shared exponent, packed per head
/// for [`kernels::matmul`]: keys as a matrix whose outputs are positions (scores are one
/// product), values as one whose inputs are positions (weighted sums are one product).
pub struct LayerCache {
    keys: Vec<i16>,
    key_e: i32,
    values: Vec<i16>,
    value_e: i32,
    heads: usize,
    hd: usize,
    /// Positions room is kept for: the context, rounded up to whole blocks.
    cap: usize,
}

impl LayerCache {
    pub(super) fn new(c: &ModelConfig) -> Self {
        let cap = c.context.next_multiple_of(BLOCK);
        Self {
            keys: vec![0; cap * c.d_model],
            key_e: 0,
            values: vec![0; cap * c.d_model],
            value_e: 0,
            heads: c.n_heads,
            hd: c.head_dim(),
            cap,
        }
    }

    /// Stores position `pos`'s key and value (mantissas with their exponents; both may be
    /// rescaled in place), rescaling the cache when the new exponent is the larger.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub(super) fn push(&mut self, k: &mut [i16], ek: i32, v: &mut [i16], ev: i32, pos: usize) {
        let first = pos == 0;
        let (hd, cap) = (self.hd, self.cap);
        let region = cap * hd;
        // Positions before `pos` (and at most the rest of their block, which no query weighs).
        if let Some(s) = share_exponent(&mut self.key_e, k, ek, first) {
            let used = pos.div_ceil(BLOCK) * BLOCK * hd;
            for head in self.keys.chunks_exact_mut(region) {
                rescale(&mut head[..used], s);
            }
        }
        if let Some(s) = share_exponent(&mut self.value_e, v, ev, first) {
            let used = pos.div_ceil(2) * 2 * BLOCK;
            for block in self.values.chunks_exact_mut(cap * BLOCK) {
                rescale(&mut block[..used], s);
            }
        }
        for head in 0..self.heads {
            let (keys, values) = (
                &mut self.keys[head * region..(head + 1) * region],
                &mut self.values[head * region..(head + 1) * region],
            );
            for j in 0..hd {
                keys[kernels::packed_index(pos, j, hd * BLOCK)] = k[head * hd + j];
                values[kernels::packed_index(j, pos, cap * BLOCK)] = v[head * hd + j];
            }
        }
    }

    /// The packed keys and values of every head (each head's `cap · head_dim` apart), and
    /// `cap`: the positions there is room for.
    #[cfg_attr(not(feature = "gpu-engine"), allow(dead_code))]
    pub(super) fn raw(&self) -> (&[i16], &[i16], usize) {
        (&self.keys, &self.values, self.cap)
    }

    /// The exponent shared by every cached value.
    pub(super) fn value_e(&self) -> i32 {
        self.value_e
    }

    /// The exponent shared by every cached key.
    pub(super) fn key_e(&self) -> i32 {
        self.key_e
    }

    /// Head `head`'s keys of the first `n` positions (and the rest of the last block), as a
    /// matrix whose outputs are positions.
    pub(super) fn keys(&self, head: usize, n: usize) -> Packed<'_> {
        let region = self.cap * self.hd;
        Packed {
            w: &self.keys[head * region..(head + 1) * region],
            stride: self.hd * BLOCK,
            blocks: n.div_ceil(BLOCK),
        }
    }

    /// Head `head`'s values, as a matrix whose inputs are positions.
    pub(super) fn values(&self, head: usize) -> Packed<'_> {
        let region = self.cap * self.hd;
        Packed {
            w: &self.values[head * region..(head + 1) * region],
            stride: self.cap * BLOCK,
            blocks: self.hd / BLOCK,
        }
    }
}

/// Per-query attention buffers: scores per head (rows of a block's width), and the rest.
pub(super) struct Scratch {
    pub(super) scores: Vec<i32>,
    pub(super) soft: Softmax,
}

/// One head's softmax weights and probabilities per position, and its weighted sums.
pub(super) struct Softmax {
    weights: Vec<u32>,
    probs: Vec<i16>,
    sums: Vec<i32>,
}

impl Scratch {
    pub(super) fn new(c: &ModelConfig) -> Self {
        Self {
            scores: vec![0; c.context.next_multiple_of(BLOCK) * c.n_heads],
            soft: Softmax::new(c),
        }
    }
}

impl Softmax {
    pub(super) fn new(c: &ModelConfig) -> Self {
        let cap = c.context.next_multiple_of(BLOCK);
        Self {
            weights: vec![0; cap],
            probs: vec![0; cap],
            sums: vec![0; c.head_dim()],
        }
    }
}

/// Every head's softmax-weighted sum of values for query `q` (exponent `eq`) against the first
/// `n` positions of `cache`, as mantissas into `out` (exponent: the values' exponent − 16).
#[inline(always)]
pub(super) fn attend(
    m: &IntModel,
    cache: &LayerCache,
    q: &[i16],
    eq: i32,
    n: usize,
    s: &mut Scratch,
    out: &mut [i64],
) {
    let c = &m.config;
    let (hd, d) = (c.head_dim(), c.d_model);
    let width = n.next_multiple_of(BLOCK);
    for head in 0..c.n_heads {
        let scores = &mut s.scores[head * width..(head + 1) * width];
        kernels::matmul(
            &q[head * hd..],
            d,
            1,
            hd,
            cache.keys(head, n),
            scores,
            width,
        );
    }
    for head in 0..c.n_heads {
        let scores = &s.scores[head * width..head * width + n];
        let out = &mut out[head * hd..(head + 1) * hd];
        weigh(
            m,
            eq + cache.key_e(),
            scores,
            cache.values(head),
            &mut s.soft,
            out,
        );
    }
}

/// One head's weighted sum of `values` (mantissas into `out`, exponent: the values' − 16) by
/// the softmax of `scores` (a query against keys, whose two exponents sum to `eqk`).
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
#[cfg_attr(target_arch = "wasm32", inline(never))]
pub(super) fn weigh(
    m: &IntModel,
    eqk: i32,
    scores: &[i32],
    values: Packed<'_>,
    s: &mut Softmax,
    out: &mut [i64],
) {
    let n = scores.len();
    // Scores are in log2 units (the export folded log2 e into the queries): a dot
    // product's distance to the best one, shifted to Q16, indexes the 2^-x table.
    let to_q = eqk + Q as i32;
    let max = scores.iter().copied().max().unwrap_or(0);
    let total = kernels::softmax_weights(scores, max, to_q, &m.exp2, &mut s.weights[..n]);
    // Weights scaled to sum to at most 2^15: every product with a value fits 28
    // bits, the weighted sum an i32.
    let sh = (64 - total.leading_zeros()).saturating_sub(15);
    let psum = to_probs(&s.weights[..n], sh, &mut s.probs[..n]);
    let n2 = n.next_multiple_of(2);
    s.probs[n..n2].fill(0);
    kernels::matmul(&s.probs, 0, 1, n2, values, &mut s.sums, 0);
    let by_psum = Divisor::new(psum.max(1) as u64);
    for (o, &sum) in out.iter_mut().zip(&s.sums) {
        *o = by_psum.div_round(i64::from(sum) << 16);
    }
}

/// Rotates each head's halves by the position's angles (cos/sin in [`ROPE_BITS`] fixed point).
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
#[cfg_attr(target_arch = "wasm32", inline(never))]
pub(super) fn rotate(v: &mut [i64], heads: usize, cos: &[i64], sin: &[i64]) {
    let hd = v.len() / heads;
    let half = hd / 2;
    for head in v.chunks_exact_mut(hd) {
        for i in 0..half {
            let (a, b) = (head[i], head[half + i]);
            head[i] = rshift(a * cos[i] - b * sin[i], ROPE_BITS);
            head[half + i] = rshift(a * sin[i] + b * cos[i], ROPE_BITS);
        }
    }
}

/// `x + y` into `out` as wide mantissas, `x` narrow, `y` wide. The sum's exponent is dropped:
/// only LayerNorm, which cancels it, reads the sum.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
#[cfg_attr(target_arch = "wasm32", inline(never))]
pub(super) fn add(x: &[i16], ex: i32, y: &mut [i64], ey: i32, out: &mut [i64]) {
    let ey = normalize_wide(y, ey, NORM_IN_BITS);
    let e0 = ex.min(ey).max(ex.max(ey) - MAX_ALIGN);
    // Each side's shift direction decided once: `shift(a, ex − e0) + shift(b, ey − e0)`.
    let (kx, ky) = (ex - e0, ey - e0);
    if kx >= 0 && ky >= 0 {
        let (kx, ky) = (kx.min(62) as u32, ky.min(62) as u32);
        for ((o, &a), &b) in out.iter_mut().zip(x).zip(y.iter()) {
            *o = fixed::shl_sat(i64::from(a), kx) + fixed::shl_sat(b, ky);
        }
    } else {
        for ((o, &a), &b) in out.iter_mut().zip(x).zip(y.iter()) {
            *o = shift(i64::from(a), kx) + shift(b, ky);
        }
    }
    normalize_wide(out, e0, NORM_IN_BITS);
}

/// Weights shifted right by `sh` (rounded, capped to i16) into `out`; returns their sum.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
#[cfg_attr(target_arch = "wasm32", inline(never))]
fn to_probs(weights: &[u32], sh: u32, out: &mut [i16]) -> i32 {
    let mut sum = 0i32;
    if sh >= 32 {
        // Only past 2^21 positions of equal weight: never in a shipped context.
        for (p, &w) in out.iter_mut().zip(weights) {
            *p = ((u64::from(w) + (1u64 << (sh - 1))) >> sh).min(32767) as i16;
            sum += i32::from(*p);
        }
        return sum;
    }
    // Weights are at most 2^30: with `sh` below 32, u32 holds every sum here.
    let half = (1u32 << sh) >> 1;
    for (p, &w) in out.iter_mut().zip(weights) {
        *p = ((w + half) >> sh).min(32767) as i16;
        sum += i32::from(*p);
    }
    sum
}

/// Brings a new vector and a cache to one shared exponent: the larger of the two, rounding
/// the other down. `new` is rescaled here; the returned shift, when the new exponent is the
/// larger, is what the caller's cache must be shifted right by (a few times per window).
#[inline(always)]
fn share_exponent(cache_e: &mut i32, new: &mut [i16], e: i32, first: bool) -> Option<u32> {
    if first {
        *cache_e = e;
        None
    } else if e > *cache_e {
        let s = (e - *cache_e) as u32;
        *cache_e = e;
        Some(s)
    } else {
        rescale(new, (*cache_e - e) as u32);
        None
    }
}

/// Mantissas shifted right by `s`, rounded.
#[inline(always)]
fn rescale(v: &mut [i16], s: u32) {
    if s > 0 {
        for x in v.iter_mut() {
            *x = rshift(i64::from(*x), s) as i16;
        }
    }
}

impl IntSession<'_> {
    /// Tokens fed so far.
    pub fn len(&self) -> usize {
        self.pos
    }

    /// True before the first token.
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// Feeds `token` at the next position and returns the frequency table of the byte after
    /// it. Feed 0 first to get the first byte's table, as in training.
    ///
    /// # Panics
    /// When called more than `context` times.
    pub fn step(&mut self, token: u8) -> FreqTable {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.step_avx2(token) };
        }
        self.step_portable(token)
    }

    /// The same code compiled for AVX2: integers give the same results in any instruction set.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn step_avx2(&mut self, token: u8) -> FreqTable {
        self.step_portable(token)
    }

    #[inline(always)]
    fn step_portable(&mut self, token: u8) -> FreqTable {
        let m = self.m;
        let c = &m.config;
        assert!(self.pos < c.context, "context of {} exhausted", c.context);
        let (d, hd, heads) = (c.d_model, c.head_dim(), c.n_heads);
        let h = c.widening * d;
        let half = hd / 2;
        let t = token as usize;
        self.x.copy_from_slice(&m.embed[t * d..(t + 1) * d]);
        let mut ex = m.embed_e[t];
        let cos = &m.cos[self.pos * half..(self.pos + 1) * half];
        let sin = &m.sin[self.pos * half..(self.pos + 1) * half];
        let n = self.pos + 1;
        for (li, l) in m.layers.iter().enumerate() {
            let wide = &mut self.wide[..d];
            let eq = l.wq.apply(&self.x, ex, wide, &mut self.sums);
            rotate(wide, heads, cos, sin);
            let eq = normalize_into(wide, eq, QK_BITS, &mut self.q);
            let ek = l.wk.apply(&self.x, ex, wide, &mut self.sums);
            rotate(wide, heads, cos, sin);
            let ek = normalize_into(wide, ek, QK_BITS, &mut self.kv);
            let ev = l.wv.apply(&self.x, ex, wide, &mut self.sums);
            let ev = normalize_into(wide, ev, ACT_BITS, &mut self.v);
            let cache = &mut self.caches[li];
            cache.push(&mut self.kv, ek, &mut self.v, ev, self.pos);
            let out = &mut self.wide2[..d];
            attend(m, cache, &self.q, eq, n, &mut self.scratch, out);
            let ve = cache.value_e();
            let ea = normalize_into(&self.wide2[..d], ve - 16, ACT_BITS, &mut self.a);
            let ey = l.wo.apply(&self.a, ea, wide, &mut self.sums);
            let sum_buf = &mut self.wide2[..d];
            add(&self.x, ex, wide, ey, sum_buf);
            ex = l.ln1.apply(sum_buf, &mut self.x, &mut self.wide[..d]);

            let hid = &mut self.wide[..h];
            let eh = l.fc1.apply(&self.x, ex, hid, &mut self.sums);
            kernels::gelu_row(hid, eh + Q as i32, &m.gelu);
            let eg = normalize_into(hid, -(Q as i32), ACT_BITS, &mut self.hidden);
            let y = &mut self.wide[..d];
            let ey = l.fc2.apply(&self.hidden, eg, y, &mut self.sums);
            let sum_buf = &mut self.wide2[..d];
            add(&self.x, ex, y, ey, sum_buf);
            ex = l.ln2.apply(sum_buf, &mut self.x, &mut self.wide[..d]);
        }
        self.pos = n;
        let logits = &mut self.wide[..VOCAB];
        let el = m.head.apply(&self.x, ex, logits, &mut self.sums);
        m.table(logits, el)
    }
}
