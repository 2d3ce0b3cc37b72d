#!/usr/bin/env bash
# The README's first command: install what is needed, build the page, serve it on localhost.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
bash scripts/build-web.sh
exec node scripts/serve.mjs "${PORT:-8000}"
