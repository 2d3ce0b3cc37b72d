//! Measuring codecs on a prepared stream: exact sizes, rates, times, round trip verified.

use crate::clock;
use crate::codecs::{Codec, CodecError};
use crate::modality::Prepared;
use crate::paper;
use serde::Serialize;

/// Whole-file or the paper's chunked protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The stream as one input.
    Whole,
    /// 2048-byte chunks (32×64 patches), header counted once.
    Chunked,
}

impl Mode {
    /// The lowercase name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Whole => "whole",
            Mode::Chunked => "chunked",
        }
    }

    /// Parses `whole` or `chunked`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "whole" => Some(Mode::Whole),
            "chunked" => Some(Mode::Chunked),
            _ => None,
        }
    }
}

/// One row of a benchmark: one codec on one stream in one mode. The JSON schema is stable.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BenchResult {
    /// The file's name.
    pub file: String,
    /// `text`, `image` or `audio`.
    pub modality: &'static str,
    /// Size of the stream the codecs see (pixels, 8-bit samples, or the file's bytes).
    pub bytes: usize,
    /// Size of the file as given.
    pub input_bytes: usize,
    /// The codec's name.
    pub codec: String,
    /// The library and setting.
    pub setting: String,
    /// `whole` or `chunked`.
    pub mode: &'static str,
    /// Exact compressed size (chunked: header counted once).
    pub compressed_bytes: usize,
    /// `compressed_bytes / bytes`.
    pub rate: f64,
    /// `8 · compressed_bytes / bytes`.
    pub bits_per_byte: f64,
    /// Whether decoding gave back the exact input.
    pub roundtrip: bool,
    /// Time to compress.
    pub encode_seconds: f64,
    /// Time to decompress.
    pub decode_seconds: f64,
    /// For model codecs: the model's ideal code length Σ −log2 p, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ideal_bytes: Option<f64>,
    /// Threads the chunks were coded on (chunked mode; 1 otherwise).
    pub threads: usize,
}

/// Compresses and decompresses `prepared` with `codec` in `mode`, verifying the round trip.
///
/// `progress` receives the fraction done (0..=1) now and then; returning `false` from it
/// is not supported: cancel by dropping the worker or thread that runs this.
pub fn measure(
    prepared: &Prepared,
    file: &str,
    codec: &dyn Codec,
    mode: Mode,
    progress: &mut dyn FnMut(f64),
) -> Result<BenchResult, CodecError> {
    measure_threads(prepared, file, codec, mode, 1, progress)
}

/// [`measure`] with the chunks of chunked mode coded on `threads` threads (native only), so
/// the speeds are those of all cores together.
pub fn measure_threads(
    prepared: &Prepared,
    file: &str,
    codec: &dyn Codec,
    mode: Mode,
    threads: usize,
    progress: &mut dyn FnMut(f64),
) -> Result<BenchResult, CodecError> {
    if !codec.accepts(&prepared.layout) {
        return Err(CodecError::NotApplicable {
            codec: codec.name(),
        });
    }
    let stream = &prepared.stream;
    let (compressed_bytes, roundtrip, enc_s, dec_s, ideal_bytes) = match mode {
        Mode::Whole => {
            let t0 = clock::now();
            let (packed, ideal) = codec.compress_measured(stream, &prepared.layout)?;
            progress(0.5);
            let t1 = clock::now();
            let back = codec.decompress(&packed, stream.len());
            let t2 = clock::now();
            progress(1.0);
            let ok = matches!(&back, Ok(b) if b == stream);
            (packed.len(), ok, t1 - t0, t2 - t1, ideal.map(|b| b / 8.0))
        }
        Mode::Chunked if threads > 1 => {
            let chunks = paper::chunks(stream, &prepared.layout);
            let t0 = clock::now();
            let coded = crate::par::map(chunks.len(), threads, |i| {
                codec.compress_measured(&chunks[i].bytes, &chunks[i].layout)
            })
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
            progress(0.5);
            let header = if codec.has_header() {
                paper::header_size(codec, &prepared.layout)?
            } else {
                0
            };
            let t1 = clock::now();
            let ok = crate::par::map(chunks.len(), threads, |i| {
                matches!(codec.decompress(&coded[i].0, chunks[i].bytes.len()), Ok(b) if b == chunks[i].bytes)
            })
            .into_iter()
            .all(|ok| ok);
            let t2 = clock::now();
            progress(1.0);
            let sizes: Vec<usize> = coded.iter().map(|(p, _)| p.len()).collect();
            let ideal = coded
                .iter()
                .map(|(_, b)| b.map(|b| b / 8.0))
                .sum::<Option<f64>>();
            (
                paper::header_once_total(&sizes, header),
                ok,
                t1 - t0,
                t2 - t1,
                ideal,
            )
        }
        Mode::Chunked => {
            let chunks = paper::chunks(stream, &prepared.layout);
            let n = chunks.len().max(1) as f64;
            let step = (chunks.len() / 100).max(1);
            let t0 = clock::now();
            let mut packed = Vec::with_capacity(chunks.len());
            let mut ideal: Option<f64> = None;
            for (i, c) in chunks.iter().enumerate() {
                let (p, bits) = codec.compress_measured(&c.bytes, &c.layout)?;
                packed.push(p);
                if let Some(b) = bits {
                    *ideal.get_or_insert(0.0) += b / 8.0;
                }
                if i % step == 0 {
                    progress(0.8 * i as f64 / n);
                }
            }
            let header = if codec.has_header() {
                paper::header_size(codec, &prepared.layout)?
            } else {
                0
            };
            let t1 = clock::now();
            let mut ok = true;
            for (i, (c, p)) in chunks.iter().zip(&packed).enumerate() {
                ok &= matches!(codec.decompress(p, c.bytes.len()), Ok(b) if b == c.bytes);
                if i % step == 0 {
                    progress(0.8 + 0.2 * i as f64 / n);
                }
            }
            let t2 = clock::now();
            progress(1.0);
            let sizes: Vec<usize> = packed.iter().map(Vec::len).collect();
            (
                paper::header_once_total(&sizes, header),
                ok,
                t1 - t0,
                t2 - t1,
                ideal,
            )
        }
    };
    let n = stream.len().max(1) as f64;
    Ok(BenchResult {
        file: file.to_string(),
        modality: prepared.modality.as_str(),
        bytes: stream.len(),
        input_bytes: prepared.input_bytes,
        codec: codec.name().to_string(),
        setting: codec.setting().to_string(),
        mode: mode.as_str(),
        compressed_bytes,
        rate: compressed_bytes as f64 / n,
        bits_per_byte: 8.0 * compressed_bytes as f64 / n,
        roundtrip,
        encode_seconds: enc_s,
        decode_seconds: dec_s,
        ideal_bytes,
        threads: if mode == Mode::Chunked {
            threads.max(1)
        } else {
            1
        },
    })
}

/// Sums rows of the same codec and mode over several files into one row per pair.
pub fn aggregate(rows: &[BenchResult], label: &str) -> Vec<BenchResult> {
    let mut out: Vec<BenchResult> = Vec::new();
    for r in rows {
        match out
            .iter_mut()
            .find(|o| o.codec == r.codec && o.mode == r.mode && o.modality == r.modality)
        {
            Some(o) => {
                o.bytes += r.bytes;
                o.input_bytes += r.input_bytes;
                o.compressed_bytes += r.compressed_bytes;
                o.roundtrip &= r.roundtrip;
                o.encode_seconds += r.encode_seconds;
                o.decode_seconds += r.decode_seconds;
                o.ideal_bytes = match (o.ideal_bytes, r.ideal_bytes) {
                    (Some(a), Some(b)) => Some(a + b),
                    _ => None,
                };
            }
            None => {
                let mut o = r.clone();
                o.file = label.to_string();
                out.push(o);
            }
        }
    }
    for o in &mut out {
        let n = o.bytes.max(1) as f64;
        o.rate = o.compressed_bytes as f64 / n;
        o.bits_per_byte = 8.0 * o.rate;
    }
    out
}

/// Formats rows as an aligned text table.
pub fn table(rows: &[BenchResult]) -> String {
    let mut s = format!(
        "{:<28} {:<6} {:>11} {:<9} {:<7} {:>11} {:>7} {:>6} {:>9} {:>9} {}\n",
        "file",
        "kind",
        "bytes",
        "codec",
        "mode",
        "compressed",
        "rate%",
        "bpb",
        "enc KB/s",
        "dec KB/s",
        "ok"
    );
    for r in rows {
        let kbs = |t: f64| {
            if t > 0.0 {
                format!("{:.0}", r.bytes as f64 / 1000.0 / t)
            } else {
                "-".into()
            }
        };
        let chars: Vec<char> = r.file.chars().collect();
        let name: String = if chars.len() > 28 {
            std::iter::once('…')
                .chain(chars[chars.len() - 27..].iter().copied())
                .collect()
        } else {
            r.file.clone()
        };
        s += &format!(
            "{:<28} {:<6} {:>11} {:<9} {:<7} {:>11} {:>7.2} {:>6.3} {:>9} {:>9} {}\n",
            name,
            r.modality,
            r.bytes,
            r.codec,
            r.mode,
            r.compressed_bytes,
            100.0 * r.rate,
            r.bits_per_byte,
            kbs(r.encode_seconds),
            kbs(r.decode_seconds),
            if r.roundtrip { "yes" } else { "NO" }
        );
    }
    s
}
