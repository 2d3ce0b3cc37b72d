//! What the fuzz targets in `fuzz/` run, shared with the test that replays the inputs they
//! found (`tests/fuzz_regressions.rs` over `tests/data/fuzz/<target>/`): each entry takes
//! arbitrary bytes and must return — a typed error is fine — without panicking, hanging, or
//! allocating more than its input and [`LIMIT`] bound.

use crate::codecs::{self, Codec};
use crate::container::{self, Header};
use crate::modality::{self, Layout};
use std::path::Path;

/// The most output an entry lets a classical decoder produce.
pub const LIMIT: usize = 1 << 16;
/// The most output an entry lets a model or mixing decoder produce (each byte runs the model,
/// so a fuzzer's executions stay fast).
pub const MODEL_LIMIT: usize = 1024;

/// The most output an entry lets `codec`'s decoder produce.
pub fn limit(codec: &str) -> usize {
    if codec.starts_with("lm-") || codec.starts_with("mix-") || codec == "cm" {
        MODEL_LIMIT
    } else {
        LIMIT
    }
}

/// An entry: arbitrary bytes in, nothing out (a failure panics).
pub type Entry = fn(&[u8]);

/// Every entry by the name its fuzz target and regression folder use.
pub const TARGETS: [(&str, Entry); 4] = [
    ("lmz", lmz),
    ("payload", payload),
    ("modality", media),
    ("model_file", model_file),
];

/// Codecs the payload and forged-header entries pick from by a selector byte (a fixed list, so
/// a saved input keeps meaning the same codec).
pub const CODECS: [&str; 12] = [
    "gzip",
    "xz",
    "zstd",
    "brotli",
    "bzip2",
    "png",
    "png-paper",
    "flac",
    "lm-200k",
    "cm",
    "mix-200k",
    container::STORED,
];

/// File names the modality entry hands its bytes in under (the name decides what is claimed).
pub const NAMES: [&str; 10] = [
    "a.png", "a.jpg", "a.gif", "a.bmp", "a.webp", "a.wav", "a.flac", "a.mp3", "a.ogg", "a.bin",
];

/// Registers `lm-200k` and `mix-200k` from `models/200k/` under `root`, as the CLI does.
pub fn register_models(root: &Path) -> Result<(), String> {
    let dir = root.join("models/200k");
    let read = |f: &str| std::fs::read(dir.join(f)).map_err(|e| format!("{f}: {e}"));
    codecs::lm::register_primed("200k", &read("model.lmzi")?, Some(&read("mix.prime")?))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// An `.lmz` file as given, then the same bytes read as a header's fields and payloads under
/// valid checksums, so that mutations reach the chunk decoders instead of the CRCs.
pub fn lmz(data: &[u8]) {
    check_lmz(data);
    if let Some(forged) = forge(data) {
        check_lmz(&forged);
    }
}

fn check_lmz(bytes: &[u8]) {
    let limit = container::read(bytes).map_or(LIMIT, |c| limit(&c.header.codec)) as u64;
    if let Ok(out) = crate::lmz::decompress_limited(bytes, limit) {
        let c = container::read(bytes).expect("a decoded file parses");
        assert_eq!(out.len() as u64, c.header.original_len);
        assert_eq!(crc32fast::hash(&out), c.header.original_crc);
    }
    if let Ok(n) = crate::lmz::chunk_count(bytes, limit) {
        for i in 0..n.min(4) {
            let _ = crate::lmz::decompress_chunk(bytes, i, limit);
        }
    }
}

/// Header fields from the first bytes: codec, model flag, lengths; the rest split into chunks.
fn forge(data: &[u8]) -> Option<Vec<u8>> {
    let [sel, flags, l0, l1, s0, s1, rest @ ..] = data else {
        return None;
    };
    let codec = CODECS[*sel as usize % CODECS.len()];
    let original_len = u64::from(u16::from_le_bytes([*l0, *l1]));
    let chunk_size = match flags & 3 {
        // The chunk size the codec itself writes, so the header passes that check.
        0 => crate::lmz::plan(1, codec).map_or(4096, |p| p.1 as u64),
        _ => u64::from(u16::from_le_bytes([*s0, *s1])),
    };
    let count = Header {
        version: container::VERSION,
        codec: String::new(),
        model: None,
        original_len,
        chunk_size,
        chunk_lens: Vec::new(),
        original_crc: 0,
    }
    .chunk_count();
    if count > 64 {
        return None;
    }
    let count = count as usize;
    let step = rest.len().div_ceil(count.max(1)).max(1);
    let mut chunks: Vec<Vec<u8>> = rest.chunks(step).map(<[u8]>::to_vec).collect();
    chunks.resize(count, Vec::new());
    chunks.truncate(count);
    let header = Header {
        // Both versions this build reads: version 1 decodes model chunks in cold windows.
        version: if flags & 16 == 0 {
            container::VERSION
        } else {
            container::MIN_VERSION
        },
        codec: codec.into(),
        model: if flags & 4 == 0 {
            codecs::model_id(codec)
        } else {
            None
        },
        original_len,
        chunk_size,
        chunk_lens: chunks.iter().map(|c| c.len() as u64).collect(),
        original_crc: if flags & 8 == 0 {
            0
        } else {
            crc32fast::hash(rest)
        },
    };
    Some(container::write(&header, &chunks))
}

/// A codec's payload decoder on arbitrary bytes: `[codec, max_len (2 bytes), payload…]`.
pub fn payload(data: &[u8]) {
    let [sel, a, b, rest @ ..] = data else {
        return;
    };
    let Some(codec) = codecs::by_name(CODECS[*sel as usize % CODECS.len()]) else {
        return;
    };
    let max_len = usize::from(u16::from_le_bytes([*a, *b])) % (limit(codec.name()) + 1);
    if let Ok(out) = codec.decompress(rest, max_len) {
        assert!(out.len() <= max_len, "{} exceeded its limit", codec.name());
    }
}

/// The image and audio readers: `[name, file bytes…]`; what decodes must have a sane shape.
pub fn media(data: &[u8]) {
    let [sel, rest @ ..] = data else {
        return;
    };
    let name = NAMES[*sel as usize % NAMES.len()];
    if let Ok(p) = modality::prepare(rest, name) {
        if let Layout::Image { width, height } = p.layout {
            assert_eq!(p.stream.len() as u64, u64::from(width) * u64::from(height));
        }
    }
}

/// The model-file readers: `[kind, file bytes…]` (kind: `.lmzi`, `.lmzw`, prime). A file that
/// loads must also code and decode a short text exactly.
pub fn model_file(data: &[u8]) {
    let [sel, rest @ ..] = data else {
        return;
    };
    let sample = b"It was the best of times, it was the worst of times.";
    match sel % 3 {
        0 | 1 => {
            if let Ok(lm) = codecs::lm::LmCodec::new("fuzz", rest) {
                if lm.int_model().is_some() {
                    roundtrip(&lm, sample);
                }
            }
        }
        _ => {
            if let Ok(mix) =
                codecs::mix::MixCodec::new("fuzz".into(), String::new(), None, Some(rest))
            {
                roundtrip(&mix, sample);
            }
        }
    }
}

fn roundtrip(codec: &dyn Codec, data: &[u8]) {
    let packed = codec
        .compress(data, &Layout::Bytes)
        .expect("a loaded model codes");
    let back = codec.decompress(&packed, data.len()).expect("and decodes");
    assert_eq!(back, data, "a loaded model round-trips");
}
