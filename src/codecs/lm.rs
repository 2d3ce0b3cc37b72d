//! The language-model codecs: the transformer's next-byte distribution → integer frequencies
//! → the range coder, window after window of at most `context` bytes: each window after the
//! first starts an eighth of a context back, so it codes its bytes with that much seen
//! ([`Windows`]).
//!
//! `lm-<name>` runs the integer engine (an `.lmzi` file): its tables are the same bits on every
//! machine, so its `.lmz` files travel. `lm-<name>-float` runs the float weights (`.lmzw`) for
//! analysis: the model's own ideal code length, with portable f32 arithmetic that agrees
//! between this machine and wasm but promises nothing across CPUs and GPUs in general.
//! Encoder and decoder step the same session token by token, so they see identical tables.

use super::{Codec, CodecError};
use crate::coder::{FreqTable, RangeDecoder, RangeEncoder, TOTAL};
use crate::container::ModelId;
use crate::engine::{IntLanes, IntModel, IntSession, IntWeights, Products};
use crate::modality::Layout;
use crate::model::{self, FloatModel, ModelConfig, Session, Weights, VOCAB};
use std::sync::{Mutex, RwLock};

/// Suffix of the float analysis codec's name.
pub const FLOAT_SUFFIX: &str = "-float";

enum Net {
    Float(FloatModel),
    Int(IntModel),
}

enum Stepper<'a> {
    Float(Session<'a>),
    Int(Box<IntSession<'a>>),
}

impl Stepper<'_> {
    /// Tokens fed so far.
    fn len(&self) -> usize {
        match self {
            Stepper::Float(s) => s.len(),
            Stepper::Int(s) => s.len(),
        }
    }

    /// The next byte's table, and the float model's log-probabilities where there are some.
    fn next(&mut self, prev: u8) -> (FreqTable, Option<[f32; VOCAB]>) {
        match self {
            Stepper::Float(s) => {
                let logp = s.step(prev);
                (table_from_logp(&logp), Some(logp))
            }
            Stepper::Int(s) => (s.step(prev), None),
        }
    }
}

/// How a model codec lays its windows over the bytes it codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Windows {
    /// Independent windows of `context` bytes, each from a cold start: `.lmz` version 1.
    Cold,
    /// Each window after the first holds the last eighth of the one before as context: on the
    /// first 256 KiB of dev text in 2,048-byte chunks lm-3m codes 36.19 % cold, 35.75 % so,
    /// for 1.11 × the work (a quarter: 35.41 % for 1.24 ×; a half: 35.16 % for 1.7 ×).
    Sliding,
}

impl Windows {
    /// How an `.lmz` of format `version` laid its model chunks' windows.
    pub fn of_container(version: u8) -> Self {
        if version < 2 {
            Self::Cold
        } else {
            Self::Sliding
        }
    }

    /// How far the window moves for a context of `w` bytes.
    pub fn stride(self, w: usize) -> usize {
        match self {
            Self::Cold => w,
            Self::Sliding => (w - w / 8).max(1),
        }
    }
}

/// Where the window after byte `r` lies when `len` bytes are coded with a context of `w`
/// moving by `stride`: `(o, end)`, the window starting at byte `o` codes bytes `r..end` with
/// bytes `o..r` as context. The first window codes `w` bytes from nothing; each later one
/// `stride` bytes after `w - stride` bytes of the one before.
fn region_at(r: usize, len: usize, w: usize, stride: usize) -> (usize, usize) {
    let stride = stride.clamp(1, w);
    if r == 0 {
        (0, w.min(len))
    } else {
        (r + stride - w, (r + stride).min(len))
    }
}

/// Every window over `len` bytes, as [`region_at`]: `(o, r, end)`.
pub(crate) fn regions(
    len: usize,
    w: usize,
    stride: usize,
) -> impl Iterator<Item = (usize, usize, usize)> {
    let mut r = 0;
    std::iter::from_fn(move || {
        (r < len).then(|| {
            let (o, end) = region_at(r, len, w, stride);
            let at = r;
            r = end;
            (o, at, end)
        })
    })
}

/// An engine session that has seen `context` (the bytes a window holds before the next byte to
/// code), and the byte to feed it next: the window is 0 and all but the last byte, fed as one
/// batch.
pub(crate) fn resume<'m>(m: &'m IntModel, context: &[u8]) -> (IntSession<'m>, u8) {
    let mut tokens = Vec::with_capacity(context.len());
    let last = window_tokens(context, &mut tokens);
    (m.prefill(&tokens), last)
}

/// The tokens a window fed `context` holds before its next byte: 0, then all of `context`
/// but its last byte, which is fed next.
fn window_tokens(context: &[u8], tokens: &mut Vec<u8>) -> u8 {
    tokens.clear();
    match context.split_last() {
        None => 0,
        Some((&last, rest)) => {
            tokens.push(0);
            tokens.extend_from_slice(rest);
            last
        }
    }
}

/// A loaded model as a codec: `lm-<name>` (integer engine) or `lm-<name>-float`.
pub struct LmCodec {
    name: &'static str,
    setting: &'static str,
    net: Net,
    id: ModelId,
    /// The model's weights on the GPU chosen by [`use_gpu`], uploaded at first use.
    #[cfg(feature = "gpu-engine")]
    on_gpu: std::sync::OnceLock<Option<crate::engine::gpu::GpuModel>>,
}

/// The GPU every integer model runs its products on, once [`use_gpu`] chose one.
#[cfg(feature = "gpu-engine")]
static GPU: std::sync::OnceLock<std::sync::Arc<crate::engine::gpu::Gpu>> =
    std::sync::OnceLock::new();

/// Runs every integer model's products on `gpu` from now on (the CLI's `--device gpu`): the
/// same tables, so the same `.lmz` bytes, as on the CPU. The first choice stays.
#[cfg(feature = "gpu-engine")]
pub fn use_gpu(gpu: std::sync::Arc<crate::engine::gpu::Gpu>) {
    let _ = GPU.set(gpu);
}

/// Integer frequencies from log-probabilities: every symbol ≥ 1, the rest in proportion,
/// the rounding remainder to the most likely symbol. Integer-exact given the same floats.
pub fn table_from_logp(logp: &[f32; VOCAB]) -> FreqTable {
    let spare = (TOTAL - VOCAB as u32) as f32;
    let mut freqs = [1u32; VOCAB];
    let mut used = VOCAB as u32;
    let mut best = 0;
    for (i, &lp) in logp.iter().enumerate() {
        let share = (model::portable_exp(lp) * spare) as u32;
        freqs[i] += share;
        used += share;
        if logp[i] > logp[best] {
            best = i;
        }
    }
    // Floors never overshoot: Σ p ≤ 1 up to rounding, and the clamp keeps the total exact.
    if used > TOTAL {
        freqs[best] -= (used - TOTAL).min(freqs[best] - 1);
        used = freqs.iter().sum();
    }
    freqs[best] += TOTAL - used.min(TOTAL);
    FreqTable::from_freqs(&freqs).expect("valid by construction")
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

impl LmCodec {
    /// Loads a model file as a codec: integer (`.lmzi`) as `lm-<name>`, float weights
    /// (`.lmzw`) as `lm-<name>-float`; the format is told by the file's magic.
    pub fn new(name: &str, file: &[u8]) -> Result<Self, CodecError> {
        let bad = |e: model::WeightsError| CodecError::Encode {
            codec: "lm",
            reason: e.to_string(),
        };
        let (net, full, kind) = if file.starts_with(b"LMZI") {
            let w = IntWeights::from_bytes(file).map_err(bad)?;
            let m = IntModel::new(&w).map_err(bad)?;
            (Net::Int(m), format!("lm-{name}"), "integer engine")
        } else {
            let w = Weights::from_bytes(file).map_err(bad)?;
            let m = FloatModel::new(&w).map_err(bad)?;
            (
                Net::Float(m),
                format!("lm-{name}{FLOAT_SUFFIX}"),
                "float analysis path",
            )
        };
        let c = match &net {
            Net::Float(m) => *m.config(),
            Net::Int(m) => *m.config(),
        };
        Ok(Self {
            name: leak(full.clone()),
            setting: leak(format!(
                "transformer d={} L={} H={}, {} params, {}-byte windows sliding by {}, {kind}",
                c.d_model,
                c.n_layers,
                c.n_heads,
                c.param_count(),
                c.context,
                Windows::Sliding.stride(c.context)
            )),
            net,
            id: ModelId {
                name: full,
                sha256: model::sha256(file),
            },
            #[cfg(feature = "gpu-engine")]
            on_gpu: std::sync::OnceLock::new(),
        })
    }

    /// The model on the chosen GPU, if one was chosen and this codec runs the integer engine.
    #[cfg(feature = "gpu-engine")]
    fn gpu_model(&self) -> Option<&crate::engine::gpu::GpuModel> {
        if !crate::engine::gpu::can_wait() {
            return None;
        }
        let m = self.int_model()?;
        let gpu = GPU.get()?;
        self.on_gpu.get_or_init(|| Some(gpu.load(m))).as_ref()
    }

    /// True when this codec's products run on a GPU and none has failed there.
    pub fn on_gpu(&self) -> bool {
        #[cfg(feature = "gpu-engine")]
        if let Some(g) = self.gpu_model() {
            return !g.fell_back();
        }
        false
    }

    /// True once this codec's products have run on a GPU, none of them falling back to the CPU.
    #[cfg(feature = "gpu-engine")]
    pub fn ran_on_gpu(&self) -> bool {
        self.on_gpu
            .get()
            .and_then(Option::as_ref)
            .is_some_and(|g| !g.fell_back())
    }

    /// [`IntModel::window_tables_from`] on the chosen device (the same tables on each).
    pub(crate) fn window_tables_from(
        &self,
        m: &IntModel,
        tokens: &[u8],
        from: usize,
        visit: &mut dyn FnMut(FreqTable),
    ) {
        #[cfg(feature = "gpu-engine")]
        if let Some(g) = self.gpu_model() {
            return g.window_tables_from(m, tokens, from, visit);
        }
        m.window_tables_from(tokens, from, visit)
    }

    /// The model's identity for `.lmz` headers.
    pub fn model_id(&self) -> &ModelId {
        &self.id
    }

    /// The model's shape.
    pub fn config(&self) -> &ModelConfig {
        match &self.net {
            Net::Float(m) => m.config(),
            Net::Int(m) => m.config(),
        }
    }

    /// True for the integer engine, whose files decode on every machine.
    pub fn is_portable(&self) -> bool {
        matches!(self.net, Net::Int(_))
    }

    /// The integer engine, where this codec runs one (the mixing codec's prior).
    pub fn int_model(&self) -> Option<&IntModel> {
        match &self.net {
            Net::Int(m) => Some(m),
            Net::Float(_) => None,
        }
    }

    /// The model's context: the most bytes a window holds.
    pub fn window(&self) -> usize {
        self.config().context
    }

    fn session(&self) -> Stepper<'_> {
        match &self.net {
            Net::Float(m) => Stepper::Float(m.session()),
            Net::Int(m) => Stepper::Int(Box::new(m.session())),
        }
    }

    /// A session that has seen `context` (at most a window less one byte), and the byte to
    /// feed it next.
    fn resume(&self, context: &[u8]) -> (Stepper<'_>, u8) {
        match &self.net {
            // The engine takes a known context in one pass (the same state as stepping it).
            Net::Int(m) => {
                let (s, last) = resume(m, context);
                (Stepper::Int(Box::new(s)), last)
            }
            Net::Float(_) => {
                let mut tokens = Vec::with_capacity(context.len());
                let last = window_tokens(context, &mut tokens);
                let mut s = self.session();
                for &t in &tokens {
                    s.next(t);
                }
                (s, last)
            }
        }
    }

    /// Steps the model over `data` window by window as the coder does, handing `visit` each
    /// byte's table and its cost in bits: the float model's −log2 p, or the engine table's.
    fn walk(&self, data: &[u8], mut visit: impl FnMut(&FreqTable, u8, f64)) {
        let (w, stride) = (self.window(), Windows::Sliding.stride(self.window()));
        if let Net::Int(m) = &self.net {
            // Every byte is known: the engine runs each window in one pass (same tables).
            let mut tokens = Vec::with_capacity(w);
            for (o, r, end) in regions(data.len(), w, stride) {
                tokens.clear();
                tokens.push(0);
                tokens.extend_from_slice(&data[o..end - 1]);
                let mut bytes = data[r..end].iter();
                self.window_tables_from(m, &tokens, r - o, &mut |table| {
                    let b = *bytes.next().expect("one table per byte");
                    visit(&table, b, table.bits(b as usize));
                });
            }
            return;
        }
        for (o, r, end) in regions(data.len(), w, stride) {
            let (mut s, mut prev) = self.resume(&data[o..r]);
            for &b in &data[r..end] {
                let (table, logp) = s.next(prev);
                let bits = match logp {
                    Some(lp) => -f64::from(lp[b as usize]) / std::f64::consts::LN_2,
                    None => table.bits(b as usize),
                };
                visit(&table, b, bits);
                prev = b;
            }
        }
    }

    /// Codes `data` and returns the bytes and the ideal code length in bits: the float
    /// model's Σ −log2 p, or for the engine the same sum over its integer tables.
    pub fn encode(&self, data: &[u8]) -> (Vec<u8>, f64) {
        let mut enc = RangeEncoder::new();
        let mut ideal = 0.0f64;
        self.walk(data, |table, b, bits| {
            ideal += bits;
            enc.encode(table, b as usize);
        });
        (enc.finish(), ideal)
    }

    /// Each byte's cost in bits as [`LmCodec::encode`] codes `data` (where the bits go);
    /// `progress` gets the fraction done now and then.
    pub fn costs(&self, data: &[u8], progress: &mut dyn FnMut(f64)) -> Vec<f32> {
        super::collect_costs(data.len(), progress, |push| {
            self.walk(data, |_, _, bits| push(bits as f32));
        })
    }
}

impl Codec for LmCodec {
    fn name(&self) -> &'static str {
        self.name
    }
    fn setting(&self) -> &'static str {
        self.setting
    }
    fn compress(&self, data: &[u8], _: &Layout) -> Result<Vec<u8>, CodecError> {
        Ok(self.encode(data).0)
    }
    fn has_header(&self) -> bool {
        false
    }
    fn compress_measured(
        &self,
        data: &[u8],
        _: &Layout,
    ) -> Result<(Vec<u8>, Option<f64>), CodecError> {
        let (bytes, ideal) = self.encode(data);
        Ok((bytes, Some(ideal)))
    }
    /// `len` must be the exact original length (the container records it and bounds it). A
    /// stream that runs out before `len` bytes is an error, so the work done is bounded by the
    /// input, not by the declared length; other damage is caught by the container's checksums.
    fn decompress(&self, data: &[u8], len: usize) -> Result<Vec<u8>, CodecError> {
        self.decompress_windows(data, len, Windows::Sliding)
    }
}

/// Room to reserve for decoding `len` bytes from `data`: the declared length, but no more than
/// the payload could plausibly hold, since the header that declares it may be hostile.
fn out_capacity(data: &[u8], len: usize) -> usize {
    len.min(data.len().saturating_mul(64) + 4096)
}

impl LmCodec {
    /// [`Codec::decompress`] for a payload whose windows were laid as `windows` says (older
    /// `.lmz` files coded cold windows).
    pub fn decompress_windows(
        &self,
        data: &[u8],
        len: usize,
        windows: Windows,
    ) -> Result<Vec<u8>, CodecError> {
        #[cfg(feature = "gpu-engine")]
        if let (Some(g), Some(m)) = (self.gpu_model(), self.int_model()) {
            // One lane: the products of each step on the GPU.
            let lanes = g.lanes(m, 1);
            return self.lockstep(lanes, &[(data, len)], windows).remove(0);
        }
        let (w, stride) = (self.window(), windows.stride(self.window()));
        let mut dec = RangeDecoder::new(data);
        let mut out = Vec::with_capacity(out_capacity(data, len));
        for (o, r, end) in regions(len, w, stride) {
            let (mut s, mut prev) = self.resume(&out[o..r]);
            for _ in r..end {
                let b = dec.decode(&s.next(prev).0) as u8;
                if dec.past_end() {
                    return Err(self.ran_out(out.len(), len));
                }
                out.push(b);
                prev = b;
            }
        }
        Ok(out)
    }

    /// The error for a stream that ran out after `got` of `len` bytes.
    fn ran_out(&self, got: usize, len: usize) -> CodecError {
        CodecError::Decode {
            codec: self.name,
            reason: format!(
                "the coded data ends after {got} of {len} bytes (truncated or damaged)"
            ),
        }
    }

    /// Decodes several chunks (each a payload and its exact original length) together, one
    /// byte of each per step, so the engine reads its weights once per step for all of them;
    /// each result is what [`LmCodec::decompress_windows`] gives for that chunk alone.
    pub fn decompress_many(
        &self,
        chunks: &[(&[u8], usize)],
        windows: Windows,
    ) -> Vec<Result<Vec<u8>, CodecError>> {
        let Net::Int(m) = &self.net else {
            return chunks
                .iter()
                .map(|&(d, n)| self.decompress_windows(d, n, windows))
                .collect();
        };
        #[cfg(feature = "gpu-engine")]
        if let Some(g) = self.gpu_model() {
            return self.lockstep(g.lanes(m, chunks.len()), chunks, windows);
        }
        self.lockstep(m.lanes(chunks.len()), chunks, windows)
    }

    /// [`LmCodec::decompress_many`] on `lanes`, one per chunk.
    fn lockstep<P: Products>(
        &self,
        mut lanes: IntLanes<'_, P>,
        chunks: &[(&[u8], usize)],
        windows: Windows,
    ) -> Vec<Result<Vec<u8>, CodecError>> {
        let (w, stride) = (self.window(), windows.stride(self.window()));
        // Where each chunk's current window ends.
        let mut ends = vec![0usize; chunks.len()];
        let mut context = Vec::with_capacity(w);
        let mut decoders: Vec<RangeDecoder> =
            chunks.iter().map(|&(d, _)| RangeDecoder::new(d)).collect();
        let mut outs: Vec<Vec<u8>> = chunks
            .iter()
            .map(|&(d, n)| Vec::with_capacity(out_capacity(d, n)))
            .collect();
        let mut failed = vec![false; chunks.len()];
        let mut prev = vec![0u8; chunks.len()];
        let mut active: Vec<usize> = (0..chunks.len()).collect();
        let mut tokens = Vec::with_capacity(chunks.len());
        loop {
            active.retain(|&i| !failed[i] && outs[i].len() < chunks[i].1);
            if active.is_empty() {
                break;
            }
            tokens.clear();
            for &i in &active {
                let r = outs[i].len();
                if r == ends[i] {
                    let (o, end) = region_at(r, chunks[i].1, w, stride);
                    prev[i] = window_tokens(&outs[i][o..r], &mut context);
                    lanes.resume(i, &context);
                    ends[i] = end;
                }
                tokens.push(prev[i]);
            }
            lanes.step(&active, &tokens, &mut |i, table| {
                let b = decoders[i].decode(&table) as u8;
                if decoders[i].past_end() {
                    failed[i] = true;
                } else {
                    outs[i].push(b);
                    prev[i] = b;
                }
            });
        }
        outs.into_iter()
            .zip(chunks)
            .zip(failed)
            .map(|((out, &(_, len)), failed)| {
                if failed {
                    Err(self.ran_out(out.len(), len))
                } else {
                    Ok(out)
                }
            })
            .collect()
    }
}

/// A model's running context for prediction and sampling: feed bytes, read the next
/// distribution (the engine's tables as probabilities, or the float model's own).
pub struct LmSession<'a> {
    inner: Stepper<'a>,
    window: usize,
}

impl LmSession<'_> {
    /// Positions left before the window is full.
    pub fn room(&self) -> usize {
        self.window - self.inner.len()
    }

    /// Feeds `prev` (0 first) and returns the probabilities of the byte after it.
    ///
    /// # Panics
    /// When the window is full (check [`LmSession::room`]).
    pub fn step(&mut self, prev: u8) -> [f64; VOCAB] {
        match self.inner.next(prev) {
            (_, Some(logp)) => logp.map(|l| f64::from(l).exp()),
            (table, None) => {
                let mut p = [0f64; VOCAB];
                for (s, v) in p.iter_mut().enumerate() {
                    *v = f64::from(table.freq(s)) / f64::from(TOTAL);
                }
                p
            }
        }
    }
}

impl LmCodec {
    /// A fresh context for prediction.
    pub fn predictor_session(&self) -> LmSession<'_> {
        LmSession {
            inner: self.session(),
            window: self.window(),
        }
    }
}

static MODELS: RwLock<Vec<&'static LmCodec>> = RwLock::new(Vec::new());

/// Makes a model file available to `by_name`, `.lmz` files and bench, with `mix-<name>` beside
/// it (an integer-engine model) starting from scratch; returns its codec.
pub fn register(name: &str, file: &[u8]) -> Result<&'static LmCodec, CodecError> {
    register_primed(name, file, None)
}

/// [`register`], with `mix-<name>` starting from `prime` (a prime file's bytes) where given. A
/// prime that does not load is an error and registers nothing.
pub fn register_primed(
    name: &str,
    file: &[u8],
    prime: Option<&[u8]>,
) -> Result<&'static LmCodec, CodecError> {
    let codec: &'static LmCodec = Box::leak(Box::new(LmCodec::new(name, file)?));
    let mix = super::mix::codec_for(codec, prime)?;
    let mut list = MODELS.write().unwrap_or_else(|e| e.into_inner());
    list.retain(|c| c.name != codec.name);
    list.push(codec);
    drop(list);
    if let Some(mix) = mix {
        super::mix::add(mix);
    }
    Ok(codec)
}

/// A model file found but not loaded yet: the codec names it gives, and what registers them.
struct Pending {
    names: Vec<String>,
    load: Box<dyn FnOnce() + Send>,
}

static PENDING: Mutex<Vec<Pending>> = Mutex::new(Vec::new());

/// Makes the codecs `names` known without loading their model: `load` registers them (with
/// [`register_primed`]) when one of them is first looked up, or when every codec is listed.
/// The CLI finds every model file at start-up; reading and checking them all (about 36 MB)
/// would cost each command a quarter of a second, whichever codec it uses.
pub fn register_lazy(names: Vec<String>, load: impl FnOnce() + Send + 'static) {
    PENDING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Pending {
            names,
            load: Box::new(load),
        });
}

/// Loads the pending models that give codec `name`, or all of them for `None`.
pub(crate) fn load_pending(name: Option<&str>) {
    // Held while loading, so that a lookup on another thread waits for the codec instead of
    // missing it.
    let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    let mut i = 0;
    while i < pending.len() {
        if name.is_none_or(|n| pending[i].names.iter().any(|p| p == n)) {
            (pending.remove(i).load)();
        } else {
            i += 1;
        }
    }
}

/// `found()`, or, if it finds nothing, `found()` again once the pending models that give codec
/// `name` are loaded (the lookup of [`find`] and of the mixing codecs' `find`).
pub(crate) fn find_loading<T>(name: &str, found: impl Fn() -> Option<T>) -> Option<T> {
    found().or_else(|| {
        load_pending(Some(name));
        found()
    })
}

/// Every registered model codec (loading any still pending).
pub fn registered() -> Vec<&'static LmCodec> {
    load_pending(None);
    MODELS.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The registered model codec called `name` (e.g. `lm-200k`), if any.
pub fn find(name: &str) -> Option<&'static LmCodec> {
    find_loading(name, || {
        MODELS
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .find(|c| c.name == name)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::ModelConfig;

    /// A tiny model with pseudo-random weights, for testing the codec's mechanics only.
    pub fn tiny_weights(seed: u64) -> Vec<u8> {
        let mut c = ModelConfig::preset("tiny").unwrap();
        c.context = 64;
        let mut w = Weights::new(c);
        let mut x = seed;
        let mut rand = |n: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale
                })
                .collect()
        };
        let (d, h) = (c.d_model, c.widening * c.d_model);
        w.insert("embed", vec![VOCAB, d], rand(VOCAB * d, 0.2));
        for i in 0..c.n_layers {
            for m in ["wq", "wk", "wv", "wo"] {
                w.insert(format!("layers.{i}.{m}"), vec![d, d], rand(d * d, 0.5));
            }
            for n in ["ln1", "ln2"] {
                w.insert(format!("layers.{i}.{n}.gamma"), vec![d], vec![1.0; d]);
                w.insert(format!("layers.{i}.{n}.beta"), vec![d], rand(d, 0.1));
            }
            w.insert(format!("layers.{i}.fc1.w"), vec![d, h], rand(d * h, 0.5));
            w.insert(format!("layers.{i}.fc1.b"), vec![h], rand(h, 0.1));
            w.insert(format!("layers.{i}.fc2.w"), vec![h, d], rand(h * d, 0.5));
            w.insert(format!("layers.{i}.fc2.b"), vec![d], rand(d, 0.1));
        }
        w.insert("head.w", vec![d, VOCAB], rand(d * VOCAB, 4.0));
        w.insert("head.b", vec![VOCAB], rand(VOCAB, 1.0));
        let half = c.head_dim() / 2;
        let (cos, sin) = c.rope_tables();
        w.insert("rope.cos", vec![c.context, half], cos);
        w.insert("rope.sin", vec![c.context, half], sin);
        w.to_bytes()
    }

    /// [`tiny_weights`] quantized for the integer engine.
    pub fn tiny_int_weights(seed: u64) -> Vec<u8> {
        let w = Weights::from_bytes(&tiny_weights(seed)).expect("valid");
        crate::engine::quantize(&w).expect("quantizes").to_bytes()
    }

    /// Bytes the model itself finds likely (its argmax continuation, window by window), so that
    /// even a random model compresses them.
    pub fn likely_bytes(codec: &LmCodec, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let mut s = codec.session();
            let mut prev = 0u8;
            for _ in 0..codec.window().min(n - out.len()) {
                let table = s.next(prev).0;
                let best = (0..VOCAB).max_by_key(|&a| table.freq(a)).unwrap_or(0);
                out.push(best as u8);
                prev = best as u8;
            }
        }
        out
    }

    #[test]
    fn a_lazy_model_loads_when_one_of_its_codecs_is_first_looked_up() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static LOADS: AtomicUsize = AtomicUsize::new(0);
        let names = vec!["lm-lazy".to_string(), "mix-lazy".to_string()];
        register_lazy(names, || {
            LOADS.fetch_add(1, Ordering::SeqCst);
            register("lazy", &tiny_int_weights(9)).unwrap();
        });
        // Other names do not load it (a test listing every codec on another thread may have).
        assert!(find("lm-lazy-other").is_none());
        assert!(super::super::by_name("gzip").is_some());
        assert!(LOADS.load(Ordering::SeqCst) <= 1);
        // Its mix's name does, once; then both codecs are there.
        assert_eq!(
            super::super::mix::find("mix-lazy").unwrap().name(),
            "mix-lazy"
        );
        assert_eq!(find("lm-lazy").unwrap().name(), "lm-lazy");
        assert_eq!(LOADS.load(Ordering::SeqCst), 1);
        assert!(registered().iter().any(|c| c.name() == "lm-lazy"));
        assert_eq!(LOADS.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn engine_roundtrips_and_tracks_the_float_model() {
        let float_bytes = tiny_weights(3);
        let float = LmCodec::new("tiny", &float_bytes).unwrap();
        let w = Weights::from_bytes(&float_bytes).unwrap();
        let int_bytes = crate::engine::quantize(&w).unwrap().to_bytes();
        let engine = LmCodec::new("tiny", &int_bytes).unwrap();
        assert_eq!(engine.name(), "lm-tiny");
        assert_eq!(float.name(), "lm-tiny-float");
        assert!(engine.is_portable() && !float.is_portable());
        let text = include_bytes!("../../tests/data/sample.txt");
        let mut data = likely_bytes(&float, 700);
        data.extend_from_slice(&text[..1300]);
        let (packed, _) = engine.encode(&data);
        assert_eq!(engine.decompress(&packed, data.len()).unwrap(), data);
        let (_, float_ideal) = float.encode(&data);
        let ratio = packed.len() as f64 / (float_ideal / 8.0);
        assert!(
            ratio < 1.03,
            "engine {} bytes vs float ideal {:.0}",
            packed.len(),
            float_ideal / 8.0
        );
    }

    #[test]
    fn sliding_regions_cover_every_byte_once_with_context_behind() {
        for (len, w, stride) in [
            (0, 8, 7),
            (5, 8, 7),
            (8, 8, 7),
            (9, 8, 7),
            (100, 8, 7),
            (30, 8, 8),
        ] {
            let mut next = 0;
            for (o, r, end) in regions(len, w, stride) {
                assert_eq!(r, next, "{len} {w} {stride}");
                assert!(o <= r && r < end && end - o <= w, "{o} {r} {end}");
                // Every window after the first sees w - stride bytes of context.
                assert_eq!(r - o, if r == 0 { 0 } else { w - stride });
                next = end;
            }
            assert_eq!(next, len);
        }
    }

    #[test]
    fn windows_decode_alone_and_in_lockstep_alike() {
        let codec = LmCodec::new("tiny", &tiny_int_weights(4)).unwrap();
        let float = LmCodec::new("tiny", &tiny_weights(4)).unwrap();
        let (w, stride) = (codec.window(), Windows::Sliding.stride(codec.window()));
        let text = include_bytes!("../../tests/data/sample.txt");
        // Lengths at the sliding windows' edges.
        let lens = [0, 1, w - 1, w, w + 1, w + stride, w + 2 * stride + 3, 5 * w];
        let data: Vec<&[u8]> = lens.iter().map(|&n| &text[n..2 * n]).collect();
        for windows in [Windows::Cold, Windows::Sliding] {
            let stride = windows.stride(w);
            // The encoder for this layout, as `walk` codes (the shipped one only slides).
            let encode = |d: &[u8]| {
                let mut enc = RangeEncoder::new();
                for (o, r, end) in regions(d.len(), w, stride) {
                    let (mut s, mut prev) = codec.resume(&d[o..r]);
                    for &b in &d[r..end] {
                        enc.encode(&s.next(prev).0, b as usize);
                        prev = b;
                    }
                }
                enc.finish()
            };
            let packed: Vec<Vec<u8>> = data.iter().map(|d| encode(d)).collect();
            let work: Vec<(&[u8], usize)> = packed
                .iter()
                .zip(&data)
                .map(|(p, d)| (&p[..], d.len()))
                .collect();
            for (got, d) in codec.decompress_many(&work, windows).into_iter().zip(&data) {
                assert_eq!(got.unwrap(), *d, "{windows:?} {}", d.len());
            }
            for (&(p, n), d) in work.iter().zip(&data) {
                assert_eq!(codec.decompress_windows(p, n, windows).unwrap(), *d);
            }
            if windows == Windows::Sliding {
                assert_eq!(
                    packed,
                    data.iter().map(|d| codec.encode(d).0).collect::<Vec<_>>()
                );
            }
        }
        // The float path slides the same windows.
        let d = &text[..3 * w + 5];
        assert_eq!(float.decompress(&float.encode(d).0, d.len()).unwrap(), d);
    }

    #[test]
    fn tables_are_valid_for_extreme_distributions() {
        let mut logp = [-1000.0f32; VOCAB];
        logp[42] = 0.0;
        let t = table_from_logp(&logp);
        assert_eq!(t.freq(42), TOTAL - 255);
        let uniform = [-(256f32.ln()); VOCAB];
        assert!(table_from_logp(&uniform).freq(0) >= 255);
    }

    #[test]
    fn roundtrips_across_windows_and_reports_ideal_length() {
        let codec = LmCodec::new("tiny", &tiny_weights(3)).unwrap();
        let text = include_bytes!("../../tests/data/sample.txt");
        for data in [&text[..0], &text[..1], &text[..64], &text[..1000]] {
            let (packed, ideal) = codec.encode(data);
            assert_eq!(codec.decompress(&packed, data.len()).unwrap(), data);
            // The coder adds at most a couple of bytes over the model's (quantised) ideal.
            assert!(
                (packed.len() as f64) <= ideal / 8.0 * 1.01 + 4.0,
                "{} vs {}",
                packed.len(),
                ideal / 8.0
            );
        }
        // Three bytes cannot hold 1,000 bytes of this model's output: an error, never a
        // panic nor a decoder stepping on through zeros.
        assert!(matches!(
            codec.decompress(&[1, 2, 3], 1000),
            Err(CodecError::Decode { .. })
        ));
    }

    #[test]
    fn costs_are_the_coded_bytes_bits() {
        let text = include_bytes!("../../tests/data/sample.txt");
        let data = &text[..1500];
        for file in [tiny_weights(5), tiny_int_weights(5)] {
            let codec = LmCodec::new("tiny", &file).unwrap();
            let mut calls = 0;
            let costs = codec.costs(data, &mut |_| calls += 1);
            assert_eq!(costs.len(), data.len());
            assert!(calls >= 2 && costs.iter().all(|&c| c.is_finite() && c > 0.0));
            let (_, ideal) = codec.encode(data);
            let sum: f64 = costs.iter().map(|&c| f64::from(c)).sum();
            assert!((sum - ideal).abs() < 1e-3 * ideal, "{sum} vs {ideal}");
        }
        assert!(LmCodec::new("tiny", &tiny_weights(5))
            .unwrap()
            .costs(&[], &mut |_| {})
            .is_empty());
    }
}
