//! Round-trip properties of every codec through the `.lmz` container — random bytes, runs of
//! one byte, short repeated patterns, real text, 0 and 1 byte, and sizes around each codec's
//! chunk size — for the classical codecs, the registered models and the mixing codecs.
//! CI runs a few dozen random cases; `bash scripts/properties.sh` runs 10,000.

use lmzip::lmz;
use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::Once;

const TEXT: &[u8] = include_bytes!("data/sample.txt");

/// Codecs with a model or a learning predictor (slow per byte) apart from the classical ones.
fn is_model(name: &str) -> bool {
    name.starts_with("lm-") || name.starts_with("mix-") || name == "cm"
}

/// Every codec `lmz::compress` takes, with `lm-200k` and `mix-200k` registered as the CLI does.
fn codecs(models: bool) -> Vec<&'static str> {
    static MODELS: Once = Once::new();
    MODELS.call_once(|| {
        let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo"));
        lmzip::fuzzing::register_models(&root).expect("models/200k");
    });
    lmz::codec_names()
        .into_iter()
        .filter(|n| is_model(n) == models)
        .collect()
}

/// Cases per property: `LMZIP_CASES`, else a CI-sized default.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("LMZIP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        // A failing case is printed with its inputs; nothing is written beside the tests.
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    }
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    let len = 0usize..2500;
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2500),
        (prop_oneof![Just(0u8), Just(0xFF), any::<u8>()], len.clone())
            .prop_map(|(b, n)| vec![b; n]),
        (proptest::collection::vec(any::<u8>(), 1..16), len.clone()).prop_map(|(p, n)| p
            .iter()
            .cycle()
            .take(n)
            .copied()
            .collect()),
        (0..TEXT.len(), len.clone())
            .prop_map(|(at, n)| TEXT[at..(at + n).min(TEXT.len())].to_vec()),
        // Text with damage: a random byte flipped in every stretch of it.
        (0..TEXT.len(), len, any::<u64>()).prop_map(|(at, n, seed)| {
            let mut v = TEXT[at..(at + n).min(TEXT.len())].to_vec();
            for i in (seed as usize % 97..v.len()).step_by(97) {
                v[i] ^= (seed >> (i % 56)) as u8 | 1;
            }
            v
        }),
    ]
}

fn round_trip(name: &str, data: &[u8]) -> Result<(), TestCaseError> {
    let packed = lmz::compress(data, name)
        .map_err(|e| TestCaseError::fail(format!("{name} compress: {e}")))?;
    let back = lmz::decompress(&packed).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
    prop_assert_eq!(back.len(), data.len(), "{}", name);
    prop_assert!(back == data, "{} changed the bytes", name);
    Ok(())
}

proptest! {
    #![proptest_config(config(48))]
    #[test]
    fn classical_codecs_round_trip(data in data()) {
        for name in codecs(false) {
            round_trip(name, &data)?;
        }
    }
}

proptest! {
    #![proptest_config(config(6))]
    #[test]
    fn model_and_mixing_codecs_round_trip(data in data()) {
        for name in codecs(true) {
            round_trip(name, &data)?;
        }
    }
}

/// The edges every codec must meet, deterministically: nothing, one byte, long runs, and one
/// byte either side of a chunk boundary (for codecs that cut a file into chunks of at most
/// 64 KiB; `cm`'s 16 MiB chunks are crossed by `scripts/properties.sh`).
#[test]
fn edges_round_trip_for_every_codec() {
    let big = std::env::var_os("LMZIP_BIG_CHUNKS").is_some();
    for name in codecs(false).into_iter().chain(codecs(true)) {
        let mut cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            vec![0],
            vec![0xFF],
            vec![0; 5000],
            vec![0xFF; 5000],
        ];
        let (_, size) = lmz::plan(1, name).expect("a known codec");
        let sizes = if size <= 1 << 16 {
            vec![size - 1, size, size + 1, 2 * size + 1]
        } else if big && name == "cm" {
            vec![size - 1, size + 1]
        } else {
            Vec::new()
        };
        for n in sizes {
            cases.push(TEXT.iter().cycle().take(n).copied().collect());
        }
        for data in cases {
            let packed = lmz::compress(&data, name).expect("compresses");
            assert_eq!(
                lmz::decompress(&packed).expect("decompresses"),
                data,
                "{name} on {} bytes",
                data.len()
            );
        }
    }
}
