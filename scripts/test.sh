#!/usr/bin/env bash
# The README's second command, and what CI runs: every test, from a fresh machine.
#   1. Rust: formatting, clippy, unit and integration tests (native; training also on wgpu, on
#      lavapipe's software Vulkan).
#   2. wasm under Node: the same bytes as native, .lmz both ways.
#   3. The page in Debian's headless Chromium, driven by Playwright.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)
# Builds are cached outside the clone so repeated runs on one machine reuse them.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/lmzip/target}
export CARGO_TERM_COLOR=never

bash scripts/setup.sh --test

echo "==> cargo fmt --check"
cargo fmt --check
echo "==> cargo clippy"
cargo clippy --release --all-targets --features gpu -- -D warnings
cargo clippy --release --lib --target wasm32-unknown-unknown --no-default-features -- -D warnings
cargo clippy --release --lib --target wasm32-unknown-unknown --no-default-features --features gpu-engine -- -D warnings
echo "==> cargo test (native)"
cargo test --release --features gpu 2>&1 | tee "$CARGO_TARGET_DIR/cargo-test.log"

echo "==> building the wasm library"
# `cargo test` built target/release/lmzip for tests/cli.rs; a separate `cargo build` would resolve
# features without the dev-dependencies and compile the wgpu stack a second time (~15 min cold).
bash scripts/build-web.sh --node

export LMZIP_BIN="$CARGO_TARGET_DIR/release/lmzip"
export LMZIP_PKG_NODE="$CARGO_TARGET_DIR/pkg-node"
echo "==> node --test (wasm under Node, then the page in Chromium)"
node --test --test-reporter=spec --test-concurrency=1 tests/wasm.test.mjs tests/page.test.mjs

passed=$(grep -Eo 'test result: ok\. [0-9]+ passed' "$CARGO_TARGET_DIR/cargo-test.log" | awk '{s += $4} END {print s + 0}')
echo "==> cargo test: $passed Rust tests passed; screenshots in $CARGO_TARGET_DIR/screenshots"
echo "==> all tests passed in $(( $(date +%s) - start )) s"
