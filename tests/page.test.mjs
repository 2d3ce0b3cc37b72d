// The real page in Debian's headless Chromium: drop real files, compare every size with the CLI,
// download and cross-decode .lmz files, and check bad input, cancel and responsiveness.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from '../scripts/serve.mjs';
import { cli, nativeSizes, root, sample } from './helpers.mjs';

const shots = join(process.env.CARGO_TARGET_DIR || join(root, 'target'), 'screenshots');
let server, browser, base;

before(async () => {
  mkdirSync(shots, { recursive: true });
  server = await serve(0);
  base = `http://127.0.0.1:${server.address().port}/`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--enable-unsafe-webgpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** Opens the page; `models: false` skips loading the transformer (tests about the UI itself). */
async function openPage({ models = false, query = '' } = {}) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1200 }, acceptDownloads: true });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}?${models ? '' : 'models=none&'}${query}`);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, errors };
}

/** Reads the results table: Map "codec|mode" → {bytes, roundtrip}. */
async function tableSizes(page) {
  const cells = await page.$$eval('#results td[data-part="bytes"]', (tds) => tds.map((td) => ({
    codec: td.closest('tr').dataset.codec, mode: td.dataset.mode,
    bytes: Number(td.dataset.bytes), roundtrip: td.dataset.roundtrip === 'true',
    skipped: td.classList.contains('skipped'), note: td.title, text: td.textContent,
  })));
  return new Map(cells.map((c) => [`${c.codec}|${c.mode}`, c]));
}

async function waitDone(page, name, timeout = 180_000) {
  const sel = name ? `#results[data-complete="true"][data-file="${name}"]` : '#results[data-complete="true"]';
  await page.waitForSelector(sel, { timeout });
}

/** Drops bytes made inside the page (no transfer from Node) onto the drop zone. */
async function dropGenerated(page, name, size, kind = 'text') {
  const dt = await page.evaluateHandle(({ name, size, kind }) => {
    const bytes = new Uint8Array(size);
    if (kind === 'text') {
      const words = ['the ', 'of ', 'compression ', 'model ', 'language ', 'is ', 'a ', 'byte ', 'and ', 'arithmetic '];
      let x = 12345, i = 0;
      while (i < size) {
        x = (x * 1103515245 + 12345) >>> 0;
        const w = words[(x >>> 16) % words.length];
        for (let k = 0; k < w.length && i < size; k++) bytes[i++] = w.charCodeAt(k);
      }
    }
    const d = new DataTransfer();
    d.items.add(new File([bytes], name));
    return d;
  }, { name, size, kind });
  for (const type of ['dragenter', 'dragover', 'drop']) await page.dispatchEvent('#drop', type, { dataTransfer: dt });
}

test('sizes on the page equal the CLI for real text, image and audio', async () => {
  const files = ['sample.txt', 'sample.png', 'sample.wav'];
  const native = nativeSizes(files.map(sample));
  const { page, errors } = await openPage({ models: true });
  for (const name of files) {
    await page.setInputFiles('#file', sample(name));
    await waitDone(page, name);
    const sizes = await tableSizes(page);
    const expected = [...native.values()].filter((r) => r.file.endsWith(name));
    // Every model shipped in models/ is measured on the page too, or, when it would take long on
    // this file in the browser (the page scales that limit by model size), offered with its time.
    assert.ok(expected.length >= 10, `${name}: ${expected.length} native rows`);
    let measuredModels = 0;
    for (const r of expected) {
      const got = sizes.get(`${r.codec}|${r.mode}`);
      assert.ok(got, `${name}: no ${r.codec} ${r.mode} on the page`);
      if (got.skipped) {
        // Only a model that would take long on this file waits for the user's go, saying how long.
        assert.ok(/^(lm|mix)-/.test(r.codec), `${name}: ${r.codec} waits`);
        assert.match(got.note, /would take about \d/);
        assert.match(got.text, /^measure \(≈ [\d.]+ (s|min|h)\)$/);
        continue;
      }
      measuredModels += /^(lm|mix)-/.test(r.codec) ? 1 : 0;
      assert.equal(got.bytes, r.compressed_bytes, `${name} ${r.codec} ${r.mode}`);
      assert.equal(got.roundtrip, true);
    }
    assert.ok(measuredModels > 0, `${name}: no model measured on the page`);
    assert.equal(sizes.size, expected.length);
    // Where the bits go: the best model's byte costs add up to its whole-file size.
    await page.waitForSelector('#bits-info[data-mean]', { timeout: 120_000 });
    const bits = await page.$eval('#bits-info', (e) => ({ ...e.dataset }));
    const whole = sizes.get(`${bits.codec}|whole`).bytes;
    const total = (Number(bits.mean) * Number(bits.count)) / 8;
    assert.ok(Math.abs(total - whole) <= 0.01 * whole + 8, `${name}: ${bits.codec} costs ${total} vs ${whole} bytes`);
    // Headless Chromium's WebGPU adapter is software (slower than the CPU): not used unasked.
    assert.match(bits.backend, /^CPU/);
    if (bits.codec.startsWith('mix-')) {
      // The mix's transformer alone is drawn beside it.
      await page.waitForSelector('#bits-info[data-other]', { timeout: 120_000 });
      assert.equal(await page.locator('#bits-plot polyline').count(), 2, `${name}: the transformer's line beside the mix`);
    }
    const detail = { 'sample.txt': '#bits-detail pre span', 'sample.png': '#bits-detail canvas', 'sample.wav': '#bits-plot polyline' }[name];
    assert.ok(await page.locator(detail).count() > 0, `${name}: no ${detail}`);
    assert.ok(await page.locator('#bits-figure').isVisible());
    await page.screenshot({ path: join(shots, `page-${name}.png`), fullPage: true });
  }
  assert.equal(await page.locator('#status').isHidden(), true);
  assert.deepEqual(errors, []);
  await page.close();
});

test('on WebGPU (?gpu=on, the software adapter) the page runs the GPU build: the same sizes and bits as the CPU', { timeout: 900_000 }, async () => {
  // Past one 512-byte window, small for SwiftShader (lm-200k alone).
  const text = { name: 'gpu.txt', mimeType: 'text/plain', buffer: readFileSync(sample('sample.txt')).subarray(0, 600) };
  const runs = {};
  for (const gpu of ['on', 'off']) {
    const { page, errors } = await openPage({ models: true, query: `models=200k&gpu=${gpu}` });
    await page.setInputFiles('#file', text);
    // Every codec on SwiftShader, a CPU-drawn GPU: about 150 s on two idle cores.
    await waitDone(page, 'gpu.txt', 600_000);
    await page.selectOption('#bits-codec', 'lm-200k');
    await page.waitForSelector('#bits-info[data-codec="lm-200k"][data-mean]', { timeout: 300_000 });
    const bits = await page.$eval('#bits-info', (e) => ({ ...e.dataset }));
    const spans = await page.$$eval('#bits-detail pre span', (s) => s.map((e) => e.title));
    const sizes = [...(await tableSizes(page)).values()].map((c) => [c.codec, c.mode, c.bytes, c.roundtrip]);
    runs[gpu] = { bits, spans, sizes, badge: await page.$eval('#backend', (e) => e.textContent) };
    assert.deepEqual(errors, []);
    await page.close();
  }
  const { on, off } = runs;
  assert.match(on.badge, /^WebGPU \(.*software\)$/);
  assert.equal(off.badge, 'CPU (WebGPU off)');
  assert.equal(on.bits.backend, on.badge, 'the bits were computed on the GPU');
  assert.match(off.bits.backend, /^CPU/);
  // One integer engine, two backends: every size and every byte's cost are the same.
  assert.ok(on.sizes.some(([codec]) => codec === 'mix-200k'), 'the mix measured too');
  assert.ok(on.sizes.every(([, , , ok]) => ok), 'every round trip verified');
  assert.deepEqual(on.sizes, off.sizes);
  assert.equal(Number(on.bits.count), 600);
  assert.equal(on.bits.mean, off.bits.mean);
  assert.deepEqual(on.spans, off.spans);
});

test('a model that would take long waits for the user, says how long, and measures when asked', async () => {
  const text = readFileSync(sample('sample.txt')).subarray(0, 3000);
  // A low automatic limit (as a big file would meet): every predictive codec waits.
  const { page, errors } = await openPage({ models: true, query: 'auto-limit=1000' });
  await page.setInputFiles('#file', { name: 'part.txt', mimeType: 'text/plain', buffer: text });
  await waitDone(page, 'part.txt');
  const offer = page.locator('#results tr[data-codec="lm-200k"] td[data-mode="whole"] button.offer');
  assert.match(await offer.textContent(), /^measure \(≈ [\d.]+ (s|min|h)\)$/);
  assert.equal(await page.locator('#results tr[data-codec="cm"] td[data-mode="whole"] button.offer').count(), 1);
  await page.screenshot({ path: join(shots, 'page-offer.png'), fullPage: true });
  // Started and cancelled (lm-3m: long enough to still be running), it offers itself again.
  const big = '#results tr[data-codec="lm-3m"] td[data-mode="chunked"]';
  await page.locator(`${big} button.offer`).click();
  await page.waitForSelector(`${big}.pending`);
  await page.click('#cancel');
  await page.waitForSelector(`${big} button.offer`);
  assert.match(await page.locator('#error').textContent(), /Cancelled/);
  // Started and left to finish, the row fills with the CLI's size for the same bytes.
  await page.locator('#results tr[data-codec="lm-200k"] td[data-mode="whole"] button.offer').click();
  const cell = '#results tr[data-codec="lm-200k"] td[data-mode="whole"][data-part="bytes"][data-bytes]';
  await page.waitForSelector(cell, { timeout: 120_000 });
  const got = await page.$eval(cell, (td) => ({ bytes: Number(td.dataset.bytes), roundtrip: td.dataset.roundtrip }));
  const part = join(shots, 'part.txt');
  writeFileSync(part, text);
  const doc = JSON.parse(cli(['bench', '--json', '--codec', 'lm-200k', '--mode', 'whole', part]).toString());
  assert.equal(got.bytes, doc.results[0].compressed_bytes);
  assert.equal(got.roundtrip, 'true');
  // Where the bits go now has a model to draw.
  await page.waitForSelector('#bits-info[data-mean]', { timeout: 120_000 });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a dropped FLAC file is decoded as audio and measured', async () => {
  const { page } = await openPage();
  const bytes = [...readFileSync(sample('sample.flac'))];
  const dt = await page.evaluateHandle((b) => {
    const d = new DataTransfer();
    d.items.add(new File([new Uint8Array(b)], 'speech.flac', { type: 'audio/flac' }));
    return d;
  }, bytes);
  for (const type of ['dragenter', 'dragover', 'drop']) await page.dispatchEvent('#drop', type, { dataTransfer: dt });
  await waitDone(page, 'speech.flac');
  assert.match(await page.locator('#file-info').textContent(), /audio/);
  const sizes = await tableSizes(page);
  assert.ok(sizes.get('flac|whole').bytes < sizes.get('gzip|whole').bytes);
  await page.close();
});

test('the downloaded .lmz decodes with the CLI, and a CLI .lmz decodes on the page', async () => {
  const original = readFileSync(sample('sample.txt'));
  const { page } = await openPage();
  await page.setInputFiles('#file', sample('sample.txt'));
  await waitDone(page, 'sample.txt');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#make-lmz')]);
  assert.equal(download.suggestedFilename(), 'sample.txt.lmz');
  const path = join(shots, 'from-page.lmz');
  await download.saveAs(path);
  assert.deepEqual(cli(['decompress', '-'], readFileSync(path)), original);

  const packed = cli(['compress', '-c', 'xz', '-'], original);
  await page.setInputFiles('#file', { name: 'native.txt.lmz', mimeType: 'application/octet-stream', buffer: packed });
  await page.waitForSelector('#unpack-section:not([hidden])');
  assert.equal(Number(await page.getAttribute('#unpack-section', 'data-bytes')), original.length);
  const [back] = await Promise.all([page.waitForEvent('download'), page.click('#unpack-download')]);
  const backPath = join(shots, 'from-native.txt');
  await back.saveAs(backPath);
  assert.deepEqual(readFileSync(backPath), original);
  await page.close();
});

test('the integer engine gives the golden frequency tables in Chromium', async () => {
  const { page } = await openPage();
  const input = [...readFileSync(sample('sample.txt')).subarray(0, 512)];
  const hash = await page.evaluate(async (bytes) => {
    const m = await import('/pkg/lmzip.js');
    await m.default();
    const model = new Uint8Array(await (await fetch('/models/200k/model.lmzi')).arrayBuffer());
    return m.engine_table_hash(model, new Uint8Array(bytes));
  }, input);
  assert.equal(hash, readFileSync(join(root, 'tests', 'data', 'engine-golden.txt'), 'utf8').trim());
  await page.close();
});

test('the engine on WebGPU (the GPU build, SwiftShader): golden tables, and .lmz files that cross-decode with the CPU', { timeout: 300_000 }, async () => {
  const { page } = await openPage();
  const input = [...readFileSync(sample('sample.txt')).subarray(0, 512)];
  const r = await page.evaluate(async (bytes) => {
    const glue = await import('/pkg/gpu/lmzip.js');
    const { jobRunner } = await import('/www/jspi.js');
    const run = jobRunner(glue, await glue.default());
    const adapter = await run(() => glue.gpu_open_job(true));
    const model = new Uint8Array(await (await fetch('/models/200k/model.lmzi')).arrayBuffer());
    const hash = await run(() => glue.gpu_table_hash_job(model, new Uint8Array(bytes)));
    // The same model in the CPU build beside it; 300 bytes: one window of each direction.
    const cpu = await import('/pkg/lmzip.js');
    await cpu.default();
    cpu.register_model('200k', model);
    glue.register_model('200k', model);
    const text = new Uint8Array(bytes.slice(0, 300));
    const fromCpu = cpu.compress(text, 'lm-200k');
    const fromGpu = await run(() => glue.gpu_compress_job(text, 'lm-200k'));
    const used = glue.gpu_used('lm-200k');
    const gpuDecoded = await run(() => glue.gpu_decompress_job(fromCpu));
    return {
      adapter, hash, used, fromCpu: [...fromCpu], fromGpu: [...fromGpu],
      gpuDecoded: [...gpuDecoded], cpuDecoded: [...cpu.decompress(fromGpu)],
    };
  }, input);
  assert.match(r.adapter, /BrowserWebGpu/);
  assert.equal(r.hash, readFileSync(join(root, 'tests', 'data', 'engine-golden.txt'), 'utf8').trim());
  assert.ok(r.used, 'lm-200k ran on the GPU without falling back');
  assert.deepEqual(r.fromGpu, r.fromCpu, 'the same .lmz bytes from either backend');
  assert.deepEqual(r.gpuDecoded, input.slice(0, 300));
  assert.deepEqual(r.cpuDecoded, input.slice(0, 300));
  await page.close();
});

test('the mixing codecs give the same .lmz bytes in Chromium as natively', async () => {
  const { page } = await openPage();
  const input = readFileSync(sample('sample.txt')).subarray(0, 2048);
  const made = await page.evaluate(async (bytes) => {
    const m = await import('/pkg/lmzip.js');
    await m.default();
    const model = new Uint8Array(await (await fetch('/models/200k/model.lmzi')).arrayBuffer());
    const prime = await fetch('/models/200k/mix.prime');
    m.register_model('200k', model, prime.ok ? new Uint8Array(await prime.arrayBuffer()) : undefined);
    const data = new Uint8Array(bytes);
    return { cm: [...m.compress(data, 'cm')], mix: [...m.compress(data, 'mix-200k')] };
  }, [...input]);
  assert.deepEqual(Buffer.from(made.cm), cli(['compress', '-c', 'cm', '-'], input));
  assert.deepEqual(Buffer.from(made.mix), cli(['compress', '-c', 'mix-200k', '-'], input));
  await page.close();
});

test('1 MB of text: a CLI lm-200k .lmz decodes on the page, and a page-made one with the CLI', { timeout: 900_000 }, async () => {
  // Real text: the committed sample, repeated to 1 MiB (the model's windows see 512 bytes).
  const one = readFileSync(sample('sample.txt'));
  const original = Buffer.concat(Array.from({ length: Math.ceil((1 << 20) / one.length) }, () => one)).subarray(0, 1 << 20);
  const packed = cli(['compress', '-c', 'lm-200k', '-'], original);
  const { page, errors } = await openPage({ models: true });
  await page.setInputFiles('#file', { name: 'big.txt.lmz', mimeType: 'application/octet-stream', buffer: packed });
  await page.waitForSelector('#unpack-section:not([hidden])', { timeout: 600_000 });
  assert.equal(Number(await page.getAttribute('#unpack-section', 'data-bytes')), original.length);
  const [back] = await Promise.all([page.waitForEvent('download'), page.click('#unpack-download')]);
  const backPath = join(shots, 'big-from-native.txt');
  await back.saveAs(backPath);
  assert.ok(readFileSync(backPath).equals(original), 'page decoded the CLI file to other bytes');

  // Making the .lmz goes ahead of the codec table still being computed.
  await page.setInputFiles('#file', { name: 'big.txt', mimeType: 'text/plain', buffer: original });
  await page.waitForSelector('#make-lmz:not([disabled])');
  await page.selectOption('#lmz-codec', 'lm-200k');
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 600_000 }), page.click('#make-lmz')]);
  const path = join(shots, 'big-from-page.lmz');
  await download.saveAs(path);
  const fromPage = readFileSync(path);
  assert.ok(fromPage.equals(packed), 'the page and the CLI made different .lmz files');
  assert.ok(cli(['decompress', '-'], fromPage).equals(original));
  assert.deepEqual(errors, []);
  await page.close();
});

test('generation on the page: text, image rows and audio, reproducible by seed', async () => {
  const { page, errors } = await openPage();
  const shown = [];
  for (const [name, tag] of [['sample.txt', 'pre'], ['sample.png', 'img'], ['sample.wav', 'audio']]) {
    await page.setInputFiles('#file', sample(name));
    await page.waitForSelector('#generate-section:not([hidden])');
    await page.selectOption('#gen-codec', 'gzip');
    await page.fill('#gen-bytes', '48');
    const runs = [];
    for (const seed of ['3', '3', '4']) {
      await page.fill('#gen-seed', seed);
      const before = await page.locator('#gen-table tbody tr').count();
      await page.click('#gen-run');
      await page.waitForFunction((n) => document.querySelectorAll('#gen-table tbody tr').length > n, before, { timeout: 120_000 });
      runs.push(await page.$eval(`#gen-out ${tag}`, (el) => (el.tagName === 'PRE' ? el.textContent : el.src)));
    }
    if (tag === 'pre') {
      assert.equal(runs[0], runs[1], 'same seed, same text');
      assert.notEqual(runs[0], runs[2], 'another seed, other text');
      assert.ok(new Set(runs[0]).size > 1, 'not one repeated byte');
      assert.equal(await page.textContent('#gen-run'), 'Generate from gzip');
      // The mixing codec generates bit by bit from its own model.
      await page.selectOption('#gen-codec', 'cm');
      assert.equal(await page.textContent('#gen-run'), 'Generate from cm');
      const before = await page.locator('#gen-table tbody tr').count();
      await page.click('#gen-run');
      await page.waitForFunction((n) => document.querySelectorAll('#gen-table tbody tr').length > n, before, { timeout: 120_000 });
      assert.equal(await page.$eval('#gen-out pre', (el) => el.dataset.codec), 'cm');
      assert.ok((await page.textContent('#gen-out pre')).length > 0);
    } else {
      // The rendered file loads as a real image or sound.
      const ok = await page.$eval(`#gen-out ${tag}`, (el) => new Promise((resolve) => {
        if (el.tagName === 'IMG') { if (el.complete) resolve(el.naturalWidth > 0); else el.onload = () => resolve(el.naturalWidth > 0); el.onerror = () => resolve(false); }
        else { el.onloadedmetadata = () => resolve(el.duration > 0); el.onerror = () => resolve(false); el.load(); }
      }));
      assert.ok(ok, `${name}: the generated ${tag} does not load`);
    }
    shown.push(name);
  }
  await page.screenshot({ path: join(shots, 'page-generate.png'), fullPage: true });
  assert.deepEqual(errors, []);
  assert.equal(shown.length, 3);
  await page.close();
});

test('bad input gets a readable message and no crash', async () => {
  const { page, errors } = await openPage();
  const packed = cli(['compress', '-'], readFileSync(sample('sample.txt')));
  const corrupt = Buffer.from(packed); corrupt[corrupt.length - 5] ^= 1;
  const cases = [
    [{ name: 'cat.png', mimeType: 'image/png', buffer: Buffer.from('this is not a picture') }, /not a readable image/],
    [{ name: 'empty.txt', mimeType: 'text/plain', buffer: Buffer.alloc(0) }, /empty/],
    [{ name: 'broken.lmz', mimeType: 'application/octet-stream', buffer: corrupt }, /corrupted/],
    [{ name: 'cut.lmz', mimeType: 'application/octet-stream', buffer: packed.subarray(0, 30) }, /truncated/],
    [{ name: 'song.wav', mimeType: 'audio/wav', buffer: Buffer.from('RIFF\0\0\0\0WAVEjunk') }, /not readable audio/],
  ];
  for (const [file, re] of cases) {
    await page.setInputFiles('#file', file);
    await page.waitForFunction((src) => {
      const err = document.querySelector('#error');
      return !err.hidden && new RegExp(src).test(err.textContent) && document.querySelector('#status').hidden;
    }, re.source, { timeout: 30_000 }).catch(async () => {
      assert.fail(`${file.name}: error shown is ${JSON.stringify(await page.locator('#error').textContent())}`);
    });
  }
  await dropGenerated(page, 'huge.bin', 200 * 1024 * 1024, 'zeros');
  await page.waitForFunction(() => /handles files up to/.test(document.querySelector('#error').textContent));
  await page.screenshot({ path: join(shots, 'page-error.png') });
  // Still works afterwards.
  await page.setInputFiles('#file', sample('sample.txt'));
  await waitDone(page, 'sample.txt');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a 50 MB file shows progress, keeps the page responsive, and cancels', async () => {
  const { page } = await openPage();
  await dropGenerated(page, 'big.txt', 50 * 1000 * 1000);
  await page.waitForFunction(() => {
    const bar = document.querySelector('#progress');
    return !document.querySelector('#status').hidden && bar.hasAttribute('value') && bar.value > 0;
  }, null, { timeout: 120_000 });
  // The main thread answers at once while the workers compress.
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    await page.evaluate(() => 1 + 1);
    assert.ok(Date.now() - t0 < 1000, 'the page froze');
  }
  await page.screenshot({ path: join(shots, 'page-progress.png') });
  await page.click('#cancel');
  await page.waitForSelector('#status', { state: 'hidden' });
  assert.match(await page.locator('#error').textContent(), /Cancelled/);
  await page.setInputFiles('#file', sample('sample.png'));
  await waitDone(page, 'sample.png');
  await page.close();
});
