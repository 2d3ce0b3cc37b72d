//! Classical codecs behind one trait, and the one registry the CLI and the page read.
//!
//! Each codec is a real library at its strongest standard setting and writes its standard
//! format (a test per codec decodes the output with the reference tool).

mod brotli;
mod bzip2;
mod flac;
mod gzip;
pub mod lm;
pub mod mix;
mod png;
mod xz;
mod zstd;

use crate::modality::Layout;

/// Why a codec failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The codec does not apply to data of this shape (e.g. PNG on text).
    #[error("{codec} does not apply to this kind of data")]
    NotApplicable {
        /// The codec.
        codec: &'static str,
    },
    /// The encoder failed.
    #[error("{codec} could not compress: {reason}")]
    Encode {
        /// The codec.
        codec: &'static str,
        /// The library's message.
        reason: String,
    },
    /// The compressed data is damaged or not in the codec's format.
    #[error("{codec} could not decompress: {reason}")]
    Decode {
        /// The codec.
        codec: &'static str,
        /// The library's message.
        reason: String,
    },
    /// Writing the decoded bytes failed (a full disk, a closed pipe).
    #[error("{codec} could not write its output: {reason}")]
    Output {
        /// The codec.
        codec: &'static str,
        /// The system's message.
        reason: String,
    },
    /// Decoding produced more bytes than the container says there are.
    #[error("{codec} produced more than the expected {limit} bytes")]
    TooLong {
        /// The codec.
        codec: &'static str,
        /// The expected length.
        limit: usize,
    },
}

/// A lossless compressor: bytes (with their shape) in, its standard format out, and back.
pub trait Codec: Sync {
    /// Short name used in the CLI, the JSON, the page and `.lmz` headers.
    fn name(&self) -> &'static str;
    /// The library and setting, for tables.
    fn setting(&self) -> &'static str;
    /// Whether the codec can code data of this shape.
    fn accepts(&self, layout: &Layout) -> bool {
        let _ = layout;
        true
    }
    /// Compresses `data`, which has shape `layout`.
    fn compress(&self, data: &[u8], layout: &Layout) -> Result<Vec<u8>, CodecError>;
    /// Compresses and, for model codecs, also returns the model's ideal code length in bits.
    fn compress_measured(
        &self,
        data: &[u8],
        layout: &Layout,
    ) -> Result<(Vec<u8>, Option<f64>), CodecError> {
        Ok((self.compress(data, layout)?, None))
    }
    /// Whether outputs carry a fixed header that the paper's protocol counts once (model codecs
    /// write none, and the paper counts their chunks in full).
    fn has_header(&self) -> bool {
        true
    }
    /// Decompresses, refusing to produce more than `max_len` bytes.
    fn decompress(&self, data: &[u8], max_len: usize) -> Result<Vec<u8>, CodecError>;
    /// Compresses all of `input` into `output` as one stream, the same format as
    /// [`Codec::compress`] on bytes; returns the bytes read. Codecs whose library streams
    /// override this; the default reads the whole input first.
    fn compress_stream(
        &self,
        input: &mut dyn std::io::Read,
        output: &mut dyn std::io::Write,
    ) -> Result<u64, CodecError> {
        let mut data = Vec::new();
        input
            .read_to_end(&mut data)
            .map_err(encode_err(self.name()))?;
        let packed = self.compress(&data, &Layout::Bytes)?;
        output.write_all(&packed).map_err(encode_err(self.name()))?;
        Ok(data.len() as u64)
    }
    /// Decompresses one stream from `input` into `output`, refusing more than `max_len` bytes;
    /// returns the bytes written. The default reads the whole input first.
    fn decompress_stream(
        &self,
        input: &mut dyn std::io::Read,
        output: &mut dyn std::io::Write,
        max_len: u64,
    ) -> Result<u64, CodecError> {
        let mut data = Vec::new();
        input
            .read_to_end(&mut data)
            .map_err(|e| CodecError::Decode {
                codec: self.name(),
                reason: e.to_string(),
            })?;
        let out = self.decompress(&data, usize::try_from(max_len).unwrap_or(usize::MAX))?;
        output.write_all(&out).map_err(|e| CodecError::Output {
            codec: self.name(),
            reason: e.to_string(),
        })?;
        Ok(out.len() as u64)
    }
}

/// Every classical codec, in the order tables show them.
pub fn classical() -> &'static [&'static dyn Codec] {
    static ALL: [&dyn Codec; 8] = [
        &gzip::Gzip,
        &xz::Xz,
        &zstd::Zstd,
        &brotli::Brotli,
        &bzip2::Bzip2,
        &png::Png { paper_shape: false },
        &png::Png { paper_shape: true },
        &flac::Flac,
    ];
    &ALL
}

/// Every codec: the classical ones, the registered models, then the mixing codecs.
pub fn all() -> Vec<&'static dyn Codec> {
    let mut v: Vec<&'static dyn Codec> = classical().to_vec();
    v.extend(
        lm::registered()
            .into_iter()
            .map(|c| c as &'static dyn Codec),
    );
    v.extend(
        mix::registered()
            .into_iter()
            .map(|c| c as &'static dyn Codec),
    );
    v
}

/// The identity an `.lmz` header records for a codec: its model (and a mix's prime), if any.
pub fn model_id(name: &str) -> Option<crate::container::ModelId> {
    match lm::find(name) {
        Some(m) => Some(m.model_id().clone()),
        None => mix::find(name).map(|m| m.model_id().clone()),
    }
}

/// The model a codec runs (`lm-<model>` itself, or the prior of `mix-<model>`), if any.
pub fn model_of(name: &str) -> Option<&'static lm::LmCodec> {
    lm::find(name).or_else(|| mix::find(name).and_then(|m| m.model()))
}

/// Looks a codec up by name (classical or a registered model).
pub fn by_name(name: &str) -> Option<&'static dyn Codec> {
    // Only the model this name needs is loaded (see [`lm::register_lazy`]).
    classical()
        .iter()
        .copied()
        .find(|c| c.name() == name)
        .or_else(|| lm::find(name).map(|c| c as &'static dyn Codec))
        .or_else(|| mix::find(name).map(|c| c as &'static dyn Codec))
}

/// Reads a whole decoder stream, failing once it passes `max_len` bytes.
pub(crate) fn read_bounded(
    codec: &'static str,
    mut reader: impl std::io::Read,
    max_len: usize,
) -> Result<Vec<u8>, CodecError> {
    use std::io::Read;
    let mut out = Vec::new();
    let limit = max_len as u64 + 1;
    (&mut reader)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| CodecError::Decode {
            codec,
            reason: e.to_string(),
        })?;
    if out.len() > max_len {
        return Err(CodecError::TooLong {
            codec,
            limit: max_len,
        });
    }
    Ok(out)
}

/// Copies a decoder's output into `output`, failing once it passes `max_len` bytes; returns
/// the bytes copied.
pub(crate) fn copy_bounded(
    codec: &'static str,
    mut reader: impl std::io::Read,
    output: &mut dyn std::io::Write,
    max_len: u64,
) -> Result<u64, CodecError> {
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(CodecError::Decode {
                    codec,
                    reason: e.to_string(),
                })
            }
        };
        total += n as u64;
        if total > max_len {
            return Err(CodecError::TooLong {
                codec,
                limit: usize::try_from(max_len).unwrap_or(usize::MAX),
            });
        }
        output
            .write_all(&buf[..n])
            .map_err(|e| CodecError::Output {
                codec,
                reason: e.to_string(),
            })?;
    }
}

/// Copies all of `input` into an encoder writing to `output`; returns the bytes read.
pub(crate) fn copy_in(
    codec: &'static str,
    input: &mut dyn std::io::Read,
    encoder: &mut impl std::io::Write,
) -> Result<u64, CodecError> {
    std::io::copy(input, encoder).map_err(encode_err(codec))
}

/// Each byte's cost in bits as `run` hands them over, for `len` bytes; `progress` gets the
/// fraction done every 1,024 bytes and at the end (where the bits go, for model codecs).
pub(crate) fn collect_costs(
    len: usize,
    progress: &mut dyn FnMut(f64),
    run: impl FnOnce(&mut dyn FnMut(f32)),
) -> Vec<f32> {
    let mut out = Vec::with_capacity(len);
    let n = len.max(1) as f64;
    run(&mut |bits| {
        out.push(bits);
        if out.len() % 1024 == 0 {
            progress(out.len() as f64 / n);
        }
    });
    progress(1.0);
    out
}

/// Maps an I/O error while encoding into [`CodecError::Encode`].
pub(crate) fn encode_err(codec: &'static str) -> impl Fn(std::io::Error) -> CodecError {
    move |e| CodecError::Encode {
        codec,
        reason: e.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Shared round-trip and reference-tool checks for every codec's tests.
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// Real text: the start of this crate's own design notes plus random bytes.
    pub fn samples() -> Vec<Vec<u8>> {
        let text = include_bytes!("../../tests/data/sample.txt").to_vec();
        let mut x = 99u32;
        let random: Vec<u8> = (0..5000)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect();
        vec![Vec::new(), vec![0], vec![b'a'; 3000], text, random]
    }

    /// Round-trips `data` through `codec` and returns the compressed bytes.
    pub fn roundtrip(codec: &dyn Codec, data: &[u8], layout: &Layout) -> Vec<u8> {
        let packed = codec.compress(data, layout).unwrap();
        let back = codec.decompress(&packed, data.len()).unwrap();
        assert_eq!(back, data, "{} round trip", codec.name());
        if !data.is_empty() {
            assert!(matches!(
                codec.decompress(&packed, data.len() - 1),
                Err(CodecError::TooLong { .. }) | Err(CodecError::Decode { .. })
            ));
        }
        packed
    }

    /// Runs a reference tool (`gzip -dc` …) on `packed` and returns its stdout; a missing tool
    /// fails the test.
    pub fn reference_decode(tool: &str, args: &[&str], packed: &[u8]) -> Vec<u8> {
        let child = Command::new(tool)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        // Every run checks against the reference tools (scripts/setup.sh --test installs them).
        let mut child = child.unwrap_or_else(|e| {
            panic!(
                "{tool} is needed to check this codec's output (bash scripts/setup.sh --test): {e}"
            )
        });
        let mut stdin = child.stdin.take().unwrap();
        let input = packed.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}
