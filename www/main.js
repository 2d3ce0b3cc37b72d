// The page: UI only. All work happens in workers through the bridge.
import { WorkerPool, CancelledError } from './bridge.js';
import { BITS_MAX, RAMP_CSS, TEXT_SPAN, drawPlot, imageView, meanBits, textView } from './bits.js';

const MAX_BYTES = 100 * 1024 * 1024; // the library refuses more (modality::MAX_INPUT_BYTES)
const MODES = ['whole', 'chunked'];
const query = new URLSearchParams(location.search);
// A model codec (the integer engine in wasm) codes a few KB per second: past this many bytes
// (for a 1M-parameter model; bigger ones get proportionally fewer, for the same wait) the page
// says how long it would take and waits for the user's go. `?auto-limit=N` sets it (tests).
const LM_LIMIT = Number(query.get('auto-limit')) || 64 * 1024;
/** The model size LM_LIMIT is set for. */
const LM_LIMIT_PARAMS = 1_000_000;

// The context-mixing coder without a model (cm) codes about 100 KB per second in wasm.
const CM_LIMIT = Number(query.get('auto-limit')) || 8 * 1024 * 1024;

/** The most stream bytes a model codec measures in the page without asking. */
function lmLimit(params) {
  return Math.min(LM_LIMIT, Math.floor(LM_LIMIT * LM_LIMIT_PARAMS / Math.max(params ?? 0, 1)));
}

/** Whether a codec learns by prediction (a model, a mix or cm): slow, and has costs per byte. */
const predictive = (c) => c.startsWith('lm-') || c.startsWith('mix-') || c === 'cm';

/** The most stream bytes a predictive codec (`params` for a model's size) measures without asking. */
const limitOf = (codec, params) => (codec === 'cm' ? CM_LIMIT : lmLimit(params));

/**
 * Seconds one measurement (encode, then decode to verify) takes in a worker: per byte for the
 * context-mixing part, per byte and parameter for a transformer. Starts from what this machine
 * class measured (lm-200k ≈ 8.5 KB/s each way in wasm, cm ≈ 100 KB/s) and learns from every
 * predictive run on this page, so the estimates follow the user's machine.
 */
const speed = { perByteParam: 2 / (8500 * 200_000), perByte: 2 / 100_000 };

function estimateSeconds(codec, params, bytes) {
  const model = codec.startsWith('lm-') || codec.startsWith('mix-') ? speed.perByteParam * (params ?? 0) : 0;
  const mixing = codec === 'cm' || codec.startsWith('mix-') ? speed.perByte : 0;
  return bytes * (model + mixing);
}

/** Learns the speeds from a finished run (`r`, a measure result) of `codec`. */
function learnSpeed(codec, params, r) {
  const seconds = r.encode_seconds + r.decode_seconds;
  if (!(seconds > 0.05) || !(r.bytes > 0)) return;
  const per = seconds / r.bytes;
  const blend = (old, seen) => 0.5 * old + 0.5 * seen;
  if (codec === 'cm') speed.perByte = blend(speed.perByte, per);
  else if (codec.startsWith('lm-') && params) speed.perByteParam = blend(speed.perByteParam, per / params);
}

/** A duration as people say it: "40 s", "3 min", "1.5 h". */
function humanTime(s) {
  if (s < 90) return `${Math.max(1, Math.round(s))} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
const $ = (sel) => document.querySelector(sel);

const models = query.get('models');
const gpuMode = query.get('gpu');
const workerQuery = new URLSearchParams();
if (models === 'none') workerQuery.set('models', 'none');
if (gpuMode) workerQuery.set('gpu', gpuMode);
const pool = new WorkerPool(undefined, workerQuery.size ? `?${workerQuery}` : '');
let current = null; // { file: {key, name, bytes}, info, params: Map, results: [] }
let fileCounter = 0;

const fmt = new Intl.NumberFormat('en-US');
const pct = (r) => `${(100 * r).toFixed(2)}%`;

function showError(msg) {
  const el = $('#error');
  el.textContent = msg;
  el.hidden = !msg;
}

function setStatus(text, fraction) {
  const box = $('#status');
  if (text === null) { box.hidden = true; return; }
  box.hidden = false;
  $('#status-text').textContent = text;
  const bar = $('#progress');
  if (fraction === undefined) bar.removeAttribute('value');
  else bar.value = fraction;
}

function download(bytes, name) {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url; a.download = name;
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The badge: what runs where. Compression is always the CPU's integer engine (its bits are the
 * same everywhere); the "where the bits go" analysis runs on a hardware WebGPU adapter when there
 * is one (a software one is slower than the CPU, so it is used only with `?gpu=on`). */
async function detectBackend() {
  const badge = $('#backend');
  const cpu = (why) => {
    badge.textContent = `CPU (${why})`;
    badge.title = 'Every model runs on the CPU integer engine, in the page\'s workers.';
  };
  if (gpuMode === 'off') return cpu('WebGPU off');
  try {
    const adapter = navigator.gpu ? await navigator.gpu.requestAdapter() : null;
    if (adapter) {
      const info = adapter.info || {};
      const name = [info.vendor, info.architecture].filter(Boolean).join(' ') || 'available';
      if ((adapter.isFallbackAdapter ?? info.isFallbackAdapter) && gpuMode !== 'on') return cpu(`WebGPU is software: ${name}`);
      badge.textContent = `WebGPU: ${name}`;
      badge.title = 'Where the bits go runs on WebGPU; compression runs the integer engine on the CPU, bit for bit the same on every machine.';
      badge.classList.add('gpu');
      return;
    }
  } catch { /* no WebGPU: CPU it is */ }
  cpu('no WebGPU');
}

function describe(info, file) {
  const rows = [['file', file.name], ['kind', info.modality], ['file size', `${fmt.format(file.bytes.byteLength)} bytes`]];
  if (info.layout?.kind === 'image') rows.push(['pixels', `${info.layout.width} × ${info.layout.height} grayscale = ${fmt.format(info.bytes)} bytes`]);
  if (info.layout?.kind === 'audio') rows.push(['samples', `${fmt.format(info.bytes)} at ${fmt.format(info.layout.sample_rate)} Hz, mono 8-bit (${(info.bytes / info.layout.sample_rate).toFixed(1)} s)`]);
  if (info.modality !== 'text') rows.push(['coded as', `${fmt.format(info.bytes)} bytes (the paper's ${info.modality} mapping)`]);
  const dl = document.createElement('dl');
  for (const [k, v] of rows) {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v;
    dl.append(dt, dd);
  }
  const box = $('#file-info');
  box.replaceChildren(dl);
  box.hidden = false;
}

function buildTable(codecs, settings) {
  const tbody = $('#results tbody');
  tbody.replaceChildren();
  for (const codec of codecs) {
    const tr = document.createElement('tr');
    tr.dataset.codec = codec;
    const name = document.createElement('th'); name.scope = 'row'; name.textContent = codec;
    const setting = document.createElement('td'); setting.className = 'setting'; setting.textContent = settings.get(codec) ?? '';
    tr.append(name, setting);
    for (const mode of MODES) {
      for (const part of ['bytes', 'rate', 'bpb']) {
        const td = document.createElement('td');
        td.className = `pending ${part}`;
        td.dataset.mode = mode; td.dataset.part = part;
        td.textContent = '…';
        tr.append(td);
      }
    }
    tbody.append(tr);
  }
}

function fillRow(r) {
  const tr = $(`#results tr[data-codec="${r.codec}"]`);
  if (!tr) return;
  const cell = (part) => tr.querySelector(`td[data-mode="${r.mode}"][data-part="${part}"]`);
  const bytes = cell('bytes');
  bytes.dataset.bytes = r.compressed_bytes;
  bytes.dataset.roundtrip = r.roundtrip;
  bytes.textContent = fmt.format(r.compressed_bytes);
  bytes.title = `encode ${r.encode_seconds.toFixed(2)} s, decode ${r.decode_seconds.toFixed(2)} s, round trip ${r.roundtrip ? 'verified' : 'FAILED'}`;
  cell('rate').textContent = pct(r.rate);
  cell('bpb').textContent = r.bits_per_byte.toFixed(3);
  for (const part of ['bytes', 'rate', 'bpb']) {
    cell(part).classList.remove('pending');
    if (!r.roundtrip) cell(part).classList.add('fail');
  }
  if (!r.roundtrip) bytes.textContent += ' (round trip failed)';
}

function failRow(codec, mode, msg, cls = 'fail') {
  const tr = $(`#results tr[data-codec="${codec}"]`);
  for (const td of tr?.querySelectorAll(`td[data-mode="${mode}"]`) ?? []) {
    td.classList.remove('pending'); td.classList.add(cls); td.title = msg;
    // A skipped model says so where the size would be; the reason is in the tooltip.
    td.textContent = cls === 'skipped' && td.dataset.part === 'bytes' ? 'skipped' : '—';
  }
}

/**
 * A codec that would take long on this file: its cells say how long, and a button in each mode
 * starts it (with the status bar's progress and Cancel).
 */
function offerRow(codec, mode, seconds) {
  const tr = $(`#results tr[data-codec="${codec}"]`);
  const why = `${codec} would take about ${humanTime(seconds)} on this file in the browser (the CLI is faster)`;
  for (const td of tr?.querySelectorAll(`td[data-mode="${mode}"]`) ?? []) {
    td.classList.remove('pending'); td.classList.add('skipped'); td.title = why;
    td.textContent = '—';
    if (td.dataset.part !== 'bytes') continue;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'offer';
    button.textContent = `measure (≈ ${humanTime(seconds)})`;
    button.title = why;
    button.setAttribute('aria-label', `Measure ${codec} ${mode}: about ${humanTime(seconds)}`);
    button.addEventListener('click', () => runOffered(codec, mode));
    td.replaceChildren(button);
  }
}

/** Measures one codec in one mode that the user asked for, then updates the table and plots. */
async function runOffered(codec, mode) {
  const at = current;
  const tr = $(`#results tr[data-codec="${codec}"]`);
  for (const td of tr?.querySelectorAll(`td[data-mode="${mode}"]`) ?? []) {
    td.classList.remove('skipped'); td.classList.add('pending'); td.textContent = '…';
  }
  const label = `Measuring ${codec} (${mode})…`;
  setStatus(label, 0);
  try {
    const r = await pool.run('measure', { codec, mode }, at.file, (f) => setStatus(label, f), { urgent: true });
    if (current !== at) return;
    learnSpeed(codec, at.params.get(codec), r);
    at.results.push(r);
    fillRow(r);
    drawChart(at.results);
    markBest(at.results);
    if (mode === 'whole') fillBitsChoice(at.results);
  } catch (e) {
    if (current !== at) return;
    if (e instanceof CancelledError) {
      offerRow(codec, mode, estimateSeconds(codec, at.params.get(codec), at.info.bytes));
      return;
    }
    failRow(codec, mode, e.message);
  } finally {
    if (current === at) setStatus(null);
  }
}

function drawChart(results) {
  const svg = $('#chart');
  const codecs = [...new Set(results.map((r) => r.codec))];
  // The label column fits the longest codec name (about 8 px a character at the chart's size).
  const left = Math.max(90, 12 + 8 * Math.max(0, ...codecs.map((c) => c.length)));
  const rowH = 16, gap = 10, right = 130, width = 760;
  const maxRate = Math.max(1, ...results.map((r) => r.rate));
  const plotW = width - left - right;
  const height = codecs.length * (2 * rowH + gap) + 30;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const ns = 'http://www.w3.org/2000/svg';
  const el = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const kids = [];
  codecs.forEach((codec, i) => {
    const y0 = i * (2 * rowH + gap);
    kids.push(el('text', { x: left - 8, y: y0 + rowH + 4, 'text-anchor': 'end' }, codec));
    MODES.forEach((mode, j) => {
      const r = results.find((x) => x.codec === codec && x.mode === mode);
      if (!r) return;
      const w = Math.max(1, (r.rate / maxRate) * plotW);
      const y = y0 + j * rowH;
      const bar = el('rect', { x: left, y, width: w, height: rowH - 2, class: mode });
      bar.append(el('title', {}, `${codec} ${mode}: ${pct(r.rate)}`));
      kids.push(bar, el('text', { x: left + w + 4, y: y + rowH - 5 }, `${pct(r.rate)} ${mode}`));
    });
  });
  const x100 = left + plotW / maxRate;
  kids.push(el('line', { x1: x100, x2: x100, y1: 0, y2: height - 20, class: 'axis' }));
  kids.push(el('text', { x: x100, y: height - 6, 'text-anchor': 'middle' }, '100% (no compression)'));
  svg.replaceChildren(...kids);
  svg.closest('figure').hidden = results.length === 0;
}

function markBest(results) {
  for (const td of document.querySelectorAll('#results td[data-best]')) td.removeAttribute('data-best');
  for (const mode of MODES) {
    const ok = results.filter((r) => r.mode === mode && r.roundtrip);
    if (!ok.length) continue;
    const best = ok.reduce((a, b) => (b.compressed_bytes < a.compressed_bytes ? b : a));
    $(`#results tr[data-codec="${best.codec}"] td[data-mode="${mode}"][data-part="rate"]`)?.setAttribute('data-best', 'true');
  }
}

async function analyse(file) {
  const codecList = await pool.run('codecs');
  const settings = new Map(codecList.map((c) => [c.name, c.setting]));
  const params = new Map(codecList.map((c) => [c.name, c.params]));
  current.params = params;
  setStatus('Reading the file…');
  const info = await pool.run('inspect', {}, file);
  current.info = info;
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
  current.results = results;
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

/** Runs `op` for chunks 0..n−1 on every worker at once, reporting (done, n); keeps their order. */
async function perChunk(n, op, args, file, report) {
  let done = 0;
  report(0, n);
  return Promise.all(Array.from({ length: n }, async (_, index) => {
    const value = await pool.run(op, { ...args, index }, file, undefined, { urgent: true });
    report(++done, n);
    return value;
  }));
}

/** Generators: the byte codecs and the models (kept across files). */
function fillGenerators() {
  const select = $('#gen-codec');
  const keep = select.value;
  const names = [...$('#lmz-codec').options].map((o) => o.value).filter((n) => n !== 'stored');
  select.replaceChildren(...names.map((n) => new Option(n, n)));
  select.value = names.includes(keep) ? keep : 'gzip';
  nameGenerator();
  $('#gen-out').replaceChildren();
  $('#gen-table tbody').replaceChildren();
  $('#gen-table').hidden = true;
  $('#generate-section').hidden = false;
}

/** The button says what it generates from (a compressor is a generative model too). */
function nameGenerator() {
  $('#gen-run').textContent = `Generate from ${$('#gen-codec').value || 'gzip'}`;
}

async function runGenerate() {
  if (!current) return;
  const button = $('#gen-run');
  const bar = $('#gen-progress');
  button.disabled = true;
  bar.hidden = false; bar.value = 0;
  const options = {
    codec: $('#gen-codec').value,
    bytes: Math.max(1, Math.min(4096, Number($('#gen-bytes').value) || 256)),
    seed: Math.max(0, Math.floor(Number($('#gen-seed').value) || 0)),
    temperature: Math.max(0, Number($('#gen-temp').value) || 0),
    context: 512,
    views: 2,
  };
  try {
    const r = await pool.run('generate', options, current.file, (f) => { bar.value = f; }, { urgent: true });
    const out = $('#gen-out');
    const blob = new Blob([new Uint8Array(r.file)], { type: { png: 'image/png', wav: 'audio/wav' }[r.ext] || 'text/plain' });
    let view;
    if (r.ext === 'png') {
      view = document.createElement('img');
      view.alt = `image rows continued by ${r.codec} (the top part is the real image)`;
    } else if (r.ext === 'wav') {
      view = document.createElement('audio');
      view.controls = true;
    } else {
      view = document.createElement('pre');
      view.textContent = new TextDecoder().decode(new Uint8Array(r.file));
    }
    if (r.ext !== 'txt') view.src = URL.createObjectURL(blob);
    view.dataset.codec = r.codec;
    out.replaceChildren(view);
    const row = document.createElement('tr');
    const bits = (v) => (v == null ? '–' : v.toFixed(3));
    for (const text of [r.codec, String(options.seed), fmt.format(Math.round(r.sample.length / Math.max(r.seconds, 1e-6))),
      bits(r.bits_sample), bits(r.bits_real)]) {
      const td = document.createElement('td'); td.textContent = text; row.append(td);
    }
    row.dataset.codec = r.codec;
    row.dataset.bytes = r.sample.length;
    $('#gen-table tbody').append(row);
    $('#gen-table').hidden = false;
  } catch (e) {
    if (!(e instanceof CancelledError)) showError(`Could not generate: ${e.message}`);
  } finally {
    bar.hidden = true;
    button.disabled = false;
  }
}

/** Models measured on this file, best (smallest whole-file size) first; the best one is shown. */
function fillBitsChoice(results) {
  const models = results
    .filter((r) => predictive(r.codec) && r.mode === 'whole' && r.roundtrip)
    .sort((a, b) => a.compressed_bytes - b.compressed_bytes)
    .map((r) => r.codec);
  const select = $('#bits-codec');
  select.replaceChildren(...models.map((n) => new Option(n, n)));
  $('#bits-section').hidden = models.length === 0;
  if (models.length) runBits();
}

/** What one position of the file's stream is. */
const unitOf = (info) => ({ image: 'pixel', audio: 'sample' })[info.modality] ?? 'byte';

/** Measures every byte's cost with the chosen model, then draws it. */
async function runBits() {
  if (!current) return;
  const codec = $('#bits-codec').value;
  const { file, info } = current;
  const bar = $('#bits-progress');
  bar.hidden = false; bar.value = 0;
  const infoLine = $('#bits-info');
  infoLine.textContent = `Measuring every byte with ${codec}…`;
  delete infoLine.dataset.mean;
  delete infoLine.dataset.other;
  try {
    const max = limitOf(codec, current.params.get(codec));
    const run = (current.bitsRun = (current.bitsRun ?? 0) + 1);
    const { costs, backend } = await pool.run('costs', { codec, max }, file, (f) => { bar.value = f; }, { urgent: true });
    if (current?.file !== file || current.bitsRun !== run) return; // another file or model since
    const n = costs.length;
    const mean = meanBits(costs);
    if (current.bits?.url) URL.revokeObjectURL(current.bits.url);
    current.bits = { codec, costs, mean, from: 0 };
    const part = n < info.bytes ? `the first ${fmt.format(n)} of ${fmt.format(info.bytes)}` : `all ${fmt.format(n)}`;
    const unit = unitOf(info);
    infoLine.textContent = `${codec}: ${mean.toFixed(3)} bits per ${unit} on average over ${part} ${unit}s (${backend}).`;
    Object.assign(infoLine.dataset, { codec, count: n, mean, backend });
    $('#bits-scale-max').textContent = `${BITS_MAX}+`;
    $('#bits-scale .ramp').style.background = RAMP_CSS;
    drawBits();
    $('#bits-figure').hidden = false;
    // A mix's transformer alone, beside it: what the other models add.
    const alone = codec.startsWith('mix-') ? `lm-${codec.slice(4)}` : null;
    if (alone && current.params.has(alone)) {
      bar.value = 0;
      const other = await pool.run('costs', { codec: alone, max }, file, (f) => { bar.value = f; }, { urgent: true });
      if (current?.file !== file || current.bitsRun !== run || other.costs.length !== n) return;
      current.bits.other = { costs: other.costs, label: alone, mean: meanBits(other.costs) };
      infoLine.textContent += ` ${alone} alone: ${current.bits.other.mean.toFixed(3)}.`;
      infoLine.dataset.other = current.bits.other.mean;
      drawBits();
    }
  } catch (e) {
    if (!(e instanceof CancelledError)) infoLine.textContent = `Could not measure the bytes: ${e.message}`;
  } finally {
    bar.hidden = true;
  }
}

/** The plot, and below it the data coloured by cost (the text from `current.bits.from`). */
function drawBits() {
  const { costs, mean, from, codec, other } = current.bits;
  const { info, file } = current;
  const layout = info.layout ?? {};
  const text = info.modality === 'text';
  const unit = unitOf(info);
  const to = Math.min(costs.length, from + TEXT_SPAN);
  const plot = drawPlot($('#bits-plot'), costs, {
    mean,
    label: codec,
    other,
    shown: text ? [from, to] : null,
    unit,
    seconds: layout.kind === 'audio' ? costs.length / layout.sample_rate : undefined,
  });
  current.bits.positionAt = plot.positionAt;
  const detail = $('#bits-detail');
  const caption = $('#bits-caption');
  if (text) {
    detail.replaceChildren(textView(file.bytes, costs, from));
    caption.textContent = `Bytes ${fmt.format(from)}–${fmt.format(to)} (hover a character for its bits; a multi-byte character carries the sum of its bytes).`;
  } else if (layout.kind === 'image') {
    // The picture as dropped beside the map of its bits, at the same size.
    const map = imageView(costs, layout.width);
    const original = document.createElement('img');
    if (current.bits.url) URL.revokeObjectURL(current.bits.url);
    current.bits.url = URL.createObjectURL(new Blob([file.bytes]));
    original.src = current.bits.url;
    original.alt = `${file.name} as dropped`;
    original.style.width = map.style.width;
    detail.replaceChildren(original, map);
    const rows = Math.ceil(costs.length / layout.width);
    const which = rows < layout.height ? `the first ${fmt.format(rows)} of its ${fmt.format(layout.height)} rows` : 'every row';
    caption.textContent = `The image as dropped, and beside it the bits of each pixel (${which}).`;
  } else {
    detail.replaceChildren();
    caption.textContent = 'Bits per sample along the recording.';
  }
}

/** The codecs that can make an .lmz, the default one selected (kept across files). */
async function fillCodecChoice() {
  const select = $('#lmz-codec');
  const keep = select.value;
  const [names, fallback] = await Promise.all([pool.run('lmzCodecs'), pool.run('defaultCodec')]);
  select.replaceChildren(...names.map((n) => new Option(n, n)));
  select.value = names.includes(keep) ? keep : fallback;
}

async function unpack(file) {
  setStatus('Decompressing…');
  const n = await pool.run('chunkCount', {}, file);
  const pieces = await perChunk(n, 'decompressChunk', {}, file,
    (done, total) => setStatus(`Decompressing: ${done} of ${total} chunks…`, done / total));
  const out = await pool.run('join', { pieces }, file);
  const name = file.name.replace(/\.lmz$/i, '') || 'decompressed';
  $('#unpack-info').textContent = `${file.name}: ${fmt.format(file.bytes.byteLength)} bytes → ${fmt.format(out.byteLength)} bytes, checksum verified.`;
  const link = $('#unpack-download');
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([out]));
  link.download = name;
  $('#unpack-section').hidden = false;
  $('#unpack-section').dataset.bytes = out.byteLength;
  setStatus(null);
}

async function makeLmz() {
  if (!current) return;
  const button = $('#make-lmz');
  button.disabled = true;
  try {
    const codec = $('#lmz-codec').value || await pool.run('defaultCodec');
    // Its own progress bar: the codec table may still be filling in above.
    const info = $('#lmz-info');
    const bar = $('#lmz-progress');
    bar.hidden = false;
    info.textContent = `Making the .lmz (${codec})…`;
    const n = await pool.run('plan', { codec }, current.file, undefined, { urgent: true });
    const chunks = await perChunk(n, 'compressChunk', { codec }, current.file, (done, total) => {
      bar.value = total ? done / total : 1;
      info.textContent = `Making the .lmz (${codec}): ${done} of ${total} chunks…`;
    });
    const packed = await pool.run('assemble', { codec, chunks }, current.file, undefined, { urgent: true });
    $('#lmz-info').textContent = `${fmt.format(packed.byteLength)} bytes, coded with ${codec}`;
    download(packed, `${current.file.name}.lmz`);
  } catch (e) {
    if (!(e instanceof CancelledError)) showError(`Could not make the .lmz: ${e.message}`);
    $('#lmz-info').textContent = '';
  } finally {
    $('#lmz-progress').hidden = true;
    button.disabled = false;
  }
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
  current = { file: { key: ++fileCounter, name, bytes }, info: null, results: [] };
  try {
    await analyse(current.file);
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
    if (!current?.bits?.positionAt || current.info?.modality !== 'text') return;
    // Start a little before the clicked byte so it sits near the top of the text shown.
    current.bits.from = Math.max(0, current.bits.positionAt(e.clientX) - 256);
    drawBits();
  });
}

wire();
detectBackend();
document.body.dataset.ready = 'true';
