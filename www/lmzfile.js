// .lmz files: made from the open file on every worker at once, and opened back.
import { CancelledError } from './bridge.js';
import { $, download, fmt, pool, setStatus, showError, state } from './app.js';

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

/** The codecs that can make an .lmz, the default one selected (kept across files). */
export async function fillCodecChoice() {
  const select = $('#lmz-codec');
  const keep = select.value;
  const [names, fallback] = await Promise.all([pool.run('lmzCodecs'), pool.run('defaultCodec')]);
  select.replaceChildren(...names.map((n) => new Option(n, n)));
  select.value = names.includes(keep) ? keep : fallback;
}

export async function unpack(file) {
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

export async function makeLmz() {
  if (!state.current) return;
  const button = $('#make-lmz');
  button.disabled = true;
  try {
    const codec = $('#lmz-codec').value || await pool.run('defaultCodec');
    // Its own progress bar: the codec table may still be filling in above.
    const info = $('#lmz-info');
    const bar = $('#lmz-progress');
    bar.hidden = false;
    info.textContent = `Making the .lmz (${codec})…`;
    const n = await pool.run('plan', { codec }, state.current.file, undefined, { urgent: true });
    const chunks = await perChunk(n, 'compressChunk', { codec }, state.current.file, (done, total) => {
      bar.value = total ? done / total : 1;
      info.textContent = `Making the .lmz (${codec}): ${done} of ${total} chunks…`;
    });
    const packed = await pool.run('assemble', { codec, chunks }, state.current.file, undefined, { urgent: true });
    $('#lmz-info').textContent = `${fmt.format(packed.byteLength)} bytes, coded with ${codec}`;
    download(packed, `${state.current.file.name}.lmz`);
  } catch (e) {
    if (!(e instanceof CancelledError)) showError(`Could not make the .lmz: ${e.message}`);
    $('#lmz-info').textContent = '';
  } finally {
    $('#lmz-progress').hidden = true;
    button.disabled = false;
  }
}
