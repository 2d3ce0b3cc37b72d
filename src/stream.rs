//! `.lmz` files as streams: compression and decompression that read and write in pieces, so
//! memory stays bounded whatever the file's size (the CLI's path; the page keeps whole files
//! in memory through [`crate::lmz`]). The bytes are the same `.lmz` format either way.
//!
//! The header lists every chunk's coded length before the payloads, so [`compress`] spools the
//! payloads (to a temporary file beside the output) and writes the header once they are done.
//! [`decompress`] reads the header, then decodes chunk after chunk as the payloads arrive.

use crate::codecs::{self, CodecError};
use crate::container::{self, ContainerError, Header, STORED};
use crate::lmz::{self, LmzError};
use crate::modality::Layout;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Chunks of a model codec read and coded per thread at a time (16 KiB each).
const MODEL_CHUNKS_PER_THREAD: usize = lmz::LOCKSTEP;

/// Mixing-codec chunks (16 MiB) coded at once: one, because each one's tables take about
/// 180 MB, and a stream keeps its memory under 300 MB whatever the file's size.
const MIX_CHUNKS_AT_ONCE: usize = 1;

fn io_err(what: &str) -> impl Fn(io::Error) -> LmzError + '_ {
    move |e| LmzError::Io(format!("{what}: {e}"))
}

/// A reader that keeps a CRC-32 and a count of what passed through it.
struct Tally<R> {
    inner: R,
    crc: crc32fast::Hasher,
    count: u64,
}

impl<R> Tally<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            crc: crc32fast::Hasher::new(),
            count: 0,
        }
    }
    fn crc(&self) -> u32 {
        self.crc.clone().finalize()
    }
}

impl<R: Read> Read for Tally<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that keeps a CRC-32 and a count, and the first error it met (some encoders
/// finish their stream without reporting one).
struct Out<W> {
    inner: W,
    crc: crc32fast::Hasher,
    count: u64,
    failed: Option<String>,
}

impl<W> Out<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            crc: crc32fast::Hasher::new(),
            count: 0,
            failed: None,
        }
    }
    fn crc(&self) -> u32 {
        self.crc.clone().finalize()
    }
    fn check(&self) -> Result<(), LmzError> {
        match &self.failed {
            Some(e) => Err(LmzError::Io(format!("writing: {e}"))),
            None => Ok(()),
        }
    }
}

impl<W: Write> Write for Out<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.inner.write(buf) {
            Ok(n) => {
                self.crc.update(&buf[..n]);
                self.count += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failed.get_or_insert_with(|| e.to_string());
                Err(e)
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// What [`compress`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    /// The codec the file records (`stored` when coding did not make it smaller).
    pub codec: String,
    /// Bytes read.
    pub original_len: u64,
    /// Bytes written.
    pub packed_len: u64,
}

/// Compresses `input` with `codec` into an `.lmz` on `output`, spooling the payloads to
/// `spool` (an empty temporary file). When coding does not make the data smaller, `reread`
/// (if given) opens the input again to store it; a pipe, which cannot be read twice, keeps its
/// coded form. `progress` gets the bytes read so far.
pub fn compress(
    input: &mut dyn Read,
    codec: &str,
    spool: &mut std::fs::File,
    output: &mut dyn Write,
    reread: Option<&mut dyn FnMut() -> io::Result<Box<dyn Read>>>,
    progress: &mut dyn FnMut(u64),
) -> Result<Made, LmzError> {
    let mut tally = Tally::new(input);
    if codec == STORED {
        return store(tally, spool, output, progress);
    }
    let mut payload = Out::new(&mut *spool);
    let mut chunk_lens = Vec::new();
    let chunk_size = {
        let c = lmz::codec_for(codec)?;
        if codecs::lm::find(codec).is_some() || codecs::mix::find(codec).is_some() {
            Some(lmz::plan(1, codec)?.1)
        } else {
            // A whole-file codec: one stream, as long as the input.
            let before = payload.count;
            c.compress_stream(&mut tally, &mut payload)?;
            payload.check()?;
            if tally.count > 0 {
                chunk_lens.push(payload.count - before);
            }
            progress(tally.count);
            None
        }
    };
    if let Some(size) = chunk_size {
        let c = lmz::codec_for(codec)?;
        let threads = crate::par::cores();
        let per_batch = if size >= lmz::MIX_CHUNK {
            MIX_CHUNKS_AT_ONCE
        } else {
            threads * MODEL_CHUNKS_PER_THREAD
        };
        let mut buf = vec![0u8; per_batch * size];
        loop {
            let got = read_full(&mut tally, &mut buf).map_err(io_err("reading the input"))?;
            let data = &buf[..got];
            let count = got.div_ceil(size);
            let pieces = crate::par::map(count, threads, |i| {
                c.compress(&data[i * size..((i + 1) * size).min(got)], &Layout::Bytes)
            });
            for piece in pieces {
                let piece = piece?;
                payload
                    .write_all(&piece)
                    .map_err(io_err("writing the spool"))?;
                chunk_lens.push(piece.len() as u64);
            }
            progress(tally.count);
            if got < buf.len() {
                break;
            }
        }
    }
    let original_len = tally.count;
    let original_crc = tally.crc();
    let coded = payload.count;
    let mut payload_crc = payload.crc();
    let stored = original_len == 0 || coded >= original_len;
    let header = if stored && (original_len == 0 || reread.is_some()) {
        spool.set_len(0).map_err(io_err("the spool"))?;
        spool
            .seek(SeekFrom::Start(0))
            .map_err(io_err("the spool"))?;
        let mut again = Out::new(&mut *spool);
        if let Some(reread) = reread.filter(|_| original_len > 0) {
            let source = reread().map_err(io_err("reading the input again"))?;
            let copied = io::copy(&mut source.take(original_len), &mut again)
                .map_err(io_err("storing the input"))?;
            if copied != original_len || again.crc() != original_crc {
                return Err(LmzError::Io("the input changed while it was read".into()));
            }
        }
        payload_crc = again.crc();
        stored_header(original_len, original_crc)
    } else {
        let chunk_size = chunk_size.map_or(original_len.max(1), |s| s as u64);
        Header {
            version: container::VERSION,
            codec: codec.into(),
            model: codecs::model_id(codec),
            original_len,
            chunk_size,
            chunk_lens,
            original_crc,
        }
    };
    finish(&header, payload_crc, spool, output)
}

/// `stored` asked for by name: the input copied through the spool.
fn store(
    mut tally: Tally<&mut dyn Read>,
    spool: &mut std::fs::File,
    output: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Made, LmzError> {
    let mut payload = Out::new(&mut *spool);
    io::copy(&mut tally, &mut payload).map_err(io_err("reading the input"))?;
    progress(tally.count);
    let header = stored_header(tally.count, tally.crc());
    let crc = payload.crc();
    finish(&header, crc, spool, output)
}

/// The header of `len` bytes kept as they are: one chunk of all of them (none when empty).
fn stored_header(len: u64, original_crc: u32) -> Header {
    Header {
        version: container::VERSION,
        codec: STORED.into(),
        model: None,
        original_len: len,
        chunk_size: len.max(1),
        chunk_lens: if len == 0 { vec![] } else { vec![len] },
        original_crc,
    }
}

/// Writes the header, then the spooled payloads.
fn finish(
    header: &Header,
    payload_crc: u32,
    spool: &mut std::fs::File,
    output: &mut dyn Write,
) -> Result<Made, LmzError> {
    let head = container::header_bytes(header, payload_crc);
    output
        .write_all(&head)
        .map_err(io_err("writing the output"))?;
    spool
        .seek(SeekFrom::Start(0))
        .map_err(io_err("the spool"))?;
    let total = header.payload_len();
    let copied =
        io::copy(&mut (&mut *spool).take(total), output).map_err(io_err("writing the output"))?;
    if copied != total {
        return Err(LmzError::Io("the spool file was cut short".into()));
    }
    output.flush().map_err(io_err("writing the output"))?;
    Ok(Made {
        codec: header.codec.clone(),
        original_len: header.original_len,
        packed_len: head.len() as u64 + total,
    })
}

/// Reads an `.lmz`'s header from the start of `input` (and nothing after it): the header, the
/// payloads' checksum, and the header's length.
pub fn read_header(input: &mut dyn Read) -> Result<(Header, u32, usize), LmzError> {
    let mut head = vec![0u8; container::FIXED_PREFIX_LEN];
    let got = read_full(input, &mut head).map_err(io_err("reading the input"))?;
    head.truncate(got);
    let len = container::header_len(&head)?;
    head.resize(len, 0);
    let got = read_full(input, &mut head[container::FIXED_PREFIX_LEN..])
        .map_err(io_err("reading the input"))?;
    head.truncate(container::FIXED_PREFIX_LEN + got);
    Ok(container::read_header(&head)?)
}

/// Reads an `.lmz` from `input` and writes the original bytes to `output` as they are decoded;
/// returns their length. Every check of [`lmz::decompress_limited`] applies, but the last ones
/// (the checksums of the payloads and of the output) can only fail after output was written:
/// the caller writes to a temporary file and keeps it only on success.
pub fn decompress(
    input: &mut dyn Read,
    output: &mut dyn Write,
    max_size: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, LmzError> {
    let (header, payload_crc, start) = read_header(input)?;
    lmz::check_header(&header, max_size)?;

    let mut payload = Tally::new(input);
    let mut out = Out::new(output);
    let decoded = decode_chunks(&header, &mut payload, &mut out, progress);
    // Damage the payloads' checksum sees is named as such, whatever a decoder made of it.
    let total = header.payload_len();
    if decoded.is_err() {
        let rest = total.saturating_sub(payload.count);
        let _ = io::copy(&mut (&mut payload).take(rest), &mut io::sink());
    }
    if payload.count < total {
        return Err(ContainerError::Truncated {
            what: "the compressed data",
            at: start as u64,
            needed: total,
            have: payload.count,
        }
        .into());
    }
    if payload.crc() != payload_crc {
        return Err(ContainerError::PayloadCorrupt {
            from: start as u64,
            to: start as u64 + total,
        }
        .into());
    }
    decoded?;
    let extra = io::copy(&mut payload, &mut io::sink()).map_err(io_err("reading the input"))?;
    if extra > 0 {
        return Err(ContainerError::TrailingData { extra }.into());
    }
    out.flush().map_err(io_err("writing the output"))?;
    if out.count != header.original_len || out.crc() != header.original_crc {
        return Err(LmzError::ChecksumMismatch);
    }
    Ok(out.count)
}

/// Decodes every chunk as its payload arrives.
fn decode_chunks(
    h: &Header,
    input: &mut Tally<&mut dyn Read>,
    out: &mut Out<&mut dyn Write>,
    progress: &mut dyn FnMut(u64),
) -> Result<(), LmzError> {
    let count = h.chunk_lens.len();
    let chunked = codecs::lm::find(&h.codec).is_some() || codecs::mix::find(&h.codec).is_some();
    if h.codec == STORED || !chunked {
        // At most one chunk, streamed through its decoder.
        let Some(&len) = h.chunk_lens.first() else {
            return Ok(());
        };
        let expected = h.chunk_original_len(0) as u64;
        let mut piece = (&mut *input).take(len);
        let made = if h.codec == STORED {
            codecs::copy_bounded(STORED, &mut piece, out, expected)
        } else {
            lmz::codec_for(&h.codec)?.decompress_stream(&mut piece, out, expected)
        }
        .map_err(|e| lmz::chunk_error_in(h, 0, e))?;
        out.check()?;
        // Bytes a decoder left unread still count towards the payloads' checksum.
        io::copy(&mut piece, &mut io::sink()).map_err(io_err("reading the input"))?;
        if made != expected {
            return Err(LmzError::ChunkLength {
                index: 0,
                expected: expected as usize,
                got: made as usize,
            });
        }
        progress(out.count);
        return Ok(());
    }
    let threads = crate::par::cores();
    let size = h.chunk_size as usize;
    let per_batch = if size >= lmz::MIX_CHUNK {
        MIX_CHUNKS_AT_ONCE
    } else {
        threads * lmz::LOCKSTEP
    };
    // A coded chunk longer than this is no chunk its codec wrote (a transformer's byte costs at
    // most 16 bits, a mix's bit at most 12): memory stays bounded by the chunk size.
    let most = 16 * h.chunk_size + 4096;
    let mut first = 0;
    while first < count {
        let ids: Vec<usize> = (first..(first + per_batch).min(count)).collect();
        let mut payloads = Vec::with_capacity(ids.len());
        for &i in &ids {
            let len = h.chunk_lens[i];
            if len > most {
                return Err(lmz::chunk_error_in(
                    h,
                    i,
                    CodecError::Decode {
                        codec: "lmz",
                        reason: format!(
                            "a coded length of {len} bytes for a chunk of {}",
                            h.chunk_size
                        ),
                    },
                ));
            }
            let mut p = Vec::with_capacity(len as usize);
            (&mut *input)
                .take(len)
                .read_to_end(&mut p)
                .map_err(io_err("reading the input"))?;
            if p.len() as u64 != len {
                // Cut short: the caller names it from the count.
                return Err(LmzError::Io("the compressed data ends early".into()));
            }
            payloads.push(p);
        }
        let pieces = decode_batch(h, &ids, &payloads, threads);
        for (piece, &i) in pieces.into_iter().zip(&ids) {
            let piece = piece.map_err(|e| lmz::chunk_error_in(h, i, e))?;
            let expected = h.chunk_original_len(i);
            if piece.len() != expected {
                return Err(LmzError::ChunkLength {
                    index: i,
                    expected,
                    got: piece.len(),
                });
            }
            out.write_all(&piece)
                .map_err(io_err("writing the output"))?;
        }
        progress(out.count);
        first += ids.len();
    }
    Ok(())
}

/// Decodes one batch of model or mix chunks on every core (model chunks in lockstep groups).
fn decode_batch(
    h: &Header,
    ids: &[usize],
    payloads: &[Vec<u8>],
    threads: usize,
) -> Vec<Result<Vec<u8>, CodecError>> {
    if let Some(model) = codecs::lm::find(&h.codec) {
        let work: Vec<(&[u8], usize)> = ids
            .iter()
            .zip(payloads)
            .map(|(&i, p)| (&p[..], h.chunk_original_len(i)))
            .collect();
        lmz::decode_lockstep(model, &work, h.version, threads)
    } else {
        let Some(codec) = codecs::by_name(&h.codec) else {
            return ids
                .iter()
                .map(|_| {
                    Err(CodecError::Decode {
                        codec: "lmz",
                        reason: format!("unknown codec {}", h.codec),
                    })
                })
                .collect();
        };
        crate::par::map(ids.len(), threads, |k| {
            codec.decompress(&payloads[k], h.chunk_original_len(ids[k]))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &[u8] = include_bytes!("../tests/data/sample.txt");

    fn spool() -> std::fs::File {
        let dir = std::env::temp_dir();
        let path = dir.join(format!(
            "lmzip-stream-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let _ = std::fs::remove_file(&path);
        f
    }

    /// Reads in pieces of at most 1,000 bytes, as a pipe would.
    struct Pipe<'a>(&'a [u8]);
    impl Read for Pipe<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(1000);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn packed(data: &[u8], codec: &str, rereadable: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut again =
            || -> io::Result<Box<dyn Read>> { Ok(Box::new(io::Cursor::new(data.to_vec()))) };
        let reread: Option<&mut dyn FnMut() -> io::Result<Box<dyn Read>>> =
            if rereadable { Some(&mut again) } else { None };
        compress(
            &mut Pipe(data),
            codec,
            &mut spool(),
            &mut out,
            reread,
            &mut |_| {},
        )
        .unwrap();
        out
    }

    fn unpacked(packed: &[u8]) -> Result<Vec<u8>, LmzError> {
        let mut out = Vec::new();
        decompress(
            &mut Pipe(packed),
            &mut out,
            lmz::DEFAULT_MAX_SIZE,
            &mut |_| {},
        )?;
        Ok(out)
    }

    #[test]
    fn streamed_files_are_lmz_files_both_ways() {
        let mut noise = vec![0u8; 20_000];
        let mut x = 7u32;
        for b in &mut noise {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *b = (x >> 24) as u8;
        }
        let long: Vec<u8> = TEXT.iter().cycle().take(40_000).copied().collect();
        for codec in ["gzip", "xz", "zstd", "brotli", "bzip2", "cm", STORED] {
            for data in [&b""[..], b"x", TEXT, &noise, &long] {
                let streamed = packed(data, codec, true);
                // Either reader takes the other's files.
                assert_eq!(lmz::decompress(&streamed).unwrap(), data, "{codec}");
                let whole = lmz::compress(data, codec).unwrap();
                assert_eq!(unpacked(&whole).unwrap(), data, "{codec}");
                assert_eq!(unpacked(&streamed).unwrap(), data, "{codec}");
                // The same bytes as the in-memory path (the page's).
                assert_eq!(streamed, whole, "{codec} on {} bytes", data.len());
            }
            // A pipe cannot be read twice: what coding expands stays coded, still exact.
            let piped = packed(&noise, codec, false);
            assert_eq!(unpacked(&piped).unwrap(), noise, "{codec}");
        }
    }

    #[test]
    fn a_model_codec_streams_in_lockstep_batches() {
        let codec = crate::codecs::lm::register(
            "test-stream",
            &crate::codecs::lm::tests::tiny_int_weights(21),
        )
        .unwrap();
        let name = codec.model_id().name.clone();
        let data = crate::codecs::lm::tests::likely_bytes(codec, 9000);
        let streamed = packed(&data, &name, true);
        assert_eq!(streamed, lmz::compress(&data, &name).unwrap());
        assert_eq!(unpacked(&streamed).unwrap(), data);
    }

    #[test]
    fn damage_is_named_as_the_in_memory_reader_names_it() {
        let whole = lmz::compress(TEXT, "bzip2").unwrap();
        let cut = &whole[..whole.len() - 100];
        assert!(matches!(
            unpacked(cut),
            Err(LmzError::Container(ContainerError::Truncated { .. }))
        ));
        let mut flipped = whole.clone();
        let at = whole.len() - 50;
        flipped[at] ^= 0x20;
        assert!(matches!(
            unpacked(&flipped),
            Err(LmzError::Container(ContainerError::PayloadCorrupt { .. }))
        ));
        let mut longer = whole.clone();
        longer.extend_from_slice(b"tail");
        assert_eq!(
            unpacked(&longer),
            Err(LmzError::Container(ContainerError::TrailingData {
                extra: 4
            }))
        );
        assert_eq!(
            unpacked(b""),
            Err(LmzError::Container(ContainerError::Empty))
        );
        assert!(matches!(
            unpacked(&whole[..12]),
            Err(LmzError::Container(ContainerError::Truncated { .. }))
        ));
    }
}
