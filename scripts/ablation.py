#!/usr/bin/env python3
"""The mixing codec's ablation table in docs/results.md: the transformer alone (lm-MODEL), context
mixing alone (cm), and their mix (mix-MODEL), with the best classical codec of each kind beside
them, on dev text, images and audio, whole files and the paper's chunks, one core.

    python3 scripts/ablation.py [MODEL] [DATA]   # defaults: 200k-multi, data/

Needs target/release/lmzip (or under $CARGO_TARGET_DIR), the fetched data and the shipped models.
Rewrites the section between the ablation markers of docs/results.md (appends it the first time).
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = sys.argv[1] if len(sys.argv) > 1 else "200k-multi"
DATA = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "data"
BIN = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "lmzip"
BEGIN, END = "<!-- ablation:begin -->", "<!-- ablation:end -->"
TEXT_BYTES = 256 << 10

# Per kind: the inputs and the classical codec to show beside (the smallest on the dev sets).
KINDS = [
    ("text", lambda tmp: [cut(DATA / "text" / "dev.xml", tmp / "dev-256k.xml")], ["brotli", "xz"]),
    ("image", lambda tmp: [DATA / "image" / "dev" / "imagenet_00_243.png"], ["png"]),
    ("audio", lambda tmp: [DATA / "audio" / "dev" / n for n in ["ru_0001.wav", "ru_0012.wav"]], ["flac"]),
]


def cut(src, dst):
    dst.write_bytes(src.read_bytes()[:TEXT_BYTES])
    return dst


def bench(files, codecs):
    args = [str(BIN), "bench", "--json", "--threads", "1"]
    for c in codecs:
        args += ["--codec", c]
    out = subprocess.run(args + [str(f) for f in files], cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["results"]


def main():
    codecs = [f"lm-{MODEL}", "cm", f"mix-{MODEL}"]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for kind, inputs, classical in KINDS:
            files = inputs(Path(d))
            results = bench(files, codecs + classical)
            for codec in codecs + classical:
                for mode in ["whole", "chunked"]:
                    rs = [r for r in results if r["codec"] == codec and r["mode"] == mode]
                    if not rs:
                        continue
                    n = sum(r["bytes"] for r in rs)
                    packed = sum(r["compressed_bytes"] for r in rs)
                    enc = sum(r["encode_seconds"] for r in rs)
                    dec = sum(r["decode_seconds"] for r in rs)
                    ok = all(r["roundtrip"] for r in rs)
                    rows.append((kind, codec, mode, n, packed, enc, dec, ok))
            print(f"{kind}: done", file=sys.stderr)
    base = {(k, m): p for k, c, m, _, p, *_ in rows if c == f"lm-{MODEL}"}
    table = [
        f"| kind | codec | mode | bytes | coded | rate % | bits/byte | × lm-{MODEL} | enc KB/s | dec KB/s | round trip |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, codec, mode, n, packed, enc, dec, ok in rows:
        ratio = packed / base[(kind, mode)] if (kind, mode) in base else float("nan")
        table.append(
            f"| {kind} | `{codec}` | {mode} | {n:,} | {packed:,} | {100 * packed / n:.2f} | {8 * packed / n:.3f} "
            f"| {ratio:.3f} | {n / 1000 / max(enc, 1e-9):.1f} | {n / 1000 / max(dec, 1e-9):.1f} | {'yes' if ok else 'NO'} |"
        )
    section = "\n".join([
        BEGIN,
        "## Ablation: the transformer, context mixing, and their mix",
        "",
        f"`python3 scripts/ablation.py {MODEL}`: `lm-{MODEL}` alone, `cm` (context mixing, no transformer),",
        f"and `mix-{MODEL}` (cm with the transformer's distribution as an input), beside the best classical",
        f"codec of each kind; the first {TEXT_BYTES >> 10} KiB of `text/dev.xml`, one dev image, two dev recordings",
        "(8-bit streams); whole files and the paper's chunks (2,048 bytes; 64×32-pixel patches); `lmzip bench",
        "--threads 1`, so KB/s is one core's. The text below the table says what the other core did.",
        "",
        *table,
        "",
        END,
    ])
    path = ROOT / "docs" / "results.md"
    doc = path.read_text()
    if BEGIN in doc and END in doc:
        doc = doc[: doc.index(BEGIN)] + section + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(doc)
    print("\n".join(table))


if __name__ == "__main__":
    main()
