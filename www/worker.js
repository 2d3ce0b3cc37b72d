// The only module that touches the wasm build: one file held, one job at a time.
import { canSuspend, jobRunner } from './jspi.js';

// The shipped models (integer engine, .lmzi), loaded once per worker; a missing one is simply
// not offered. `?models=none` on the page (passed on to the worker) skips them, e.g. for quick
// tests; `?models=200k,3m` loads only those.
const params = new URL(import.meta.url).searchParams;
const MODELS = params.get('models');
// `?gpu=on` also takes a software WebGPU adapter (slower than the CPU, but it proves the path);
// `?gpu=off` never uses WebGPU.
const GPU_MODE = params.get('gpu') ?? 'auto';

/** The shipped models' names, listed by the build from models/ (none when offline). */
async function modelNames() {
  if (MODELS === 'none') return [];
  try {
    const res = await fetch(new URL('../pkg/models.json', import.meta.url));
    const names = res.ok ? await res.json() : [];
    return MODELS ? names.filter((n) => MODELS.split(',').includes(n)) : names;
  } catch {
    return [];
  }
}

/** The WebGPU adapter to try, `{name}`, or `{reason}` why the engine stays on the CPU here. */
async function pickAdapter() {
  if (GPU_MODE === 'off') return { reason: 'WebGPU off' };
  if (!self.navigator?.gpu) return { reason: 'no WebGPU' };
  // The GPU build waits for the GPU by suspending wasm (JavaScript Promise Integration).
  if (!canSuspend) return { reason: 'this browser cannot suspend wasm (JSPI)' };
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  if (!adapter) return { reason: 'no WebGPU adapter' };
  const info = adapter.info || {};
  const name = [info.vendor, info.architecture].filter(Boolean).join(' ') || 'unnamed adapter';
  const software = adapter.isFallbackAdapter ?? info.isFallbackAdapter;
  if (software && GPU_MODE !== 'on') return { reason: `WebGPU is software: ${name}` };
  return { name: software ? `${name}, software` : name };
}

// The wasm build: the GPU one (the engine's WGSL kernels through wgpu, `pkg/gpu/`) when there is
// a GPU to use, else the plain one (no wgpu in it, a smaller download). Both give the same bytes.
let lmzip;
/** Runs a prepared GPU job (null on the CPU build, or when the device failed to open). */
let runJob = null;
/** What runs the transformer here, for the badge: `{gpu, name}`. */
let backend;

const ready = (async () => {
  let { reason, name } = await pickAdapter();
  if (!reason) {
    lmzip = await import('../pkg/gpu/lmzip.js').catch((e) => {
      reason = `the GPU build did not load: ${e?.message ?? e}`;
    });
  }
  lmzip ??= await import('../pkg/lmzip.js');
  const exports = await lmzip.default();
  backend = { gpu: false, name: `CPU (${reason})` };
  if (!reason) {
    const run = jobRunner(lmzip, exports);
    try {
      await run(() => lmzip.gpu_open_job(GPU_MODE === 'on'));
      runJob = run;
      backend = { gpu: true, name: `WebGPU (${name})` };
    } catch (e) {
      backend.name = `CPU (WebGPU failed: ${e?.message ?? e})`;
    }
  }
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
    } catch { /* offline or absent: the classical codecs still work */ }
  }
})();
// The open file: its bytes live in wasm memory (sent once per file), with what was decoded from them.
let session = null;

/**
 * Runs session method `op` (`args`: {codec, mode, max, index}) on the GPU when this worker has
 * one, else `cpu()`. The session moves into the GPU job and comes back when it has run.
 */
async function onDevice(op, args, progress, cpu) {
  if (!runJob) return cpu();
  try {
    return await runJob(() => lmzip.gpu_session_job(session, op, args, progress));
  } finally {
    session = lmzip.gpu_take_session() ?? session;
  }
}

/** The model codec (`lm-<name>`) under a model or mixing codec, whose runs the GPU tracks. */
const transformerOf = (codec) => codec.replace(/^mix-/, 'lm-');

/** Where the bits go, with the device that computed them. */
async function costs({ codec, max }, progress) {
  const values = await onDevice('costs', { codec, max }, progress, () => session.byte_costs(codec, max, progress));
  const gpu = runJob && lmzip.gpu_used(transformerOf(codec));
  return { costs: values, backend: gpu ? backend.name : 'CPU (integer engine)' };
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
  backend() { return backend; },
  measure({ codec, mode }, progress) {
    return onDevice('measure', { codec, mode }, progress, () => session.measure(codec, mode, progress));
  },
  costs,
  compress({ codec }, progress) { return onDevice('compress', { codec }, progress, () => session.compress(codec)); },
  decompress(_, progress) { return onDevice('decompress', {}, progress, () => session.decompress()); },
  defaultCodec() { return lmzip.default_codec(); },
  lmzCodecs() { return lmzip.lmz_codecs(); },
  generate(options, progress) { return session.generate(options, progress); },
  // Chunks of one .lmz are coded and decoded on every worker at once.
  plan({ codec }) { return session.plan(codec); },
  compressChunk({ codec, index }, progress) {
    return onDevice('compressChunk', { codec, index }, progress, () => session.compress_chunk(codec, index));
  },
  assemble({ codec, chunks }) { return session.assemble(codec, chunks); },
  chunkCount() { return session.chunk_count(); },
  decompressChunk({ index }, progress) {
    return onDevice('decompressChunk', { index }, progress, () => session.decompress_chunk(index));
  },
  join({ pieces }) { return session.join_chunks(pieces); },
};

self.onmessage = async ({ data }) => {
  const { id, op, args } = data;
  try {
    await ready;
    if (!['load', 'codecs', 'defaultCodec', 'lmzCodecs', 'backend'].includes(op) && !session) throw new Error('no file loaded');
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
