// The wasm build under Node gives the same bytes as the native build, and .lmz files cross both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { cli, nativeSizes, pkgNode, root, sample } from './helpers.mjs';

const lmzip = createRequire(import.meta.url)(join(pkgNode, 'lmzip.js'));
const files = ['sample.txt', 'sample.png', 'sample.wav', 'sample.jpg', 'sample.flac'];

test('wasm sizes equal native sizes for every codec and mode', () => {
  const native = nativeSizes(files.map(sample));
  let compared = 0;
  for (const name of files) {
    const bytes = readFileSync(sample(name));
    const info = lmzip.inspect(bytes, name);
    assert.ok(info.codecs.length >= 5, `${name}: ${info.codecs}`);
    for (const codec of info.codecs) {
      for (const mode of ['whole', 'chunked']) {
        let last = 0;
        const r = lmzip.measure(bytes, name, codec, mode, (f) => { last = f; });
        const n = native.get(`${name}|${codec}|${mode}`);
        assert.ok(n, `native run lacks ${name} ${codec} ${mode}`);
        assert.equal(r.compressed_bytes, n.compressed_bytes, `${name} ${codec} ${mode}`);
        assert.equal(r.bytes, n.bytes);
        assert.equal(r.roundtrip, true);
        assert.equal(last, 1);
        compared++;
      }
    }
  }
  assert.ok(compared >= 60, `compared ${compared}`);
});

test('an .lmz made in wasm decodes natively, and the reverse', () => {
  for (const name of ['sample.txt', 'sample.png']) {
    const original = readFileSync(sample(name));
    for (const codec of ['brotli', 'xz', 'gzip', 'zstd', 'bzip2', 'stored']) {
      const fromWasm = lmzip.compress(original, codec);
      assert.deepEqual(cli(['decompress', '-'], fromWasm), original, `${codec} wasm → native`);
      const fromNative = cli(['compress', '-c', codec, '-'], original);
      assert.deepEqual(Buffer.from(lmzip.decompress(fromNative)), original, `${codec} native → wasm`);
      assert.deepEqual(Buffer.from(fromWasm), fromNative, `${codec}: identical bytes`);
    }
  }
});

test('bad input throws readable errors in wasm, never panics', () => {
  const packed = lmzip.compress(readFileSync(sample('sample.txt')), 'brotli');
  const flipped = Uint8Array.from(packed); flipped[flipped.length - 3] ^= 4;
  const cases = [
    [new Uint8Array(), /empty/],
    [packed.subarray(0, 20), /truncated/],
    [flipped, /corrupted/],
    [new TextEncoder().encode('plain text'), /not an \.lmz/],
  ];
  for (const [bytes, re] of cases) assert.throws(() => lmzip.decompress(bytes), re);
  assert.throws(() => lmzip.inspect(new TextEncoder().encode('nope'), 'cat.png'), /not a readable image/);
  assert.throws(() => lmzip.inspect(new Uint8Array(), 'x.txt'), /empty/);
  // A header declaring 2^40 bytes, every checksum valid: refused before any work.
  assert.throws(() => lmzip.decompress(hostileLmz('gzip', 2n ** 40n, packed)), /above the limit/);
  assert.throws(() => new lmzip.FileSession(hostileLmz('gzip', 2n ** 40n, packed), 'a.lmz').chunk_count(), /above the limit/);
  // After errors the module still works.
  assert.equal(lmzip.decompress(packed).length, 16384);
});

test('every input the fuzzers found is an error or a result in wasm, never a trap', () => {
  // The names the modality fuzz target hands its bytes in under (src/fuzzing.rs).
  const names = ['a.png', 'a.jpg', 'a.gif', 'a.bmp', 'a.webp', 'a.wav', 'a.flac', 'a.mp3', 'a.ogg', 'a.bin'];
  let tried = 0;
  for (const target of readdirSync(join(root, 'tests/data/fuzz'))) {
    for (const file of readdirSync(join(root, 'tests/data/fuzz', target))) {
      const bytes = readFileSync(join(root, 'tests/data/fuzz', target, file));
      const calls = target === 'modality'
        ? [() => lmzip.inspect(bytes.subarray(1), names[bytes[0] % names.length])]
        : [() => lmzip.decompress(bytes), () => new lmzip.FileSession(bytes, 'a.lmz').chunk_count()];
      for (const call of calls) {
        try {
          call();
        } catch (e) {
          assert.ok(!(e instanceof WebAssembly.RuntimeError), `${target}/${file}: a trap: ${e}`);
          assert.ok(e.message.length > 10, `${target}/${file}: ${e.message}`);
        }
        tried++;
      }
    }
  }
  assert.ok(tried > 0, 'no fuzz inputs');
  // The module still works after all of them.
  const packed = lmzip.compress(new Uint8Array([1, 2, 3]), 'gzip');
  assert.deepEqual(Array.from(lmzip.decompress(packed)), [1, 2, 3]);
});

/** An .lmz (docs/FORMAT.md) whose header declares `len` original bytes in one chunk. */
function hostileLmz(codec, len, payload) {
  const varint = (v) => {
    const out = [];
    do { out.push(Number(v & 0x7fn) | (v > 0x7fn ? 0x80 : 0)); v >>= 7n; } while (v > 0n);
    return out;
  };
  const u32 = (v) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
  const body = [codec.length, ...Buffer.from(codec), 0, ...varint(len), ...varint(len),
    ...varint(BigInt(payload.length)), ...u32(0), ...u32(zlib.crc32(payload))];
  const head = Buffer.from([0x89, 0x4c, 0x4d, 0x5a, 1, ...u32(body.length), ...body]);
  return new Uint8Array(Buffer.concat([head, Buffer.from(u32(zlib.crc32(head))), Buffer.from(payload)]));
}

test('the integer engine gives the golden frequency tables in wasm', () => {
  const model = readFileSync(join(root, 'models', '200k', 'model.lmzi'));
  const input = readFileSync(sample('sample.txt')).subarray(0, 512);
  const golden = readFileSync(join(root, 'tests', 'data', 'engine-golden.txt'), 'utf8').trim();
  assert.equal(lmzip.engine_table_hash(model, input), golden);
});

test('a model .lmz crosses native ↔ wasm bit-exactly (integer engine), chunk by chunk too', () => {
  const model = readFileSync(join(root, 'models', '200k', 'model.lmzi'));
  assert.equal(lmzip.register_model('200k', model), 'lm-200k');
  const text = readFileSync(sample('sample.txt')).subarray(0, 3000);
  const fromNative = cli(['compress', '-c', 'lm-200k', '-'], text);
  const fromWasm = lmzip.compress(text, 'lm-200k');
  assert.deepEqual(Buffer.from(fromWasm), fromNative, 'identical .lmz bytes');
  assert.deepEqual(Buffer.from(lmzip.decompress(fromNative)), text);
  assert.deepEqual(cli(['decompress', '-'], fromWasm), text);
  // The page's parallel path: chunks coded and decoded one by one, in a session per file (as a
  // worker holds it), give the same file.
  const big = readFileSync(sample('sample.txt'));
  const original = new lmzip.FileSession(big, 'sample.txt');
  const n = original.plan('lm-200k');
  assert.ok(n >= 1);
  const chunks = Array.from({ length: n }, (_, i) => original.compress_chunk('lm-200k', i));
  const packed = original.assemble('lm-200k', chunks);
  assert.deepEqual(Buffer.from(packed), cli(['compress', '-c', 'lm-200k', '-'], big));
  assert.throws(() => original.compress_chunk('lm-200k', n), /no chunk/);
  original.free();
  const coded = new lmzip.FileSession(packed, 'sample.txt.lmz');
  assert.equal(coded.chunk_count(), n);
  const pieces = Array.from({ length: n }, (_, i) => coded.decompress_chunk(i));
  assert.throws(() => coded.decompress_chunk(n), /no chunk/);
  assert.deepEqual(Buffer.from(coded.join_chunks(pieces)), big);
  assert.throws(() => coded.join_chunks(pieces.slice(1)), /checksum/);
  assert.equal(coded.inspect().lmz, true);
  coded.free();
  // The model's rows in bench match too.
  const r = lmzip.measure(text, 'a.txt', 'lm-200k', 'chunked', () => {});
  assert.equal(r.roundtrip, true);
  assert.ok(r.ideal_bytes > 0 && r.compressed_bytes <= r.ideal_bytes * 1.01 + 8);
});

test('mixing codecs (cm, mix-200k with its prime) give the same .lmz bytes in wasm as natively', () => {
  const model = readFileSync(join(root, 'models', '200k', 'model.lmzi'));
  // A prime that does not load is refused with the model, and registers nothing.
  assert.throws(() => lmzip.register_model('200k', model, Buffer.from('not a prime')), /prime/i);
  const prime = join(root, 'models', '200k', 'mix.prime');
  assert.equal(lmzip.register_model('200k', model, existsSync(prime) ? readFileSync(prime) : undefined), 'lm-200k');
  for (const name of ['sample.txt', 'sample.png', 'sample.wav']) {
    const original = readFileSync(sample(name)).subarray(0, name.endsWith('.txt') ? 3000 : undefined);
    for (const codec of ['cm', 'mix-200k']) {
      const fromWasm = Buffer.from(lmzip.compress(original, codec));
      assert.deepEqual(fromWasm, cli(['compress', '-c', codec, '-'], original), `${name} ${codec}: identical .lmz bytes`);
      assert.deepEqual(Buffer.from(lmzip.decompress(fromWasm)), original);
    }
  }
  // Where the bits go works for a mix too: one cost per stream byte.
  const text = readFileSync(sample('sample.txt')).subarray(0, 2000);
  const costs = lmzip.byte_costs(text, 'a.txt', 'mix-200k', 1 << 20, () => {});
  assert.equal(costs.length, text.length);
  assert.ok(costs.every((c) => c >= 0 && c < 40));
});
