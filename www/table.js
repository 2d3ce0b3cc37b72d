// The table of sizes and its chart: every codec, whole and chunked.
import { CancelledError } from './bridge.js';
import { $, MODES, fmt, pct, pool, setStatus, state } from './app.js';
import { estimateSeconds, humanTime, learnSpeed } from './limits.js';
import { fillBitsChoice } from './where.js';

export function describe(info, file) {
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

export function buildTable(codecs, settings) {
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

export function fillRow(r) {
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

export function failRow(codec, mode, msg, cls = 'fail') {
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
export function offerRow(codec, mode, seconds) {
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
export async function runOffered(codec, mode) {
  const at = state.current;
  const tr = $(`#results tr[data-codec="${codec}"]`);
  for (const td of tr?.querySelectorAll(`td[data-mode="${mode}"]`) ?? []) {
    td.classList.remove('skipped'); td.classList.add('pending'); td.textContent = '…';
  }
  const label = `Measuring ${codec} (${mode})…`;
  setStatus(label, 0);
  try {
    const r = await pool.run('measure', { codec, mode }, at.file, (f) => setStatus(label, f), { urgent: true });
    if (state.current !== at) return;
    learnSpeed(codec, at.params.get(codec), r);
    at.results.push(r);
    fillRow(r);
    drawChart(at.results);
    markBest(at.results);
    if (mode === 'whole') fillBitsChoice(at.results);
  } catch (e) {
    if (state.current !== at) return;
    if (e instanceof CancelledError) {
      offerRow(codec, mode, estimateSeconds(codec, at.params.get(codec), at.info.bytes));
      return;
    }
    failRow(codec, mode, e.message);
  } finally {
    if (state.current === at) setStatus(null);
  }
}

export function drawChart(results) {
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

export function markBest(results) {
  for (const td of document.querySelectorAll('#results td[data-best]')) td.removeAttribute('data-best');
  for (const mode of MODES) {
    const ok = results.filter((r) => r.mode === mode && r.roundtrip);
    if (!ok.length) continue;
    const best = ok.reduce((a, b) => (b.compressed_bytes < a.compressed_bytes ? b : a));
    $(`#results tr[data-codec="${best.codec}"] td[data-mode="${mode}"][data-part="rate"]`)?.setAttribute('data-best', 'true');
  }
}
