#!/usr/bin/env python3
"""Re-creates docs/results.md and docs/results-scaling.png: the paper's Table 1 protocol on the
dev sets (`lmzip bench --paper`), unmasked and masked, and adjusted rate against model size.

    python3 scripts/results.py [DATA] [MAX_BYTES]   # defaults: data/, 1048576 bytes per kind

Needs target/release/lmzip (or under $CARGO_TARGET_DIR), the fetched data (bash ../shared/data/fetch.sh data), the shipped
models under models/, and matplotlib. Sizes and rates do not depend on the machine.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "data"
MAX = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20
BIN = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "lmzip"
KEPT = "<!-- results.py keeps what follows -->"
SETS = [DATA / "text" / "dev.xml", DATA / "image" / "dev", DATA / "audio" / "dev"]


def table(extra):
    args = [str(BIN), "bench", "--paper", "--json", "--threads", "2", "--max-bytes", str(MAX)]
    out = subprocess.run(args + extra + [str(p) for p in SETS], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def models():
    # Engine models shipped in models/<name>/model.lmzi.
    return sorted(f"lm-{d.name}" for d in (ROOT / "models").iterdir() if (d / "model.lmzi").is_file())


def main():
    plain = table([])
    masked_args = []
    for m in models():
        masked_args += ["--codec", m]
    masked = table(["--mask"] + masked_args) if masked_args else None
    lines = [
        "# Results: the paper's Table 1 on our dev sets",
        "",
        "Made by `python3 scripts/results.py` from `text/dev.xml`, `image/dev` and `audio/dev`",
        f"(see `shared/DATA.md`), at most {MAX:,} stream bytes of each kind (files in order), with",
        "`lmzip bench --paper`: 2,048-byte chunks (64×32-pixel patches for images), classical",
        "headers counted once, every round trip verified. The paper's figures are on 1 GB of",
        "enwik9 / ImageNet / LibriSpeech; its transformers were trained on enwik8.",
        "",
        "## All 8 bits coded",
        "",
        plain["markdown"],
    ]
    if masked:
        lines += ["## Model rows with the paper's masking", "",
                  "The paper codes 7-bit inputs and rescales the size by 8/7 (PAPER.md §1.5):", "",
                  masked["markdown"]]
    lines += ["## Adjusted rate against model size", "",
              "![adjusted rate vs parameters](results-scaling.png)", "",
              "Adjusted = raw + 2 × parameters ÷ dataset size: a small data set cannot pay for a big model.", ""]
    # Sections written by hand or by other scripts (speed, ablation) follow the marker: keep them.
    path = ROOT / "docs" / "results.md"
    old = path.read_text() if path.exists() else ""
    if KEPT in old:
        lines += [old[old.index(KEPT):]]
    path.write_text("\n".join(lines))

    cells = [c for c in plain["cells"] if c["params"] > 0 and c["chunk"] == "2048"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=False)
    for ax, kind in zip(axes, ["text", "image", "audio"]):
        pts = sorted((c["params"], c["raw"], c["codec"]) for c in cells if c["modality"] == kind)
        for size, label in [(1e6, "1 MB"), (1e7, "10 MB"), (1e8, "100 MB"), (1e9, "1 GB")]:
            if pts:
                ax.plot([p for p, _, _ in pts], [r + 100 * 2 * p / size for p, r, _ in pts], "o-", label=f"adjusted, {label}")
        if pts:
            ax.plot([p for p, _, _ in pts], [r for _, r, _ in pts], "k--", label="raw")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(kind)
        ax.set_xlabel("parameters")
        ax.set_ylabel("rate (%)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "results-scaling.png", dpi=110)


if __name__ == "__main__":
    main()
