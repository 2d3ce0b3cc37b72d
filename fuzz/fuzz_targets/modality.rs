//! Fuzz target `modality`: see `lmzip::fuzzing`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        lmzip::fuzzing::register_models(&root).expect("models/200k");
    },
    |data: &[u8]| lmzip::fuzzing::media(data)
);
