//! The engine on a GPU through `wgpu`: WGSL kernels, integers only, with 64-bit values as pairs
//! of u32 where the CPU uses 64 bits (`i64.wgsl`). The same integer rule gives the same bits, so
//! a table made here equals the CPU's (tested on lavapipe, Mesa's software Vulkan).
//!
//! On the GPU: the linear products (`linear.wgsl`); queries, keys and values made ready
//! (`project.wgsl`); encoding's attention over a window's cache (`attend.wgsl`); the rest of a
//! layer after attention (`norm.wgsl`, `mlp.wgsl`); the head and the frequency tables
//! (`table.wgsl`). Encoding sends a whole window's positions per submission, decoding one row
//! per lane: the shapes of [`super::batch`]. On the CPU still: the embedding, the key/value
//! cache and its rescaling, decoding's attention.
//!
//! [`Gpu`] is the device and its compiled kernels; [`GpuModel`] a model's weights on it and the
//! submissions that run the engine's steps (`model.rs`); `io.rs` the buffers they reuse.

mod io;
mod model;
#[cfg(test)]
mod tests;

pub use model::GpuModel;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Why no GPU could be used.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No adapter (no driver, or none of the kind asked for).
    #[error("no GPU adapter found ({0})")]
    NoAdapter(String),
    /// Only a software adapter, where a hardware one was asked for.
    #[error("only a software adapter ({0}), slower than the CPU engine")]
    Software(String),
    /// The adapter refused a device.
    #[error("the GPU refused a device: {0}")]
    Device(String),
}

/// Which adapters to accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapters {
    /// Hardware GPUs only (what `--device auto` uses: a software rasteriser is slower than the
    /// CPU engine).
    Hardware,
    /// Any, software ones included (what `--device gpu` and the tests use).
    Any,
}

/// A GPU device with the engine's kernel compiled for it.
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    linear: Kernel,
    attend: Kernel,
    table: Kernel,
    mlp: Kernel,
    norm: Kernel,
    project: Kernel,
    name: String,
    /// Set by any error the device reports outside a call (validation, memory, a lost device):
    /// the dispatches after it are not trusted.
    failed: Arc<AtomicBool>,
}

/// A compiled entry point and the layout of its buffers.
struct Kernel {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

/// Longest context the attention kernel holds in workgroup memory (8 KiB of scores).
const MAX_ATTEND: usize = 2048;
/// Widest residual stream the norm kernel holds in workgroup memory.
const MAX_NORM: usize = 512;

/// Rows per dispatch: bounds the buffers (8,192 rows × 1,024 outputs × 4 bytes = 32 MiB) and
/// stays far below the 65,535 workgroups a dimension allows.
const MAX_ROWS: usize = 8192;
/// Invocations per workgroup (the WGSL's `workgroup_size`).
const GROUP: usize = 64;

/// Runs a future that `wgpu` resolves: natively without an event loop; in a browser by giving the
/// event loop a turn between polls ([`yield_now`]).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for attempt in 0u32.. {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        yield_now(attempt);
    }
    unreachable!("a wait of 2^32 turns")
}

/// Lets the GPU (and, in a browser, the event loop that delivers its results) make progress;
/// `attempt` counts the turns this wait has taken already.
#[cfg(not(target_arch = "wasm32"))]
fn yield_now(_attempt: u32) {
    std::thread::sleep(std::time::Duration::from_millis(1));
}

/// In a browser a mapped buffer or an adapter only arrives through the event loop, which a
/// synchronous engine never returns to: the one import below is a JavaScript Promise
/// Integration (JSPI) `WebAssembly.Suspending` (`www/jspi.js`), so this call suspends the wasm
/// stack until the event loop has turned once. It may only run inside a call that entered
/// through `WebAssembly.promising` (see `web::gpu`); the engine's code stays synchronous and one
/// for both targets.
#[cfg(target_arch = "wasm32")]
fn yield_now(attempt: u32) {
    #[link(wasm_import_module = "./jspi.js")]
    extern "C" {
        fn lmzip_yield(attempt: u32);
    }
    // SAFETY: an import of one integer and no result; it only suspends and resumes this stack.
    unsafe { lmzip_yield(attempt) }
}

#[cfg(target_arch = "wasm32")]
thread_local! {
    static SUSPENDABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True where a GPU's results can be waited for: natively always; in a browser only inside
/// [`suspendable`] (elsewhere the models run on the CPU, with the same bits).
pub fn can_wait() -> bool {
    #[cfg(target_arch = "wasm32")]
    return SUSPENDABLE.with(|s| s.get());
    #[cfg(not(target_arch = "wasm32"))]
    true
}

/// Runs `f`, a call that JavaScript entered through `WebAssembly.promising`, so that waiting for
/// the GPU may suspend it ([`can_wait`] is true inside).
pub fn suspendable<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "wasm32")]
    {
        struct Reset(bool);
        impl Drop for Reset {
            fn drop(&mut self) {
                SUSPENDABLE.with(|s| s.set(self.0));
            }
        }
        let _reset = Reset(SUSPENDABLE.with(|s| s.replace(true)));
        f()
    }
    #[cfg(not(target_arch = "wasm32"))]
    f()
}

/// Waits for `rx`'s one message: natively by blocking on the device, in a browser by yielding.
fn wait_for<T>(device: &wgpu::Device, rx: &std::sync::mpsc::Receiver<T>) -> Result<T, ()> {
    if !can_wait() {
        return Err(());
    }
    if cfg!(not(target_arch = "wasm32")) {
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|_| ())?;
    }
    for attempt in 0u32.. {
        match rx.try_recv() {
            Ok(v) => return Ok(v),
            Err(std::sync::mpsc::TryRecvError::Empty) => yield_now(attempt),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return Err(()),
        }
    }
    Err(())
}

impl Gpu {
    /// Opens the first adapter `wgpu` offers that `which` accepts.
    pub fn new(which: Adapters) -> Result<Arc<Self>, GpuError> {
        // The primary backends (Vulkan, Metal, DX12, the browser's WebGPU): compute without GL's
        // display probing.
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::PRIMARY,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapter = block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
        .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let info = adapter.get_info();
        // A browser tells no adapter name, only its vendor and architecture (if that).
        let label = [&info.name, &info.driver, &info.driver_info]
            .into_iter()
            .find(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| "an unnamed adapter".into());
        let name = format!("{label} ({:?}, {:?})", info.device_type, info.backend);
        if which == Adapters::Hardware && info.device_type == wgpu::DeviceType::Cpu {
            return Err(GpuError::Software(name));
        }
        let (device, queue) = block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("lmzip engine"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device(e.to_string()))?;
        // wgpu's default handler panics; a failing GPU should cost speed, not the run.
        let failed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&failed);
        device.on_uncaptured_error(Arc::new(move |_| flag.store(true, Ordering::Relaxed)));
        use wgpu::BufferBindingType as B;
        let (ro, rw) = (
            B::Storage { read_only: true },
            B::Storage { read_only: false },
        );
        let linear = Kernel::new(
            &device,
            include_str!("linear.wgsl"),
            "linear",
            &[B::Uniform, ro, ro, rw],
        );
        let attend = Kernel::new(
            &device,
            include_str!("attend.wgsl"),
            "attend",
            &[B::Uniform, ro, ro, ro, ro, ro, rw],
        );
        let table = Kernel::new(
            &device,
            concat!(include_str!("i64.wgsl"), include_str!("table.wgsl")),
            "table",
            &[B::Uniform, ro, ro, ro, ro, rw],
        );
        let mlp = Kernel::new(
            &device,
            concat!(include_str!("i64.wgsl"), include_str!("mlp.wgsl")),
            "mlp",
            &[B::Uniform, ro, ro, ro, ro, rw, rw],
        );
        let norm = Kernel::new(
            &device,
            concat!(include_str!("i64.wgsl"), include_str!("norm.wgsl")),
            "norm",
            &[B::Uniform, ro, ro, ro, ro, ro, ro, rw, rw],
        );
        let project = Kernel::new(
            &device,
            concat!(include_str!("i64.wgsl"), include_str!("project.wgsl")),
            "project",
            &[B::Uniform, ro, ro, ro, ro, ro, rw, rw],
        );
        Ok(Arc::new(Self {
            device,
            queue,
            linear,
            attend,
            table,
            mlp,
            norm,
            project,
            name,
            failed,
        }))
    }

    /// The adapter's name, kind and backend, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn buffer(&self, label: &str, size: usize, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(4).next_multiple_of(4) as u64,
            usage,
            mapped_at_creation: false,
        })
    }
}

impl Kernel {
    fn new(
        device: &wgpu::Device,
        source: &str,
        entry: &str,
        bindings: &[wgpu::BufferBindingType],
    ) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(entry),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let entries: Vec<_> = bindings
            .iter()
            .enumerate()
            .map(|(i, &ty)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(entry),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(entry),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        Self { pipeline, layout }
    }
}
