#!/usr/bin/env bash
# Training throughput on this machine: tokens (bytes) per second for each preset, backend and
# thread count, over a few real steps (batch 16 × 512 bytes of data/text/train.txt).
#   bash scripts/train_throughput.sh [STEPS] [BACKENDS] [PRESETS]   e.g. 6 "flex wgpu" "200k 800k 3m"
# wgpu needs a build with `--features gpu`; without a GPU it runs on lavapipe (software).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps=${1:-6}
backends=${2:-flex}
presets=${3:-200k 800k 3m}
bin=${LMZIP_BIN:-target/release/lmzip}
data=${LMZIP_DATA:-data/text/train.txt}
[ -f "$data" ] || { echo "no $data: run bash ../shared/data/fetch.sh data" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| preset | backend | threads | tokens/s |"
echo "|---|---|---|---|"
for preset in $presets; do
  for backend in $backends; do
    for threads in 1 2; do
      if [ "$backend" != flex ] && [ "$threads" = 2 ]; then continue; fi
      dir="$tmp/$preset-$backend-$threads"
      "$bin" train --preset "$preset" --backend "$backend" --threads "$threads" --seq-len 512 \
        --batch 16 --steps 1000 --stop-after "$steps" --eval-every 100000 --dir "$dir" \
        --data "$data" >/dev/null 2>&1 || { echo "| $preset | $backend | $threads | failed |"; continue; }
      rate=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(round(s["tokens"]/s["seconds"]))' "$dir/resume/state.json")
      echo "| $preset | $backend | $threads | $rate |"
    done
  done
done
