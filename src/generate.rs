//! Every compressor is a generative model: a next-byte distribution from any codec
//! (ρ(b | x) ∝ 2^(ℓ(x) − ℓ(x·b)), the paper's definition) or from the transformer, and a
//! seeded sampler on top.

use crate::codecs::lm::{LmCodec, LmSession};
use crate::codecs::{Codec, CodecError};
use crate::modality::Layout;
use crate::model::VOCAB;

/// A distribution over the next byte given what came before.
pub trait Predictor {
    /// Probabilities of each next byte (they sum to 1) after `context`.
    fn next(&mut self, context: &[u8]) -> Result<[f64; VOCAB], CodecError>;
}

/// A classical codec as a model: the code length of the context followed by each candidate.
///
/// The codecs give whole bytes, so most candidates would tie. The length is therefore averaged
/// over `views` starting offsets of the context (the window shifted by 0, 1, … bytes): each
/// shift moves where the coder's bit stream crosses a byte boundary, so the average resolves
/// fractions of a byte. Candidates that still tie share their mass equally, and the sampler
/// picks among them uniformly at random.
pub struct CodecPredictor<'a> {
    codec: &'a dyn Codec,
    /// Longest context the codec sees (older bytes are dropped).
    pub max_context: usize,
    /// Context offsets averaged per candidate.
    pub views: usize,
}

impl<'a> CodecPredictor<'a> {
    /// `codec` as a model with a bounded context.
    pub fn new(codec: &'a dyn Codec, max_context: usize, views: usize) -> Self {
        Self {
            codec,
            max_context: max_context.max(1),
            views: views.max(1),
        }
    }
}

impl Predictor for CodecPredictor<'_> {
    fn next(&mut self, context: &[u8]) -> Result<[f64; VOCAB], CodecError> {
        let ctx = &context[context.len().saturating_sub(self.max_context)..];
        let mut bits = [0f64; VOCAB];
        let mut buf = Vec::with_capacity(ctx.len() + 1);
        for view in 0..self.views.min(ctx.len().max(1)) {
            buf.clear();
            buf.extend_from_slice(&ctx[view.min(ctx.len())..]);
            buf.push(0);
            for (b, slot) in bits.iter_mut().enumerate() {
                *buf.last_mut().expect("pushed") = b as u8;
                *slot += 8.0 * self.codec.compress(&buf, &Layout::Bytes)?.len() as f64;
            }
        }
        let views = self.views.min(ctx.len().max(1)) as f64;
        Ok(normalise_bits(&bits.map(|b| b / views)))
    }
}

/// Probabilities ∝ 2^(−bits), computed stably.
fn normalise_bits(bits: &[f64; VOCAB]) -> [f64; VOCAB] {
    let min = bits.iter().copied().fold(f64::INFINITY, f64::min);
    let mut p = bits.map(|b| (-(b - min)).exp2());
    let total: f64 = p.iter().sum();
    for v in p.iter_mut() {
        *v /= total;
    }
    p
}

/// The transformer as a model: its frequency tables (integer engine, reproducible everywhere)
/// or its float distribution. Keeps its KV cache while the context only grows; when the window
/// is full it restarts from the last half window.
pub struct ModelPredictor<'a> {
    codec: &'a LmCodec,
    /// The session, the context length it has seen, and its last distribution.
    state: Option<(LmSession<'a>, usize, [f64; VOCAB])>,
}

impl<'a> ModelPredictor<'a> {
    /// A model codec as a predictor.
    pub fn new(codec: &'a LmCodec) -> Self {
        Self { codec, state: None }
    }
}

impl Predictor for ModelPredictor<'_> {
    fn next(&mut self, context: &[u8]) -> Result<[f64; VOCAB], CodecError> {
        if let Some((s, seen, last)) = &mut self.state {
            if context.len() == *seen {
                return Ok(*last);
            }
            if context.len() == *seen + 1 && s.room() > 0 {
                *last = s.step(context[*seen]);
                *seen += 1;
                return Ok(*last);
            }
        }
        let start = context.len() - context.len().min(self.codec.window() / 2);
        let mut s = self.codec.predictor_session();
        let mut last = s.step(0);
        for &b in &context[start..] {
            last = s.step(b);
        }
        self.state = Some((s, context.len(), last));
        Ok(last)
    }
}

/// A reproducible sampler: temperature, top-k, seed.
pub struct Sampler {
    state: u64,
    /// Softmax temperature on the log-probabilities (1 keeps the model's distribution).
    pub temperature: f64,
    /// Keep only the k most likely bytes (0 keeps all).
    pub top_k: usize,
}

impl Sampler {
    /// A sampler seeded with `seed`.
    pub fn new(seed: u64, temperature: f64, top_k: usize) -> Self {
        Self {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
            temperature,
            top_k,
        }
    }

    fn uniform(&mut self) -> f64 {
        // SplitMix64: the same stream on every target.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Draws one bit that is 1 with probability `p_one` (12-bit), sharpened or flattened by
    /// the temperature as [`Sampler::draw`] does a byte (0 is greedy).
    pub fn draw_bit(&mut self, p_one: i32) -> u32 {
        let p = f64::from(p_one.clamp(1, 4095)) / 4096.0;
        if self.temperature <= 1e-3 {
            return u32::from(p > 0.5);
        }
        let logit = (p / (1.0 - p)).ln() / self.temperature;
        u32::from(self.uniform() < 1.0 / (1.0 + (-logit).exp()))
    }

    /// Draws one byte from `p`; ties at the top-k boundary and equal weights are broken by the
    /// uniform draw itself (every tied byte keeps its share). Temperature 0 is greedy.
    pub fn draw(&mut self, p: &[f64; VOCAB]) -> u8 {
        let top = p.iter().copied().fold(0.0, f64::max);
        if self.temperature <= 1e-3 || top <= 0.0 {
            // Greedy: the most likely byte (the first of equals).
            return p.iter().position(|&v| v == top).unwrap_or(0) as u8;
        }
        // p^(1/T), relative to the largest so that nothing underflows to all zeros.
        let (lt, t) = (top.ln(), self.temperature);
        let mut w = p.map(|v| {
            if v > 0.0 {
                ((v.ln() - lt) / t).exp()
            } else {
                0.0
            }
        });
        if self.top_k > 0 && self.top_k < VOCAB {
            let mut sorted = w;
            sorted.sort_by(|a, b| b.total_cmp(a));
            let cut = sorted[self.top_k - 1];
            for v in w.iter_mut() {
                if *v < cut {
                    *v = 0.0;
                }
            }
        }
        let total: f64 = w.iter().sum();
        if total <= 0.0 || !total.is_finite() {
            return (self.uniform() * VOCAB as f64) as u8;
        }
        let mut u = self.uniform() * total;
        for (b, &v) in w.iter().enumerate() {
            if u < v {
                return b as u8;
            }
            u -= v;
        }
        w.iter().rposition(|&v| v > 0.0).unwrap_or(0) as u8
    }
}

/// Continues `prompt` by `n` bytes drawn from `predictor`; `progress` gets the fraction done.
pub fn generate(
    predictor: &mut dyn Predictor,
    sampler: &mut Sampler,
    prompt: &[u8],
    n: usize,
    progress: &mut dyn FnMut(f64),
) -> Result<Vec<u8>, CodecError> {
    let mut text = prompt.to_vec();
    for i in 0..n {
        let p = predictor.next(&text)?;
        text.push(sampler.draw(&p));
        progress((i + 1) as f64 / n.max(1) as f64);
    }
    Ok(text.split_off(prompt.len()))
}

/// Bits per byte that `predictor` gives `data` after `prompt` (how likely it finds a sample).
pub fn bits_per_byte(
    predictor: &mut dyn Predictor,
    prompt: &[u8],
    data: &[u8],
) -> Result<f64, CodecError> {
    let mut text = prompt.to_vec();
    let mut bits = 0.0;
    for &b in data {
        let p = predictor.next(&text)?;
        bits -= p[b as usize].max(1e-300).log2();
        text.push(b);
    }
    Ok(bits / data.len().max(1) as f64)
}

/// A stream of a modality as a file to look at or listen to: text as is, image rows as a
/// grayscale PNG (whole rows only), 8-bit PCM as a mono WAV. Returns the bytes and an extension.
pub fn render(layout: &Layout, stream: &[u8]) -> Result<(Vec<u8>, &'static str), CodecError> {
    match *layout {
        Layout::Bytes => Ok((stream.to_vec(), "txt")),
        Layout::Image { width, .. } => {
            let rows = stream.len() / width.max(1) as usize;
            let png =
                crate::codecs::by_name("png").ok_or(CodecError::NotApplicable { codec: "png" })?;
            let image = Layout::Image {
                width,
                height: rows as u32,
            };
            Ok((
                png.compress(&stream[..rows * width as usize], &image)?,
                "png",
            ))
        }
        Layout::Audio { sample_rate } => {
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate,
                bits_per_sample: 8,
                sample_format: hound::SampleFormat::Int,
            };
            let fail = |e: hound::Error| CodecError::Encode {
                codec: "wav",
                reason: e.to_string(),
            };
            let mut out = std::io::Cursor::new(Vec::new());
            let mut w = hound::WavWriter::new(&mut out, spec).map_err(fail)?;
            for &b in stream {
                w.write_sample((i16::from(b) - 128) as i8).map_err(fail)?;
            }
            w.finalize().map_err(fail)?;
            Ok((out.into_inner(), "wav"))
        }
    }
}

/// How to continue a file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct Options {
    /// gzip, xz, zstd, brotli, bzip2, or a registered model (`lm-200k`, `lm-200k-float`).
    pub codec: String,
    /// Bytes of the stream to start from (`None`: half of it, at most 4096; whole rows for
    /// images). The bytes after them are the real continuation for comparison.
    pub prompt_bytes: Option<usize>,
    /// Bytes to generate (images: rounded up to whole rows).
    pub bytes: usize,
    /// Sampler seed.
    pub seed: u64,
    /// Sampling temperature.
    pub temperature: f64,
    /// Keep only the k most likely bytes (0: all).
    pub top_k: usize,
    /// Longest context a classical codec sees.
    pub context: usize,
    /// Context offsets averaged per candidate for classical codecs.
    pub views: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            codec: "gzip".into(),
            prompt_bytes: None,
            bytes: 256,
            seed: 0,
            temperature: 1.0,
            top_k: 0,
            context: 1024,
            views: 2,
        }
    }
}

/// A continuation and how likely the best model finds it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Continuation {
    /// The codec or model that generated.
    pub codec: String,
    /// Bytes of prompt used.
    pub prompt_bytes: usize,
    /// The generated bytes (the modality's stream).
    pub sample: Vec<u8>,
    /// The end of the prompt and the sample, as a file (text, PNG or WAV).
    pub file: Vec<u8>,
    /// That file's extension.
    pub ext: &'static str,
    /// The judging model, if one is registered.
    pub judge: Option<String>,
    /// Its bits per byte on the sample.
    pub bits_sample: Option<f64>,
    /// Its bits per byte on the real continuation (when the file has one).
    pub bits_real: Option<f64>,
    /// Time spent generating (judging not included).
    pub seconds: f64,
}

/// Continues a prepared file with `opts.codec` as a generative model.
pub fn continue_file(
    prep: &crate::modality::Prepared,
    opts: &Options,
    progress: &mut dyn FnMut(f64),
) -> Result<Continuation, CodecError> {
    let row = match prep.layout {
        Layout::Image { width, .. } => width.max(1) as usize,
        _ => 1,
    };
    let stream = &prep.stream;
    let mut start = opts.prompt_bytes.unwrap_or((stream.len() / 2).min(4096));
    start = (start / row * row).clamp(row.min(stream.len()), stream.len());
    let n = opts.bytes.div_ceil(row) * row;
    let prompt = &stream[..start];
    let unknown = || CodecError::Encode {
        codec: "generate",
        reason: format!("unknown codec or model {:?}", opts.codec),
    };
    let mut sampler = Sampler::new(opts.seed, opts.temperature, opts.top_k);
    let t0 = crate::clock::now();
    let sample = if let Some(mix) = crate::codecs::mix::find(&opts.codec) {
        // A bitwise model draws bit by bit, seeing the data's layout as it codes it.
        mix.sample(
            prompt,
            &prep.layout,
            n,
            &mut |p| sampler.draw_bit(p),
            progress,
        )
    } else {
        let mut predictor: Box<dyn Predictor> = match crate::codecs::lm::find(&opts.codec) {
            Some(m) => Box::new(ModelPredictor::new(m)),
            None if opts.codec.starts_with("lm-") => return Err(unknown()),
            None => {
                let c = crate::codecs::by_name(&opts.codec)
                    .filter(|c| c.accepts(&Layout::Bytes))
                    .ok_or_else(unknown)?;
                Box::new(CodecPredictor::new(c, opts.context, opts.views))
            }
        };
        generate(predictor.as_mut(), &mut sampler, prompt, n, progress)?
    };
    let seconds = crate::clock::now() - t0;
    // The judge: the largest shipped model on the integer engine.
    let judge = ["3m", "800k", "200k"]
        .iter()
        .find_map(|p| crate::codecs::lm::find(&format!("lm-{p}")));
    let (mut bits_sample, mut bits_real) = (None, None);
    if let Some(j) = judge {
        bits_sample = Some(bits_per_byte(&mut ModelPredictor::new(j), prompt, &sample)?);
        let real = &stream[start..(start + n).min(stream.len())];
        if !real.is_empty() {
            bits_real = Some(bits_per_byte(&mut ModelPredictor::new(j), prompt, real)?);
        }
    }
    // Images and audio are shown with the end of their prompt, so the seam is visible.
    let shown: Vec<u8> = match prep.layout {
        Layout::Bytes => sample.clone(),
        _ => {
            let keep = (prompt.len() / 2).min(n.max(row * 16)) / row * row;
            [&prompt[prompt.len() - keep..], &sample[..]].concat()
        }
    };
    let (file, ext) = render(&prep.layout, &shown)?;
    Ok(Continuation {
        codec: opts.codec.clone(),
        prompt_bytes: start,
        sample,
        file,
        ext,
        judge: judge.map(|j| j.model_id().name.clone()),
        bits_sample,
        bits_real,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs;

    const TEXT: &[u8] = include_bytes!("../tests/data/sample.txt");

    /// `n` bytes after `prompt` from `p` with the sampler seeded `seed`.
    fn draw(p: &mut dyn Predictor, seed: u64, prompt: &[u8], n: usize) -> Vec<u8> {
        generate(p, &mut Sampler::new(seed, 1.0, 0), prompt, n, &mut |_| {}).unwrap()
    }

    #[test]
    fn codec_predictions_are_distributions_that_favour_repeats() {
        let gzip = codecs::by_name("gzip").unwrap();
        let mut p = CodecPredictor::new(gzip, 256, 2);
        let ctx = b"the cat sat on the mat. the cat sat on the m";
        let dist = p.next(ctx).unwrap();
        assert!((dist.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let a = dist[b'a' as usize];
        assert!(a >= dist.iter().copied().fold(0.0, f64::max) * 0.999, "{a}");
    }

    #[test]
    fn sampling_is_reproducible_and_not_degenerate() {
        for name in ["gzip", "zstd", "brotli", "xz", "bzip2"] {
            let codec = codecs::by_name(name).unwrap();
            let mut p = CodecPredictor::new(codec, 128, 1);
            let prompt = &TEXT[..300];
            let a = draw(&mut p, 7, prompt, 16);
            let b = draw(&mut p, 7, prompt, 16);
            let c = draw(&mut p, 8, prompt, 16);
            assert_eq!(a, b, "{name}: same seed, same bytes");
            assert_ne!(a, c, "{name}: another seed, other bytes");
            assert!(a.iter().any(|&x| x != a[0]), "{name}: one repeated byte");
        }
    }

    /// Image rows and audio samples continue deterministically and render as real files.
    #[test]
    fn images_and_audio_continue_and_render() {
        let gzip = codecs::by_name("gzip").unwrap();
        for (file, kind) in [("sample.png", "png"), ("sample.wav", "wav")] {
            let bytes = std::fs::read(crate::repo_root().join("tests/data").join(file)).unwrap();
            let prep = crate::modality::prepare(&bytes, file).unwrap();
            let prompt = &prep.stream[..prep.stream.len().min(1024)];
            let mut p = CodecPredictor::new(gzip, 256, 1);
            let a = draw(&mut p, 3, prompt, 64);
            let b = draw(&mut p, 3, prompt, 64);
            assert_eq!(a, b, "{file}");
            assert!(a.iter().any(|&x| x != a[0]), "{file}: one repeated byte");
            let shown = [prompt, &a[..]].concat();
            let (out, ext) = render(&prep.layout, &shown).unwrap();
            assert_eq!(ext, kind);
            let back = crate::modality::prepare(&out, &format!("x.{ext}")).unwrap();
            let whole = match prep.layout {
                Layout::Image { width, .. } => shown.len() / width as usize * width as usize,
                _ => shown.len(),
            };
            assert_eq!(
                back.stream,
                shown[..whole],
                "{file}: the rendered file holds the stream"
            );
        }
    }

    #[test]
    fn a_model_samples_reproducibly_with_its_kv_cache() {
        let codec =
            crate::codecs::lm::LmCodec::new("tiny", &crate::codecs::lm::tests::tiny_int_weights(4))
                .unwrap();
        let prompt = &TEXT[..40];
        // Longer than the window: the predictor restarts from the last half window.
        let a = draw(&mut ModelPredictor::new(&codec), 5, prompt, 100);
        let b = draw(&mut ModelPredictor::new(&codec), 5, prompt, 100);
        assert_eq!(a, b);
        assert!(a.iter().any(|&x| x != a[0]));
        // The cache gives what a fresh pass over the same window gives.
        let mut cached = ModelPredictor::new(&codec);
        let ctx = &TEXT[..20];
        for i in 1..=ctx.len() {
            cached.next(&ctx[..i]).unwrap();
        }
        let fresh = ModelPredictor::new(&codec).next(ctx).unwrap();
        assert_eq!(cached.next(ctx).unwrap(), fresh);
    }

    #[test]
    fn the_sampler_respects_top_k_and_temperature() {
        let mut p = [0.0; VOCAB];
        p[1] = 0.5;
        p[2] = 0.3;
        p[3] = 0.2;
        let mut s = Sampler::new(1, 1.0, 2);
        for _ in 0..200 {
            assert!(matches!(s.draw(&p), 1 | 2));
        }
        let mut cold = Sampler::new(1, 0.0, 0);
        assert!((0..50).all(|_| cold.draw(&p) == 1));
    }

    #[test]
    fn bits_per_byte_rewards_the_likely() {
        let gzip = codecs::by_name("gzip").unwrap();
        let mut p = CodecPredictor::new(gzip, 256, 1);
        let prompt = b"abcabcabcabcabcabcabcabc";
        let likely = bits_per_byte(&mut p, prompt, b"abcabc").unwrap();
        let unlikely = bits_per_byte(&mut p, prompt, b"qzjxkw").unwrap();
        assert!(likely < unlikely, "{likely} vs {unlikely}");
    }
}
