//! PNG, 8-bit grayscale, deflate level 9 with adaptive per-row filters, by the `png` crate.
//!
//! A 2048-byte patch is coded as the 64-wide × 32-high image it is. The paper's code wrote
//! patches 32 wide × 64 high, which costs PNG several points; `png-paper` reproduces that.

use super::{Codec, CodecError};
use crate::modality::Layout;

/// PNG of a grayscale image; with `paper_shape` the width and height are swapped.
pub struct Png {
    /// Swap width and height like the paper's code (`png-paper`).
    pub paper_shape: bool,
}

fn enc_err(e: impl std::fmt::Display) -> CodecError {
    CodecError::Encode {
        codec: "png",
        reason: e.to_string(),
    }
}

fn dec_err(e: impl std::fmt::Display) -> CodecError {
    CodecError::Decode {
        codec: "png",
        reason: e.to_string(),
    }
}

impl Codec for Png {
    fn name(&self) -> &'static str {
        if self.paper_shape {
            "png-paper"
        } else {
            "png"
        }
    }
    fn setting(&self) -> &'static str {
        if self.paper_shape {
            "png crate, level 9, adaptive, patches 32 wide (paper's quirk)"
        } else {
            "png crate, level 9, adaptive filters"
        }
    }
    fn accepts(&self, layout: &Layout) -> bool {
        matches!(layout, Layout::Image { .. })
    }
    fn compress(&self, data: &[u8], layout: &Layout) -> Result<Vec<u8>, CodecError> {
        let Layout::Image { width, height } = *layout else {
            return Err(CodecError::NotApplicable { codec: self.name() });
        };
        let (w, h) = if self.paper_shape {
            (height, width)
        } else {
            (width, height)
        };
        if w as usize * h as usize != data.len() || w == 0 || h == 0 {
            return Err(enc_err(format!(
                "{w}×{h} does not match {} pixels",
                data.len()
            )));
        }
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_deflate_compression(png::DeflateCompression::Level(9));
            enc.set_filter(png::Filter::Adaptive);
            let mut writer = enc.write_header().map_err(enc_err)?;
            writer.write_image_data(data).map_err(enc_err)?;
            writer.finish().map_err(enc_err)?;
        }
        Ok(out)
    }
    fn decompress(&self, data: &[u8], max_len: usize) -> Result<Vec<u8>, CodecError> {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(data));
        // Room for the pixels plus the decoder's own buffers, and no more.
        decoder.set_limits(png::Limits {
            bytes: max_len.saturating_add(1 << 20),
        });
        let mut reader = decoder.read_info().map_err(dec_err)?;
        let info = reader.info();
        if info.color_type != png::ColorType::Grayscale || info.bit_depth != png::BitDepth::Eight {
            return Err(dec_err("not an 8-bit grayscale PNG"));
        }
        let pixels = info.width as usize * info.height as usize;
        if pixels > max_len {
            return Err(CodecError::TooLong {
                codec: "png",
                limit: max_len,
            });
        }
        let mut buf = vec![
            0;
            reader
                .output_buffer_size()
                .ok_or_else(|| dec_err("image too large"))?
        ];
        let frame = reader.next_frame(&mut buf).map_err(dec_err)?;
        buf.truncate(frame.buffer_size());
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::testing::*;

    #[test]
    fn roundtrips_real_patches_and_libpng_reads_them() {
        let img = image::load_from_memory(include_bytes!("../../tests/data/sample.png"))
            .unwrap()
            .to_luma8();
        let (w, h) = img.dimensions();
        let pixels = img.into_raw();
        for paper_shape in [false, true] {
            let codec = Png { paper_shape };
            let whole = roundtrip(
                &codec,
                &pixels,
                &Layout::Image {
                    width: w,
                    height: h,
                },
            );
            // An independent decoder (ImageMagick's, on libpng) reads the same pixels.
            let decoded = reference_decode("convert", &["png:-", "-depth", "8", "gray:-"], &whole);
            assert_eq!(decoded, pixels);
            for chunk in crate::paper::chunks(
                &pixels,
                &Layout::Image {
                    width: w,
                    height: h,
                },
            ) {
                roundtrip(&codec, &chunk.bytes, &chunk.layout);
            }
        }
    }

    #[test]
    fn refuses_text() {
        let codec = Png { paper_shape: false };
        assert!(!codec.accepts(&Layout::Bytes));
        assert!(codec.compress(b"abc", &Layout::Bytes).is_err());
    }
}
