// The float analysis path on WebGPU: every byte's cost under a model, many windows at once.
//
// Float arithmetic, so close to the integer engine's costs but not bit for bit: it only ever
// draws "where the bits go". Every .lmz still comes from the engine, on the CPU.
// The computation mirrors the float model (src/model/infer.rs): post-LayerNorm blocks, rotary
// positions, tanh GELU, and the coder's windows: each after the first starts with the last
// eighth of the one before (src/codecs/lm.rs, `regions`).

/** Windows coded per GPU submission: enough rows to fill the matrix kernels. */
const BATCH_WINDOWS = 8;
/**
 * The coder's windows over `len` bytes with a context of `w`: `[o, r, end]`, the window from
 * byte `o` costs bytes `r … end − 1`, bytes `o … r − 1` its context.
 */
function regions(len, w) {
  const stride = Math.max(1, w - Math.floor(w / 8));
  const out = [];
  for (let r = 0; r < len; ) {
    const [o, end] = r === 0 ? [0, Math.min(w, len)] : [r + stride - w, Math.min(r + stride, len)];
    out.push([o, r, end]);
    r = end;
  }
  return out;
}

/** Marks a padding row (or a context row), which has no byte to cost. */
const NO_TARGET = 0xffffffff;

const MATMUL = /* wgsl */ `
struct Dims { rows: u32, n_in: u32, n_out: u32, flags: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<vec4f>;
@group(0) @binding(3) var<storage, read> b: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;

fn gelu(v: vec4f) -> vec4f {
  // tanh of a large argument overflows in some implementations: it is ±1 long before 15.
  let inner = clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), vec4f(-15.0), vec4f(15.0));
  return 0.5 * v * (1.0 + tanh(inner));
}

// y[r, o..o+4] = x[r, :] · w[:, o..o+4] (+ b) (then GELU) (+ y): flags 1, 2, 4. A block of
// 4 rows × 4 outputs per invocation and no workgroup memory: no barriers, which software
// adapters run slowly. rows and n_out are multiples of 4 (every window and width is).
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let quads = dims.n_out / 4u;
  if (id.x >= (dims.rows / 4u) * quads) { return; }
  let r = (id.x / quads) * 4u;
  let o = id.x % quads;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  let n = dims.n_in;
  for (var i = 0u; i < n; i++) {
    let wv = w[i * quads + o];
    acc0 += x[r * n + i] * wv;
    acc1 += x[(r + 1u) * n + i] * wv;
    acc2 += x[(r + 2u) * n + i] * wv;
    acc3 += x[(r + 3u) * n + i] * wv;
  }
  finish(r, o, acc0);
  finish(r + 1u, o, acc1);
  finish(r + 2u, o, acc2);
  finish(r + 3u, o, acc3);
}

fn finish(r: u32, o: u32, sum: vec4f) {
  var acc = sum;
  if ((dims.flags & 1u) != 0u) { acc += b[o]; }
  if ((dims.flags & 2u) != 0u) { acc = gelu(acc); }
  let at = r * (dims.n_out / 4u) + o;
  if ((dims.flags & 4u) != 0u) { acc += y[at]; }
  y[at] = acc;
}`;

const EMBED = /* wgsl */ `
struct Dims { rows: u32, d: u32, scale: f32, pad: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> embed: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = id.x;
  if (i >= dims.rows * dims.d) { return; }
  let r = i / dims.d;
  x[i] = embed[tokens[r] * dims.d + i % dims.d] * dims.scale;
}`;

const ROPE = /* wgsl */ `
struct Dims { rows: u32, d: u32, hd: u32, window: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> cosines: array<f32>;
@group(0) @binding(2) var<storage, read> sines: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;

// One rotation per (row, head, pair): the pair is (i, half + i) of the head, as the model's.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let pairs = dims.d / 2u;
  if (id.x >= dims.rows * pairs) { return; }
  let half = dims.hd / 2u;
  let r = id.x / pairs;
  let head = (id.x % pairs) / half;
  let i = id.x % half;
  let pos = r % dims.window;
  let base = r * dims.d + head * dims.hd;
  let a = v[base + i];
  let b = v[base + half + i];
  let c = cosines[pos * half + i];
  let s = sines[pos * half + i];
  v[base + i] = a * c - b * s;
  v[base + half + i] = a * s + b * c;
}`;

const ATTENTION = /* wgsl */ `
struct Dims { rows: u32, d: u32, hd: u32, window: u32, heads: u32, scale: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;
@group(0) @binding(2) var<storage, read> k: array<vec4f>;
@group(0) @binding(3) var<storage, read> v: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>;

// Causal attention of one (row, head) over its window so far, with a running softmax; vectors
// four lanes at a time (head widths are multiples of 4, at most 64).
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x >= dims.rows * dims.heads) { return; }
  let r = id.x / dims.heads;
  let h = id.x % dims.heads;
  let start = r - r % dims.window;
  let n = dims.hd / 4u;
  let stride = dims.d / 4u;
  let qb = r * stride + h * n;
  var qv: array<vec4f, 16>;
  var acc: array<vec4f, 16>;
  for (var i = 0u; i < n; i++) { qv[i] = q[qb + i] * dims.scale; acc[i] = vec4f(0.0); }
  var top = -3.0e38;
  var total = 0.0;
  for (var j = start; j <= r; j++) {
    let kb = j * stride + h * n;
    var score = 0.0;
    for (var i = 0u; i < n; i++) { score += dot(qv[i], k[kb + i]); }
    let next = max(top, score);
    let shrink = exp(top - next);
    let p = exp(score - next);
    total = total * shrink + p;
    for (var i = 0u; i < n; i++) { acc[i] = acc[i] * shrink + p * v[kb + i]; }
    top = next;
  }
  for (var i = 0u; i < n; i++) { out[qb + i] = acc[i] / total; }
}`;

const LAYER_NORM = /* wgsl */ `
struct Dims { rows: u32, d: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let r = id.x;
  if (r >= dims.rows) { return; }
  let base = r * dims.d;
  let n = f32(dims.d);
  var sum = 0.0;
  for (var i = 0u; i < dims.d; i++) { sum += x[base + i]; }
  let mean = sum / n;
  var sq = 0.0;
  for (var i = 0u; i < dims.d; i++) { let c = x[base + i] - mean; sq += c * c; }
  let inv = 1.0 / sqrt(sq / n + 1e-5);
  for (var i = 0u; i < dims.d; i++) { x[base + i] = (x[base + i] - mean) * inv * gamma[i] + beta[i]; }
}`;

const COST = /* wgsl */ `
struct Dims { rows: u32, vocab: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> costs: array<f32>;

// −log2 p(target) from one row of logits.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let r = id.x;
  if (r >= dims.rows) { return; }
  let t = targets[r];
  if (t >= dims.vocab) { costs[r] = 0.0; return; }
  let base = r * dims.vocab;
  var top = logits[base];
  for (var i = 1u; i < dims.vocab; i++) { top = max(top, logits[base + i]); }
  var total = 0.0;
  for (var i = 0u; i < dims.vocab; i++) { total += exp(logits[base + i] - top); }
  costs[r] = (log(total) + top - logits[base + t]) * 1.4426950408889634;
}`;

const SHADERS = { MATMUL, EMBED, ROPE, ATTENTION, LAYER_NORM, COST };

/**
 * A WebGPU device for the analysis path, or null. A software adapter (slower than the CPU
 * engine) is taken only when `allowSoftware` is set; `describe` names the adapter.
 */
export async function openGpu({ allowSoftware = false } = {}) {
  const gpu = globalThis.navigator?.gpu;
  if (!gpu) return null;
  const adapter = await gpu.requestAdapter();
  if (!adapter) return null;
  const info = adapter.info ?? {};
  const software = Boolean(adapter.isFallbackAdapter ?? info.isFallbackAdapter);
  if (software && !allowSoftware) return null;
  const device = await adapter.requestDevice();
  const name = [info.vendor, info.architecture].filter(Boolean).join(' ') || 'adapter';
  return { device, describe: `WebGPU (${name}${software ? ', software' : ''})` };
}

/** A model's float tensors on one device, with the kernels to run it. */
export class GpuModel {
  /**
   * `model` is `{config, tensors}` as the wasm `float_model` gives it. Rejects when the device
   * cannot compile a kernel, so the caller can stay on the CPU.
   */
  static async create(device, model) {
    const c = model.config;
    const hd = c.d_model / c.n_heads;
    if (c.context % 4 !== 0 || hd % 4 !== 0 || hd > 64) throw new Error('model shape not supported on WebGPU');
    const pipelines = {};
    for (const [name, code] of Object.entries(SHADERS)) {
      pipelines[name] = await device.createComputePipelineAsync({
        layout: 'auto',
        compute: { module: device.createShaderModule({ code }), entryPoint: 'main' },
      });
    }
    return new GpuModel(device, c, model.tensors, pipelines);
  }

  constructor(device, config, tensors, pipelines) {
    this.device = device;
    this.config = config;
    this.pipelines = pipelines;
    this.weights = new Map();
    for (const [name, values] of Object.entries(tensors)) {
      this.weights.set(name, this.buffer(values.byteLength, GPUBufferUsage.STORAGE, values));
    }
  }

  buffer(size, usage, data) {
    const buf = this.device.createBuffer({ size: Math.max(16, Math.ceil(size / 4) * 4), usage: usage | GPUBufferUsage.COPY_DST });
    if (data) this.device.queue.writeBuffer(buf, 0, data);
    return buf;
  }

  /** A uniform block of u32 fields (a field given as {f32} is written as a float). */
  uniform(fields) {
    const data = new ArrayBuffer(Math.ceil(fields.length / 4) * 16);
    const view = new DataView(data);
    fields.forEach((v, i) => (typeof v === 'object' ? view.setFloat32(i * 4, v.f32, true) : view.setUint32(i * 4, v, true)));
    return this.buffer(data.byteLength, GPUBufferUsage.UNIFORM, data);
  }

  pass(encoder, name, buffers, groups) {
    const pipeline = this.pipelines[name];
    const bind = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const p = encoder.beginComputePass();
    p.setPipeline(pipeline);
    p.setBindGroup(0, bind);
    p.dispatchWorkgroups(...groups);
    p.end();
  }

  /**
   * Each byte's cost in bits, −log2 p(byte | its window so far), windows of `context` bytes
   * as the coder walks them; `progress(fraction)` after every batch.
   */
  async costs(stream, progress = () => {}) {
    const { d_model: d, n_heads: heads, n_layers: layers, widening, context: window } = this.config;
    const hd = d / heads;
    const hidden = widening * d;
    const vocab = 256;
    const spans = regions(stream.length, window);
    const windows = spans.length;
    const out = new Float32Array(stream.length);
    if (!windows) return out;
    const perBatch = Math.min(BATCH_WINDOWS, windows);
    const rows = perBatch * window;
    const S = GPUBufferUsage.STORAGE;
    const tokens = this.buffer(rows * 4, S);
    const targets = this.buffer(rows * 4, S);
    const x = this.buffer(rows * d * 4, S);
    const [q, k, v, att] = [0, 1, 2, 3].map(() => this.buffer(rows * d * 4, S));
    const h = this.buffer(rows * hidden * 4, S);
    const logits = this.buffer(rows * vocab * 4, S);
    const costs = this.buffer(rows * 4, S | GPUBufferUsage.COPY_SRC);
    const readback = this.device.createBuffer({ size: rows * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const none = this.buffer(16, S);
    const w = (name) => this.weights.get(name);
    const mm = (nIn, nOut, flags) => this.uniform([rows, nIn, nOut, flags]);
    const u = {
      embed: this.uniform([rows, d, { f32: Math.fround(Math.sqrt(d)) }, 0]),
      rope: this.uniform([rows, d, hd, window]),
      attention: this.uniform([rows, d, hd, window, heads, { f32: 1 / Math.sqrt(hd) }, 0, 0]),
      norm: this.uniform([rows, d, 0, 0]),
      cost: this.uniform([rows, vocab, 0, 0]),
      proj: mm(d, d, 0),
      projAdd: mm(d, d, 4),
      up: mm(d, hidden, 1 | 2),
      down: mm(hidden, d, 1 | 4),
      head: mm(d, vocab, 1),
    };
    const flat = (n) => [Math.ceil(n / 64)];
    const tiles = (nOut) => flat((rows * nOut) / 16);
    const scratch = [tokens, targets, x, q, k, v, att, h, logits, costs, readback, none, ...Object.values(u)];
    try {
      for (let first = 0; first < windows; first += perBatch) {
        const tok = new Uint32Array(rows);
        const tgt = new Uint32Array(rows).fill(NO_TARGET);
        for (let wi = 0; wi < perBatch && first + wi < windows; wi++) {
          const [o, r, end] = spans[first + wi];
          for (let i = 0; i < end - o; i++) {
            // The model sees byte 0 and then the window's bytes; row i predicts byte o + i,
            // which is costed from r on (the rows before are the window's context).
            tok[wi * window + i] = i ? stream[o + i - 1] : 0;
            if (o + i >= r) tgt[wi * window + i] = stream[o + i];
          }
        }
        this.device.queue.writeBuffer(tokens, 0, tok);
        this.device.queue.writeBuffer(targets, 0, tgt);
        const e = this.device.createCommandEncoder();
        this.pass(e, 'EMBED', [u.embed, tokens, w('embed'), x], flat(rows * d));
        for (let l = 0; l < layers; l++) {
          const p = (s) => w(`layers.${l}.${s}`);
          this.pass(e, 'MATMUL', [u.proj, x, p('wq'), none, q], tiles(d));
          this.pass(e, 'MATMUL', [u.proj, x, p('wk'), none, k], tiles(d));
          this.pass(e, 'MATMUL', [u.proj, x, p('wv'), none, v], tiles(d));
          this.pass(e, 'ROPE', [u.rope, w('rope.cos'), w('rope.sin'), q], flat(rows * d / 2));
          this.pass(e, 'ROPE', [u.rope, w('rope.cos'), w('rope.sin'), k], flat(rows * d / 2));
          this.pass(e, 'ATTENTION', [u.attention, q, k, v, att], flat(rows * heads));
          this.pass(e, 'MATMUL', [u.projAdd, att, p('wo'), none, x], tiles(d));
          this.pass(e, 'LAYER_NORM', [u.norm, p('ln1.gamma'), p('ln1.beta'), x], flat(rows));
          this.pass(e, 'MATMUL', [u.up, x, p('fc1.w'), p('fc1.b'), h], tiles(hidden));
          this.pass(e, 'MATMUL', [u.down, h, p('fc2.w'), p('fc2.b'), x], tiles(d));
          this.pass(e, 'LAYER_NORM', [u.norm, p('ln2.gamma'), p('ln2.beta'), x], flat(rows));
        }
        this.pass(e, 'MATMUL', [u.head, x, w('head.w'), w('head.b'), logits], tiles(vocab));
        this.pass(e, 'COST', [u.cost, logits, targets, costs], flat(rows));
        e.copyBufferToBuffer(costs, 0, readback, 0, rows * 4);
        this.device.pushErrorScope('validation');
        this.device.queue.submit([e.finish()]);
        const invalid = await this.device.popErrorScope();
        if (invalid) throw new Error(`WebGPU: ${invalid.message}`);
        await readback.mapAsync(GPUMapMode.READ);
        const got = new Float32Array(readback.getMappedRange().slice(0));
        readback.unmap();
        if (got.some(Number.isNaN)) throw new Error('WebGPU gave NaN');
        for (let wi = 0; wi < perBatch && first + wi < windows; wi++) {
          const [o, r, end] = spans[first + wi];
          out.set(got.subarray(wi * window + r - o, wi * window + end - o), r);
        }
        progress(Math.min(1, (first + perBatch) / windows));
      }
    } finally {
      for (const b of scratch) b.destroy();
    }
    return out;
  }

  /** Frees the weights. */
  destroy() {
    for (const b of this.weights.values()) b.destroy();
  }
}
