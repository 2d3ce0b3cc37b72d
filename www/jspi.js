// The one import of the GPU build's wasm (`pkg/gpu/`), resolved by its glue as `./jspi.js`
// (scripts/build-web.sh copies this file there). JavaScript Promise Integration: calling it
// suspends the wasm stack, entered through `WebAssembly.promising`, until the event loop has
// turned once, so the synchronous engine can wait for a GPU's mapped buffers in a browser.
export const lmzip_yield = typeof WebAssembly.Suspending === 'function'
  ? new WebAssembly.Suspending(turn)
  : () => { throw new Error('this browser has no JavaScript Promise Integration'); };

/** Turns of a wait taken at once before it sleeps between turns. */
const QUICK_TURNS = 32;

/**
 * One turn of the event loop, the `attempt`-th of a wait: a GPU's mapped buffer arrives in a task,
 * which a loop of microtasks would starve. The first turns are a message to ourselves (no delay:
 * a hardware GPU answers within a fraction of a millisecond); a longer wait sleeps a millisecond
 * per turn (a timer: clamped to 4 ms when nested), leaving the cores to a slow (software) GPU.
 */
function turn(attempt) {
  return attempt < QUICK_TURNS ? nextTask() : new Promise((resolve) => setTimeout(resolve, 1));
}

const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();
function nextTask() {
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel.port2.postMessage(0);
  });
}

/** True when this browser can suspend wasm (JSPI), which the GPU build needs to wait for a GPU. */
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
