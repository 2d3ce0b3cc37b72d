//! zstd at level 19 (`zstd -19`, the highest non-`--ultra` level), by the pure-Rust
//! `structured-zstd`. (`ruzstd` only implements its fastest level, ≈ zstd -1.)

use super::{copy_bounded, copy_in, encode_err, read_bounded, Codec, CodecError};
use crate::modality::Layout;
use std::io::Write;
use structured_zstd::decoding::StreamingDecoder;
use structured_zstd::encoding::{CompressionLevel, StreamingEncoder};

/// zstd -19.
pub struct Zstd;

/// Level 19 rather than the `--ultra` 20–22: those need windows of up to 128 MB, too much
/// memory for a browser tab, and are not the reference tool's default maximum.
const LEVEL: i32 = 19;

impl Codec for Zstd {
    fn name(&self) -> &'static str {
        "zstd"
    }
    fn setting(&self) -> &'static str {
        "structured-zstd, level 19"
    }
    fn compress(&self, data: &[u8], _: &Layout) -> Result<Vec<u8>, CodecError> {
        // The streaming encoder, as compress_stream uses: the CLI (which streams) and the page
        // (which does not) make the same bytes.
        let mut w = StreamingEncoder::new(Vec::new(), CompressionLevel::from_level(LEVEL));
        w.write_all(data).map_err(encode_err("zstd"))?;
        w.finish().map_err(encode_err("zstd"))
    }
    fn decompress(&self, data: &[u8], max_len: usize) -> Result<Vec<u8>, CodecError> {
        read_bounded("zstd", StreamingDecoder::new(data), max_len)
    }
    fn compress_stream(
        &self,
        input: &mut dyn std::io::Read,
        output: &mut dyn std::io::Write,
    ) -> Result<u64, CodecError> {
        let mut w = StreamingEncoder::new(output, CompressionLevel::from_level(LEVEL));
        let n = copy_in("zstd", input, &mut w)?;
        w.finish().map_err(encode_err("zstd"))?;
        Ok(n)
    }
    fn decompress_stream(
        &self,
        input: &mut dyn std::io::Read,
        output: &mut dyn std::io::Write,
        max_len: u64,
    ) -> Result<u64, CodecError> {
        copy_bounded("zstd", StreamingDecoder::new(input), output, max_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::testing::*;

    #[test]
    fn roundtrips_and_zstd_reads_it() {
        for data in samples() {
            let packed = roundtrip(&Zstd, &data, &Layout::Bytes);
            assert_eq!(reference_decode("zstd", &["-dc"], &packed), data);
        }
    }
}
