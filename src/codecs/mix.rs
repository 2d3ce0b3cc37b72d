//! The mixing codecs: `cm` (context mixing alone) and `mix-<model>` (the same with a model's
//! integer engine as one input). A payload is a one-byte format tag naming the kind of data
//! (plus the width for images), then the bit coder's bytes.
//!
//! The transformer's windows slide as `lm-<model>`'s do, so its tables are the same; the
//! mixer's other models see every earlier byte of the input they are given.

use super::lm::{regions, resume, LmCodec, Windows};
use super::{Codec, CodecError};
use crate::container::ModelId;
use crate::engine::{IntModel, IntSession};
use crate::mix::{self, BitDecoder, BitEncoder, Kind, Learned, Predictor, Prime};
use crate::modality::Layout;
use std::sync::{LazyLock, RwLock};

/// Format version in the tag's high nibble: a later change to the models is a new version.
/// Version 2 slid the transformer's window (see [`regions`]) and tagged hashed contexts;
/// version 3 added text contexts (word trigram, column, letters, indirect, sparse, brackets),
/// a linear input per context and a mixer selector by how many contexts are known; version 4
/// added the image pixel predictor (a linear predictor over a pixel's neighbours). Earlier
/// versions' payloads are refused with a clear error.
const VERSION: u8 = 4;

/// Context mixing, with or without a transformer prior.
pub struct MixCodec {
    name: &'static str,
    setting: &'static str,
    lm: Option<&'static LmCodec>,
    prime: Prime,
    id: ModelId,
}

/// The prime `cm` starts from, learned on the training data (`lmzip prime`).
const CM_PRIME: &[u8] = include_bytes!("../../models/cm.prime");

/// The codec with no transformer.
pub static CM: LazyLock<MixCodec> = LazyLock::new(|| {
    MixCodec::new(
        "cm".into(),
        "context mixing: orders 0-8, words, columns, brackets, indirect and sparse contexts, match, pixel/sample contexts; 2-layer mixer, 3 APMs"
            .into(),
        None,
        Some(CM_PRIME).filter(|b| !b.is_empty()),
    )
    .unwrap_or_else(|_| {
        MixCodec::new("cm".into(), "context mixing".into(), None, None).expect("no prime to check")
    })
});

/// The kind of data a layout holds, as the mixer's contexts see it.
pub fn kind_of(layout: &Layout) -> Kind {
    match *layout {
        Layout::Bytes => Kind::Bytes,
        Layout::Image { width, .. } => Kind::Image {
            width: width as usize,
        },
        Layout::Audio { .. } => Kind::Audio,
    }
}

fn tag(kind: Kind) -> Vec<u8> {
    match kind {
        Kind::Bytes => vec![VERSION << 4],
        Kind::Image { width } => {
            let mut v = vec![VERSION << 4 | 1];
            v.extend_from_slice(&(width as u32).to_le_bytes());
            v
        }
        Kind::Audio => vec![VERSION << 4 | 2],
    }
}

impl MixCodec {
    /// A mixing codec over `lm` (none for `cm`) starting from `prime` (a prime file's bytes).
    pub fn new(
        name: String,
        setting: String,
        lm: Option<&'static LmCodec>,
        prime: Option<&[u8]>,
    ) -> Result<Self, CodecError> {
        let bad = |reason: String| CodecError::Encode {
            codec: "mix",
            reason,
        };
        let prime = match prime {
            Some(b) => Prime::from_bytes(b).map_err(|e| bad(e.to_string()))?,
            None => Prime::default(),
        };
        for kind in [Kind::Bytes, Kind::Image { width: 1 }, Kind::Audio] {
            if prime.get(kind).is_some_and(|l| !Predictor::fits(l)) {
                return Err(bad(mix::PrimeError::Shape.to_string()));
            }
        }
        // The identity covers the model and the prime: either changes the decoded bytes.
        let mut ident = lm.map(|m| m.model_id().sha256.to_vec()).unwrap_or_default();
        ident.extend(prime.to_bytes());
        let id = ModelId {
            name: name.clone(),
            sha256: crate::model::sha256(&ident),
        };
        Ok(Self {
            name: Box::leak(name.into_boxed_str()),
            setting: Box::leak(setting.into_boxed_str()),
            lm,
            prime,
            id,
        })
    }

    /// The learned starting state.
    pub fn prime(&self) -> &Prime {
        &self.prime
    }

    /// The identity `.lmz` headers record (model and prime).
    pub fn model_id(&self) -> &ModelId {
        &self.id
    }

    fn predictor(&self, kind: Kind, len: usize) -> Predictor {
        Predictor::new(kind, len, self.prime.get(kind))
    }

    /// Runs over `data` as coding would, starting from `start`, and returns what the
    /// predictor learned (to save as a prime).
    pub fn learn(&self, data: &[u8], layout: &Layout, start: Option<&Learned>) -> Learned {
        let kind = kind_of(layout);
        let mut p = Predictor::new(kind, data.len(), start);
        self.run(&mut p, data, &mut BitEncoder::new(), &mut |_| {});
        p.learned()
    }

    fn bad(&self, reason: impl Into<String>) -> CodecError {
        CodecError::Decode {
            codec: self.name,
            reason: reason.into(),
        }
    }

    /// How far the transformer's window moves: as `lm-<model>`'s ([`Windows::Sliding`]), seven
    /// eighths of its context. Measured on dev text (mix-200k, 2,048-byte chunks): strides of
    /// 512, 448, 384 and 256 bytes give 35.21, 35.12, 35.12 and 35.08 %, at 1, 1.14, 1.33 and 2
    /// times the transformer's work.
    fn stride(&self) -> usize {
        Windows::Sliding.stride(self.engine().map_or(1, |m| m.config().context))
    }

    fn engine(&self) -> Option<&'static IntModel> {
        self.lm.and_then(|m| m.int_model())
    }

    /// The model this codec mixes in, if any.
    pub fn model(&self) -> Option<&'static LmCodec> {
        self.lm
    }

    /// Codes `data`, handing `visit` each byte's cost in bits; returns the payload.
    fn code(&self, data: &[u8], layout: &Layout, visit: &mut dyn FnMut(f32)) -> Vec<u8> {
        let kind = kind_of(layout);
        let mut out = tag(kind);
        let mut p = self.predictor(kind, data.len());
        let mut enc = BitEncoder::new();
        self.run(&mut p, data, &mut enc, visit);
        out.extend(enc.finish());
        out
    }

    fn run(
        &self,
        p: &mut Predictor,
        data: &[u8],
        enc: &mut BitEncoder,
        visit: &mut dyn FnMut(f32),
    ) {
        match self.lm.zip(self.engine()) {
            Some((lm, m)) => {
                let mut tokens = Vec::with_capacity(m.config().context);
                for (o, r, end) in regions(data.len(), m.config().context, self.stride()) {
                    tokens.clear();
                    tokens.push(0);
                    tokens.extend_from_slice(&data[o..end - 1]);
                    let mut bytes = data[r..end].iter();
                    lm.window_tables_from(m, &tokens, r - o, &mut |table| {
                        let b = *bytes.next().expect("one table per byte");
                        p.begin_byte(Some(&table));
                        visit(mix::encode_byte(p, enc, b));
                    });
                }
            }
            None => {
                for &b in data {
                    p.begin_byte(None);
                    visit(mix::encode_byte(p, enc, b));
                }
            }
        }
    }

    /// Continues `prompt` by `n` bytes, the model generating: each bit is drawn by `draw` from
    /// the probability of a 1 (12-bit) that the predictor gives it, and learned as coding would
    /// learn it; the transformer's window slides as in coding. `progress` gets the fraction done.
    pub fn sample(
        &self,
        prompt: &[u8],
        layout: &Layout,
        n: usize,
        draw: &mut dyn FnMut(i32) -> u32,
        progress: &mut dyn FnMut(f64),
    ) -> Vec<u8> {
        let mut p = self.predictor(kind_of(layout), prompt.len() + n);
        self.run(&mut p, prompt, &mut BitEncoder::new(), &mut |_| {});
        let mut text = prompt.to_vec();
        let engine = self.engine();
        let mut session: Option<IntSession<'_>> = None;
        for i in 0..n {
            let table = engine.map(|m| {
                let w = m.config().context;
                match session.as_mut().filter(|s| s.len() < w) {
                    Some(s) => s.step(text.last().copied().unwrap_or(0)),
                    None => {
                        // A full window restarts from the last stride − 1 bytes: a long context
                        // for the sample, at one batched prefill per w − stride + 1 bytes.
                        let keep = text.len().min(self.stride() - 1);
                        let (s, last) = resume(m, &text[text.len() - keep..]);
                        session.insert(s).step(last)
                    }
                }
            });
            p.begin_byte(table.as_ref());
            let mut byte = 0u8;
            for _ in 0..8 {
                let bit = draw(p.p()) & 1;
                p.update(bit);
                byte = byte << 1 | bit as u8;
            }
            text.push(byte);
            progress((i + 1) as f64 / n.max(1) as f64);
        }
        text.split_off(prompt.len())
    }

    /// Each byte's cost in bits as this codec codes `data` (where the bits go); `progress`
    /// gets the fraction done now and then.
    pub fn costs(&self, data: &[u8], layout: &Layout, progress: &mut dyn FnMut(f64)) -> Vec<f32> {
        super::collect_costs(data.len(), progress, |push| {
            self.code(data, layout, push);
        })
    }
}

impl Codec for MixCodec {
    fn name(&self) -> &'static str {
        self.name
    }
    fn setting(&self) -> &'static str {
        self.setting
    }
    fn has_header(&self) -> bool {
        false
    }
    fn compress(&self, data: &[u8], layout: &Layout) -> Result<Vec<u8>, CodecError> {
        Ok(self.code(data, layout, &mut |_| {}))
    }
    fn compress_measured(
        &self,
        data: &[u8],
        layout: &Layout,
    ) -> Result<(Vec<u8>, Option<f64>), CodecError> {
        let mut ideal = 0.0f64;
        let out = self.code(data, layout, &mut |c| ideal += f64::from(c));
        Ok((out, Some(ideal)))
    }
    /// `len` must be the exact original length; a stream that runs out first is an error.
    fn decompress(&self, data: &[u8], len: usize) -> Result<Vec<u8>, CodecError> {
        let (&t, rest) = data
            .split_first()
            .ok_or_else(|| self.bad("empty payload"))?;
        let version = t >> 4;
        if version != VERSION {
            return Err(self.bad(format!(
                "format version {version} (this build reads {VERSION})"
            )));
        }
        let (kind, body) = match t & 15 {
            0 => (Kind::Bytes, rest),
            1 if rest.len() >= 4 => {
                let (w, body) = rest.split_at(4);
                let width = u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as usize;
                if width == 0 {
                    return Err(self.bad("image width 0"));
                }
                (Kind::Image { width }, body)
            }
            2 => (Kind::Audio, rest),
            k => return Err(self.bad(format!("unknown data kind {k}"))),
        };
        // The declared length may be hostile: grow the output as bytes are decoded.
        let mut out = Vec::with_capacity(len.min(body.len().saturating_mul(64) + 4096));
        // Tables are sized by the length as the encoder sized them (capped, so a hostile
        // length costs at most their largest size before the stream runs out).
        let mut p = self.predictor(kind, len);
        let mut dec = BitDecoder::new(body);
        let ran_out = |got: usize| {
            self.bad(format!(
                "the coded data ends after {got} of {len} bytes (truncated or damaged)"
            ))
        };
        let engine = self.engine();
        // Without a transformer the whole input is one region.
        let (w, stride) = engine.map_or((usize::MAX, usize::MAX), |m| {
            (m.config().context, self.stride())
        });
        for (o, r, end) in regions(len, w, stride) {
            // The window's context is known: fed as one batch, then stepped.
            let mut prev = 0;
            let mut session = engine.map(|m| {
                let (s, next) = resume(m, &out[o..r]);
                prev = next;
                s
            });
            while out.len() < end {
                let table = session.as_mut().map(|s| s.step(prev));
                p.begin_byte(table.as_ref());
                let b = mix::decode_byte(&mut p, &mut dec);
                if dec.past_end() {
                    return Err(ran_out(out.len()));
                }
                out.push(b);
                prev = b;
            }
        }
        Ok(out)
    }
}

static MIXES: RwLock<Vec<&'static MixCodec>> = RwLock::new(Vec::new());

/// Makes `mix-<name>` for a registered integer-engine model `lm-<name>`, starting from
/// `prime` (a prime file's bytes) where given; `None` for a float model.
pub fn register(
    lm: &'static LmCodec,
    prime: Option<&[u8]>,
) -> Result<Option<&'static MixCodec>, CodecError> {
    let codec = codec_for(lm, prime)?;
    if let Some(codec) = codec {
        add(codec);
    }
    Ok(codec)
}

/// The mixing codec over `lm` with `prime`, not yet registered; `None` for a float model.
pub(crate) fn codec_for(
    lm: &'static LmCodec,
    prime: Option<&[u8]>,
) -> Result<Option<&'static MixCodec>, CodecError> {
    if lm.int_model().is_none() {
        return Ok(None);
    }
    let short = lm.name().strip_prefix("lm-").unwrap_or(lm.name());
    let codec = MixCodec::new(
        format!("mix-{short}"),
        format!(
            "context mixing with {} as a prior ({})",
            lm.name(),
            lm.setting()
        ),
        Some(lm),
        prime,
    )?;
    Ok(Some(Box::leak(Box::new(codec))))
}

/// Registers `codec`, replacing one of the same name.
pub(crate) fn add(codec: &'static MixCodec) {
    let mut list = MIXES.write().unwrap_or_else(|e| e.into_inner());
    list.retain(|c| c.name != codec.name);
    list.push(codec);
}

/// `cm`, then every registered `mix-<model>` (loading any model still pending).
pub fn registered() -> Vec<&'static MixCodec> {
    super::lm::load_pending(None);
    loaded()
}

fn loaded() -> Vec<&'static MixCodec> {
    let mut v = vec![&*CM];
    v.extend(
        MIXES
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied(),
    );
    v
}

/// The mixing codec called `name`, if any.
pub fn find(name: &str) -> Option<&'static MixCodec> {
    super::lm::find_loading(name, || loaded().into_iter().find(|c| c.name == name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::lm::tests::{likely_bytes, tiny_int_weights};

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (x >> 56) as u8
            })
            .collect()
    }

    fn sample() -> Vec<u8> {
        std::fs::read(crate::repo_root().join("tests/data/sample.txt")).expect("sample")
    }

    fn round_trip(codec: &MixCodec, data: &[u8], layout: &Layout) -> usize {
        let packed = codec.compress(data, layout).expect("compresses");
        let back = codec.decompress(&packed, data.len()).expect("decodes");
        assert!(
            back == data,
            "{} changed {} bytes",
            codec.name(),
            data.len()
        );
        packed.len()
    }

    fn tiny_mix() -> &'static MixCodec {
        let lm: &'static LmCodec = Box::leak(Box::new(
            LmCodec::new("tiny", &tiny_int_weights(7)).unwrap(),
        ));
        Box::leak(Box::new(
            MixCodec::new("mix-tiny".into(), "test".into(), Some(lm), None).unwrap(),
        ))
    }

    #[test]
    fn a_mix_generates_reproducibly_and_greedily_continues_a_pattern() {
        let prompt = b"one two three, ".repeat(40);
        let greedy = |p: i32| u32::from(p > 2048);
        let out = CM.sample(&prompt, &Layout::Bytes, 45, &mut |p| greedy(p), &mut |_| {});
        assert_eq!(out, prompt[..45]);
        // With a transformer, across its window's end, the same draws give the same bytes.
        let mix = tiny_mix();
        let mut x = 5u32;
        let mut coin = move |p: i32| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            u32::from(((x >> 20) as i32) < p)
        };
        let n = mix.model().unwrap().window() + 40;
        let mut calls = 0;
        let a = mix.sample(
            &prompt[..100],
            &Layout::Bytes,
            n,
            &mut coin.clone(),
            &mut |_| calls += 1,
        );
        let b = mix.sample(&prompt[..100], &Layout::Bytes, n, &mut coin, &mut |_| {});
        assert_eq!((a.len(), calls), (n, n));
        assert_eq!(a, b);
        assert!(a.iter().any(|&c| c != a[0]), "not one repeated byte");
    }

    #[test]
    fn cm_round_trips_every_kind_of_input() {
        let text = sample();
        for data in [vec![], vec![7], vec![0; 5000], noise(3000, 1), text.clone()] {
            let n = round_trip(&CM, &data, &Layout::Bytes);
            // Noise costs a little over its size while the models learn that nothing predicts
            // it (3,000 bytes: 3,228 with sixteen contexts and a prime learned on text).
            assert!(
                n <= data.len() + data.len() / 12 + 8,
                "{n} for {}",
                data.len()
            );
        }
        assert!(round_trip(&CM, &text, &Layout::Bytes) * 10 < text.len() * 4);
        let image: Vec<u8> = (0..64 * 40)
            .map(|i| ((i % 64) * 3 + (i / 64) * 2) as u8)
            .collect();
        let n = round_trip(
            &CM,
            &image,
            &Layout::Image {
                width: 64,
                height: 40,
            },
        );
        assert!(n * 8 < image.len(), "a smooth image codes small: {n}");
        let audio: Vec<u8> = (0..4000)
            .map(|i| (128.0 + 90.0 * (i as f64 * 0.05).sin()) as u8)
            .collect();
        let n = round_trip(&CM, &audio, &Layout::Audio { sample_rate: 8000 });
        assert!(n * 3 < audio.len(), "a sine codes small: {n}");
        // The same bytes under another layout still round trip (the tag says which).
        round_trip(
            &CM,
            &audio,
            &Layout::Image {
                width: 7,
                height: 1,
            },
        );
    }

    #[test]
    fn a_mix_with_a_model_round_trips_across_windows() {
        let mix = tiny_mix();
        let lm = mix.model().unwrap();
        let likely = likely_bytes(lm, 3 * lm.window() + 17);
        let (w, stride) = (lm.window(), mix.stride());
        for data in [vec![], vec![200], likely.clone(), noise(700, 9)] {
            round_trip(mix, &data, &Layout::Bytes);
        }
        // Lengths at the sliding window's edges.
        for len in [w, w + 1, w + stride, w + stride + 1] {
            round_trip(mix, &likely[..len], &Layout::Bytes);
        }
        // The model's prior helps on bytes it predicts well.
        let (with, without) = (
            mix.compress(&likely, &Layout::Bytes).unwrap().len(),
            CM.compress(&likely, &Layout::Bytes).unwrap().len(),
        );
        assert!(with < without, "mix {with} vs cm {without}");
        // The ideal cost the coder reports is what it spends, give or take the flush.
        let (out, ideal) = mix.compress_measured(&likely, &Layout::Bytes).unwrap();
        let ideal = ideal.unwrap() / 8.0;
        assert!(
            (out.len() as f64 - ideal).abs() < 16.0,
            "{} vs {ideal}",
            out.len()
        );
    }

    #[test]
    fn damaged_payloads_are_errors_not_wrong_bytes() {
        let text = sample();
        let packed = CM.compress(&text, &Layout::Bytes).unwrap();
        let cut = &packed[..packed.len() / 2];
        assert!(matches!(
            CM.decompress(cut, text.len()),
            Err(CodecError::Decode { .. })
        ));
        assert!(CM.decompress(&[], 10).is_err());
        // Each damaged tag is refused for its own reason (tags built on this build's version).
        let reason = |payload: &[u8]| match CM.decompress(payload, 10) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{payload:?} decoded"),
        };
        let v = VERSION << 4;
        assert!(
            reason(&[v + 0x10]).contains("format version"),
            "a later version"
        );
        assert!(reason(&[0x10]).contains("format version 1"), "version 1");
        assert!(reason(&[v | 15, 0, 0]).contains("unknown data kind"));
        assert!(reason(&[v | 1, 0, 0, 0, 0, 9]).contains("width 0"));
        assert!(CM.decompress(&[v | 1, 1], 10).is_err(), "width cut short");
        // A hostile length on a tiny payload runs out quickly instead of decoding garbage.
        let t = std::time::Instant::now();
        assert!(CM.decompress(&packed[..40], 1 << 30).is_err());
        assert!(t.elapsed().as_secs() < 10);
    }

    #[test]
    fn a_prime_learned_offline_helps_a_fresh_chunk_and_survives_its_file() {
        let text = sample();
        let (train, test) = text.split_at(text.len() / 2);
        let fresh = MixCodec::new("cm".into(), "test".into(), None, None).unwrap();
        let learned = fresh.learn(train, &Layout::Bytes, None);
        let mut prime = Prime::default();
        prime.set(Kind::Bytes, learned);
        let bytes = prime.to_bytes();
        let primed = MixCodec::new("cm".into(), "test".into(), None, Some(&bytes)).unwrap();
        assert_ne!(primed.model_id().sha256, fresh.model_id().sha256);
        let chunk = &test[..2048.min(test.len())];
        let a = round_trip(&primed, chunk, &Layout::Bytes);
        let b = round_trip(&fresh, chunk, &Layout::Bytes);
        assert!(a < b, "primed {a} vs fresh {b}");
        assert!(MixCodec::new("cm".into(), "test".into(), None, Some(&bytes[..100])).is_err());
    }

    /// The mixer's output on a fixed input is pinned by `tests/data/mix-golden.txt` (cm and
    /// mix-200k with the shipped model and primes, and cm on a synthetic audio signal and
    /// image patch); the wasm and browser tests check that the
    /// same `.lmz` bytes come out there. `LMZIP_UPDATE_GOLDEN=1` rewrites it.
    #[test]
    fn golden_payload_hashes() {
        let root = crate::repo_root();
        let model = std::fs::read(root.join("models/200k/model.lmzi")).expect("shipped model");
        let prime = std::fs::read(root.join("models/200k/mix.prime")).ok();
        let lm: &'static LmCodec = Box::leak(Box::new(LmCodec::new("200k", &model).unwrap()));
        let mix = MixCodec::new("mix-200k".into(), "".into(), Some(lm), prime.as_deref()).unwrap();
        let input = &sample()[..2048];
        let hex = |b: &[u8]| -> String {
            crate::model::sha256(b)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        // A tone with a little noise, as 8-bit audio (the sample model's path).
        let mut x = 1u32;
        let tone: Vec<u8> = (0..2048u32)
            .map(|t| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let saw = (t * 7 % 128) as i32 - 64;
                (128 + saw + (x >> 29) as i32) as u8
            })
            .collect();
        let audio = Layout::Audio { sample_rate: 8000 };
        // A 64×32 patch of a diagonal ramp with a little noise (the pixel predictor's path).
        let patch: Vec<u8> = (0..2048u32)
            .map(|i| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (i % 64 + i / 64 * 3 + (x >> 30)) as u8
            })
            .collect();
        let image = Layout::Image {
            width: 64,
            height: 32,
        };
        let got = format!(
            "cm {}\nmix-200k {}\ncm-audio {}\ncm-image {}\n",
            hex(&CM.compress(input, &Layout::Bytes).unwrap()),
            hex(&mix.compress(input, &Layout::Bytes).unwrap()),
            hex(&CM.compress(&tone, &audio).unwrap()),
            hex(&CM.compress(&patch, &image).unwrap())
        );
        let golden = root.join("tests/data/mix-golden.txt");
        if std::env::var_os("LMZIP_UPDATE_GOLDEN").is_some() {
            std::fs::write(&golden, &got).unwrap();
        }
        let want = std::fs::read_to_string(&golden).expect("golden file");
        assert_eq!(got, want, "the mixer's output changed");
    }
}
