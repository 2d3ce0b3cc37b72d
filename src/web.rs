//! The JavaScript surface (wasm32 only): thin wrappers that the page's worker calls.

use crate::bench::{self, Mode};
use crate::codecs;
use crate::modality::{self, Prepared};
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[cfg(feature = "gpu-engine")]
mod gpu;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// One file in a worker. Its bytes cross into wasm memory once, when the page opens the file;
/// the decoded stream and an `.lmz`'s checked header are worked out on first use and kept, so
/// no later call copies, decodes or checksums the whole file again.
#[wasm_bindgen]
pub struct FileSession {
    bytes: Vec<u8>,
    name: String,
    prepared: Option<Prepared>,
    lmz: Option<crate::lmz::Opened>,
}

#[wasm_bindgen]
impl FileSession {
    /// Holds `bytes`, the file called `name` (its extension picks the decoder).
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: Vec<u8>, name: String) -> FileSession {
        FileSession {
            bytes,
            name,
            prepared: None,
            lmz: None,
        }
    }

    fn prepared(&mut self) -> Result<&Prepared, JsError> {
        prepared(&mut self.prepared, &self.bytes, &self.name)
    }

    fn opened(&mut self) -> Result<&crate::lmz::Opened, JsError> {
        opened(&mut self.lmz, &self.bytes)
    }

    /// Decodes the file into its stream and says which codecs apply.
    pub fn inspect(&mut self) -> Result<JsValue, JsError> {
        if crate::container::looks_like_lmz(&self.bytes) {
            return to_js(&Inspection {
                modality: "lmz",
                bytes: self.bytes.len(),
                input_bytes: self.bytes.len(),
                layout: modality::Layout::Bytes,
                codecs: vec![],
                lmz: true,
            });
        }
        let p = self.prepared()?;
        to_js(&Inspection {
            modality: p.modality.as_str(),
            bytes: p.stream.len(),
            input_bytes: p.input_bytes,
            layout: p.layout,
            codecs: codecs::all()
                .into_iter()
                .filter(|c| c.accepts(&p.layout))
                .map(|c| c.name())
                .collect(),
            lmz: false,
        })
    }

    /// Measures one codec in one mode (`whole` or `chunked`); `progress(fraction)` is called
    /// now and then.
    pub fn measure(
        &mut self,
        codec: &str,
        mode: &str,
        progress: &js_sys::Function,
    ) -> Result<JsValue, JsError> {
        let codec = codecs::by_name(codec).ok_or_else(|| JsError::new("unknown codec"))?;
        let mode =
            Mode::parse(mode).ok_or_else(|| JsError::new("mode must be whole or chunked"))?;
        let p = prepared(&mut self.prepared, &self.bytes, &self.name)?;
        let r =
            bench::measure(p, &self.name, codec, mode, &mut reporter(progress)).map_err(js_err)?;
        to_js(&r)
    }

    /// Where the bits go: each of the first `max_bytes` stream bytes' cost in bits under model
    /// `codec`, coded as in whole mode (the stream is the file's text, pixels or samples).
    pub fn byte_costs(
        &mut self,
        codec: &str,
        max_bytes: usize,
        progress: &js_sys::Function,
    ) -> Result<Vec<f32>, JsError> {
        let p = self.prepared()?;
        let n = p.stream.len().min(max_bytes);
        if let Some(mix) = codecs::mix::find(codec) {
            return Ok(mix.costs(&p.stream[..n], &p.layout, &mut reporter(progress)));
        }
        let model = codecs::lm::find(codec)
            .ok_or_else(|| JsError::new(&format!("{codec} is not a loaded model")))?;
        Ok(model.costs(&p.stream[..n], &mut reporter(progress)))
    }

    /// The stream a model codes for this file (its text, pixels or 8-bit samples), at most
    /// `max_bytes`.
    pub fn stream(&mut self, max_bytes: usize) -> Result<Vec<u8>, JsError> {
        let p = self.prepared()?;
        Ok(p.stream[..p.stream.len().min(max_bytes)].to_vec())
    }

    /// Compresses the file into an `.lmz`.
    pub fn compress(&self, codec: &str) -> Result<Vec<u8>, JsError> {
        crate::lmz::compress(&self.bytes, codec).map_err(js_err)
    }

    /// Decompresses the file (an `.lmz`) back to the original bytes, or throws a readable error.
    pub fn decompress(&self) -> Result<Vec<u8>, JsError> {
        crate::lmz::decompress_limited(&self.bytes, PAGE_MAX_SIZE).map_err(lmz_err)
    }

    /// How many chunks `compress_chunk` codes the file in, for `codec`.
    pub fn plan(&self, codec: &str) -> Result<usize, JsError> {
        Ok(crate::lmz::plan(self.bytes.len(), codec).map_err(js_err)?.0)
    }

    /// Codes one chunk of the file (workers code chunks in parallel).
    pub fn compress_chunk(&self, codec: &str, index: usize) -> Result<Vec<u8>, JsError> {
        crate::lmz::compress_chunk(&self.bytes, codec, index).map_err(js_err)
    }

    /// Wraps coded chunks (an array of Uint8Array) into an `.lmz` of the file.
    pub fn assemble(&self, codec: &str, chunks: &js_sys::Array) -> Result<Vec<u8>, JsError> {
        crate::lmz::assemble(&self.bytes, codec, byte_arrays(chunks)).map_err(js_err)
    }

    /// Checks the file's `.lmz` header and model (once); returns its chunk count.
    pub fn chunk_count(&mut self) -> Result<usize, JsError> {
        Ok(self.opened()?.chunk_count())
    }

    /// Decodes one chunk of the file's `.lmz` (workers decode chunks in parallel).
    pub fn decompress_chunk(&mut self, index: usize) -> Result<Vec<u8>, JsError> {
        opened(&mut self.lmz, &self.bytes)?
            .decode_chunk(&self.bytes, index)
            .map_err(lmz_err)
    }

    /// Joins decoded chunks (an array of Uint8Array) and checks the original's checksum.
    pub fn join_chunks(&mut self, pieces: &js_sys::Array) -> Result<Vec<u8>, JsError> {
        self.opened()?.join(byte_arrays(pieces)).map_err(lmz_err)
    }

    /// Continues the file with a codec or model as a generative model. `options` is
    /// `{codec, bytes, seed, temperature, top_k, context, views, prompt_bytes}` (all optional);
    /// the result holds the sample, the rendered file (text, PNG or WAV) and the judge's
    /// bits/byte.
    pub fn generate(
        &mut self,
        options: JsValue,
        progress: &js_sys::Function,
    ) -> Result<JsValue, JsError> {
        let opts: crate::generate::Options =
            serde_wasm_bindgen::from_value(options).map_err(js_err)?;
        let p = self.prepared()?;
        let mut last = 0.0;
        let mut report = |f: f64| {
            if f - last >= 0.01 || f >= 1.0 {
                last = f;
                let _ = progress.call1(&JsValue::NULL, &JsValue::from_f64(f));
            }
        };
        let c = crate::generate::continue_file(p, &opts, &mut report).map_err(js_err)?;
        to_js(&c)
    }
}

// The session's caches, filled on first use: free functions of the fields they need, so that a
// method can hold one while it reads the file's bytes or name.

fn prepared<'a>(
    slot: &'a mut Option<Prepared>,
    bytes: &[u8],
    name: &str,
) -> Result<&'a Prepared, JsError> {
    if slot.is_none() {
        *slot = Some(modality::prepare(bytes, name).map_err(js_err)?);
    }
    Ok(slot.as_ref().expect("just prepared"))
}

fn opened<'a>(
    slot: &'a mut Option<crate::lmz::Opened>,
    bytes: &[u8],
) -> Result<&'a crate::lmz::Opened, JsError> {
    if slot.is_none() {
        *slot = Some(crate::lmz::Opened::new(bytes, PAGE_MAX_SIZE).map_err(lmz_err)?);
    }
    Ok(slot.as_ref().expect("just opened"))
}

/// A one-call session over a copy of `bytes` (the free functions below, for callers that code
/// one file once).
fn once(bytes: &[u8], name: &str) -> FileSession {
    FileSession::new(bytes.to_vec(), name.to_string())
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

#[derive(Serialize)]
struct CodecInfo {
    name: &'static str,
    setting: &'static str,
    /// A model's parameter count (its work per byte), none for classical codecs.
    params: Option<usize>,
}

/// Every codec: `[{name, setting, params}]`.
#[wasm_bindgen]
pub fn codecs() -> Result<JsValue, JsError> {
    let list: Vec<CodecInfo> = codecs::all()
        .into_iter()
        .map(|c| CodecInfo {
            name: c.name(),
            setting: c.setting(),
            params: codecs::model_of(c.name()).map(|m| m.config().param_count()),
        })
        .collect();
    to_js(&list)
}

#[derive(Serialize)]
struct Inspection {
    modality: &'static str,
    bytes: usize,
    input_bytes: usize,
    layout: modality::Layout,
    codecs: Vec<&'static str>,
    lmz: bool,
}

/// Decodes a file into its stream and says which codecs apply.
#[wasm_bindgen]
pub fn inspect(bytes: &[u8], name: &str) -> Result<JsValue, JsError> {
    once(bytes, name).inspect()
}

/// A JavaScript `progress(fraction)` callback as a Rust one (its errors are the page's to show).
fn reporter(progress: &js_sys::Function) -> impl FnMut(f64) + '_ {
    |f: f64| {
        let _ = progress.call1(&JsValue::NULL, &JsValue::from_f64(f));
    }
}

/// Measures one codec in one mode (`whole` or `chunked`) on a file.
#[wasm_bindgen]
pub fn measure(
    bytes: &[u8],
    name: &str,
    codec: &str,
    mode: &str,
    progress: &js_sys::Function,
) -> Result<JsValue, JsError> {
    once(bytes, name).measure(codec, mode, progress)
}

/// Where the bits go in a file under model `codec` (see [`FileSession::byte_costs`]).
#[wasm_bindgen]
pub fn byte_costs(
    bytes: &[u8],
    name: &str,
    codec: &str,
    max_bytes: usize,
    progress: &js_sys::Function,
) -> Result<Vec<f32>, JsError> {
    once(bytes, name).byte_costs(codec, max_bytes, progress)
}

/// Loads exported model weights as the codec `lm-<name>`, and (an integer-engine model)
/// `mix-<name>` beside it, starting from `prime` (its `mix.prime`) where given; returns the
/// model codec's name.
#[wasm_bindgen]
pub fn register_model(
    name: &str,
    weights: &[u8],
    prime: Option<Vec<u8>>,
) -> Result<String, JsError> {
    let codec = codecs::lm::register_primed(name, weights, prime.as_deref())
        .map_err(|e| JsError::new(&e.to_string()))?;
    Ok(codec.model_id().name.clone())
}

/// Compresses a file's bytes into an `.lmz`.
#[wasm_bindgen]
pub fn compress(bytes: &[u8], codec: &str) -> Result<Vec<u8>, JsError> {
    crate::lmz::compress(bytes, codec).map_err(js_err)
}

/// The page decodes no more than it accepts as input.
const PAGE_MAX_SIZE: u64 = crate::modality::MAX_INPUT_BYTES as u64;

/// Decompresses an `.lmz` back to the original bytes, or throws a readable error.
#[wasm_bindgen]
pub fn decompress(bytes: &[u8]) -> Result<Vec<u8>, JsError> {
    crate::lmz::decompress_limited(bytes, PAGE_MAX_SIZE).map_err(lmz_err)
}

/// The codec `.lmz` files are made with by default.
#[wasm_bindgen]
pub fn default_codec() -> String {
    crate::lmz::DEFAULT_CODEC.to_string()
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// An `.lmz` error as the page shows it: what is wrong, then what to do.
fn lmz_err(e: crate::lmz::LmzError) -> JsError {
    let advice = e.advice();
    let (first, rest) = advice.split_at(1);
    JsError::new(&format!("{e}. {}{rest}.", first.to_uppercase()))
}

fn byte_arrays(list: &js_sys::Array) -> Vec<Vec<u8>> {
    list.iter()
        .map(|v| js_sys::Uint8Array::new(&v).to_vec())
        .collect()
}

/// SHA-256 (hex) of the integer engine's frequency tables over `input` with an `.lmzi` model:
/// the value every target must agree on.
#[wasm_bindgen]
pub fn engine_table_hash(model: &[u8], input: &[u8]) -> Result<String, JsError> {
    let w = crate::engine::IntWeights::from_bytes(model).map_err(js_err)?;
    let m = crate::engine::IntModel::new(&w).map_err(js_err)?;
    Ok(hex(&crate::engine::table_hash(&m, input)))
}

/// A digest as lowercase hex, as `tests/data/engine-golden.txt` holds it.
fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Codecs that can make `.lmz` files here (classical ones and integer-engine models).
#[wasm_bindgen]
pub fn lmz_codecs() -> Vec<String> {
    crate::lmz::codec_names()
        .into_iter()
        .map(String::from)
        .collect()
}
