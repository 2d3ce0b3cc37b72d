//! The JavaScript surface (wasm32 only): thin wrappers that the page's worker calls.

use crate::bench::{self, Mode};
use crate::codecs;
use crate::modality::{self, Prepared};
use serde::Serialize;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

thread_local! {
    /// The last file prepared in this worker, so several codecs reuse one decode.
    static LAST: RefCell<Option<(String, usize, u32, Prepared)>> = const { RefCell::new(None) };
}

fn prepared(bytes: &[u8], name: &str) -> Result<Prepared, JsError> {
    let crc = crc32fast::hash(bytes);
    let hit = LAST.with(|l| {
        l.borrow()
            .as_ref()
            .filter(|(n, len, c, _)| n == name && *len == bytes.len() && *c == crc)
            .map(|(_, _, _, p)| p.clone())
    });
    if let Some(p) = hit {
        return Ok(p);
    }
    let p = modality::prepare(bytes, name).map_err(|e| JsError::new(&e.to_string()))?;
    LAST.with(|l| *l.borrow_mut() = Some((name.to_string(), bytes.len(), crc, p.clone())));
    Ok(p)
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
    if crate::container::looks_like_lmz(bytes) {
        return to_js(&Inspection {
            modality: "lmz",
            bytes: bytes.len(),
            input_bytes: bytes.len(),
            layout: modality::Layout::Bytes,
            codecs: vec![],
            lmz: true,
        });
    }
    let p = prepared(bytes, name)?;
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

/// A JavaScript `progress(fraction)` callback as a Rust one (its errors are the page's to show).
fn reporter(progress: &js_sys::Function) -> impl FnMut(f64) + '_ {
    |f: f64| {
        let _ = progress.call1(&JsValue::NULL, &JsValue::from_f64(f));
    }
}

/// Measures one codec in one mode (`whole` or `chunked`); `progress(fraction)` is called now and then.
#[wasm_bindgen]
pub fn measure(
    bytes: &[u8],
    name: &str,
    codec: &str,
    mode: &str,
    progress: &js_sys::Function,
) -> Result<JsValue, JsError> {
    let p = prepared(bytes, name)?;
    let codec = codecs::by_name(codec).ok_or_else(|| JsError::new("unknown codec"))?;
    let mode = Mode::parse(mode).ok_or_else(|| JsError::new("mode must be whole or chunked"))?;
    let r = bench::measure(&p, name, codec, mode, &mut reporter(progress))
        .map_err(|e| JsError::new(&e.to_string()))?;
    to_js(&r)
}

/// Where the bits go: each of the first `max_bytes` stream bytes' cost in bits under model
/// `codec`, coded as in whole mode (the stream is the file's text, pixels or samples).
#[wasm_bindgen]
pub fn byte_costs(
    bytes: &[u8],
    name: &str,
    codec: &str,
    max_bytes: usize,
    progress: &js_sys::Function,
) -> Result<Vec<f32>, JsError> {
    let p = prepared(bytes, name)?;
    let n = p.stream.len().min(max_bytes);
    if let Some(mix) = codecs::mix::find(codec) {
        return Ok(mix.costs(&p.stream[..n], &p.layout, &mut reporter(progress)));
    }
    let model = codecs::lm::find(codec)
        .ok_or_else(|| JsError::new(&format!("{codec} is not a loaded model")))?;
    Ok(model.costs(&p.stream[..n], &mut reporter(progress)))
}

/// The stream a model codes for this file (its text, pixels or 8-bit samples), at most `max_bytes`.
#[wasm_bindgen]
pub fn stream(bytes: &[u8], name: &str, max_bytes: usize) -> Result<Vec<u8>, JsError> {
    let p = prepared(bytes, name)?;
    Ok(p.stream[..p.stream.len().min(max_bytes)].to_vec())
}

/// An integer model file (`.lmzi`) as float tensors for the WebGPU analysis path:
/// `{config: {d_model, n_heads, n_layers, widening, context}, tensors: {name: Float32Array}}`.
#[wasm_bindgen]
pub fn float_model(lmzi: &[u8]) -> Result<JsValue, JsError> {
    let err = |e: crate::model::WeightsError| JsError::new(&e.to_string());
    let w = crate::engine::dequantize(&crate::engine::IntWeights::from_bytes(lmzi).map_err(err)?)
        .map_err(err)?;
    let tensors = js_sys::Object::new();
    for (name, (_, values)) in &w.tensors {
        let array = js_sys::Float32Array::from(values.as_slice());
        js_sys::Reflect::set(&tensors, &JsValue::from_str(name), &array)
            .map_err(|_| JsError::new("cannot build the tensor map"))?;
    }
    let out = js_sys::Object::new();
    let set = |k: &str, v: &JsValue| {
        js_sys::Reflect::set(&out, &JsValue::from_str(k), v)
            .map(|_| ())
            .map_err(|_| JsError::new("cannot build the model object"))
    };
    set("config", &to_js(&w.config)?)?;
    set("tensors", &tensors)?;
    Ok(out.into())
}

/// Loads exported model weights as the codec `lm-<name>`; returns the codec's name.
#[wasm_bindgen]
pub fn register_model(name: &str, weights: &[u8]) -> Result<String, JsError> {
    let codec = codecs::lm::register(name, weights).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(codec.model_id().name.clone())
}

/// Loads the learned starting state of `mix-<name>` (its `mix.prime`), after the model.
#[wasm_bindgen]
pub fn register_prime(name: &str, prime: &[u8]) -> Result<String, JsError> {
    let lm = codecs::lm::find(&format!("lm-{name}"))
        .ok_or_else(|| JsError::new(&format!("lm-{name} is not a loaded model")))?;
    match codecs::mix::register(lm, Some(prime)).map_err(|e| JsError::new(&e.to_string()))? {
        Some(mix) => Ok(mix.model_id().name.clone()),
        None => Err(JsError::new(&format!(
            "lm-{name} has no integer engine to mix"
        ))),
    }
}

/// Compresses a file's bytes into an `.lmz`.
#[wasm_bindgen]
pub fn compress(bytes: &[u8], codec: &str) -> Result<Vec<u8>, JsError> {
    crate::lmz::compress(bytes, codec).map_err(|e| JsError::new(&e.to_string()))
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
    Ok(crate::engine::table_hash(&m, input)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// How many chunks `compress_chunk` codes a file of `len` bytes in, for `codec`.
#[wasm_bindgen]
pub fn lmz_plan(len: usize, codec: &str) -> Result<usize, JsError> {
    Ok(crate::lmz::plan(len, codec).map_err(js_err)?.0)
}

/// Codes one chunk of a file (workers code chunks in parallel).
#[wasm_bindgen]
pub fn compress_chunk(bytes: &[u8], codec: &str, index: usize) -> Result<Vec<u8>, JsError> {
    crate::lmz::compress_chunk(bytes, codec, index).map_err(js_err)
}

/// Wraps coded chunks (an array of Uint8Array) into an `.lmz`.
#[wasm_bindgen]
pub fn assemble(bytes: &[u8], codec: &str, chunks: &js_sys::Array) -> Result<Vec<u8>, JsError> {
    crate::lmz::assemble(bytes, codec, byte_arrays(chunks)).map_err(js_err)
}

/// Checks an `.lmz`'s header and model; returns its chunk count.
#[wasm_bindgen]
pub fn chunk_count(bytes: &[u8]) -> Result<usize, JsError> {
    crate::lmz::chunk_count(bytes, PAGE_MAX_SIZE).map_err(lmz_err)
}

/// Decodes one chunk of an `.lmz` (workers decode chunks in parallel).
#[wasm_bindgen]
pub fn decompress_chunk(bytes: &[u8], index: usize) -> Result<Vec<u8>, JsError> {
    crate::lmz::decompress_chunk(bytes, index, PAGE_MAX_SIZE).map_err(lmz_err)
}

/// Joins decoded chunks (an array of Uint8Array) and checks the original's checksum.
#[wasm_bindgen]
pub fn join_chunks(bytes: &[u8], pieces: &js_sys::Array) -> Result<Vec<u8>, JsError> {
    crate::lmz::join(bytes, byte_arrays(pieces)).map_err(lmz_err)
}

/// Codecs that can make `.lmz` files here (classical ones and integer-engine models).
#[wasm_bindgen]
pub fn lmz_codecs() -> Vec<String> {
    crate::lmz::codec_names()
        .into_iter()
        .map(String::from)
        .collect()
}

/// Continues a file with a codec or model as a generative model. `options` is
/// `{codec, bytes, seed, temperature, top_k, context, views, prompt_bytes}` (all optional);
/// the result holds the sample, the rendered file (text, PNG or WAV) and the judge's bits/byte.
#[wasm_bindgen]
pub fn generate(
    bytes: &[u8],
    name: &str,
    options: JsValue,
    progress: &js_sys::Function,
) -> Result<JsValue, JsError> {
    let p = prepared(bytes, name)?;
    let opts: crate::generate::Options = serde_wasm_bindgen::from_value(options).map_err(js_err)?;
    let mut last = 0.0;
    let mut report = |f: f64| {
        if f - last >= 0.01 || f >= 1.0 {
            last = f;
            let _ = progress.call1(&JsValue::NULL, &JsValue::from_f64(f));
        }
    };
    let c = crate::generate::continue_file(&p, &opts, &mut report).map_err(js_err)?;
    to_js(&c)
}
