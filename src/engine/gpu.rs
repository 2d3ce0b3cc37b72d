//! The engine's linear products on a GPU through `wgpu` (WGSL, integers only): the weights
//! live on the GPU, each batch of rows goes up, its i32 sums come back, and the CPU does the
//! rest of the step exactly as before. Integer sums are the same bits in any order, so a
//! table made here equals the CPU's bit for bit (tested on lavapipe, Mesa's software Vulkan).
//!
//! Encoding sends a whole window's positions per product, decoding one row per lane: the
//! shapes of [`super::batch`]. Attention, LayerNorm and the tables stay on the CPU for now.

use super::batch::IntLanes;
use super::forward::{IntModel, Linear, Products};
use crate::coder::FreqTable;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    name: String,
}

/// Rows per dispatch: bounds the buffers (8,192 rows × 1,024 outputs × 4 bytes = 32 MiB) and
/// stays far below the 65,535 workgroups a dimension allows.
const MAX_ROWS: usize = 8192;
/// Invocations per workgroup (the WGSL's `workgroup_size`).
const GROUP: usize = 64;

/// Runs a future that `wgpu`'s native backends resolve without an event loop.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
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
        let name = format!("{} ({:?}, {:?})", info.name, info.device_type, info.backend);
        if which == Adapters::Hardware && info.device_type == wgpu::DeviceType::Cpu {
            return Err(GpuError::Software(name));
        }
        let (device, queue) = block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("lmzip engine"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device(e.to_string()))?;
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("linear.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("linear.wgsl").into()),
        });
        let entry = |binding, ty| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let storage = |read_only| wgpu::BufferBindingType::Storage { read_only };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("linear"),
            entries: &[
                entry(0, wgpu::BufferBindingType::Uniform),
                entry(1, storage(true)),
                entry(2, storage(true)),
                entry(3, storage(false)),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("linear"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("linear"),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some("linear"),
            compilation_options: Default::default(),
            cache: None,
        });
        Ok(Arc::new(Self {
            device,
            queue,
            pipeline,
            layout,
            name,
        }))
    }

    /// The adapter's name, kind and backend, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Uploads `m`'s weights: the engine for that model on this GPU.
    pub fn load(self: &Arc<Self>, m: &IntModel) -> GpuModel {
        let mut bytes = Vec::new();
        let mut offsets = Vec::new();
        for lin in m.linears() {
            debug_assert_eq!(lin.id, offsets.len(), "linear maps in id order");
            offsets.push((bytes.len() / 4) as u32);
            bytes.extend(lin.w.iter().map(|&v| v as u8));
            // Packed maps are whole blocks of 8 outputs × pairs: already whole words.
            bytes.resize(bytes.len().next_multiple_of(4), 0);
        }
        let weights = self.buffer(
            "weights",
            bytes.len(),
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        );
        self.queue.write_buffer(&weights, 0, &bytes);
        GpuModel {
            gpu: Arc::clone(self),
            weights,
            offsets,
            io: Mutex::new(None),
            fell_back: AtomicBool::new(false),
        }
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

/// A model's weights on a GPU: runs the model's linear products there.
pub struct GpuModel {
    gpu: Arc<Gpu>,
    weights: wgpu::Buffer,
    /// Each linear map's first word in `weights`, by id.
    offsets: Vec<u32>,
    /// Buffers for one dispatch, grown as rows need (one product at a time).
    io: Mutex<Option<Io>>,
    fell_back: AtomicBool,
}

/// Per-dispatch buffers with room for `x_bytes` of inputs and `out_bytes` of sums.
struct Io {
    x_bytes: usize,
    out_bytes: usize,
    dims: wgpu::Buffer,
    x: wgpu::Buffer,
    sums: wgpu::Buffer,
    staging: wgpu::Buffer,
    upload: Vec<u8>,
}

impl GpuModel {
    /// The adapter it runs on.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// True once a GPU product failed and the CPU ran it instead (same bits either way).
    pub fn fell_back(&self) -> bool {
        self.fell_back.load(Ordering::Relaxed)
    }

    /// [`IntModel::window_tables_from`] with the products on the GPU: the same tables.
    pub fn window_tables_from(
        &self,
        m: &IntModel,
        tokens: &[u8],
        from: usize,
        visit: &mut dyn FnMut(FreqTable),
    ) {
        m.window(&self, tokens, from, visit);
    }

    /// [`IntModel::lanes`] with the products on the GPU: the same tables.
    pub fn lanes<'m>(&'m self, m: &'m IntModel, lanes: usize) -> IntLanes<'m, &'m GpuModel> {
        m.lanes_on(self, lanes)
    }

    /// One dispatch of at most [`MAX_ROWS`] rows; `Err` when the GPU failed to return sums.
    fn run(&self, lin: &Linear, x: &[i16], rows: usize, sums: &mut [i32]) -> Result<(), ()> {
        let gpu = &self.gpu;
        let (n_in, n_out) = (lin.n_in, lin.n_out());
        let (x_bytes, out_bytes) = (rows * n_in * 2, rows * n_out * 4);
        let mut guard = self.io.lock().map_err(|_| ())?;
        if guard
            .as_ref()
            .is_none_or(|io| io.x_bytes < x_bytes || io.out_bytes < out_bytes)
        {
            let (x_cap, out_cap) = match guard.as_ref() {
                Some(io) => (io.x_bytes.max(x_bytes), io.out_bytes.max(out_bytes)),
                None => (x_bytes, out_bytes),
            };
            use wgpu::BufferUsages as U;
            *guard = Some(Io {
                x_bytes: x_cap,
                out_bytes: out_cap,
                dims: gpu.buffer("dims", 16, U::UNIFORM | U::COPY_DST),
                x: gpu.buffer("x", x_cap, U::STORAGE | U::COPY_DST),
                sums: gpu.buffer("sums", out_cap, U::STORAGE | U::COPY_SRC),
                staging: gpu.buffer("staging", out_cap, U::MAP_READ | U::COPY_DST),
                upload: Vec::with_capacity(x_cap),
            });
        }
        let io = guard.as_mut().ok_or(())?;
        let dims = [rows as u32, n_in as u32, n_out as u32, self.offsets[lin.id]];
        let dims: Vec<u8> = dims.iter().flat_map(|v| v.to_le_bytes()).collect();
        gpu.queue.write_buffer(&io.dims, 0, &dims);
        io.upload.clear();
        io.upload
            .extend(x[..rows * n_in].iter().flat_map(|v| v.to_le_bytes()));
        io.upload.resize(x_bytes.next_multiple_of(4), 0);
        gpu.queue.write_buffer(&io.x, 0, &io.upload);
        let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("linear"),
            layout: &gpu.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: io.dims.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: self.weights.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: io.x.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: io.sums.as_entire_binding(),
                },
            ],
        });
        let mut enc = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(&gpu.pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(n_out.div_ceil(GROUP) as u32, rows as u32, 1);
        }
        enc.copy_buffer_to_buffer(&io.sums, 0, &io.staging, 0, out_bytes as u64);
        gpu.queue.submit([enc.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        io.staging
            .map_async(wgpu::MapMode::Read, ..out_bytes as u64, move |r| {
                let _ = tx.send(r.is_ok());
            });
        gpu.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|_| ())?;
        if rx.recv() != Ok(true) {
            return Err(());
        }
        {
            let view = io
                .staging
                .get_mapped_range(..out_bytes as u64)
                .map_err(|_| ())?;
            for (s, b) in sums[..rows * n_out].iter_mut().zip(view.chunks_exact(4)) {
                *s = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        io.staging.unmap();
        Ok(())
    }
}

impl Products for &GpuModel {
    fn linear(&self, lin: &Linear, x: &[i16], rows: usize, sums: &mut [i32]) {
        let (n_in, n_out) = (lin.n_in, lin.n_out());
        for r0 in (0..rows).step_by(MAX_ROWS) {
            let r1 = (r0 + MAX_ROWS).min(rows);
            let (x, out) = (&x[r0 * n_in..r1 * n_in], &mut sums[r0 * n_out..r1 * n_out]);
            if self.fell_back() || self.run(lin, x, r1 - r0, out).is_err() {
                // A lost device costs speed, never bytes: the CPU's sums are the same.
                self.fell_back.store(true, Ordering::Relaxed);
                lin.products(x, r1 - r0, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::IntWeights;

    fn model() -> IntModel {
        let bytes = std::fs::read(crate::repo_root().join("models/200k/model.lmzi")).unwrap();
        IntModel::new(&IntWeights::from_bytes(&bytes).unwrap()).unwrap()
    }

    fn freqs(t: &FreqTable) -> Vec<u32> {
        (0..t.len()).map(|s| t.freq(s)).collect()
    }

    /// lavapipe is installed by `scripts/setup.sh`; without any adapter this fails loudly.
    fn gpu() -> Arc<Gpu> {
        Gpu::new(Adapters::Any).expect("a Vulkan adapter (lavapipe: mesa-vulkan-drivers)")
    }

    #[test]
    fn gpu_products_equal_the_cpu_kernels_on_every_map() {
        let (m, g) = (model(), gpu());
        let gm = g.load(&m);
        let mut x = 7u64;
        for lin in m.linears() {
            for rows in [1usize, 3, 64] {
                let xs: Vec<i16> = (0..rows * lin.n_in)
                    .map(|_| {
                        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        ((x >> 40) as i16) >> 2
                    })
                    .collect();
                let mut want = vec![0; rows * lin.n_out()];
                let mut got = vec![1; rows * lin.n_out()];
                lin.products(&xs, rows, &mut want);
                (&gm).linear(lin, &xs, rows, &mut got);
                assert_eq!(got, want, "map {} × {rows} rows", lin.id);
            }
        }
        assert!(!gm.fell_back(), "every product ran on {}", g.name());
        eprintln!("products checked on {}", g.name());
    }

    #[test]
    fn gpu_windows_and_lanes_give_the_golden_tables() {
        let (m, g) = (model(), gpu());
        let gm = g.load(&m);
        let text = std::fs::read(crate::repo_root().join("tests/data/sample.txt")).unwrap();
        let mut tokens = vec![0u8];
        tokens.extend_from_slice(&text[..511]);
        let (mut cpu, mut on_gpu) = (Vec::new(), Vec::new());
        m.window_tables(&tokens, &mut |t| cpu.push(freqs(&t)));
        gm.window_tables_from(&m, &tokens, 0, &mut |t| on_gpu.push(freqs(&t)));
        assert_eq!(on_gpu.len(), 512);
        assert!(on_gpu == cpu, "window tables differ on {}", g.name());
        // The committed fingerprint: what `table_hash` gives stepping a session.
        let golden =
            std::fs::read_to_string(crate::repo_root().join("tests/data/engine-golden.txt"))
                .unwrap();
        assert_eq!(hash(&on_gpu), golden.trim());
        // Two lanes in lockstep, one a step behind, as decoding runs them.
        let mut lanes = gm.lanes(&m, 2);
        let mut got = [Vec::new(), Vec::new()];
        for i in 0..=40 {
            let (ids, toks): (Vec<usize>, Vec<u8>) = if i == 0 {
                (vec![0], vec![tokens[0]])
            } else if i == 40 {
                (vec![1], vec![tokens[39]])
            } else {
                (vec![0, 1], vec![tokens[i], tokens[i - 1]])
            };
            lanes.step(&ids, &toks, &mut |lane, t| got[lane].push(freqs(&t)));
        }
        assert!(
            got[0] == cpu[..40] && got[1] == cpu[..40],
            "lane tables differ"
        );
        assert!(!gm.fell_back());
    }

    fn hash(tables: &[Vec<u32>]) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for t in tables {
            for f in t {
                h.update(f.to_le_bytes());
            }
        }
        h.update(crate::coder::TOTAL.to_le_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

