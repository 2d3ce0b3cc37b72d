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
# The engine on WebGPU: a second module, fetched only when a GPU is used, so the page's first
# load does not grow. Its one import, ./jspi.js, sits beside its glue. (Both builds write the
# same "$wasm", so each recompiles this crate once when the other ran last: ~25 s.)
cargo build --lib --release --target wasm32-unknown-unknown --no-default-features --features gpu-engine
wasm-bindgen --target web --out-dir pkg/gpu "$wasm"
cp www/jspi.js pkg/gpu/jspi.js
# The page's model list: every models/<name>/ holding an engine file (the worker reads it).
list=""
for name in $(for f in models/*/model.lmzi; do basename "$(dirname "$f")"; done | LC_ALL=C sort); do
  if [ -f "models/$name/model.lmzi" ]; then list="$list${list:+, }\"$name\""; fi
done
printf '[%s]\n' "$list" > pkg/models.json
printf '==> pkg/models.json: %s\n' "$(cat pkg/models.json)" >&2
for f in pkg/lmzip_bg.wasm pkg/gpu/lmzip_bg.wasm; do
  printf '==> %s: %s bytes (%s gzipped)\n' "$f" "$(wc -c < "$f")" "$(gzip -9c "$f" | wc -c)" >&2
done
