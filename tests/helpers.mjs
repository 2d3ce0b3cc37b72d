// Shared by the Node tests: where the native CLI and the Node wasm build live, and how to call them.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const target = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(root, 'target');
export const bin = process.env.LMZIP_BIN || join(target, 'release', 'lmzip');
export const pkgNode = process.env.LMZIP_PKG_NODE || join(target, 'pkg-node');
export const sample = (name) => join(root, 'tests', 'data', name);

if (!existsSync(bin)) throw new Error(`no lmzip binary at ${bin}: run scripts/test.sh (or set LMZIP_BIN)`);

/** Runs the native CLI and returns stdout as a Buffer (throws with stderr on failure). */
export function cli(args, input) {
  return execFileSync(bin, args, { input, maxBuffer: 1 << 28, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** The native `bench --json` rows for some files, keyed "file|codec|mode" by base name. */
export function nativeSizes(files) {
  const doc = JSON.parse(cli(['bench', '--json', ...files]).toString());
  const out = new Map();
  for (const r of doc.results) out.set(`${r.file.split('/').pop()}|${r.codec}|${r.mode}`, r);
  return out;
}
