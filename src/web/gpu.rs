//! The engine on WebGPU from the page (the `gpu-engine` build, `pkg/gpu/`): calls that wait for
//! the GPU run as jobs. A job is prepared by an ordinary export, then run by [`lmzip_gpu_run`],
//! which JavaScript calls through `WebAssembly.promising` (`www/jspi.js`), so each wait for a
//! mapped buffer suspends the wasm stack while the browser's event loop delivers it. Outside a
//! job every model runs on the CPU: same bits, no waiting.

use super::{js_err, lmz_err, PAGE_MAX_SIZE};
use crate::engine::gpu::{self, Adapters, Gpu};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

type Job = Box<dyn FnOnce() -> Result<JsValue, JsError>>;

thread_local! {
    static PENDING: RefCell<Option<Job>> = const { RefCell::new(None) };
    static OUTCOME: RefCell<Option<Result<JsValue, JsError>>> = const { RefCell::new(None) };
    static DEVICE: RefCell<Option<std::sync::Arc<Gpu>>> = const { RefCell::new(None) };
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
        let hex: String = gm
            .table_hash(&m, &input)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if gm.fell_back() {
            return Err(JsError::new("the GPU failed; the CPU computed the tables"));
        }
        Ok(hex.into())
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
