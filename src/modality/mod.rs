//! Modality adapters: an uploaded file's bytes → the byte stream the codecs see.
//!
//! Text (and anything unrecognised) is coded as is; images become 8-bit grayscale pixels
//! (`floor((R+G+B)/3)`, the paper's mapping); audio becomes mono 8-bit PCM
//! (`((s >> 8) + 128) & 0xFF` of 16-bit samples, also the paper's).

mod audio;
mod image;

use serde::Serialize;

/// Files larger than this are refused with [`ModalityError::TooLarge`] (the page stays responsive).
pub const MAX_INPUT_BYTES: usize = 100 << 20;

/// What kind of data a stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    /// Text or any other bytes, coded as they are.
    Text,
    /// 8-bit grayscale pixels, row-major.
    Image,
    /// 8-bit unsigned mono PCM samples.
    Audio,
}

impl Modality {
    /// The lowercase name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::Text => "text",
            Modality::Image => "image",
            Modality::Audio => "audio",
        }
    }
}

/// The shape of a byte stream, which shape-aware codecs (PNG, FLAC) need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Layout {
    /// Plain bytes.
    Bytes,
    /// A row-major grayscale image.
    Image {
        /// Pixels per row.
        width: u32,
        /// Rows.
        height: u32,
    },
    /// Mono 8-bit PCM.
    Audio {
        /// Samples per second.
        sample_rate: u32,
    },
}

/// A file turned into the byte stream that every codec compresses.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// What the stream holds.
    pub modality: Modality,
    /// The bytes the codecs see.
    pub stream: Vec<u8>,
    /// The stream's shape.
    pub layout: Layout,
    /// Size of the file as given, before decoding.
    pub input_bytes: usize,
}

/// Why a file could not be turned into a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModalityError {
    /// The file is empty.
    #[error("the file is empty")]
    Empty,
    /// The file is above [`MAX_INPUT_BYTES`].
    #[error("the file is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// The file's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The file claims to be an image (by name or signature) but does not decode as one.
    #[error("{name} is not a readable image: {reason}")]
    NotAnImage {
        /// The file name.
        name: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// The file claims to be audio but does not decode as such.
    #[error("{name} is not readable audio: {reason}")]
    NotAudio {
        /// The file name.
        name: String,
        /// The decoder's complaint.
        reason: String,
    },
}

const IMAGE_EXTS: &[&str] = &["png", "jpg", "jpeg", "gif", "bmp", "webp"];
const AUDIO_EXTS: &[&str] = &["wav", "wave", "flac", "mp3", "ogg", "oga"];

fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

fn looks_like_image(b: &[u8]) -> bool {
    b.starts_with(b"\x89PNG\r\n\x1a\n")
        || b.starts_with(&[0xFF, 0xD8, 0xFF])
        || b.starts_with(b"GIF87a")
        || b.starts_with(b"GIF89a")
        || (b.starts_with(b"BM") && b.len() > 26 && b[6..10] == [0, 0, 0, 0])
        || (b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP"))
}

fn looks_like_audio(b: &[u8]) -> bool {
    (b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WAVE"))
        || b.starts_with(b"fLaC")
        || b.starts_with(b"OggS")
        || b.starts_with(b"ID3")
        || (b.len() > 2 && b[0] == 0xFF && b[1] & 0xE0 == 0xE0)
}

/// Detects a file's modality from its signature and name, and decodes it into a stream.
///
/// A file whose name or signature says image (or audio) must decode as one: a broken
/// `photo.png` is an error, not silently coded as bytes.
pub fn prepare(bytes: &[u8], name: &str) -> Result<Prepared, ModalityError> {
    if bytes.is_empty() {
        return Err(ModalityError::Empty);
    }
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(ModalityError::TooLarge {
            size: bytes.len(),
            limit: MAX_INPUT_BYTES,
        });
    }
    let ext = extension(name);
    let claims_image = IMAGE_EXTS.contains(&ext.as_str());
    let claims_audio = AUDIO_EXTS.contains(&ext.as_str());
    if claims_image || looks_like_image(bytes) {
        match image::to_gray(bytes) {
            Ok((stream, width, height)) => {
                return Ok(Prepared {
                    modality: Modality::Image,
                    stream,
                    layout: Layout::Image { width, height },
                    input_bytes: bytes.len(),
                })
            }
            Err(reason) if claims_image || looks_like_image(bytes) => {
                return Err(ModalityError::NotAnImage {
                    name: name.to_string(),
                    reason,
                })
            }
            Err(_) => {}
        }
    }
    if claims_audio || looks_like_audio(bytes) {
        match audio::to_pcm8(bytes) {
            Ok((stream, sample_rate)) => {
                return Ok(Prepared {
                    modality: Modality::Audio,
                    stream,
                    layout: Layout::Audio { sample_rate },
                    input_bytes: bytes.len(),
                })
            }
            Err(reason) if claims_audio || looks_like_audio(bytes) => {
                return Err(ModalityError::NotAudio {
                    name: name.to_string(),
                    reason,
                })
            }
            Err(_) => {}
        }
    }
    Ok(Prepared {
        modality: Modality::Text,
        stream: bytes.to_vec(),
        layout: Layout::Bytes,
        input_bytes: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_kept_as_is() {
        let p = prepare(b"hello world", "a.txt").unwrap();
        assert_eq!(p.modality, Modality::Text);
        assert_eq!(p.stream, b"hello world");
        assert_eq!(p.layout, Layout::Bytes);
    }

    #[test]
    fn empty_and_fake_files_are_errors() {
        assert_eq!(prepare(b"", "a.txt").unwrap_err(), ModalityError::Empty);
        assert!(matches!(
            prepare(b"this is not a picture", "cat.png").unwrap_err(),
            ModalityError::NotAnImage { .. }
        ));
        assert!(matches!(
            prepare(b"\x89PNG\r\n\x1a\ntruncated", "cat.png").unwrap_err(),
            ModalityError::NotAnImage { .. }
        ));
        assert!(matches!(
            prepare(b"RIFF\0\0\0\0WAVEjunk", "song.wav").unwrap_err(),
            ModalityError::NotAudio { .. }
        ));
        // Bytes that merely start like a BMP but are named as text stay text.
        assert_eq!(
            prepare(b"BMW is a car maker", "notes.txt")
                .unwrap()
                .modality,
            Modality::Text
        );
    }

    #[test]
    fn real_images_and_audio() {
        let png = prepare(include_bytes!("../../tests/data/sample.png"), "s.png").unwrap();
        let jpg = prepare(include_bytes!("../../tests/data/sample.jpg"), "s.jpg").unwrap();
        for p in [&png, &jpg] {
            assert_eq!(p.modality, Modality::Image);
            assert_eq!(
                p.layout,
                Layout::Image {
                    width: 160,
                    height: 96
                }
            );
            assert_eq!(p.stream.len(), 160 * 96);
        }
        // JPEG is lossy, but only slightly: the same crop, pixel by pixel, within a few levels.
        let diff: u64 = png
            .stream
            .iter()
            .zip(&jpg.stream)
            .map(|(&a, &b)| u64::from(a.abs_diff(b)))
            .sum();
        assert!(
            diff / (png.stream.len() as u64) < 6,
            "mean diff {}",
            diff / png.stream.len() as u64
        );

        let wav = prepare(include_bytes!("../../tests/data/sample.wav"), "s.wav").unwrap();
        let flac = prepare(include_bytes!("../../tests/data/sample.flac"), "s.flac").unwrap();
        assert_eq!(
            wav.layout,
            Layout::Audio {
                sample_rate: 16_000
            }
        );
        assert_eq!(wav.stream.len(), 24_000);
        // FLAC is lossless: the same samples as the WAV it was made from.
        assert_eq!(flac.stream, wav.stream);
        assert_eq!(flac.layout, wav.layout);

        // MP3 and Ogg Vorbis are lossy and pad the clip (encoder delay, whole frames): the same
        // rate, about the same length, and the same sound where the samples line up best.
        let mp3 = prepare(include_bytes!("../../tests/data/sample.mp3"), "s.mp3").unwrap();
        let ogg = prepare(include_bytes!("../../tests/data/sample.ogg"), "s.ogg").unwrap();
        for (name, p) in [("mp3", &mp3), ("ogg", &ogg)] {
            assert_eq!(p.modality, Modality::Audio, "{name}");
            assert_eq!(p.layout, wav.layout, "{name}");
            let n = p.stream.len();
            assert!((22_000..28_000).contains(&n), "{name}: {n} samples");
            let best = (0..2_000)
                .map(|lag| {
                    let pairs = wav
                        .stream
                        .iter()
                        .zip(p.stream.iter().skip(lag))
                        .take(20_000);
                    pairs.map(|(&a, &b)| u64::from(a.abs_diff(b))).sum::<u64>() / 20_000
                })
                .min()
                .unwrap();
            assert!(
                best < 4,
                "{name}: mean difference {best} levels at the best lag"
            );
        }
    }
}
