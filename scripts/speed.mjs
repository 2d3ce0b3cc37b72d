// The wasm build's speed under Node, one thread: `.lmz` compress and decompress of the first
// BYTES of a file with each shipped model (the page's workers run this same code).
//   node scripts/speed.mjs <pkg-node dir> <file> [bytes]
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [pkg, file, bytesArg] = process.argv.slice(2);
const lmzip = createRequire(import.meta.url)(join(pkg, 'lmzip.js'));
const data = readFileSync(file).subarray(0, Number(bytesArg ?? 65536));
for (const name of readdirSync('models').sort()) {
  const path = join('models', name, 'model.lmzi');
  if (!existsSync(path) || name.endsWith('-multi')) continue;
  const codec = lmzip.register_model(name, readFileSync(path));
  let t = performance.now();
  const packed = lmzip.compress(data, codec);
  const enc = performance.now() - t;
  t = performance.now();
  const back = lmzip.decompress(packed);
  const dec = performance.now() - t;
  if (Buffer.compare(Buffer.from(back), data) !== 0) throw new Error(`${codec}: round trip failed`);
  const kbs = (ms) => (data.length / 1000 / (ms / 1000)).toFixed(1);
  console.log(`${codec}\t${data.length}\t${packed.length}\t${kbs(enc)}\t${kbs(dec)}`);
}
