//! `.lmz` files end to end: a codec's chunks into the container, and back with every check.

use crate::codecs::lm::Windows;
use crate::codecs::{self, CodecError};
use crate::container::{self, ContainerError, Header, STORED};
use crate::modality::Layout;

/// The page's preselected codec for an `.lmz`: the smallest of [`FAST_CODECS`] on the dev
/// text, images and audio (whole files; brotli wins only below a few KiB of text) that also
/// codes at 20 KB/s in WebAssembly, where the mixes with a transformer run at about a third of
/// their native speed.
pub const DEFAULT_CODEC: &str = "cm";

/// The codecs [`choose_codec`] picks from, where this build has them: every one that codes at
/// least 20 KB/s each way on one core natively (`lmzip bench --threads 1`: `mix-200k` and
/// `mix-200k-multi` code 512 KiB of dev text, a dev image and a dev recording at 36–43 KB/s
/// encoding and 28–32 decoding; the larger models' mixes are below it, and a transformer alone
/// is never smaller than its mix).
pub const FAST_CODECS: [&str; 8] = [
    "mix-200k",
    "mix-200k-multi",
    "cm",
    "brotli",
    "xz",
    "zstd",
    "bzip2",
    "gzip",
];

/// The names of [`FAST_CODECS`] this build has (a mix needs its model installed).
pub fn fast_codecs() -> Vec<&'static str> {
    FAST_CODECS
        .into_iter()
        .filter(|name| codec_for(name).is_ok())
        .collect()
}

/// Bytes from the start of a file that [`choose_codec`] tries the codecs on.
pub const TRIAL: usize = 256 << 10;

/// The codec [`compress`] uses when none is named: the one of [`fast_codecs`] whose `.lmz` of
/// the file's first 256 KiB is smallest. Returns its name and, when that trial was the whole
/// file, the `.lmz` it made.
pub fn choose_codec(data: &[u8]) -> Result<(&'static str, Option<Vec<u8>>), LmzError> {
    let sample = &data[..data.len().min(TRIAL)];
    // The mixing codecs' tables take up to ~250 MB each on a trial: they run one after
    // another, the classical codecs beside them.
    let (mixing, classical): (Vec<&'static str>, Vec<&'static str>) = fast_codecs()
        .into_iter()
        .partition(|name| codecs::mix::find(name).is_some());
    let groups = [mixing, classical];
    let tried = crate::par::map(groups.len(), crate::par::cores(), |g| {
        groups[g]
            .iter()
            .map(|&name| (name, compress(sample, name)))
            .collect::<Vec<_>>()
    });
    let mut best: Option<(&'static str, Vec<u8>)> = None;
    for (name, packed) in tried.into_iter().flatten() {
        let packed = packed?;
        if best.as_ref().is_none_or(|(_, b)| packed.len() < b.len()) {
            best = Some((name, packed));
        }
    }
    let (name, packed) = best.ok_or_else(|| unknown("(none)"))?;
    Ok((name, (sample.len() == data.len()).then_some(packed)))
}

/// Largest original size [`decompress`] produces unless told otherwise: decoding in memory
/// holds the output, so a header declaring more is refused before any work (the CLI streams,
/// with its own `--max-size`).
pub const DEFAULT_MAX_SIZE: u64 = 2 << 30;

/// Everything that can go wrong making or reading an `.lmz`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LmzError {
    /// The container itself is damaged or not an `.lmz`.
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// The file names a codec this build does not have.
    #[error("unknown codec {name:?}: this build has {known}")]
    UnknownCodec {
        /// The codec named in the file.
        name: String,
        /// The codecs this build has.
        known: String,
    },
    /// The file needs a model this build does not have.
    #[error("this file needs model {name} (sha256 {sha256}), which is not available here")]
    WrongModel {
        /// The model's name.
        name: String,
        /// The model's SHA-256, hex.
        sha256: String,
    },
    /// A codec failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Reading the input or writing the output failed.
    #[error("{0}")]
    Io(String),
    /// A chunk's payload could not be decoded (its checksums matched: a hand-made file, or
    /// damage the CRC missed).
    #[error("chunk {index} (its payload at byte {at}) could not be decoded: {source}")]
    Chunk {
        /// The chunk.
        index: usize,
        /// Where its payload starts in the file.
        at: u64,
        /// What its codec said.
        source: CodecError,
    },
    /// A chunk decoded to the wrong length.
    #[error("chunk {index} decoded to {got} bytes instead of {expected}")]
    ChunkLength {
        /// The chunk.
        index: usize,
        /// Its declared length.
        expected: usize,
        /// What came out.
        got: usize,
    },
    /// The header declares more output than the caller allows.
    #[error("the file declares {declared} bytes of output, above the limit of {limit} bytes")]
    TooLarge {
        /// The declared original length.
        declared: u64,
        /// The caller's limit.
        limit: u64,
    },
    /// The header's chunk size is not the one its codec writes (a damaged or hand-made file).
    #[error("invalid chunking for {codec}: chunks of {found} bytes where it writes {expected}")]
    BadChunking {
        /// The codec named in the file.
        codec: String,
        /// The declared chunk size.
        found: u64,
        /// The chunk size the codec writes for this length.
        expected: u64,
    },
    /// A chunk asked for by index that the file (or the plan) does not have.
    #[error("there is no chunk {index}: there are {count}")]
    NoSuchChunk {
        /// The index asked for.
        index: usize,
        /// How many chunks there are.
        count: usize,
    },
    /// Coded chunks handed to `assemble` that are not the plan's.
    #[error("{got} coded chunks where the plan has {expected}")]
    ChunkCount {
        /// Chunks given.
        got: usize,
        /// Chunks planned.
        expected: usize,
    },
    /// The decoded data does not match the original's checksum: nothing is returned.
    #[error(
        "the decoded data does not match the original checksum; refusing to return wrong bytes"
    )]
    ChecksumMismatch,
}

impl LmzError {
    /// What a person can do about this error, in a sentence.
    pub fn advice(&self) -> &'static str {
        use ContainerError as C;
        match self {
            Self::Container(C::Empty | C::Truncated { .. }) => {
                "the file was cut short (an interrupted download or copy?): get the whole file again"
            }
            Self::Container(C::BadMagic) => {
                "this is not an .lmz file: `lmzip compress` makes one; other formats need their own tool"
            }
            Self::Container(C::UnsupportedVersion { .. }) => {
                "a newer lmzip made this file: decompress it with that version"
            }
            Self::WrongModel { .. } => {
                "decompress it where that exact model is installed (models/<name>/, or LMZIP_MODELS=<dir>)"
            }
            Self::UnknownCodec { .. } => {
                "decompress it with the lmzip build (and its models) that made it"
            }
            Self::Io(_) => "check the disk's free space and the files' permissions",
            Self::TooLarge { .. } => {
                "if you trust this file, raise the limit (lmzip decompress --max-size)"
            }
            Self::NoSuchChunk { .. } | Self::ChunkCount { .. } => {
                "the calling program asked for chunks that do not exist: a bug in that program"
            }
            _ => "the file is damaged and nothing was written: only an intact copy can be decompressed",
        }
    }
}

/// Codec names `compress` accepts: classical ones and the registered integer-engine models
/// (the float analysis path is not portable across machines, so it makes no files).
pub fn codec_names() -> Vec<&'static str> {
    let mut names = vec![STORED];
    names.extend(
        codecs::all()
            .into_iter()
            .filter(|&c| makes_files(c))
            .map(|c| c.name()),
    );
    names
}

/// Whether `compress` runs `codec`: one for any bytes, and portable (not the float path).
fn makes_files(codec: &dyn codecs::Codec) -> bool {
    codec.accepts(&Layout::Bytes) && !codec.name().ends_with(codecs::lm::FLOAT_SUFFIX)
}

/// Model windows per container chunk: big enough that per-chunk overhead (a length and a
/// coder flush, about 3 bytes) stays near 0.5 %, small enough to decode chunks in parallel.
const WINDOWS_PER_CHUNK: usize = 32;

/// Bytes per chunk of a mixing codec: its models learn the file as it goes, so chunks are
/// long (each starts cold), but a large file still codes on every core.
pub(crate) const MIX_CHUNK: usize = 16 << 20;

/// Most model chunks one thread decodes in lockstep (enough rows to share each weight row).
pub(crate) const LOCKSTEP: usize = 8;

fn unknown(name: &str) -> LmzError {
    LmzError::UnknownCodec {
        name: name.to_string(),
        known: codec_names().join(", "),
    }
}

/// The codec `compress` runs for `name` (one of [`codec_names`]; looked up alone, so that only
/// its model is loaded).
pub(crate) fn codec_for(name: &str) -> Result<&'static dyn codecs::Codec, LmzError> {
    if name == STORED {
        return Err(unknown(name));
    }
    codecs::by_name(name)
        .filter(|&c| makes_files(c))
        .ok_or_else(|| unknown(name))
}

/// How many chunks [`compress`] cuts `len` bytes into for `codec`, and their size: model
/// codecs code fixed windows independently (in parallel), classical codecs the whole file.
pub fn plan(len: usize, codec: &str) -> Result<(usize, usize), LmzError> {
    if codec != STORED {
        codec_for(codec)?;
    }
    let size = if let Some(m) = codecs::lm::find(codec) {
        m.window() * WINDOWS_PER_CHUNK
    } else if codecs::mix::find(codec).is_some() {
        MIX_CHUNK
    } else {
        len.max(1)
    };
    let count = if codec == STORED || len == 0 {
        0
    } else {
        len.div_ceil(size)
    };
    Ok((count, size))
}

/// Codes chunk `index` of `data` as [`plan`] cuts it.
pub fn compress_chunk(data: &[u8], codec: &str, index: usize) -> Result<Vec<u8>, LmzError> {
    let (count, size) = plan(data.len(), codec)?;
    if index >= count {
        return Err(LmzError::NoSuchChunk { index, count });
    }
    let piece = &data[index * size..((index + 1) * size).min(data.len())];
    Ok(codec_for(codec)?.compress(piece, &Layout::Bytes)?)
}

/// Wraps coded chunks into an `.lmz`, or stores `data` if coding did not make it smaller.
pub fn assemble(data: &[u8], codec: &str, chunks: Vec<Vec<u8>>) -> Result<Vec<u8>, LmzError> {
    let (count, chunk_size) = plan(data.len(), codec)?;
    if chunks.len() != count {
        return Err(LmzError::ChunkCount {
            got: chunks.len(),
            expected: count,
        });
    }
    let coded: usize = chunks.iter().map(Vec::len).sum();
    let stored = data.is_empty() || codec == STORED || coded >= data.len();
    let (name, chunks, chunk_size, model) = if stored {
        let chunks = if data.is_empty() {
            vec![]
        } else {
            vec![data.to_vec()]
        };
        (STORED, chunks, data.len().max(1), None)
    } else {
        let model = codecs::model_id(codec);
        (codec, chunks, chunk_size, model)
    };
    let header = Header {
        version: container::VERSION,
        codec: name.to_string(),
        model,
        original_len: data.len() as u64,
        chunk_size: chunk_size as u64,
        chunk_lens: chunks.iter().map(|c| c.len() as u64).collect(),
        original_crc: crc32fast::hash(data),
    };
    Ok(container::write(&header, &chunks))
}

/// Compresses `data` into an `.lmz` with `codec`, falling back to `stored` if coding expands it.
/// Chunks are coded on every core natively.
pub fn compress(data: &[u8], codec: &str) -> Result<Vec<u8>, LmzError> {
    let (count, _) = plan(data.len(), codec)?;
    let chunks = crate::par::map(count, crate::par::cores(), |i| {
        compress_chunk(data, codec, i)
    })
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    assemble(data, codec, chunks)
}

/// Reads and checks an `.lmz` before any decoding: the container's own checks, then that its
/// codec and model are here, that it declares at most `max_size` bytes, and that its chunks are
/// cut as its codec cuts them. Together these bound a decoder's memory and work by the file.
fn open(bytes: &[u8], max_size: u64) -> Result<container::Container<'_>, LmzError> {
    let c = container::read(bytes)?;
    check_header(&c.header, max_size)?;
    Ok(c)
}

/// [`open`]'s checks of a parsed header (for readers that stream the payloads).
pub(crate) fn check_header(h: &Header, max_size: u64) -> Result<(), LmzError> {
    if let Some(m) = &h.model {
        // The exact weights are needed: another model (or another version of it) would decode
        // different bytes, which the final checksum would catch, but say which model is needed.
        let have = codecs::model_id(&h.codec).as_ref() == Some(m);
        if !have {
            return Err(LmzError::WrongModel {
                name: m.name.clone(),
                sha256: m.sha256_hex(),
            });
        }
    }
    if h.codec != STORED {
        codec_for(&h.codec)?;
    }
    let too_large = LmzError::TooLarge {
        declared: h.original_len,
        limit: max_size,
    };
    if h.original_len > max_size {
        return Err(too_large);
    }
    let len = usize::try_from(h.original_len).map_err(|_| too_large)?;
    let expected = plan(len, &h.codec)?.1 as u64;
    if h.chunk_size != expected {
        return Err(LmzError::BadChunking {
            codec: h.codec.clone(),
            found: h.chunk_size,
            expected,
        });
    }
    Ok(())
}

/// Reads an `.lmz`'s header, checks it as [`decompress`] does (at most `max_size` bytes of
/// output), and returns its chunk count.
pub fn chunk_count(bytes: &[u8], max_size: u64) -> Result<usize, LmzError> {
    Ok(open(bytes, max_size)?.chunks.len())
}

/// Decodes chunk `index` of an `.lmz` (checked against its declared length).
pub fn decompress_chunk(bytes: &[u8], index: usize, max_size: u64) -> Result<Vec<u8>, LmzError> {
    Opened::new(bytes, max_size)?.decode_chunk(bytes, index)
}

/// An `.lmz` read and checked once: its header and where each chunk's payload lies, so that
/// chunks decode one at a time (on several workers) without reading the container again.
#[derive(Debug, Clone)]
pub struct Opened {
    header: Header,
    spans: Vec<std::ops::Range<usize>>,
}

impl Opened {
    /// Reads `bytes`' header and checks it as [`decompress`] does (at most `max_size` bytes of
    /// output).
    pub fn new(bytes: &[u8], max_size: u64) -> Result<Self, LmzError> {
        let c = open(bytes, max_size)?;
        // The payloads follow the header back to back, as container::read checked.
        let mut start = container::header_size(&c.header);
        let spans = c
            .chunks
            .iter()
            .map(|p| {
                let span = start..start + p.len();
                start = span.end;
                span
            })
            .collect();
        Ok(Self {
            header: c.header,
            spans,
        })
    }

    /// The file's chunk count.
    pub fn chunk_count(&self) -> usize {
        self.spans.len()
    }

    /// Decodes chunk `index` of `bytes`, the file this was opened from.
    pub fn decode_chunk(&self, bytes: &[u8], index: usize) -> Result<Vec<u8>, LmzError> {
        let payload = self
            .spans
            .get(index)
            .and_then(|r| bytes.get(r.clone()))
            .ok_or(LmzError::NoSuchChunk {
                index,
                count: self.spans.len(),
            })?;
        decode_chunk(&self.header, payload, index)
    }

    /// Joins the decoded chunks and checks them against the original's checksum.
    pub fn join(&self, pieces: Vec<Vec<u8>>) -> Result<Vec<u8>, LmzError> {
        join_checked(&self.header, self.spans.len(), pieces)
    }
}

fn decode_chunk(h: &Header, payload: &[u8], index: usize) -> Result<Vec<u8>, LmzError> {
    let expected = h.chunk_original_len(index);
    let piece = if h.codec == STORED {
        payload.to_vec()
    } else if let Some(model) = codecs::lm::find(&h.codec) {
        model
            .decompress_windows(payload, expected, Windows::of_container(h.version))
            .map_err(|e| chunk_error_in(h, index, e))?
    } else {
        codec_for(&h.codec)?
            .decompress(payload, expected)
            .map_err(|e| chunk_error_in(h, index, e))?
    };
    checked_len(h, index, piece)
}

/// A chunk's decode failure, located by the header alone.
pub(crate) fn chunk_error_in(h: &Header, index: usize, source: CodecError) -> LmzError {
    let before: u64 = h.chunk_lens[..index].iter().sum();
    LmzError::Chunk {
        index,
        at: container::header_size(h) as u64 + before,
        source,
    }
}

/// A decoded chunk, if it has the length the header declares for it.
fn checked_len(h: &Header, index: usize, piece: Vec<u8>) -> Result<Vec<u8>, LmzError> {
    let expected = h.chunk_original_len(index);
    if piece.len() != expected {
        return Err(LmzError::ChunkLength {
            index,
            expected,
            got: piece.len(),
        });
    }
    Ok(piece)
}

/// Joins decoded chunks and checks them against the original's checksum.
pub fn join(bytes: &[u8], pieces: Vec<Vec<u8>>) -> Result<Vec<u8>, LmzError> {
    let c = container::read(bytes)?;
    join_checked(&c.header, c.chunks.len(), pieces)
}

fn join_checked(h: &Header, chunks: usize, pieces: Vec<Vec<u8>>) -> Result<Vec<u8>, LmzError> {
    let out = pieces.concat();
    if pieces.len() != chunks
        || out.len() as u64 != h.original_len
        || crc32fast::hash(&out) != h.original_crc
    {
        return Err(LmzError::ChecksumMismatch);
    }
    Ok(out)
}

/// Model chunks (payload, original length) of a file of format `version`, decoded on
/// `threads` threads, each a group of up to [`LOCKSTEP`] chunks in lockstep; the results in
/// order.
pub(crate) fn decode_lockstep(
    model: &codecs::lm::LmCodec,
    work: &[(&[u8], usize)],
    version: u8,
    threads: usize,
) -> Vec<Result<Vec<u8>, CodecError>> {
    let per_group = work.len().div_ceil(threads).clamp(1, LOCKSTEP);
    let groups = work.len().div_ceil(per_group);
    let windows = Windows::of_container(version);
    crate::par::map(groups, threads, |g| {
        model.decompress_many(
            &work[g * per_group..((g + 1) * per_group).min(work.len())],
            windows,
        )
    })
    .into_iter()
    .flatten()
    .collect()
}

/// Reads an `.lmz` and returns the original bytes, or a typed error — never wrong bytes.
/// Declared sizes above [`DEFAULT_MAX_SIZE`] are refused; see [`decompress_limited`].
pub fn decompress(bytes: &[u8]) -> Result<Vec<u8>, LmzError> {
    decompress_limited(bytes, DEFAULT_MAX_SIZE)
}

/// [`decompress`] with a limit on the declared original size. Chunks are decoded on every
/// core natively.
pub fn decompress_limited(bytes: &[u8], max_size: u64) -> Result<Vec<u8>, LmzError> {
    let c = open(bytes, max_size)?;
    let count = c.chunks.len();
    let threads = crate::par::cores();
    let pieces = match codecs::lm::find(&c.header.codec) {
        // Model chunks: each thread decodes a few chunks in lockstep.
        Some(model) if count > 1 => {
            let work: Vec<(&[u8], usize)> = (0..count)
                .map(|i| (c.chunks[i], c.header.chunk_original_len(i)))
                .collect();
            decode_lockstep(model, &work, c.header.version, threads)
                .into_iter()
                .enumerate()
                .map(|(i, piece)| {
                    checked_len(
                        &c.header,
                        i,
                        piece.map_err(|e| chunk_error_in(&c.header, i, e))?,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        _ => crate::par::map(count, threads, |i| decode_chunk(&c.header, c.chunks[i], i))
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?,
    };
    join_checked(&c.header, count, pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::ModelId;

    const TEXT: &[u8] = include_bytes!("../tests/data/sample.txt");

    #[test]
    fn every_codec_roundtrips() {
        for name in codec_names().into_iter().filter(|n| !n.starts_with("lm-")) {
            for data in [&b""[..], b"x", TEXT] {
                let packed = compress(data, name).unwrap();
                assert_eq!(decompress(&packed).unwrap(), data, "{name}");
            }
        }
        assert!(compress(TEXT, "brotli").unwrap().len() < TEXT.len() / 2);
    }

    #[test]
    fn a_model_codec_roundtrips_and_its_model_is_required() {
        let codec =
            crate::codecs::lm::register("test-lmz", &crate::codecs::lm::tests::tiny_int_weights(7))
                .unwrap();
        let name = codec.model_id().name.clone();
        let data = &crate::codecs::lm::tests::likely_bytes(codec, 3000)[..];
        let packed = compress(data, &name).unwrap();
        let c = container::read(&packed).unwrap();
        assert_eq!(c.header.model.as_ref(), Some(codec.model_id()));
        assert_eq!(c.chunks.len(), 2);
        assert_eq!(decompress(&packed).unwrap(), data);
        // Another model under the same name (other weights) is refused, naming the one needed.
        crate::codecs::lm::register("test-lmz", &crate::codecs::lm::tests::tiny_int_weights(8))
            .unwrap();
        assert!(matches!(
            decompress(&packed),
            Err(LmzError::WrongModel { .. })
        ));
        // The float analysis path makes no files.
        let float =
            crate::codecs::lm::register("test-lmz", &crate::codecs::lm::tests::tiny_weights(7))
                .unwrap();
        assert!(matches!(
            compress(data, &float.model_id().name),
            Err(LmzError::UnknownCodec { .. })
        ));
    }

    #[test]
    fn a_version_1_file_still_decodes_its_cold_windows() {
        // Made by the build before windows slid: `lmzip compress -c lm-200k` on sample.txt
        // followed by its first 3,616 bytes (two chunks).
        let root = crate::repo_root();
        crate::fuzzing::register_models(&root).unwrap();
        let file = std::fs::read(root.join("tests/data/legacy-v1-lm-200k.lmz")).unwrap();
        let mut want = TEXT.to_vec();
        want.extend_from_slice(&TEXT[..3616]);
        let opened = Opened::new(&file, DEFAULT_MAX_SIZE).unwrap();
        assert_eq!((opened.header.version, opened.chunk_count()), (1, 2));
        assert_eq!(decompress(&file).unwrap(), want);
        let pieces = (0..2)
            .map(|i| opened.decode_chunk(&file, i).unwrap())
            .collect();
        assert_eq!(opened.join(pieces).unwrap(), want);
        // New files slide their windows, which codes this text smaller.
        let new = compress(&want, "lm-200k").unwrap();
        assert_eq!(
            container::read(&new).unwrap().header.version,
            container::VERSION
        );
        assert!(new.len() < file.len(), "{} vs {}", new.len(), file.len());
        assert_eq!(decompress(&new).unwrap(), want);
        // The same payloads labelled version 2 would decode other bytes: the checksum says so.
        let mut relabelled = file.clone();
        relabelled[4] = 2;
        let body_end = container::header_len(&relabelled).unwrap() - 4;
        let crc = crc32fast::hash(&relabelled[..body_end]).to_le_bytes();
        relabelled[body_end..body_end + 4].copy_from_slice(&crc);
        assert!(decompress(&relabelled).is_err());
    }

    #[test]
    fn chunk_by_chunk_equals_all_at_once() {
        let codec = crate::codecs::lm::register(
            "test-chunks",
            &crate::codecs::lm::tests::tiny_int_weights(9),
        )
        .unwrap();
        let name = codec.model_id().name.clone();
        let data = crate::codecs::lm::tests::likely_bytes(codec, 5000);
        let (count, size) = plan(data.len(), &name).unwrap();
        assert_eq!((count, size), (3, 2048));
        let chunks: Vec<Vec<u8>> = (0..count)
            .map(|i| compress_chunk(&data, &name, i).unwrap())
            .collect();
        let packed = assemble(&data, &name, chunks).unwrap();
        assert_eq!(packed, compress(&data, &name).unwrap());
        assert_eq!(chunk_count(&packed, DEFAULT_MAX_SIZE).unwrap(), 3);
        let pieces: Vec<Vec<u8>> = (0..3)
            .map(|i| decompress_chunk(&packed, i, DEFAULT_MAX_SIZE).unwrap())
            .collect();
        let mut damaged = pieces.clone();
        damaged[1][7] ^= 1;
        assert!(join(&packed, damaged).is_err());
        assert!(join(&packed, pieces[..2].to_vec()).is_err());
        assert_eq!(join(&packed, pieces.clone()).unwrap(), data);
        assert!(matches!(
            compress_chunk(&data, &name, 3),
            Err(LmzError::NoSuchChunk { index: 3, count: 3 })
        ));
        let two: Vec<Vec<u8>> = (0..2)
            .map(|i| compress_chunk(&data, &name, i).unwrap())
            .collect();
        assert!(matches!(
            assemble(&data, &name, two),
            Err(LmzError::ChunkCount {
                got: 2,
                expected: 3
            })
        ));

        // Opened once, the same chunks come out, and the same checks hold.
        let opened = Opened::new(&packed, DEFAULT_MAX_SIZE).unwrap();
        assert_eq!(opened.chunk_count(), 3);
        let again: Vec<Vec<u8>> = (0..3)
            .map(|i| opened.decode_chunk(&packed, i).unwrap())
            .collect();
        assert_eq!(again, pieces);
        assert!(matches!(
            opened.decode_chunk(&packed, 3),
            Err(LmzError::NoSuchChunk { index: 3, count: 3 })
        ));
        assert!(opened.join(again[1..].to_vec()).is_err());
        assert_eq!(opened.join(again).unwrap(), data);
        assert!(matches!(
            Opened::new(&packed, 100),
            Err(LmzError::TooLarge { .. })
        ));
    }

    #[test]
    fn hostile_headers_are_typed_errors() {
        use crate::codecs::lm::tests::tiny_int_weights;
        let codec = crate::codecs::lm::register("test-hostile", &tiny_int_weights(11)).unwrap();
        let name = codec.model_id().name.clone();
        let header = |original_len: u64, chunk_size: u64, chunks: &[Vec<u8>]| Header {
            version: container::VERSION,
            codec: name.clone(),
            model: Some(codec.model_id().clone()),
            original_len,
            chunk_size,
            chunk_lens: chunks.iter().map(|c| c.len() as u64).collect(),
            original_crc: 0,
        };
        // 2^40 bytes declared in one chunk, every checksum valid: refused before any work.
        let one = vec![vec![0x55u8; 1200]];
        let huge = container::write(&header(1 << 40, 1 << 40, &one), &one);
        assert!(matches!(
            decompress(&huge),
            Err(LmzError::TooLarge { declared, .. }) if declared == 1 << 40
        ));
        assert!(matches!(
            chunk_count(&huge, u64::MAX),
            Err(LmzError::BadChunking { .. })
        ));
        // The codec's own chunking, but payloads far too short for the declared length: each
        // chunk's decoder stops where its payload ends instead of stepping on through zeros.
        let size = plan(1, &name).unwrap().1;
        let chunks = vec![vec![0x42u8]; 300];
        let short = header(300 * size as u64, size as u64, &chunks);
        let bytes = container::write(&short, &chunks);
        match decompress_limited(&bytes, u64::MAX) {
            Err(
                e @ LmzError::Chunk {
                    source: CodecError::Decode { .. },
                    at,
                    ..
                },
            ) => {
                // The first failing chunk is named with its payload's place in the file.
                assert!(e.to_string().contains("ends after"), "{e}");
                let before = container::header_size(&short) as u64;
                assert!((before..before + 300).contains(&at), "{at}");
                assert!(e.advice().contains("damaged"));
            }
            other => panic!("{other:?}"),
        }
        // A classical codec declaring more than its stream holds, and a stored file that lies.
        let packed = codecs::by_name("gzip")
            .unwrap()
            .compress(TEXT, &Layout::Bytes)
            .unwrap();
        for (codec, payload) in [("gzip", packed), (STORED, TEXT.to_vec())] {
            let h = Header {
                version: container::VERSION,
                codec: codec.into(),
                model: None,
                original_len: 1 << 30,
                chunk_size: 1 << 30,
                chunk_lens: vec![payload.len() as u64],
                original_crc: 0,
            };
            let bytes = container::write(&h, &[payload]);
            assert!(matches!(
                decompress(&bytes),
                Err(LmzError::ChunkLength { .. })
            ));
            assert!(matches!(
                decompress_limited(&bytes, 1 << 20),
                Err(LmzError::TooLarge { .. })
            ));
        }
    }

    #[test]
    fn incompressible_data_is_stored() {
        let mut x = 1u64;
        let noise: Vec<u8> = (0..4000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let packed = compress(&noise, "gzip").unwrap();
        let c = container::read(&packed).unwrap();
        assert_eq!(c.header.codec, STORED);
        assert_eq!(decompress(&packed).unwrap(), noise);
    }

    #[test]
    fn unknown_codec_and_wrong_model_are_errors() {
        assert!(matches!(
            compress(TEXT, "nope"),
            Err(LmzError::UnknownCodec { .. })
        ));
        let header = Header {
            version: container::VERSION,
            codec: "lm-200k".into(),
            model: Some(ModelId {
                name: "lm-200k".into(),
                sha256: [0xAB; 32],
            }),
            original_len: 3,
            chunk_size: 2048,
            chunk_lens: vec![2],
            original_crc: crc32fast::hash(b"abc"),
        };
        let bytes = container::write(&header, &[vec![1, 2]]);
        match decompress(&bytes) {
            Err(LmzError::WrongModel { name, sha256 }) => {
                assert_eq!(name, "lm-200k");
                assert!(sha256.starts_with("abab"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_lying_checksum_gives_an_error_not_bytes() {
        let packed = compress(TEXT, "zstd").unwrap();
        let mut c = container::read(&packed).unwrap();
        c.header.original_crc ^= 1;
        let chunks: Vec<Vec<u8>> = c.chunks.iter().map(|s| s.to_vec()).collect();
        let bad = container::write(&c.header, &chunks);
        assert_eq!(decompress(&bad).unwrap_err(), LmzError::ChecksumMismatch);
    }
}
