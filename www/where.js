// Where the bits go: every byte's cost under a model, as a plot and over the data itself.
import { CancelledError } from './bridge.js';
import { BITS_MAX, RAMP_CSS, TEXT_SPAN, drawPlot, imageView, meanBits, textView } from './bits.js';
import { $, fmt, pool, state } from './app.js';
import { limitOf, predictive } from './limits.js';

/** Models measured on this file, best (smallest whole-file size) first; the best one is shown. */
export function fillBitsChoice(results) {
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
export async function runBits() {
  if (!state.current) return;
  const codec = $('#bits-codec').value;
  const { file, info } = state.current;
  const bar = $('#bits-progress');
  bar.hidden = false; bar.value = 0;
  const infoLine = $('#bits-info');
  infoLine.textContent = `Measuring every byte with ${codec}…`;
  delete infoLine.dataset.mean;
  delete infoLine.dataset.other;
  try {
    const max = limitOf(codec, state.current.params.get(codec));
    const run = (state.current.bitsRun = (state.current.bitsRun ?? 0) + 1);
    const { costs, backend } = await pool.run('costs', { codec, max }, file, (f) => { bar.value = f; }, { urgent: true });
    if (state.current?.file !== file || state.current.bitsRun !== run) return; // another file or model since
    const n = costs.length;
    const mean = meanBits(costs);
    if (state.current.bits?.url) URL.revokeObjectURL(state.current.bits.url);
    state.current.bits = { codec, costs, mean, from: 0 };
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
    if (alone && state.current.params.has(alone)) {
      bar.value = 0;
      const other = await pool.run('costs', { codec: alone, max }, file, (f) => { bar.value = f; }, { urgent: true });
      if (state.current?.file !== file || state.current.bitsRun !== run || other.costs.length !== n) return;
      state.current.bits.other = { costs: other.costs, label: alone, mean: meanBits(other.costs) };
      infoLine.textContent += ` ${alone} alone: ${state.current.bits.other.mean.toFixed(3)}.`;
      infoLine.dataset.other = state.current.bits.other.mean;
      drawBits();
    }
  } catch (e) {
    if (!(e instanceof CancelledError)) infoLine.textContent = `Could not measure the bytes: ${e.message}`;
  } finally {
    bar.hidden = true;
  }
}

/** The plot, and below it the data coloured by cost (the text from `state.current.bits.from`). */
export function drawBits() {
  const { costs, mean, from, codec, other } = state.current.bits;
  const { info, file } = state.current;
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
  state.current.bits.positionAt = plot.positionAt;
  const detail = $('#bits-detail');
  const caption = $('#bits-caption');
  if (text) {
    detail.replaceChildren(textView(file.bytes, costs, from));
    caption.textContent = `Bytes ${fmt.format(from)}–${fmt.format(to)} (hover a character for its bits; a multi-byte character carries the sum of its bytes).`;
  } else if (layout.kind === 'image') {
    // The picture as dropped beside the map of its bits, at the same size.
    const map = imageView(costs, layout.width);
    const original = document.createElement('img');
    if (state.current.bits.url) URL.revokeObjectURL(state.current.bits.url);
    state.current.bits.url = URL.createObjectURL(new Blob([file.bytes]));
    original.src = state.current.bits.url;
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
