// Generation: a codec or model continues the file (a compressor is a generative model too).
import { CancelledError } from './bridge.js';
import { $, fmt, pool, showError, state } from './app.js';

/** Generators: the byte codecs and the models (kept across files). */
export function fillGenerators() {
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
export function nameGenerator() {
  $('#gen-run').textContent = `Generate from ${$('#gen-codec').value || 'gzip'}`;
}

export async function runGenerate() {
  if (!state.current) return;
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
    const r = await pool.run('generate', options, state.current.file, (f) => { bar.value = f; }, { urgent: true });
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
