// The page: UI only. All work happens in workers through the bridge; each section of the page
// has its own module (table.js, where.js, generation.js, lmzfile.js), sharing app.js.
import { CancelledError } from './bridge.js';
import { $, MAX_BYTES, MODES, fmt, pool, setStatus, showError, state } from './app.js';
import { estimateSeconds, learnSpeed, limitOf, predictive } from './limits.js';
import { buildTable, describe, drawChart, failRow, fillRow, markBest, offerRow } from './table.js';
import { drawBits, fillBitsChoice, runBits } from './where.js';
import { fillGenerators, nameGenerator, runGenerate } from './generation.js';
import { fillCodecChoice, makeLmz, unpack } from './lmzfile.js';

let fileCounter = 0;

/** The badge: what runs the transformer, as the workers found it. With a hardware WebGPU adapter
 * (and a browser that can suspend wasm for it) the workers load the GPU build and run the integer
 * engine's kernels there; otherwise the CPU build. The bytes are the same either way. A software
 * adapter is slower than the CPU, so it is used only with `?gpu=on`. */
async function detectBackend() {
  const badge = $('#backend');
  try {
    let found;
    // A file dropped meanwhile cancels busy workers: ask again.
    while (!found) found = await pool.run('backend').catch((e) => { if (!(e instanceof CancelledError)) throw e; });
    const { gpu, name } = found;
    badge.textContent = name;
    badge.classList.toggle('gpu', gpu);
    badge.title = gpu
      ? 'The transformer runs on the GPU (the integer engine\'s WGSL kernels): the same bits as on the CPU, so every .lmz decodes anywhere.'
      : 'Every model runs on the CPU integer engine, in the page\'s workers.';
  } catch (e) {
    badge.textContent = `CPU (${e?.message ?? e})`;
  }
}

async function analyse(file) {
  const codecList = await pool.run('codecs');
  const settings = new Map(codecList.map((c) => [c.name, c.setting]));
  const params = new Map(codecList.map((c) => [c.name, c.params]));
  state.current.params = params;
  setStatus('Reading the file…');
  const info = await pool.run('inspect', {}, file);
  state.current.info = info;
  if (info.lmz) return unpack(file);
  describe(info, file);
  buildTable(info.codecs, settings);
  drawChart([]);
  $('#results-section').hidden = false;
  await fillCodecChoice();
  fillGenerators();
  $('#make-lmz').disabled = false;

  const tooBig = (c) => predictive(c) && info.bytes > limitOf(c, params.get(c));
  for (const codec of info.codecs.filter(tooBig)) {
    for (const mode of MODES) offerRow(codec, mode, estimateSeconds(codec, params.get(codec), info.bytes));
  }
  const jobs = info.codecs
    .filter((c) => !tooBig(c))
    .flatMap((codec) => MODES.map((mode) => ({ codec, mode })));
  const done = new Map();
  const fractions = new Map();
  const update = () => {
    const total = [...fractions.values()].reduce((a, b) => a + b, 0) / jobs.length;
    setStatus(`Compressing with ${jobs.length - done.size} codec runs left…`, total);
  };
  update();
  const results = [];
  state.current.results = results;
  await Promise.all(jobs.map(async ({ codec, mode }) => {
    const key = `${codec}/${mode}`;
    try {
      const r = await pool.run('measure', { codec, mode }, file, (f) => { fractions.set(key, f); update(); });
      if (predictive(codec)) learnSpeed(codec, params.get(codec), r);
      results.push(r);
      fillRow(r);
      drawChart(results);
    } catch (e) {
      if (e instanceof CancelledError) throw e;
      failRow(codec, mode, e.message);
    } finally {
      done.set(key, true); fractions.set(key, 1); update();
    }
  }));
  markBest(results);
  setStatus(null);
  fillBitsChoice(results);
  $('#results').dataset.file = file.name;
  $('#results').dataset.complete = 'true';
}

async function open(name, bytes) {
  pool.cancel();
  setStatus(null);
  showError('');
  for (const id of ['#file-info', '#results-section', '#bits-section', '#bits-figure', '#unpack-section', '#generate-section']) $(id).hidden = true;
  delete $('#results').dataset.complete;
  if (bytes.byteLength === 0) { showError(`${name} is empty: there is nothing to compress.`); return; }
  if (bytes.byteLength > MAX_BYTES) {
    showError(`${name} is ${fmt.format(bytes.byteLength)} bytes; this page handles files up to ${fmt.format(MAX_BYTES)} bytes.`);
    return;
  }
  state.current = { file: { key: ++fileCounter, name, bytes }, info: null, results: [] };
  try {
    await analyse(state.current.file);
  } catch (e) {
    setStatus(null);
    if (e instanceof CancelledError) { showError('Cancelled.'); return; }
    showError(e.message);
  }
}

async function openFile(file) {
  if (!file) return;
  delete $('#results').dataset.complete;
  if (file.size > MAX_BYTES) {
    pool.cancel();
    setStatus(null);
    showError(`${file.name} is ${fmt.format(file.size)} bytes; this page handles files up to ${fmt.format(MAX_BYTES)} bytes.`);
    return;
  }
  setStatus(`Reading ${file.name}…`);
  const bytes = new Uint8Array(await file.arrayBuffer());
  await open(file.name, bytes);
}

function wire() {
  const drop = $('#drop');
  $('#file').addEventListener('change', (e) => openFile(e.target.files[0]));
  for (const ev of ['dragenter', 'dragover']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over'); });
  for (const ev of ['dragleave', 'drop']) drop.addEventListener(ev, () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => { e.preventDefault(); openFile(e.dataTransfer?.files?.[0]); });
  drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); $('#file').click(); } });
  for (const b of document.querySelectorAll('[data-sample]')) {
    b.addEventListener('click', async () => {
      const url = b.dataset.sample;
      const res = await fetch(url);
      if (!res.ok) { showError(`Could not load the sample ${url}: HTTP ${res.status}`); return; }
      await open(url.split('/').pop(), new Uint8Array(await res.arrayBuffer()));
    });
  }
  $('#cancel').addEventListener('click', () => { pool.cancel(); setStatus(null); showError('Cancelled.'); });
  $('#make-lmz').addEventListener('click', makeLmz);
  $('#gen-run').addEventListener('click', runGenerate);
  $('#gen-codec').addEventListener('change', nameGenerator);
  $('#bits-codec').addEventListener('change', runBits);
  $('#bits-plot').addEventListener('click', (e) => {
    if (!state.current?.bits?.positionAt || state.current.info?.modality !== 'text') return;
    // Start a little before the clicked byte so it sits near the top of the text shown.
    state.current.bits.from = Math.max(0, state.current.bits.positionAt(e.clientX) - 256);
    drawBits();
  });
}

wire();
detectBackend();
document.body.dataset.ready = 'true';
