//! gzip (RFC 1952) at level 9, by `flate2` on the pure-Rust `miniz_oxide` backend.

use super::{copy_bounded, copy_in, encode_err, read_bounded, Codec, CodecError};
use crate::modality::Layout;
use std::io::Write;

/// gzip -9.
pub struct Gzip;

impl Codec for Gzip {
    fn name(&self) -> &'static str {
        "gzip"
    }
    fn setting(&self) -> &'static str {
        "flate2 (miniz_oxide), level 9"
    }
    fn compress(&self, data: &[u8], _: &Layout) -> Result<Vec<u8>, CodecError> {
        // GzBuilder writes no name and mtime 0, so equal input gives equal output.
        let mut enc = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::new(9));
        enc.write_all(data).map_err(encode_err("gzip"))?;
        enc.finish().map_err(encode_err("gzip"))
    }
    fn decompress(&self, data: &[u8], max_len: usize) -> Result<Vec<u8>, CodecError> {
        read_bounded("gzip", flate2::read::GzDecoder::new(data), max_len)
    }
    fn compress_stream(
        &self,
        input: &mut dyn std::io::Read,
        output: &mut dyn std::io::Write,
    ) -> Result<u64, CodecError> {
        let mut enc = flate2::GzBuilder::new().write(output, flate2::Compression::new(9));
        let n = copy_in("gzip", input, &mut enc)?;
        enc.finish().map_err(encode_err("gzip"))?;
        Ok(n)
    }
    fn decompress_stream(
        &self,
        input: &mut dyn std::io::Read,
        output: &mut dyn std::io::Write,
        max_len: u64,
    ) -> Result<u64, CodecError> {
        copy_bounded("gzip", flate2::read::GzDecoder::new(input), output, max_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::testing::*;

    #[test]
    fn roundtrips_and_gzip_reads_it() {
        for data in samples() {
            let packed = roundtrip(&Gzip, &data, &Layout::Bytes);
            assert_eq!(reference_decode("gzip", &["-dc"], &packed), data);
        }
    }
}
