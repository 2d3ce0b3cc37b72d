//! A model's weights on a GPU and the submissions that run the engine's steps there, each the
//! CPU's rule in WGSL; [`Products`] for it, so [`IntModel`]'s windows and lanes run on it.

use super::io::Io;
use super::{Gpu, Kernel, GROUP, MAX_ATTEND, MAX_NORM, MAX_ROWS};
use crate::coder::FreqTable;
use crate::engine::batch::IntLanes;
use crate::engine::fixed::{self, ACT_BITS, QK_BITS};
use crate::engine::forward::{IntModel, Layer, LayerCache, Linear, Products};
use crate::model::VOCAB;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

impl Gpu {
    /// Uploads `m`'s weights: the engine for that model on this GPU.
    pub fn load(self: &Arc<Self>, m: &IntModel) -> GpuModel {
        let mut bytes = Vec::new();
        let mut offsets = Vec::new();
        for lin in m.linears() {
            debug_assert_eq!(lin.id, offsets.len(), "linear maps in id order");
            offsets.push((bytes.len() / 4) as u32);
            bytes.extend(dot4_layout(lin));
        }
        use wgpu::BufferUsages as U;
        let weights = self.buffer("weights", bytes.len(), U::STORAGE | U::COPY_DST);
        self.queue.write_buffer(&weights, 0, &bytes);
        let table: Vec<u8> = m.exp2.iter().flat_map(|v| v.to_le_bytes()).collect();
        let exp2 = self.buffer("exp2", table.len(), U::STORAGE | U::COPY_DST);
        self.queue.write_buffer(&exp2, 0, &table);
        let constant = |name, values: &mut dyn Iterator<Item = i32>| {
            let bytes: Vec<u8> = values.flat_map(|x| x.to_le_bytes()).collect();
            let buf = self.buffer(name, bytes.len(), U::STORAGE | U::COPY_DST);
            self.queue.write_buffer(&buf, 0, &bytes);
            buf
        };
        // Each map's scales then bias mantissas (i32 in the file, widened at load, so they fit
        // back; zeros without a bias), and the bias's exponent.
        let scales = m
            .linears()
            .map(|lin| {
                let (bias, be) = lin
                    .bias
                    .as_ref()
                    .map_or((&[][..], 0), |(b, e)| (&b[..], *e));
                let n = lin.n_out();
                let bias = bias.iter().map(|&v| v as i32).chain(std::iter::repeat(0));
                Scales {
                    both: constant("scales", &mut lin.mul.iter().copied().chain(bias.take(n))),
                    e: lin.e,
                    bias_e: be,
                }
            })
            .collect();
        // Each LayerNorm's gain mantissas (i32 in the file), then its offsets as i64 words.
        let norms = m
            .layers
            .iter()
            .flat_map(|l| [&l.ln1, &l.ln2])
            .map(|n| {
                let gain = n.gain.0.iter().map(|&g| g as i32);
                let offset = n.offset.iter().flat_map(|&o| [o as i32, (o >> 32) as i32]);
                (constant("norm", &mut gain.chain(offset)), n.gain.1)
            })
            .collect();
        let gelu = constant("gelu", &mut m.gelu.iter().copied());
        // The rotary angles: every position's cos, then every position's sin (Q14).
        let rope = constant("rope", &mut m.cos.iter().chain(&m.sin).map(|&v| v as i32));
        GpuModel {
            scales,
            norms,
            gelu,
            rope,
            gpu: Arc::clone(self),
            weights,
            exp2,
            offsets,
            io: Mutex::new(Io::default()),
            fell_back: AtomicBool::new(false),
        }
    }
}

/// `lin`'s weights as `linear.wgsl` reads them: for each block of 4 outputs, for each 4 inputs,
/// the 4 outputs' words, each its 4 int8 weights of those inputs (zeros past the map's edges).
fn dot4_layout(lin: &Linear) -> Vec<u8> {
    let (n_in, n_out) = (lin.n_in, lin.n_out());
    // The CPU's packed layout (src/engine/kernels.rs): blocks of 8 outputs, pairs of inputs.
    let at = |o: usize, k: usize| -> u8 {
        if o < n_out && k < n_in {
            lin.w[(o / 8) * n_in * 8 + (k / 2) * 16 + (o % 8) * 2 + k % 2] as u8
        } else {
            0
        }
    };
    let mut out = Vec::with_capacity(n_out.next_multiple_of(4) * n_in.next_multiple_of(4));
    for block in 0..n_out.div_ceil(4) {
        for q in 0..n_in.div_ceil(4) {
            for o in block * 4..block * 4 + 4 {
                out.extend((q * 4..q * 4 + 4).map(|k| at(o, k)));
            }
        }
    }
    out
}

/// The workgroups of a linear product: 4 outputs per invocation, a row per grid line.
fn linear_grid(n_out: usize, rows: usize) -> (u32, u32) {
    (n_out.div_ceil(4 * GROUP) as u32, rows as u32)
}

/// A model's weights on a GPU, and the submissions that run its steps there.
pub struct GpuModel {
    gpu: Arc<Gpu>,
    weights: wgpu::Buffer,
    /// The softmax's 2^-x table.
    exp2: wgpu::Buffer,
    /// Each linear map's scales and bias, by id.
    scales: Vec<Scales>,
    /// Each LayerNorm's gain and offsets, and the gain's exponent: layer by layer, ln1 then ln2.
    norms: Vec<(wgpu::Buffer, i32)>,
    /// GELU's table.
    gelu: wgpu::Buffer,
    /// The rotary angles.
    rope: wgpu::Buffer,
    /// Each linear map's first word in `weights`, by id.
    offsets: Vec<u32>,
    /// Buffers for one dispatch, grown as rows need (one dispatch at a time).
    io: Mutex<Io>,
    fell_back: AtomicBool,
}

/// A linear map's per-output scales then bias mantissas on the GPU, and its two exponents.
struct Scales {
    both: wgpu::Buffer,
    e: i32,
    bias_e: i32,
}

impl GpuModel {
    /// True once a GPU dispatch failed and the CPU ran it instead (same bits either way).
    pub fn fell_back(&self) -> bool {
        self.fell_back.load(Ordering::Relaxed)
    }

    /// [`IntModel::window_tables_from`] on the GPU: the same tables.
    pub fn window_tables_from(
        &self,
        m: &IntModel,
        tokens: &[u8],
        from: usize,
        visit: &mut dyn FnMut(FreqTable),
    ) {
        m.window(&self, tokens, from, visit);
    }

    /// [`crate::engine::table_hash`] computed on the GPU (one window): the same digest.
    pub fn table_hash(&self, m: &IntModel, input: &[u8]) -> [u8; 32] {
        let mut tables = Vec::new();
        let tokens = crate::engine::hash_tokens(m, input);
        self.window_tables_from(m, &tokens, 0, &mut |t| tables.push(t));
        crate::engine::hash_tables(tables)
    }

    /// [`IntModel::lanes`] stepping on the GPU (attention stays on the CPU): the same tables.
    pub fn lanes<'m>(&'m self, m: &'m IntModel, lanes: usize) -> IntLanes<'m, &'m GpuModel> {
        m.lanes_on(self, lanes)
    }

    /// Runs `passes` in order, each a kernel on its buffers (bound in order) over a grid of
    /// workgroups, and hands `read` the first bytes of each of `outs`, one after another;
    /// `Err` when the GPU returned nothing.
    fn dispatch(
        &self,
        io: &mut Io,
        passes: &[(&Kernel, &[&wgpu::Buffer], (u32, u32))],
        outs: &[(&wgpu::Buffer, usize)],
        read: impl FnOnce(&[u8]),
    ) -> Result<(), ()> {
        let bytes: usize = outs.iter().map(|o| o.1).sum();
        let gpu = &self.gpu;
        let staging = io.get(
            gpu,
            "staging",
            bytes,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let mut enc = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        for (kernel, buffers, groups) in passes {
            let entries: Vec<_> = buffers
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: b.as_entire_binding(),
                })
                .collect();
            let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &kernel.layout,
                entries: &entries,
            });
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(groups.0, groups.1, 1);
        }
        let mut at = 0;
        for &(out, n) in outs {
            enc.copy_buffer_to_buffer(out, 0, &staging, at as u64, n as u64);
            at += n;
        }
        gpu.queue.submit([enc.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, ..bytes as u64, move |r| {
            let _ = tx.send(r.is_ok());
        });
        if super::wait_for(&gpu.device, &rx) != Ok(true) || gpu.failed.load(Ordering::Relaxed) {
            return Err(());
        }
        read(&staging.get_mapped_range(..bytes as u64).map_err(|_| ())?);
        staging.unmap();
        Ok(())
    }

    /// One product of at most [`MAX_ROWS`] rows.
    fn run(&self, lin: &Linear, x: &[i16], rows: usize, sums: &mut [i32]) -> Result<(), ()> {
        let gpu = &self.gpu;
        let (n_in, n_out) = (lin.n_in, lin.n_out());
        let mut io = self.io.lock().map_err(|_| ())?;
        let dims = [rows as u32, n_in as u32, n_out as u32, self.offsets[lin.id]];
        let dims = io.upload(gpu, "dims", &dims, u32::to_le_bytes);
        let x = io.upload(gpu, "x", &x[..rows * n_in], i16::to_le_bytes);
        let bytes = rows * n_out * 4;
        use wgpu::BufferUsages as U;
        let out = io.get(gpu, "sums", bytes, U::STORAGE | U::COPY_SRC);
        let groups = linear_grid(n_out, rows);
        let buffers = [&dims, &self.weights, &x, &out];
        self.dispatch(
            &mut io,
            &[(&gpu.linear, &buffers, groups)],
            &[(&out, bytes)],
            |view| {
                for (s, b) in sums[..rows * n_out].iter_mut().zip(view.chunks_exact(4)) {
                    *s = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            },
        )
    }

    /// [`Products::tables`] on the GPU for at most [`MAX_ROWS`] rows: the head's product and
    /// the tables in one submission, the frequencies back.
    fn tables_of(&self, m: &IntModel, x: &[i16], ex: &[i32], freqs: &mut [u32]) -> Result<(), ()> {
        let gpu = &self.gpu;
        let (d, rows) = (m.config().d_model, ex.len());
        let mut io = self.io.lock().map_err(|_| ())?;
        let head = &m.head;
        let dims = [rows as u32, d as u32, VOCAB as u32, self.offsets[head.id]];
        let dims = io.upload(gpu, "dims", &dims, u32::to_le_bytes);
        let x = io.upload(gpu, "x", &x[..rows * d], i16::to_le_bytes);
        let ex = io.upload(gpu, "ex", ex, i32::to_le_bytes);
        let sc = &self.scales[head.id];
        let tdims = [rows as i32, sc.e, sc.bias_e, 0];
        let tdims = io.upload(gpu, "table dims", &tdims, i32::to_le_bytes);
        use wgpu::BufferUsages as U;
        let sums = io.get(gpu, "sums", rows * VOCAB * 4, U::STORAGE | U::COPY_SRC);
        let bytes = rows * VOCAB * 4;
        let out = io.get(gpu, "freqs", bytes, U::STORAGE | U::COPY_SRC);
        let linear = [&dims, &self.weights, &x, &sums];
        let table = [&tdims, &self.exp2, &sums, &sc.both, &ex, &out];
        let passes = [
            (&gpu.linear, &linear[..], linear_grid(VOCAB, rows)),
            (&gpu.table, &table[..], (rows as u32, 1)),
        ];
        self.dispatch(&mut io, &passes, &[(&out, bytes)], |view| {
            for (f, b) in freqs[..rows * VOCAB].iter_mut().zip(view.chunks_exact(4)) {
                *f = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        })
    }

    /// [`Products::finish_layer`] on the GPU for at most [`MAX_ROWS`] rows, in one submission:
    /// the output projection, residual and norm, fc1, the hidden layer, fc2, residual and
    /// norm; only the layer's output comes back.
    fn finish_of(
        &self,
        m: &IntModel,
        li: usize,
        a: &[i16],
        ea: &[i32],
        x: &mut [i16],
        ex: &mut [i32],
    ) -> Result<(), ()> {
        let gpu = &self.gpu;
        let c = m.config();
        let l = &m.layers[li];
        let (d, h, rows) = (c.d_model, c.widening * c.d_model, ea.len());
        let mut io = self.io.lock().map_err(|_| ())?;
        let lin_dims = |io: &mut Io, name, lin: &Linear| {
            let dims = [
                rows as u32,
                lin.n_in as u32,
                lin.n_out() as u32,
                self.offsets[lin.id],
            ];
            io.upload(gpu, name, &dims, u32::to_le_bytes)
        };
        let (dims_o, dims1, dims2) = (
            lin_dims(&mut io, "dims", &l.wo),
            lin_dims(&mut io, "dims 1", &l.fc1),
            lin_dims(&mut io, "dims 2", &l.fc2),
        );
        let norm_dims = |io: &mut Io, name, lin: &Linear, gain_e: i32| {
            let sc = &self.scales[lin.id];
            let dims = [d as i32, sc.e, sc.bias_e, gain_e];
            io.upload(gpu, name, &dims, i32::to_le_bytes)
        };
        let (ln1, ln2) = (&self.norms[2 * li], &self.norms[2 * li + 1]);
        let ndims1 = norm_dims(&mut io, "norm dims 1", &l.wo, ln1.1);
        let ndims2 = norm_dims(&mut io, "norm dims 2", &l.fc2, ln2.1);
        let sc1 = &self.scales[l.fc1.id];
        let mdims = [h as i32, sc1.e, sc1.bias_e, 0];
        let mdims = io.upload(gpu, "mlp dims", &mdims, i32::to_le_bytes);
        let a = io.upload(gpu, "a", &a[..rows * d], i16::to_le_bytes);
        let ea = io.upload(gpu, "ea", ea, i32::to_le_bytes);
        let x0 = io.upload(gpu, "x", &x[..rows * d], i16::to_le_bytes);
        let ex0 = io.upload(gpu, "ex", ex, i32::to_le_bytes);
        use wgpu::BufferUsages as U;
        let mut get = |name, bytes| io.get(gpu, name, bytes, U::STORAGE | U::COPY_SRC);
        let (s_o, x1, ex1) = (
            get("sums", rows * d * 4),
            get("x1", rows * d * 2),
            get("ex1", rows * 4),
        );
        let (inner, hidden, eh) = (
            get("fc1 sums", rows * h * 4),
            get("hidden", rows * h * 2),
            get("hidden exponents", rows * 4),
        );
        let (s2, x2, ex2) = (
            get("sums 2", rows * d * 4),
            get("x2", rows * d * 2),
            get("ex2", rows * 4),
        );
        let w = &self.weights;
        let (so, s1, s_2) = (
            &self.scales[l.wo.id].both,
            &sc1.both,
            &self.scales[l.fc2.id].both,
        );
        let out = [&dims_o, w, &a, &s_o];
        let norm1 = [&ndims1, &x0, &ex0, &s_o, so, &ea, &ln1.0, &x1, &ex1];
        let fc1 = [&dims1, w, &x1, &inner];
        let mid = [&mdims, &inner, s1, &ex1, &self.gelu, &eh, &hidden];
        let fc2 = [&dims2, w, &hidden, &s2];
        let norm2 = [&ndims2, &x1, &ex1, &s2, s_2, &eh, &ln2.0, &x2, &ex2];
        let grid = |n: usize| linear_grid(n, rows);
        let each_row = (rows as u32, 1);
        let passes = [
            (&gpu.linear, &out[..], grid(d)),
            (&gpu.norm, &norm1[..], each_row),
            (&gpu.linear, &fc1[..], grid(h)),
            (&gpu.mlp, &mid[..], each_row),
            (&gpu.linear, &fc2[..], grid(d)),
            (&gpu.norm, &norm2[..], each_row),
        ];
        let outs = [(&x2, rows * d * 2), (&ex2, rows * 4)];
        self.dispatch(&mut io, &passes, &outs, |view| {
            let (xs, es) = view.split_at(rows * d * 2);
            for (v, b) in x[..rows * d].iter_mut().zip(xs.chunks_exact(2)) {
                *v = i16::from_le_bytes([b[0], b[1]]);
            }
            for (v, b) in ex[..rows].iter_mut().zip(es.chunks_exact(4)) {
                *v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        })
    }

    /// [`Products::project`] on the GPU for at most [`MAX_ROWS`] rows, in one submission.
    fn project_of(
        &self,
        m: &IntModel,
        l: &Layer,
        x: &[i16],
        ex: &[i32],
        pos: &[u32],
        outs: [(&mut [i16], &mut [i32]); 3],
    ) -> Result<(), ()> {
        let gpu = &self.gpu;
        let c = m.config();
        let (d, rows) = (c.d_model, ex.len());
        let mut io = self.io.lock().map_err(|_| ())?;
        let x = io.upload(gpu, "x", &x[..rows * d], i16::to_le_bytes);
        let ex = io.upload(gpu, "ex", ex, i32::to_le_bytes);
        let pos = io.upload(gpu, "positions", pos, u32::to_le_bytes);
        use wgpu::BufferUsages as U;
        let maps = [
            (
                &l.wq,
                QK_BITS,
                1u32,
                ["dims q", "project q", "sums q", "q", "eq"],
            ),
            (
                &l.wk,
                QK_BITS,
                1,
                ["dims k", "project k", "sums k", "k", "ek"],
            ),
            (
                &l.wv,
                ACT_BITS,
                0,
                ["dims v", "project v", "sums v", "v", "ev"],
            ),
        ];
        let mut bufs = Vec::new();
        for (lin, bits, rotated, names) in maps {
            let dims = [rows as u32, d as u32, d as u32, self.offsets[lin.id]];
            let dims = io.upload(gpu, names[0], &dims, u32::to_le_bytes);
            let hd = c.head_dim() as u32;
            let pdims = [d as u32, hd, lin.e as u32, bits, rotated, hd / 2, 0, 0];
            let pdims = io.upload(gpu, names[1], &pdims, u32::to_le_bytes);
            let sums = io.get(gpu, names[2], rows * d * 4, U::STORAGE);
            let out = io.get(gpu, names[3], rows * d * 2, U::STORAGE | U::COPY_SRC);
            let e = io.get(gpu, names[4], rows * 4, U::STORAGE | U::COPY_SRC);
            bufs.push((dims, pdims, sums, out, e, lin.id));
        }
        let groups = linear_grid(d, rows);
        let bound: Vec<[&wgpu::Buffer; 4]> = bufs
            .iter()
            .map(|b| [&b.0, &self.weights, &x, &b.2])
            .collect();
        let proj: Vec<[&wgpu::Buffer; 8]> = bufs
            .iter()
            .map(|b| {
                [
                    &b.1,
                    &b.2,
                    &self.scales[b.5].both,
                    &ex,
                    &pos,
                    &self.rope,
                    &b.4,
                    &b.3,
                ]
            })
            .collect();
        let mut passes = Vec::new();
        for (lin, pr) in bound.iter().zip(&proj) {
            passes.push((&gpu.linear, &lin[..], groups));
            passes.push((&gpu.project, &pr[..], (rows as u32, 1)));
        }
        let reads: Vec<(&wgpu::Buffer, usize)> = bufs
            .iter()
            .flat_map(|b| [(&b.3, rows * d * 2), (&b.4, rows * 4)])
            .collect();
        self.dispatch(&mut io, &passes, &reads, |view| {
            let mut at = 0;
            for (m, e) in outs {
                for (v, b) in m[..rows * d].iter_mut().zip(view[at..].chunks_exact(2)) {
                    *v = i16::from_le_bytes([b[0], b[1]]);
                }
                at += rows * d * 2;
                for (v, b) in e[..rows].iter_mut().zip(view[at..].chunks_exact(4)) {
                    *v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
                at += rows * 4;
            }
        })
    }

    /// [`Products::attend_rows`] on the GPU.
    fn attend(
        &self,
        m: &IntModel,
        cache: &LayerCache,
        q: &[i16],
        eq: &[i32],
        from: usize,
        out: &mut [i64],
    ) -> Result<(), ()> {
        let gpu = &self.gpu;
        let c = m.config();
        let (d, hd, rows) = (c.d_model, c.head_dim(), eq.len());
        let (keys, values, cap) = cache.raw();
        let mut io = self.io.lock().map_err(|_| ())?;
        let dims = [from as u32, d as u32, hd as u32, cap as u32];
        let dims = io.upload(gpu, "dims", &dims, u32::to_le_bytes);
        let q = io.upload(gpu, "q", &q[..rows * d], i16::to_le_bytes);
        let to_q: Vec<i32> = eq
            .iter()
            .map(|&e| e + cache.key_e() + fixed::Q as i32)
            .collect();
        let to_q = io.upload(gpu, "to_q", &to_q, i32::to_le_bytes);
        let keys = io.upload(gpu, "keys", keys, i16::to_le_bytes);
        let values = io.upload(gpu, "values", values, i16::to_le_bytes);
        let bytes = rows * d * 8;
        use wgpu::BufferUsages as U;
        let outs = io.get(gpu, "outs", bytes, U::STORAGE | U::COPY_SRC);
        let groups = (rows as u32, c.n_heads as u32);
        let buffers = [&dims, &self.exp2, &q, &to_q, &keys, &values, &outs];
        self.dispatch(
            &mut io,
            &[(&gpu.attend, &buffers, groups)],
            &[(&outs, bytes)],
            |view| {
                for (o, b) in out[..rows * d].iter_mut().zip(view.chunks_exact(8)) {
                    *o = i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                }
            },
        )
    }
}

impl GpuModel {
    /// Runs `block` on each run of at most [`MAX_ROWS`] of `rows` rows, in order; false, with
    /// the fallback noted, at the first that fails (the CPU then does every row).
    fn in_blocks(
        &self,
        rows: usize,
        mut block: impl FnMut(usize, usize) -> Result<(), ()>,
    ) -> bool {
        for r0 in (0..rows).step_by(MAX_ROWS) {
            if block(r0, (r0 + MAX_ROWS).min(rows)).is_err() {
                self.fell_back.store(true, Ordering::Relaxed);
                return false;
            }
        }
        true
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

    fn attend_rows(
        &self,
        m: &IntModel,
        cache: &LayerCache,
        q: &[i16],
        eq: &[i32],
        from: usize,
        out: &mut [i64],
    ) -> bool {
        if m.config().context > MAX_ATTEND || self.fell_back() {
            return false;
        }
        if self.attend(m, cache, q, eq, from, out).is_err() {
            // The caller's CPU path gives the same sums.
            self.fell_back.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn project(
        &self,
        m: &IntModel,
        l: &Layer,
        x: &[i16],
        ex: &[i32],
        pos: &dyn Fn(usize) -> usize,
        outs: [(&mut [i16], &mut [i32]); 3],
    ) -> bool {
        let d = m.config().d_model;
        if self.fell_back() || d > MAX_NORM {
            return false;
        }
        // Straight into the outputs: they are only written, so after a failure the CPU path
        // overwrites every row from the untouched inputs.
        let mut outs = outs;
        self.in_blocks(ex.len(), |r0, r1| {
            let at: Vec<u32> = (r0..r1).map(|r| pos(r) as u32).collect();
            let parts = outs
                .each_mut()
                .map(|(o, e)| (&mut o[r0 * d..r1 * d], &mut e[r0..r1]));
            self.project_of(m, l, &x[r0 * d..r1 * d], &ex[r0..r1], &at, parts)
        })
    }

    fn finish_layer(
        &self,
        m: &IntModel,
        l: &Layer,
        a: &[i16],
        ea: &[i32],
        x: &mut [i16],
        ex: &mut [i32],
    ) -> bool {
        let d = m.config().d_model;
        if self.fell_back() || d > MAX_NORM {
            return false;
        }
        let Some(li) = m.layers.iter().position(|k| std::ptr::eq(k, l)) else {
            return false;
        };
        // Into a copy: after a failure the CPU path redoes every row from untouched inputs.
        let mut outputs = (x.to_vec(), ex.to_vec());
        let done = self.in_blocks(ea.len(), |r0, r1| {
            let (xo, eo) = (&mut outputs.0[r0 * d..r1 * d], &mut outputs.1[r0..r1]);
            self.finish_of(m, li, &a[r0 * d..r1 * d], &ea[r0..r1], xo, eo)
        });
        if !done {
            return false;
        }
        x.copy_from_slice(&outputs.0);
        ex.copy_from_slice(&outputs.1);
        true
    }

    fn tables(
        &self,
        m: &IntModel,
        x: &[i16],
        ex: &[i32],
        visit: &mut dyn FnMut(usize, FreqTable),
    ) -> bool {
        if self.fell_back() {
            return false;
        }
        let d = m.config().d_model;
        let mut freqs = vec![0u32; ex.len().min(MAX_ROWS) * VOCAB];
        // Every row's frequencies first: a failure part-way leaves the whole to the CPU.
        let mut tables = Vec::with_capacity(ex.len());
        let done = self.in_blocks(ex.len(), |r0, r1| {
            self.tables_of(m, &x[r0 * d..r1 * d], &ex[r0..r1], &mut freqs)?;
            for f in freqs[..(r1 - r0) * VOCAB].chunks_exact(VOCAB) {
                // Never invalid from this kernel; a broken driver costs speed, not bytes.
                tables.push(FreqTable::from_freqs(f).map_err(|_| ())?);
            }
            Ok(())
        });
        if !done {
            return false;
        }
        for (r, t) in tables.into_iter().enumerate() {
            visit(r, t);
        }
        true
    }
}
