//! `.lmz` files end to end: a codec's chunks into the container, and back with every check.

use crate::codecs::{self, CodecError};
use crate::container::{self, ContainerError, Header, STORED};
use crate::modality::Layout;

/// The codec `compress` uses when none is named (the strongest classical one on small files,
/// until a model codec exists).
pub const DEFAULT_CODEC: &str = "brotli";

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
    /// The decoded data does not match the original's checksum: nothing is returned.
    #[error(
        "the decoded data does not match the original checksum; refusing to return wrong bytes"
    )]
    ChecksumMismatch,
}

/// Codec names `compress` accepts (classical ones and registered models).
pub fn codec_names() -> Vec<&'static str> {
    let mut names = vec![STORED];
    names.extend(
        codecs::all()
            .into_iter()
            .filter(|c| c.accepts(&Layout::Bytes))
            .map(|c| c.name()),
    );
    names
}

/// Model windows per container chunk: big enough that per-chunk overhead (a length and a
/// coder flush, about 3 bytes) stays near 0.5 %, small enough to decode chunks in parallel.
const WINDOWS_PER_CHUNK: usize = 32;

fn unknown(name: &str) -> LmzError {
    LmzError::UnknownCodec {
        name: name.to_string(),
        known: codec_names().join(", "),
    }
}

/// Compresses `data` into an `.lmz` with `codec`, falling back to `stored` if coding expands it.
pub fn compress(data: &[u8], codec: &str) -> Result<Vec<u8>, LmzError> {
    let lm = codecs::lm::registered()
        .into_iter()
        .find(|c| c.model_id().name == codec);
    let chunk_size = match lm {
        Some(m) => m.window() * WINDOWS_PER_CHUNK,
        None => data.len().max(1),
    };
    let chunks: Vec<Vec<u8>> = if codec == STORED || data.is_empty() {
        vec![]
    } else {
        let c = codecs::by_name(codec)
            .filter(|c| c.accepts(&Layout::Bytes))
            .ok_or_else(|| unknown(codec))?;
        data.chunks(chunk_size)
            .map(|piece| c.compress(piece, &Layout::Bytes))
            .collect::<Result<_, _>>()?
    };
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
        (codec, chunks, chunk_size, lm.map(|m| m.model_id().clone()))
    };
    let header = Header {
        codec: name.to_string(),
        model,
        original_len: data.len() as u64,
        chunk_size: chunk_size as u64,
        chunk_lens: chunks.iter().map(|c| c.len() as u64).collect(),
        original_crc: crc32fast::hash(data),
    };
    Ok(container::write(&header, &chunks))
}

/// Reads an `.lmz` and returns the original bytes, or a typed error — never wrong bytes.
pub fn decompress(bytes: &[u8]) -> Result<Vec<u8>, LmzError> {
    let c = container::read(bytes)?;
    let h = &c.header;
    if let Some(m) = &h.model {
        // The exact weights are needed: another model (or another version of it) would decode
        // different bytes, which the final checksum would catch, but say which model is needed.
        let have = codecs::lm::registered()
            .into_iter()
            .any(|c| c.model_id() == m && c.model_id().name == h.codec);
        if !have {
            return Err(LmzError::WrongModel {
                name: m.name.clone(),
                sha256: m.sha256_hex(),
            });
        }
    }
    let codec = if h.codec == STORED {
        None
    } else {
        Some(
            codecs::by_name(&h.codec)
                .filter(|c| c.accepts(&Layout::Bytes))
                .ok_or_else(|| unknown(&h.codec))?,
        )
    };
    let mut out = Vec::new();
    for (i, payload) in c.chunks.iter().enumerate() {
        let expected = h.chunk_original_len(i);
        let piece = match codec {
            None => payload.to_vec(),
            Some(codec) => codec.decompress(payload, expected)?,
        };
        if piece.len() != expected {
            return Err(LmzError::ChunkLength {
                index: i,
                expected,
                got: piece.len(),
            });
        }
        out.extend_from_slice(&piece);
    }
    if crc32fast::hash(&out) != h.original_crc {
        return Err(LmzError::ChecksumMismatch);
    }
    Ok(out)
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
            crate::codecs::lm::register("test-lmz", &crate::codecs::lm::tests::tiny_weights(7))
                .unwrap();
        let name = codec.model_id().name.clone();
        let data = &crate::codecs::lm::tests::likely_bytes(codec, 3000)[..];
        let packed = compress(data, &name).unwrap();
        let c = container::read(&packed).unwrap();
        assert_eq!(c.header.model.as_ref(), Some(codec.model_id()));
        assert_eq!(c.chunks.len(), 2);
        assert_eq!(decompress(&packed).unwrap(), data);
        // Another model under the same name (other weights) is refused, naming the one needed.
        crate::codecs::lm::register("test-lmz", &crate::codecs::lm::tests::tiny_weights(8))
            .unwrap();
        assert!(matches!(
            decompress(&packed),
            Err(LmzError::WrongModel { .. })
        ));
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
