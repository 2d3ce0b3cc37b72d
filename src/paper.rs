//! The paper's evaluation protocol: 2048-byte chunks (32×64-pixel patches for images) coded
//! independently, with the codec's fixed header counted once (PAPER.md §1.5).

use crate::codecs::{Codec, CodecError};
use crate::modality::Layout;

/// Bytes per chunk, as in the paper.
pub const CHUNK_SIZE: usize = 2048;
/// Width of an image patch: a 2048-byte chunk is 32 rows of 64 pixels.
pub const PATCH_WIDTH: u32 = 64;
/// Height of an image patch.
pub const PATCH_HEIGHT: u32 = 32;

/// One independently coded piece of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The chunk's bytes (an image patch's pixels row by row).
    pub bytes: Vec<u8>,
    /// The chunk's own shape (a patch is a small image).
    pub layout: Layout,
}

/// Splits a stream into the paper's chunks. Nothing is dropped: the last chunk (or the
/// patches at an image's right and bottom edges) may be smaller, so sizes cover every byte.
pub fn chunks(stream: &[u8], layout: &Layout) -> Vec<Chunk> {
    match *layout {
        Layout::Image { width, height }
            if width as usize * height as usize == stream.len() && width > 0 =>
        {
            let w = width as usize;
            let mut out = Vec::new();
            for y0 in (0..height).step_by(PATCH_HEIGHT as usize) {
                for x0 in (0..width).step_by(PATCH_WIDTH as usize) {
                    let pw = PATCH_WIDTH.min(width - x0);
                    let ph = PATCH_HEIGHT.min(height - y0);
                    let mut bytes = Vec::with_capacity((pw * ph) as usize);
                    for y in y0..y0 + ph {
                        let row = y as usize * w + x0 as usize;
                        bytes.extend_from_slice(&stream[row..row + pw as usize]);
                    }
                    out.push(Chunk {
                        bytes,
                        layout: Layout::Image {
                            width: pw,
                            height: ph,
                        },
                    });
                }
            }
            out
        }
        _ => stream
            .chunks(CHUNK_SIZE)
            .map(|c| Chunk {
                bytes: c.to_vec(),
                layout: match *layout {
                    Layout::Image { .. } => Layout::Bytes,
                    other => other,
                },
            })
            .collect(),
    }
}

/// The layout of a one-byte input of the same kind (what the paper compresses to measure a header).
pub fn one_byte_layout(layout: &Layout) -> Layout {
    match *layout {
        Layout::Image { .. } => Layout::Image {
            width: 1,
            height: 1,
        },
        other => other,
    }
}

/// The codec's fixed cost: the compressed size of a single zero byte (the paper's definition).
pub fn header_size(codec: &dyn Codec, layout: &Layout) -> Result<usize, CodecError> {
    Ok(codec.compress(&[0], &one_byte_layout(layout))?.len())
}

/// Total chunked size with the header counted once: Σ sizes − header × (chunks − 1).
pub fn header_once_total(sizes: &[usize], header: usize) -> usize {
    let total: usize = sizes.iter().sum();
    total.saturating_sub(header * sizes.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_chunks_cover_everything() {
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let c = chunks(&data, &Layout::Bytes);
        assert_eq!(c.len(), 3);
        assert_eq!(c[2].bytes.len(), 5000 - 4096);
        assert_eq!(c.concat_bytes(), data);
    }

    trait Concat {
        fn concat_bytes(&self) -> Vec<u8>;
    }
    impl Concat for Vec<Chunk> {
        fn concat_bytes(&self) -> Vec<u8> {
            self.iter().flat_map(|c| c.bytes.clone()).collect()
        }
    }

    #[test]
    fn image_patches_are_64_wide_32_high() {
        let (w, h) = (130u32, 70u32);
        let img: Vec<u8> = (0..w * h).map(|i| (i % 251) as u8).collect();
        let c = chunks(
            &img,
            &Layout::Image {
                width: w,
                height: h,
            },
        );
        assert_eq!(c.len(), 3 * 3);
        assert_eq!(
            c[0].layout,
            Layout::Image {
                width: 64,
                height: 32
            }
        );
        assert_eq!(c[0].bytes.len(), 2048);
        assert_eq!(&c[0].bytes[64..128], &img[130..194]);
        assert_eq!(
            c[8].layout,
            Layout::Image {
                width: 2,
                height: 6
            }
        );
        assert_eq!(c.iter().map(|p| p.bytes.len()).sum::<usize>(), img.len());
    }

    #[test]
    fn header_counted_once() {
        assert_eq!(header_once_total(&[30, 30, 30], 20), 50);
        assert_eq!(header_once_total(&[], 20), 0);
    }
}
