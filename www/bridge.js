// One bridge to the workers: a small pool, a queue, one abortable promise per call.

export class CancelledError extends Error {
  constructor() { super('cancelled'); this.name = 'CancelledError'; }
}

export class WorkerPool {
  constructor(size = Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2))), query = '') {
    this.size = size;
    this.query = query;
    this.workers = [];
    this.queue = [];
    this.nextId = 1;
  }

  spawn() {
    const w = new Worker(new URL(`./worker.js${this.query}`, import.meta.url), { type: 'module' });
    const slot = { worker: w, busy: null, fileKey: null };
    w.onmessage = ({ data }) => this.onMessage(slot, data);
    w.onerror = (ev) => {
      ev.preventDefault?.();
      this.fail(slot, new Error(`worker failed: ${ev.message || 'could not load'}`));
    };
    this.workers.push(slot);
    return slot;
  }

  /**
   * Runs `op` on some worker that holds `file` ({key, name, bytes}); resolves with its value.
   * `urgent` jobs (what the user just asked for) go ahead of queued background work.
   */
  run(op, args, file, onProgress, { urgent = false } = {}) {
    return new Promise((resolve, reject) => {
      const job = { op, args, file, onProgress, resolve, reject, urgent };
      if (urgent) {
        const at = this.queue.findIndex((j) => !j.urgent);
        this.queue.splice(at < 0 ? this.queue.length : at, 0, job);
      } else {
        this.queue.push(job);
      }
      this.pump();
    });
  }

  pump() {
    while (this.queue.length) {
      let slot = this.workers.find((s) => !s.busy);
      if (!slot && this.workers.length < this.size) slot = this.spawn();
      if (!slot) return;
      const job = this.queue.shift();
      job.id = this.nextId++;
      slot.busy = job;
      if (job.file && slot.fileKey !== job.file.key) {
        // Each worker keeps its own copy of the file, sent once.
        slot.worker.postMessage({ id: 0, op: 'load', args: { key: job.file.key, name: job.file.name, bytes: job.file.bytes } });
        slot.fileKey = job.file.key;
      }
      slot.worker.postMessage({ id: job.id, op: job.op, args: job.args });
    }
  }

  onMessage(slot, data) {
    if (data.id === 0) {
      if (!data.ok) this.fail(slot, new Error(data.error));
      return;
    }
    const job = slot.busy;
    if (!job || data.id !== job.id) return;
    if ('progress' in data) { job.onProgress?.(data.progress); return; }
    slot.busy = null;
    if (data.ok) job.resolve(data.value);
    else {
      job.reject(new Error(data.error));
      if (data.fatal) this.retire(slot);
    }
    this.pump();
  }

  fail(slot, err) {
    const job = slot.busy;
    slot.busy = null;
    this.retire(slot);
    if (job) job.reject(err);
    this.pump();
  }

  retire(slot) {
    slot.worker.terminate();
    this.workers = this.workers.filter((s) => s !== slot);
  }

  /**
   * Stops what is running now: running jobs die with their workers, queued ones never start.
   * Idle workers stay, with their wasm, models and file, for what comes next.
   */
  cancel() {
    const err = new CancelledError();
    for (const job of this.queue) job.reject(err);
    this.queue = [];
    for (const slot of this.workers.filter((s) => s.busy)) {
      const job = slot.busy;
      slot.busy = null;
      this.retire(slot);
      job.reject(err);
    }
  }
}
