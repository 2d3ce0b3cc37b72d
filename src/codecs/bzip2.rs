//! bzip2 at -9 (900 k blocks), by the `bzip2` crate on the pure-Rust `libbz2-rs-sys` backend.

use super::{copy_bounded, copy_in, encode_err, read_bounded, Codec, CodecError};
use crate::modality::Layout;
use std::io::Write;

/// bzip2 -9.
pub struct Bzip2;

impl Codec for Bzip2 {
    fn name(&self) -> &'static str {
        "bzip2"
    }
    fn setting(&self) -> &'static str {
        "bzip2 (libbz2-rs-sys), -9"
    }
    fn compress(&self, data: &[u8], _: &Layout) -> Result<Vec<u8>, CodecError> {
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
        enc.write_all(data).map_err(encode_err("bzip2"))?;
        enc.finish().map_err(encode_err("bzip2"))
    }
    fn decompress(&self, data: &[u8], max_len: usize) -> Result<Vec<u8>, CodecError> {
        read_bounded("bzip2", bzip2::read::BzDecoder::new(data), max_len)
    }
    fn compress_stream(
        &self,
        input: &mut dyn std::io::Read,
        output: &mut dyn std::io::Write,
    ) -> Result<u64, CodecError> {
        let mut enc = bzip2::write::BzEncoder::new(output, bzip2::Compression::best());
        let n = copy_in("bzip2", input, &mut enc)?;
        enc.finish().map_err(encode_err("bzip2"))?;
        Ok(n)
    }
    fn decompress_stream(
        &self,
        input: &mut dyn std::io::Read,
        output: &mut dyn std::io::Write,
        max_len: u64,
    ) -> Result<u64, CodecError> {
        copy_bounded("bzip2", bzip2::read::BzDecoder::new(input), output, max_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::testing::*;

    #[test]
    fn roundtrips_and_bzip2_reads_it() {
        for data in samples() {
            let packed = roundtrip(&Bzip2, &data, &Layout::Bytes);
            assert_eq!(reference_decode("bzip2", &["-dc"], &packed), data);
        }
    }
}
