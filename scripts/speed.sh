#!/usr/bin/env bash
# Speed of the model codecs on one core, natively and in wasm under Node, in one run:
# `lmzip compress`/`decompress` (window encoding, lockstep decoding) and the wasm build on the
# same bytes. Prints a Markdown table (docs/results.md, "Speed").
#   bash scripts/speed.sh [file] [bytes]     (default: the first 64 KiB of data/text/dev.xml)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target=${CARGO_TARGET_DIR:-target}
bin="$target/release/lmzip"
file=${1:-data/text/dev.xml}
bytes=${2:-65536}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
[ -d "$target/pkg-node" ] || { echo "build the wasm first: bash scripts/build-web.sh --node" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
head -c "$bytes" "$file" > "$tmp/in"
core=${SPEED_CORE:-0}
now() { date +%s.%N; }
declare -A wasm
while IFS=$'\t' read -r codec _ _ enc dec; do wasm[$codec]="$enc	$dec"; done \
  < <(taskset -c "$core" node scripts/speed.mjs "$target/pkg-node" "$tmp/in" "$bytes")
echo "| model | coded | native encode KB/s | native decode KB/s | wasm encode KB/s | wasm decode KB/s | wasm ÷ native (enc, dec) |"
echo "|---|---|---|---|---|---|---|"
for name in $(ls models | sort); do
  [ -f "models/$name/model.lmzi" ] && [[ $name != *-multi ]] || continue
  codec="lm-$name"
  s=$(now); taskset -c "$core" "$bin" compress -f -c "$codec" "$tmp/in" -o "$tmp/c.lmz" 2>/dev/null
  e=$(now); taskset -c "$core" "$bin" decompress -f "$tmp/c.lmz" -o "$tmp/out"; f=$(now)
  cmp -s "$tmp/in" "$tmp/out" || { echo "$codec: round trip failed" >&2; exit 1; }
  IFS=$'\t' read -r wenc wdec <<< "${wasm[$codec]}"
  python3 - "$codec" "$bytes" "$(stat -c%s "$tmp/c.lmz")" "$s" "$e" "$f" "$wenc" "$wdec" <<'PY'
import sys
codec, n, coded, s, e, f, wenc, wdec = sys.argv[1:]
n, coded, s, e, f, wenc, wdec = int(n), int(coded), float(s), float(e), float(f), float(wenc), float(wdec)
enc, dec = n / 1000 / (e - s), n / 1000 / (f - e)
print(f"| `{codec}` | {coded:,} B of {n:,} | {enc:.1f} | {dec:.1f} | {wenc:.1f} | {wdec:.1f} | {wenc/enc:.2f}, {wdec/dec:.2f} |")
PY
done
