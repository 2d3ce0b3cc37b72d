// The only module that touches the wasm build: one file held, one job at a time.
import init, * as lmzip from '../pkg/lmzip.js';
import { openGpu, GpuModel } from './gpu.js';

// The shipped models (integer engine, .lmzi), loaded once per worker; a missing one is simply
// not offered. `?models=none` on the page (passed on to the worker) skips them, e.g. for quick tests.
const params = new URL(import.meta.url).searchParams;
const NO_MODELS = params.get('models') === 'none';
// `?gpu=on` also takes a software WebGPU adapter (slower than the CPU, but it proves the path);
// `?gpu=off` never uses WebGPU.
const GPU_MODE = params.get('gpu') ?? 'auto';

/** The shipped models' names, listed by the build from models/ (none when offline). */
async function modelNames() {
  if (NO_MODELS) return [];
  try {
    const res = await fetch(new URL('../pkg/models.json', import.meta.url));
    return res.ok ? await res.json() : [];
  } catch {
    return [];
  }
}

/** The loaded models' .lmzi bytes by codec name, for the WebGPU path. */
const modelFiles = new Map();

const ready = init().then(async () => {
  for (const name of await modelNames()) {
    try {
      const res = await fetch(new URL(`../models/${name}/model.lmzi`, import.meta.url));
      if (!res.ok) continue;
      const bytes = new Uint8Array(await res.arrayBuffer());
      // The mixing codec's learned start; without it mix-<name> starts from scratch.
      const primeRes = await fetch(new URL(`../models/${name}/mix.prime`, import.meta.url)).catch(() => null);
      const prime = primeRes?.ok ? new Uint8Array(await primeRes.arrayBuffer()) : undefined;
      try {
        lmzip.register_model(name, bytes, prime);
      } catch (e) {
        if (!prime) throw e;
        console.warn(`models/${name}/mix.prime: ${e.message ?? e}; mix-${name} starts from scratch`);
        lmzip.register_model(name, bytes);
      }
      modelFiles.set(`lm-${name}`, bytes);
    } catch { /* offline or absent: the classical codecs still work */ }
  }
});
// The open file: its bytes live in wasm memory (sent once per file), with what was decoded from them.
let session = null;

// The WebGPU device (opened on first use; false without one, or after it failed) and the models on it.
let gpu;
const gpuModels = new Map();

/** The model `codec` on WebGPU, or null when there is none to use. */
async function gpuModel(codec) {
  if (GPU_MODE === 'off' || !modelFiles.has(codec)) return null;
  gpu ??= (await openGpu({ allowSoftware: GPU_MODE === 'on' }).catch(() => null)) ?? false;
  if (!gpu) return null;
  if (!gpuModels.has(codec)) gpuModels.set(codec, GpuModel.create(gpu.device, lmzip.float_model(modelFiles.get(codec))));
  return gpuModels.get(codec);
}

/** Where the bits go: on WebGPU when there is one (any failure falls back to the CPU engine). */
async function costs({ codec, max }, progress) {
  try {
    const model = await gpuModel(codec);
    if (model) {
      const values = await model.costs(session.stream(max), progress);
      return { costs: values, backend: gpu.describe };
    }
  } catch (e) {
    // A device that failed once (lost, out of memory, a kernel it cannot run) is not tried again.
    console.warn(`WebGPU analysis failed, using the CPU: ${e?.message ?? e}`);
    gpu = false;
  }
  return { costs: session.byte_costs(codec, max, progress), backend: 'CPU (integer engine)' };
}

const ops = {
  load({ name, bytes }) {
    session?.free();
    session = null;
    session = new lmzip.FileSession(new Uint8Array(bytes), name);
    return true;
  },
  codecs() { return lmzip.codecs(); },
  inspect() { return session.inspect(); },
  measure({ codec, mode }, progress) { return session.measure(codec, mode, progress); },
  costs,
  compress({ codec }) { return session.compress(codec); },
  decompress() { return session.decompress(); },
  defaultCodec() { return lmzip.default_codec(); },
  lmzCodecs() { return lmzip.lmz_codecs(); },
  generate(options, progress) { return session.generate(options, progress); },
  // Chunks of one .lmz are coded and decoded on every worker at once.
  plan({ codec }) { return session.plan(codec); },
  compressChunk({ codec, index }) { return session.compress_chunk(codec, index); },
  assemble({ codec, chunks }) { return session.assemble(codec, chunks); },
  chunkCount() { return session.chunk_count(); },
  decompressChunk({ index }) { return session.decompress_chunk(index); },
  join({ pieces }) { return session.join_chunks(pieces); },
};

self.onmessage = async ({ data }) => {
  const { id, op, args } = data;
  try {
    await ready;
    if (!['load', 'codecs', 'defaultCodec', 'lmzCodecs'].includes(op) && !session) throw new Error('no file loaded');
    let last = 0;
    const progress = (f) => {
      const now = performance.now();
      if (now - last > 100 || f >= 1) { last = now; self.postMessage({ id, progress: f }); }
    };
    const value = await ops[op](args ?? {}, progress);
    const transfer = ArrayBuffer.isView(value) ? [value.buffer] : ArrayBuffer.isView(value?.costs) ? [value.costs.buffer] : [];
    self.postMessage({ id, ok: true, value }, transfer);
  } catch (e) {
    // A wasm trap (RuntimeError) leaves the instance unusable: tell the pool to replace us.
    const fatal = e instanceof WebAssembly.RuntimeError;
    self.postMessage({ id, ok: false, fatal, error: fatal ? `internal error: ${e.message}` : (e?.message ?? String(e)) });
  }
};
