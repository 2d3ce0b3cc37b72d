#!/usr/bin/env bash
# Installs what building and testing lmzip needs, idempotently: the wasm target, wasm-bindgen-cli at
# the crate's exact version, and (with --test) Debian's Chromium, the reference codec tools and the
# npm packages. Sourced by serve.sh and test.sh; safe to run again and again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

want_test=${1:-}
say() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else echo "setup: need root for: $*" >&2; return 1; fi
}

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
wb_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb_version" ]; then
  say "installing wasm-bindgen-cli $wb_version (a few minutes, once)"
  # No --locked: its lock file pins a webpki-roots release this registry mirror lacks.
  cargo install wasm-bindgen-cli --version "$wb_version"
fi

if [ "$want_test" = "--test" ]; then
  missing=()
  for pair in chromium:chromium flac:flac zstd:zstd brotli:brotli xz:xz-utils bzip2:bzip2 \
              gzip:gzip convert:imagemagick; do
    cmd=${pair%%:*} pkg=${pair##*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  # `convert` may be a stand-in; the real ImageMagick answers -version.
  if command -v convert >/dev/null && ! convert -version 2>/dev/null | grep -q ImageMagick; then
    missing+=(imagemagick)
  fi
  # A software Vulkan GPU (lavapipe), for the training test on the wgpu backend.
  ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || missing+=(mesa-vulkan-drivers libvulkan1)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "${missing[@]}" >/dev/null
  fi
  if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm packages (playwright-core; no browser download)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
  fi
fi
