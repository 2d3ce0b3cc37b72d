//! brotli at quality 11 with a 16 MiB window (`brotli -q 11`), by the pure-Rust `brotli` crate.

use super::{copy_bounded, copy_in, encode_err, read_bounded, Codec, CodecError};
use crate::modality::Layout;
use std::io::Write;

/// brotli -q 11.
pub struct Brotli;

const QUALITY: u32 = 11;
/// The reference tool sizes its window to the input, up to 2^24; 24 is what it uses on
/// large files and costs nothing on small ones.
const LGWIN: u32 = 24;

impl Codec for Brotli {
    fn name(&self) -> &'static str {
        "brotli"
    }
    fn setting(&self) -> &'static str {
        "brotli crate, quality 11, lgwin 24"
    }
    fn compress(&self, data: &[u8], _: &Layout) -> Result<Vec<u8>, CodecError> {
        let mut w = brotli::CompressorWriter::new(Vec::new(), 1 << 16, QUALITY, LGWIN);
        w.write_all(data).map_err(encode_err("brotli"))?;
        // into_inner finishes the stream; a flush() first would add an empty meta-block.
        Ok(w.into_inner())
    }
    fn decompress(&self, data: &[u8], max_len: usize) -> Result<Vec<u8>, CodecError> {
        read_bounded("brotli", brotli::Decompressor::new(data, 1 << 16), max_len)
    }
    fn compress_stream(
        &self,
        input: &mut dyn std::io::Read,
        output: &mut dyn std::io::Write,
    ) -> Result<u64, CodecError> {
        let mut w = brotli::CompressorWriter::new(output, 1 << 16, QUALITY, LGWIN);
        let n = copy_in("brotli", input, &mut w)?;
        // As in compress: into_inner finishes the stream (the caller's writer sees any error).
        w.into_inner();
        Ok(n)
    }
    fn decompress_stream(
        &self,
        input: &mut dyn std::io::Read,
        output: &mut dyn std::io::Write,
        max_len: u64,
    ) -> Result<u64, CodecError> {
        copy_bounded(
            "brotli",
            brotli::Decompressor::new(input, 1 << 16),
            output,
            max_len,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::testing::*;

    #[test]
    fn roundtrips_and_brotli_reads_it() {
        for data in samples() {
            let packed = roundtrip(&Brotli, &data, &Layout::Bytes);
            assert_eq!(reference_decode("brotli", &["-dc"], &packed), data);
        }
    }
}
