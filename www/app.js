// What every section of the page shares: the worker pool, the open file and small helpers.
import { WorkerPool } from './bridge.js';

export const query = new URLSearchParams(location.search);
export const MAX_BYTES = 100 * 1024 * 1024; // the library refuses more (modality::MAX_INPUT_BYTES)
export const MODES = ['whole', 'chunked'];
export const $ = (sel) => document.querySelector(sel);
export const gpuMode = query.get('gpu');

const workerQuery = new URLSearchParams();
if (query.get('models')) workerQuery.set('models', query.get('models')); // 'none', or names: '200k,3m'
if (gpuMode) workerQuery.set('gpu', gpuMode);
/** The workers, shared by every section (one file held in each). */
export const pool = new WorkerPool(undefined, workerQuery.size ? `?${workerQuery}` : '');

/** The open file: `state.current` is `{ file: {key, name, bytes}, info, params: Map, results: [] }`. */
export const state = { current: null };

export const fmt = new Intl.NumberFormat('en-US');
export const pct = (r) => `${(100 * r).toFixed(2)}%`;

export function showError(msg) {
  const el = $('#error');
  el.textContent = msg;
  el.hidden = !msg;
}

export function setStatus(text, fraction) {
  const box = $('#status');
  if (text === null) { box.hidden = true; return; }
  box.hidden = false;
  $('#status-text').textContent = text;
  const bar = $('#progress');
  if (fraction === undefined) bar.removeAttribute('value');
  else bar.value = fraction;
}

export function download(bytes, name) {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url; a.download = name;
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
