#!/usr/bin/env bash
# The round-trip properties of tests/properties.rs at scale: CASES random inputs per property
# (default 10,000) for every codec, and cm across its 16 MiB chunk boundary.
#   bash scripts/properties.sh [CASES]
set -euo pipefail
cd "$(dirname "$0")/.."
LMZIP_CASES=${1:-10000} LMZIP_BIG_CHUNKS=1 \
  cargo test --release --test properties -- --nocapture --test-threads 2
