#!/usr/bin/env bash
# Fuzzes lmzip's decoders with cargo-fuzz (libFuzzer), each target for SECONDS (default 600):
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]     targets: lmz payload modality model_file
# Seeds come from real files (fuzz/src/seeds.rs); crashes land in fuzz/artifacts/<target>/.
# Once fixed, copy each crash into tests/data/fuzz/<target>/: `cargo test` replays them.
# Not part of CI (the fuzz crate is its own workspace, built with the nightly toolchain).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(lmz payload modality model_file)

rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# Formats the repository has no sample of, made from the sample image where ImageMagick is here.
mkdir -p fuzz/media
if command -v convert >/dev/null; then
  for ext in gif bmp webp; do
    [ -s fuzz/media/sample.$ext ] || convert tests/data/sample.png -resize 64x64 fuzz/media/sample.$ext
  done
fi
cargo +nightly run --quiet --release --manifest-path fuzz/Cargo.toml --bin seeds

cd fuzz
for t in "${targets[@]}"; do
  echo "== $t: ${secs}s"
  # Debug assertions on: an arithmetic overflow is a finding too. No sanitizer by default (safe
  # Rust; AddressSanitizer makes the model decoders ~50x slower): FUZZ_SANITIZER=address for it.
  # Leak checks off: codecs leak their names and replaced registrations on purpose.
  ASAN_OPTIONS=detect_leaks=0 cargo +nightly fuzz run --debug-assertions \
    --sanitizer "${FUZZ_SANITIZER:-none}" "$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=60 -report_slow_units=60 -rss_limit_mb=2048 -detect_leaks=0 \
    -print_final_stats=1 2> "artifacts-$t.log" || echo "== $t stopped on a finding"
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|Done [0-9]+ runs|SUMMARY|panicked" "artifacts-$t.log" || true
  ls "artifacts/$t" 2>/dev/null | sed 's/^/   found: /' || true
done
