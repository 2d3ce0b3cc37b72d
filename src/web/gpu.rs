//! The engine on WebGPU from the page (the `gpu-engine` build, `pkg/gpu/`): calls that wait for
//! the GPU run as jobs. A job is prepared by an ordinary export, then run by [`lmzip_gpu_run`],
//! which JavaScript calls through `WebAssembly.promising` (`www/jspi.js`), so each wait for a
//! mapped buffer suspends the wasm stack while the browser's event loop delivers it. Outside a
//! job every model runs on the CPU: same bits, no waiting.

use super::{hex, js_err, lmz_err, FileSession, PAGE_MAX_SIZE};
use crate::engine::gpu::{self, Adapters, Gpu};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

type Job = Box<dyn FnOnce() -> Result<JsValue, JsError>>;

thread_local! {
    static PENDING: RefCell<Option<Job>> = const { RefCell::new(None) };
    static OUTCOME: RefCell<Option<Result<JsValue, JsError>>> = const { RefCell::new(None) };
    static DEVICE: RefCell<Option<std::sync::Arc<Gpu>>> = const { RefCell::new(None) };
    static RETURNED: RefCell<Option<FileSession>> = const { RefCell::new(None) };
}

fn prepare(job: impl FnOnce() -> Result<JsValue, JsError> + 'static) {
    PENDING.with(|p| *p.borrow_mut() = Some(Box::new(job)));
}

/// Runs the prepared job; its result waits in [`gpu_outcome`]. Returns 0, or 1 with no job.
/// Only through `WebAssembly.promising`: the GPU's waits suspend this call.
#[no_mangle]
pub extern "C" fn lmzip_gpu_run() -> i32 {
    let Some(job) = PENDING.with(|p| p.borrow_mut().take()) else {
        return 1;
    };
    let outcome = gpu::suspendable(job);
    OUTCOME.with(|o| *o.borrow_mut() = Some(outcome));
    0
}

/// The last job's result (or its error).
#[wasm_bindgen]
pub fn gpu_outcome() -> Result<JsValue, JsError> {
    OUTCOME
        .with(|o| o.borrow_mut().take())
        .unwrap_or_else(|| Err(JsError::new("no GPU job has run")))
}

/// Prepares opening the browser's WebGPU adapter for every model (`software`: a fallback
/// adapter too); the job's result is the adapter's description.
#[wasm_bindgen]
pub fn gpu_open_job(software: bool) {
    prepare(move || {
        let which = if software {
            Adapters::Any
        } else {
            Adapters::Hardware
        };
        let g = Gpu::new(which).map_err(js_err)?;
        let name = g.name().to_string();
        crate::codecs::lm::use_gpu(g.clone());
        DEVICE.with(|d| *d.borrow_mut() = Some(g));
        Ok(name.into())
    });
}

/// Prepares [`super::engine_table_hash`] on the GPU (one window of the engine's kernels).
#[wasm_bindgen]
pub fn gpu_table_hash_job(model: Vec<u8>, input: Vec<u8>) {
    prepare(move || {
        let g = DEVICE
            .with(|d| d.borrow().clone())
            .ok_or_else(|| JsError::new("no GPU opened"))?;
        let w = crate::engine::IntWeights::from_bytes(&model).map_err(js_err)?;
        let m = crate::engine::IntModel::new(&w).map_err(js_err)?;
        let gm = g.load(&m);
        let digest = gm.table_hash(&m, &input);
        if gm.fell_back() {
            return Err(JsError::new("the GPU failed; the CPU computed the tables"));
        }
        Ok(hex(&digest).into())
    });
}

/// Prepares [`super::compress`] with the models on the GPU.
#[wasm_bindgen]
pub fn gpu_compress_job(bytes: Vec<u8>, codec: String) {
    prepare(move || {
        let out = crate::lmz::compress(&bytes, &codec).map_err(js_err)?;
        Ok(js_sys::Uint8Array::from(&out[..]).into())
    });
}

/// Prepares [`super::decompress`] with the models on the GPU.
#[wasm_bindgen]
pub fn gpu_decompress_job(bytes: Vec<u8>) {
    prepare(move || {
        let out = crate::lmz::decompress_limited(&bytes, PAGE_MAX_SIZE).map_err(lmz_err)?;
        Ok(js_sys::Uint8Array::from(&out[..]).into())
    });
}

/// True once the model codec `codec` (e.g. `lm-200k`) has run on the GPU with no step falling
/// back to the CPU.
#[wasm_bindgen]
pub fn gpu_used(codec: &str) -> bool {
    crate::codecs::lm::find(codec).is_some_and(|c| c.ran_on_gpu())
}

/// What a session job is asked: the arguments of the [`FileSession`] method it runs.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct SessionArgs {
    codec: String,
    mode: String,
    max: usize,
    index: usize,
}

/// Prepares a [`FileSession`] method that may run a model (`measure`, `costs`, `compress`,
/// `decompress`, `compressChunk`, `decompressChunk`) as a job on the GPU. The session moves
/// into the job and comes back through [`gpu_take_session`] once it ran (or was refused),
/// whatever its outcome.
#[wasm_bindgen]
pub fn gpu_session_job(
    mut session: FileSession,
    op: String,
    args: JsValue,
    progress: js_sys::Function,
) -> Result<(), JsError> {
    let a: SessionArgs = match serde_wasm_bindgen::from_value(args) {
        Ok(a) => a,
        Err(e) => {
            RETURNED.with(|r| *r.borrow_mut() = Some(session));
            return Err(js_err(e));
        }
    };
    prepare(move || {
        let s = &mut session;
        let bytes = |v: Vec<u8>| JsValue::from(js_sys::Uint8Array::from(&v[..]));
        let out = match op.as_str() {
            "measure" => s.measure(&a.codec, &a.mode, &progress),
            "costs" => s
                .byte_costs(&a.codec, a.max, &progress)
                .map(|v| js_sys::Float32Array::from(&v[..]).into()),
            "compress" => s.compress(&a.codec).map(bytes),
            "decompress" => s.decompress().map(bytes),
            "compressChunk" => s.compress_chunk(&a.codec, a.index).map(bytes),
            "decompressChunk" => s.decompress_chunk(a.index).map(bytes),
            _ => Err(JsError::new(&format!("{op} does not run on the GPU"))),
        };
        RETURNED.with(|r| *r.borrow_mut() = Some(session));
        out
    });
    Ok(())
}

/// The session the last [`gpu_session_job`] took, handed back.
#[wasm_bindgen]
pub fn gpu_take_session() -> Option<FileSession> {
    RETURNED.with(|r| r.borrow_mut().take())
}
