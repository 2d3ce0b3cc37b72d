#!/usr/bin/env bash
# Peak resident memory and time of `lmzip compress` and `decompress` on a large file, per codec
# (issue #20: streaming keeps memory flat whatever the file's size). The input is the training
# text repeated to the size asked for; every round trip is checked with cmp.
#
#   bash scripts/memory.sh 1G gzip xz zstd      # sizes as `head -c` takes them
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:?usage: scripts/memory.sh SIZE CODEC...}
shift
[ $# -gt 0 ] || { echo "name at least one codec" >&2; exit 1; }
bin="${CARGO_TARGET_DIR:-target}/release/lmzip"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
src=data/text/train.txt
[ -f "$src" ] || { echo "fetch the data first: bash scripts/fetch-text.sh data" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/lmzip-memory.XXXXXX")
trap 'rm -rf "$work"' EXIT
{ while cat "$src"; do :; done 2>/dev/null || true; } | head -c "$size" > "$work/in"
bytes=$(stat -c %s "$work/in")

# Runs the command after `--`, prints "peak-MB seconds".
measure() {
  /usr/bin/time -f '%M %e' -o "$work/time" "$@" > /dev/null 2> "$work/err" || {
    cat "$work/err" >&2
    return 1
  }
  awk '{printf "%d %s", $1 / 1000, $2}' "$work/time"
}

echo "| codec | input bytes | compress MB | decompress MB | compress s | decompress s | ratio | round trip |"
echo "|---|---|---|---|---|---|---|---|"
for codec in "$@"; do
  read -r cmb cs < <(measure "$bin" compress -f -c "$codec" "$work/in" -o "$work/in.lmz"; echo)
  read -r dmb ds < <(measure "$bin" decompress -f "$work/in.lmz" -o "$work/out"; echo)
  ok=no
  cmp -s "$work/in" "$work/out" && ok=yes
  packed=$(stat -c %s "$work/in.lmz")
  ratio=$(awk -v a="$packed" -v b="$bytes" 'BEGIN {printf "%.2f %%", 100 * a / b}')
  echo "| \`$codec\` | $bytes | $cmb | $dmb | $cs | $ds | $ratio | $ok |"
  rm -f "$work/in.lmz" "$work/out"
done
