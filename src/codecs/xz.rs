//! xz at preset 6 with a CRC64 check (what `xz -6` writes), by the pure-Rust `lzma-rust2`.

use super::{copy_bounded, copy_in, encode_err, read_bounded, Codec, CodecError};
use crate::modality::Layout;
use lzma_rust2::{XzOptions, XzReader, XzWriter};
use std::io::Write;

/// xz -6.
pub struct Xz;

impl Codec for Xz {
    fn name(&self) -> &'static str {
        "xz"
    }
    fn setting(&self) -> &'static str {
        "lzma-rust2, preset 6, CRC64"
    }
    fn compress(&self, data: &[u8], _: &Layout) -> Result<Vec<u8>, CodecError> {
        let options = XzOptions::with_preset(6);
        let mut w = XzWriter::new(Vec::new(), options).map_err(encode_err("xz"))?;
        w.write_all(data).map_err(encode_err("xz"))?;
        w.finish().map_err(encode_err("xz"))
    }
    fn decompress(&self, data: &[u8], max_len: usize) -> Result<Vec<u8>, CodecError> {
        read_bounded("xz", XzReader::new(data, false), max_len)
    }
    fn compress_stream(
        &self,
        input: &mut dyn std::io::Read,
        output: &mut dyn std::io::Write,
    ) -> Result<u64, CodecError> {
        let mut w = XzWriter::new(output, XzOptions::with_preset(6)).map_err(encode_err("xz"))?;
        let n = copy_in("xz", input, &mut w)?;
        w.finish().map_err(encode_err("xz"))?;
        Ok(n)
    }
    fn decompress_stream(
        &self,
        input: &mut dyn std::io::Read,
        output: &mut dyn std::io::Write,
        max_len: u64,
    ) -> Result<u64, CodecError> {
        copy_bounded("xz", XzReader::new(input, false), output, max_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::testing::*;

    #[test]
    fn roundtrips_and_xz_reads_it() {
        for data in samples() {
            let packed = roundtrip(&Xz, &data, &Layout::Bytes);
            assert_eq!(reference_decode("xz", &["-dc"], &packed), data);
        }
    }
}
