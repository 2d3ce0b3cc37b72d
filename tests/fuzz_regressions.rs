//! Replays every input the fuzzers once failed on (`tests/data/fuzz/<target>/`, found by
//! `scripts/fuzz.sh`) through the same entry points: each must now pass.

use std::path::PathBuf;

#[test]
fn inputs_the_fuzzers_found_pass() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo"));
    lmzip::fuzzing::register_models(&root).expect("models/200k");
    let mut replayed = 0;
    for (target, entry) in lmzip::fuzzing::TARGETS {
        let dir = root.join("tests/data/fuzz").join(target);
        let Ok(files) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = files.filter_map(|f| f.ok().map(|f| f.path())).collect();
        files.sort();
        for file in files.iter().filter(|f| f.is_file()) {
            let bytes = std::fs::read(file).expect("readable");
            // A panic names the input through this message.
            eprintln!("{target}: {}", file.display());
            entry(&bytes);
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no fuzz inputs under tests/data/fuzz");
}
