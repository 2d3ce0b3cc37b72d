#!/usr/bin/env bash
# Builds the library for wasm32 and generates pkg/ (for the page) and, with --node, a Node build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target=${CARGO_TARGET_DIR:-target}
cargo build --lib --release --target wasm32-unknown-unknown --no-default-features
wasm="$target/wasm32-unknown-unknown/release/lmzip.wasm"
wasm-bindgen --target web --out-dir pkg "$wasm"
if [ "${1:-}" = "--node" ]; then
  wasm-bindgen --target nodejs --out-dir "$target/pkg-node" "$wasm"
fi
# The page's model list: every models/<name>/ holding an engine file (the worker reads it).
list=""
for name in $(for f in models/*/model.lmzi; do basename "$(dirname "$f")"; done | LC_ALL=C sort); do
  if [ -f "models/$name/model.lmzi" ]; then list="$list${list:+, }\"$name\""; fi
done
printf '[%s]\n' "$list" > pkg/models.json
printf '==> pkg/models.json: %s\n' "$(cat pkg/models.json)" >&2
printf '==> pkg/lmzip_bg.wasm: %s bytes (%s gzipped)\n' "$(wc -c < pkg/lmzip_bg.wasm)" "$(gzip -9c pkg/lmzip_bg.wasm | wc -c)" >&2
