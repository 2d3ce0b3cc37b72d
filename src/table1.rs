//! The paper's Table 1 on our data: every codec and model on text, images and audio, unchunked
//! (classical codecs only) and in 2,048-byte chunks, raw and adjusted for the model's size,
//! next to the paper's own figures (PAPER.md §1.5 and §2.1).

use crate::bench::{self, Mode};
use crate::codecs::{lm, Codec, CodecError};
use crate::modality::{Layout, Modality, Prepared};
use serde::Serialize;

/// How to run the table.
#[derive(Debug, Clone)]
pub struct Options {
    /// The paper's masking for model rows: text `b & 0x7F`, images and audio `b >> 1`, the
    /// rate scaled by `8n / (8n − dropped bits)` as its code does.
    pub mask: bool,
    /// Dataset size for the adjusted rate (`raw + 2 · parameters / size`); the paper's 1 GB.
    pub dataset_bytes: f64,
    /// At most this many stream bytes per modality (files in order, the last one cut).
    pub max_bytes: usize,
    /// Threads for chunked coding.
    pub threads: usize,
}

/// One cell group: a codec on one modality in one mode.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// Codec or model.
    pub codec: String,
    /// text, image or audio.
    pub modality: &'static str,
    /// "∞" (whole files) or "2048" (the paper's chunks).
    pub chunk: &'static str,
    /// Stream bytes measured.
    pub bytes: usize,
    /// Compressed size, headers counted once over the data set (masking rescale included).
    pub compressed_bytes: f64,
    /// Compressed ÷ raw, in %.
    pub raw: f64,
    /// Raw plus the model's float16 size over the dataset size, in %.
    pub adjusted: f64,
    /// Model parameters (0 for classical codecs).
    pub params: usize,
    /// Every file and chunk decoded to its input.
    pub roundtrip: bool,
}

/// The paper's Table 1 (v2): (compressor, chunk, [enwik9, ImageNet, LibriSpeech] raw %).
pub const PAPER: &[(&str, &str, [f64; 3])] = &[
    ("gzip", "∞", [32.3, 70.7, 36.4]),
    ("LZMA2", "∞", [23.0, 57.9, 29.9]),
    ("PNG", "∞", [42.9, 58.5, 32.2]),
    ("FLAC", "∞", [89.5, 61.9, 30.9]),
    ("gzip", "2048", [48.1, 68.6, 38.5]),
    ("LZMA2", "2048", [50.0, 62.4, 38.2]),
    ("PNG", "2048", [80.6, 61.7, 37.6]),
    ("FLAC", "2048", [88.9, 60.9, 30.3]),
    ("Transformer 200K", "2048", [30.9, 194.0, 146.6]),
    ("Transformer 800K", "2048", [21.7, 185.1, 131.1]),
    ("Transformer 3.2M", "2048", [17.0, 215.8, 228.2]),
    ("Chinchilla 70B", "2048", [8.3, 48.0, 21.0]),
];

/// The paper's name for one of our codecs, where it has a row.
pub fn paper_name(codec: &str) -> Option<&'static str> {
    Some(match codec {
        "gzip" => "gzip",
        "xz" => "LZMA2",
        "png" | "png-paper" => "PNG",
        "flac" => "FLAC",
        "lm-200k" => "Transformer 200K",
        "lm-800k" => "Transformer 800K",
        "lm-3m" => "Transformer 3.2M",
        _ => return None,
    })
}

/// The paper's masking of a stream: returns the masked bytes and the bits dropped.
pub fn mask(stream: &[u8], modality: Modality) -> (Vec<u8>, usize) {
    match modality {
        Modality::Text => {
            let dropped = stream.iter().filter(|&&b| b >= 0x80).count();
            (stream.iter().map(|&b| b & 0x7F).collect(), dropped)
        }
        _ => (stream.iter().map(|&b| b >> 1).collect(), stream.len()),
    }
}

/// Cuts the files of one modality to at most `max` stream bytes (images to whole rows).
fn limit(files: &[Prepared], max: usize) -> Vec<Prepared> {
    let mut out = Vec::new();
    let mut left = max;
    for p in files {
        if left == 0 {
            break;
        }
        let mut p = p.clone();
        if p.stream.len() > left {
            match p.layout {
                Layout::Image { width, .. } => {
                    let rows = left / width.max(1) as usize;
                    if rows == 0 {
                        break;
                    }
                    p.stream.truncate(rows * width as usize);
                    p.layout = Layout::Image {
                        width,
                        height: rows as u32,
                    };
                }
                _ => p.stream.truncate(left),
            }
        }
        left -= p.stream.len();
        out.push(p);
    }
    out
}

/// Runs every codec that applies on each modality's files; `progress` gets a label per step.
pub fn run(
    sets: &[(Modality, Vec<Prepared>)],
    codecs: &[&dyn Codec],
    opts: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Cell>, CodecError> {
    let mut cells = Vec::new();
    for (modality, files) in sets {
        let files = limit(files, opts.max_bytes);
        let Some(first) = files.first() else { continue };
        let bytes: usize = files.iter().map(|p| p.stream.len()).sum();
        for &codec in codecs.iter().filter(|c| c.accepts(&first.layout)) {
            let model = lm::find(codec.name());
            // A mix pays for its transformer and for the prime it starts from.
            let params = crate::codecs::model_of(codec.name())
                .map_or(0, |m| m.config().param_count())
                + crate::codecs::mix::find(codec.name()).map_or(0, |m| m.prime().param_count());
            // The paper codes its models in chunks only.
            let modes: &[Mode] = if model.is_some() {
                &[Mode::Chunked]
            } else {
                &[Mode::Whole, Mode::Chunked]
            };
            for &mode in modes {
                progress(&format!(
                    "{} {} {}",
                    modality.as_str(),
                    codec.name(),
                    mode.as_str()
                ));
                let (mut compressed, mut dropped, mut roundtrip) = (0f64, 0usize, true);
                for p in &files {
                    let masked;
                    let input = if opts.mask && model.is_some() {
                        let (m, d) = mask(&p.stream, *modality);
                        dropped += d;
                        masked = Prepared {
                            stream: m,
                            ..p.clone()
                        };
                        &masked
                    } else {
                        p
                    };
                    let r =
                        bench::measure_threads(input, "", codec, mode, opts.threads, &mut |_| {})?;
                    compressed += r.compressed_bytes as f64;
                    roundtrip &= r.roundtrip;
                }
                if mode == Mode::Chunked && codec.has_header() && files.len() > 1 {
                    // Headers once over the whole set, as the paper: each file's row has one.
                    let h = crate::paper::header_size(codec, &first.layout)? as f64;
                    compressed -= h * (files.len() - 1) as f64;
                }
                if dropped > 0 {
                    let bits = 8.0 * bytes as f64;
                    compressed *= bits / (bits - dropped as f64);
                }
                let raw = 100.0 * compressed / bytes.max(1) as f64;
                cells.push(Cell {
                    codec: codec.name().to_string(),
                    modality: modality.as_str(),
                    chunk: if mode == Mode::Whole { "∞" } else { "2048" },
                    bytes,
                    compressed_bytes: compressed,
                    raw,
                    adjusted: raw + 100.0 * 2.0 * params as f64 / opts.dataset_bytes,
                    params,
                    roundtrip,
                });
            }
        }
    }
    Ok(cells)
}

/// The table in Markdown: rows codec × chunking, columns raw and adjusted per modality, the
/// paper's raw figures beside.
pub fn markdown(cells: &[Cell], opts: &Options) -> String {
    let kinds = ["text", "image", "audio"];
    let mut rows: Vec<(&str, String)> = Vec::new();
    for c in cells {
        if !rows.iter().any(|(ch, n)| *ch == c.chunk && *n == c.codec) {
            rows.push((c.chunk, c.codec.clone()));
        }
    }
    rows.sort_by_key(|(ch, codec)| (*ch != "∞", codec.starts_with("lm-")));
    let size: Vec<String> = kinds
        .iter()
        .map(|k| {
            cells
                .iter()
                .find(|c| c.modality == *k)
                .map_or("-".into(), |c| format!("{} B", c.bytes))
        })
        .collect();
    let mut s = format!(
        "Rates in % (compressed ÷ raw; lower is better). Data: text {}, image {}, audio {}. \
         Adjusted = raw + 2 × parameters ÷ {:.0} bytes. Model rows {}.\n\n",
        size[0],
        size[1],
        size[2],
        opts.dataset_bytes,
        if opts.mask {
            "masked as the paper (text b & 0x7F, image/audio b >> 1, × 8/7-style rescale)"
        } else {
            "unmasked (all 8 bits coded)"
        }
    );
    s.push_str("| chunk | codec | text | image | audio | text adj. | image adj. | audio adj. | paper (text / image / audio) |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for (chunk, codec) in rows {
        let get = |k: &str| {
            cells
                .iter()
                .find(|c| c.chunk == chunk && c.codec == codec && c.modality == k)
        };
        let fmt = |v: Option<f64>| v.map_or("".to_string(), |v| format!("{v:.1}"));
        let paper = paper_name(&codec)
            .and_then(|n| PAPER.iter().find(|(p, ch, _)| *p == n && *ch == chunk))
            .map_or(String::new(), |(_, _, v)| {
                format!("{:.1} / {:.1} / {:.1}", v[0], v[1], v[2])
            });
        let ok = kinds.iter().all(|k| get(k).is_none_or(|c| c.roundtrip));
        s.push_str(&format!(
            "| {chunk} | {codec}{} | {} | {} | {} | {} | {} | {} | {paper} |\n",
            if ok { "" } else { " (round trip FAILED)" },
            fmt(get("text").map(|c| c.raw)),
            fmt(get("image").map(|c| c.raw)),
            fmt(get("audio").map(|c| c.raw)),
            fmt(get("text").map(|c| c.adjusted)),
            fmt(get("image").map(|c| c.adjusted)),
            fmt(get("audio").map(|c| c.adjusted)),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs;

    fn sample(name: &str) -> Prepared {
        let path = crate::repo_root().join("tests/data").join(name);
        crate::modality::prepare(&std::fs::read(path).unwrap(), name).unwrap()
    }

    #[test]
    fn masks_as_the_paper() {
        assert_eq!(
            mask(&[0x41, 0xC3, 0xA9], Modality::Text),
            (vec![0x41, 0x43, 0x29], 2)
        );
        assert_eq!(mask(&[255, 2, 3], Modality::Image), (vec![127, 1, 1], 3));
    }

    #[test]
    fn the_table_has_every_applicable_cell_and_the_papers_figures() {
        let sets = vec![
            (Modality::Text, vec![sample("sample.txt")]),
            (
                Modality::Image,
                vec![sample("sample.png"), sample("sample.png")],
            ),
            (Modality::Audio, vec![sample("sample.wav")]),
        ];
        let chosen: Vec<&dyn Codec> = ["gzip", "png", "flac"]
            .iter()
            .map(|n| codecs::by_name(n).unwrap())
            .collect();
        let opts = Options {
            mask: false,
            dataset_bytes: 1e9,
            max_bytes: 12_000,
            threads: 2,
        };
        let cells = run(&sets, &chosen, &opts, &mut |_| {}).unwrap();
        // gzip on 3 modalities × 2 modes, png on images × 2, flac on images and audio × 2.
        assert_eq!(cells.len(), 12);
        assert!(cells
            .iter()
            .all(|c| c.roundtrip && c.raw > 0.0 && c.raw < 110.0));
        let image = cells.iter().find(|c| c.modality == "image").unwrap();
        let Layout::Image { width, .. } = sample("sample.png").layout else {
            panic!("not an image")
        };
        assert!(image.bytes <= 12_000 && image.bytes % width as usize == 0);
        let md = markdown(&cells, &opts);
        assert!(md.contains("| ∞ | gzip |") && md.contains("| 2048 | png |"));
        assert!(
            md.contains("48.1 / 68.6 / 38.5"),
            "the paper's chunked gzip row"
        );
    }
}
