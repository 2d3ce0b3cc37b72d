// How much a predictive codec measures without asking, and how long more would take.
import { query } from './app.js';

// A model codec (the integer engine in wasm) codes tens of KB per second for the small models
// and a few for the largest: past this many bytes (for a 1M-parameter model; bigger ones get
// fewer, for about the same wait) the page says how long it would take and waits for the user's
// go. `?auto-limit=N` sets it (tests).
export const LM_LIMIT = Number(query.get('auto-limit')) || 128 * 1024;
/** The model size LM_LIMIT is set for. */
export const LM_LIMIT_PARAMS = 1_000_000;
/**
 * How a model's time per byte grows with its parameters: measured in wasm (session 13),
 * lm-3m (16× lm-200k's parameters) codes about 5× slower, so time grows as parameters^0.6
 * (the small models spend relatively more on attention and tables than on their weights).
 */
export const PARAM_POWER = 0.6;

// The context-mixing coder without a model (cm) codes about 100 KB per second in wasm.
export const CM_LIMIT = Number(query.get('auto-limit')) || 8 * 1024 * 1024;

/** The most stream bytes a model codec measures in the page without asking. */
export function lmLimit(params) {
  const scale = (LM_LIMIT_PARAMS / Math.max(params ?? 0, 1)) ** PARAM_POWER;
  return Math.min(LM_LIMIT, Math.floor(LM_LIMIT * scale));
}

/** Whether a codec learns by prediction (a model, a mix or cm): slow, and has costs per byte. */
export const predictive = (c) => c.startsWith('lm-') || c.startsWith('mix-') || c === 'cm';

/** The most stream bytes a predictive codec (`params` for a model's size) measures without asking. */
export const limitOf = (codec, params) => (codec === 'cm' ? CM_LIMIT : lmLimit(params));

/**
 * Seconds one measurement (encode, then decode to verify) takes in a worker: per byte for the
 * context-mixing part, per byte and parameters^PARAM_POWER for a transformer. Starts from what
 * this machine class measured (lm-200k ≈ 22 KB/s each way in wasm, cm ≈ 100 KB/s) and learns
 * from every predictive run on this page, so the estimates follow the user's machine.
 */
export const speed = { perByteParam: 2 / (22_000 * 200_000 ** PARAM_POWER), perByte: 2 / 100_000 };

const modelScale = (params) => Math.max(params ?? 0, 1) ** PARAM_POWER;

export function estimateSeconds(codec, params, bytes) {
  const model = codec.startsWith('lm-') || codec.startsWith('mix-') ? speed.perByteParam * modelScale(params) : 0;
  const mixing = codec === 'cm' || codec.startsWith('mix-') ? speed.perByte : 0;
  return bytes * (model + mixing);
}

/** Learns the speeds from a finished run (`r`, a measure result) of `codec`. */
export function learnSpeed(codec, params, r) {
  const seconds = r.encode_seconds + r.decode_seconds;
  if (!(seconds > 0.05) || !(r.bytes > 0)) return;
  const per = seconds / r.bytes;
  const blend = (old, seen) => 0.5 * old + 0.5 * seen;
  if (codec === 'cm') speed.perByte = blend(speed.perByte, per);
  else if (codec.startsWith('lm-') && params) speed.perByteParam = blend(speed.perByteParam, per / modelScale(params));
}

/** A duration as people say it: "40 s", "3 min", "1.5 h". */
export function humanTime(s) {
  if (s < 90) return `${Math.max(1, Math.round(s))} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
