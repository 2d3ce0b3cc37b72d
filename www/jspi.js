// The one import of the GPU build's wasm (`pkg/gpu/`), resolved by its glue as `./jspi.js`
// (scripts/build-web.sh copies this file there). JavaScript Promise Integration: calling it
// suspends the wasm stack, entered through `WebAssembly.promising`, until the event loop has
// turned once, so the synchronous engine can wait for a GPU's mapped buffers in a browser.
export const lmzip_yield = typeof WebAssembly.Suspending === 'function'
  ? new WebAssembly.Suspending(() => new Promise((resolve) => setTimeout(resolve, 0)))
  : () => { throw new Error('this browser has no JavaScript Promise Integration'); };

/** True when this browser can run the GPU build (JSPI and WebGPU). */
export const canSuspend = typeof WebAssembly.Suspending === 'function'
  && typeof WebAssembly.promising === 'function';

/**
 * Wraps the GPU build's module (its glue, already initialised, and `exports`, what init returned)
 * as `run(prepare)`: `prepare()` calls one of its `gpu_*_job` exports, then the job runs with the
 * stack suspended at each GPU wait; resolves to its result or throws its error.
 */
export function jobRunner(glue, exports) {
  const run = WebAssembly.promising(exports.lmzip_gpu_run);
  let queue = Promise.resolve();
  // One job at a time: a second would overwrite the first's prepared job.
  return (prepare) => {
    const next = queue.then(async () => {
      prepare();
      await run();
      return glue.gpu_outcome();
    });
    queue = next.catch(() => {});
    return next;
  };
}
