// "Where the bits go": a model's cost of every byte, drawn as a plot along the stream and as the
// data itself coloured by cost (text as text, an image as a map of its pixels).

/** Costs at and above this many bits get the darkest colour. */
export const BITS_MAX = 12;
/** Bytes of text shown coloured at once. */
export const TEXT_SPAN = 2048;
// White → light red → red → dark red: a sequential ramp that stays readable under black text.
const RAMP = [[255, 255, 255], [252, 187, 161], [239, 59, 44], [103, 0, 13]];
const SVG = 'http://www.w3.org/2000/svg';

/** The ramp as a CSS gradient, for the legend. */
export const RAMP_CSS = `linear-gradient(to right, ${RAMP.map(([r, g, b]) => `rgb(${r}, ${g}, ${b})`).join(', ')})`;

/** [r, g, b] for a cost in bits. */
export function costColor(bits) {
  const t = Math.min(Math.max(bits / BITS_MAX, 0), 1) * (RAMP.length - 1);
  const i = Math.min(Math.floor(t), RAMP.length - 2);
  const f = t - i;
  return RAMP[i].map((a, k) => Math.round(a + (RAMP[i + 1][k] - a) * f));
}

/** The mean of the costs. */
export function meanBits(costs) {
  let sum = 0;
  for (const c of costs) sum += c;
  return costs.length ? sum / costs.length : 0;
}

function el(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * Bits per byte along the stream, averaged over as many buckets as the plot has pixels; a
 * dashed line at the mean, and a band over `shown` ([from, to), the part drawn below).
 * `unit` names a position ("byte", "pixel"); `seconds`, when given, labels the x axis in time.
 */
/** Per-bucket means of `costs` over `buckets` equal spans. */
function bucketMeans(costs, buckets) {
  const n = costs.length;
  const means = new Float64Array(buckets);
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor((b * n) / buckets), hi = Math.max(lo + 1, Math.floor(((b + 1) * n) / buckets));
    let s = 0;
    for (let i = lo; i < hi && i < n; i++) s += costs[i];
    means[b] = s / (hi - lo);
  }
  return means;
}

/** `other` ({ costs, label, mean }), when given, is drawn beside as a second line. */
export function drawPlot(svg, costs, { mean, shown, unit, seconds, label, other }) {
  const width = 760, height = 184, left = 44, right = 12, top = 24, bottom = 30;
  const plotW = width - left - right, plotH = height - top - bottom;
  const n = costs.length;
  const buckets = Math.max(1, Math.min(n, plotW));
  const means = bucketMeans(costs, buckets);
  const otherMeans = other && other.costs.length === n ? bucketMeans(other.costs, buckets) : null;
  const top8 = Math.max(8, 2 * Math.ceil(Math.max(0, ...means, ...(otherMeans ?? [])) / 2)); // even, so the mid tick is whole
  const x = (i) => left + (n ? (i / n) * plotW : 0);
  const y = (bits) => top + plotH * (1 - Math.min(bits, top8) / top8);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const kids = [];
  if (shown) kids.push(el('rect', { class: 'shown', x: x(shown[0]), y: top, width: Math.max(1, x(shown[1]) - x(shown[0])), height: plotH }));
  for (const v of [0, top8 / 2, top8]) {
    kids.push(el('line', { class: 'axis', x1: left, x2: left + plotW, y1: y(v), y2: y(v) }));
    kids.push(el('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(v)));
  }
  const points = (ms) => Array.from(ms, (m, b) => `${(left + ((b + 0.5) / buckets) * plotW).toFixed(1)},${y(m).toFixed(1)}`).join(' ');
  if (otherMeans) {
    kids.push(el('polyline', { class: 'line other', points: points(otherMeans) }));
    kids.push(el('line', { class: 'line other', x1: left, x2: left + 26, y1: 10, y2: 10 }));
    kids.push(el('text', { x: left + 30, y: 14 }, `${other.label}: ${other.mean.toFixed(2)}`));
    kids.push(el('line', { class: 'line', x1: left + 190, x2: left + 216, y1: 10, y2: 10 }));
    kids.push(el('text', { x: left + 220, y: 14 }, `${label}: ${mean.toFixed(2)}`));
  }
  kids.push(el('polyline', { class: 'line', points: points(means) }));
  kids.push(el('line', { class: 'mean', x1: left, x2: left + plotW, y1: y(mean), y2: y(mean) }));
  kids.push(el('line', { class: 'mean', x1: left + plotW - 126, x2: left + plotW - 100, y1: 10, y2: 10 }));
  kids.push(el('text', { x: left + plotW, y: 14, 'text-anchor': 'end' }, `mean ${mean.toFixed(2)} bits`));
  const end = seconds === undefined ? `${n.toLocaleString('en-US')}` : `${seconds.toFixed(1)} s`;
  kids.push(el('text', { x: left, y: height - 8 }, seconds === undefined ? '0' : '0 s'));
  kids.push(el('text', { x: left + plotW, y: height - 8, 'text-anchor': 'end' }, end));
  kids.push(el('text', { x: left + plotW / 2, y: height - 8, 'text-anchor': 'middle' },
    seconds === undefined ? `${unit} (bits per ${unit}, averaged per pixel of the plot)` : `time (bits per ${unit})`));
  svg.replaceChildren(...kids);
  return { positionAt: (clientX) => {
    const box = svg.getBoundingClientRect();
    const vx = ((clientX - box.left) / box.width) * width;
    return Math.max(0, Math.min(n - 1, Math.floor(((vx - left) / plotW) * n)));
  } };
}

/** `bytes[from, from + TEXT_SPAN)` as text, each character on the colour of its bits. */
export function textView(bytes, costs, from) {
  const pre = document.createElement('pre');
  const end = Math.min(costs.length, bytes.length, from + TEXT_SPAN);
  let i = from;
  while (i < end && (bytes[i] & 0xc0) === 0x80) i++; // start on a character
  const decoder = new TextDecoder();
  const frag = document.createDocumentFragment();
  while (i < end) {
    const b = bytes[i];
    const len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    const j = Math.min(i + len, end);
    let bits = 0;
    for (let k = i; k < j; k++) bits += costs[k];
    const ch = decoder.decode(bytes.subarray(i, j));
    const span = document.createElement('span');
    // A newline or a control byte still needs a box to carry its colour.
    span.textContent = b === 0x0a ? '↵\n' : b < 0x20 && b !== 0x09 ? '·' : ch;
    const [r, g, bl] = costColor(bits);
    span.style.background = `rgb(${r}, ${g}, ${bl})`;
    if (bits > BITS_MAX * 0.6) span.style.color = '#fff';
    span.title = `${JSON.stringify(ch)}: ${bits.toFixed(2)} bits`;
    frag.append(span);
    i = j;
  }
  pre.append(frag);
  pre.dataset.from = String(from);
  pre.dataset.to = String(end);
  return pre;
}

/** The costs as an image of `width` columns: row r holds pixels r·width … (r+1)·width − 1. */
export function imageView(costs, width) {
  const rows = Math.ceil(costs.length / width);
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = Math.max(1, rows);
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(width, canvas.height);
  for (let i = 0; i < costs.length; i++) {
    const [r, g, b] = costColor(costs[i]);
    img.data.set([r, g, b, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
  // Small images are blown up by a whole factor (sharp pixels), at most to 512 px.
  canvas.style.width = `${width * Math.max(1, Math.min(4, Math.floor(512 / width)))}px`;
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `bits per pixel of the first ${rows} rows`);
  return canvas;
}
