#!/usr/bin/env python3
"""Plots training curves written by `lmzip train` (curve.tsv) into one PNG.

Usage: python3 scripts/plot_curve.py OUT.png LABEL=path/to/curve.tsv[@BYTES] [LABEL=...]

`@BYTES` shifts a run that was started from another run's weights (`train --init`) by the bytes
that run had seen, so the curves line up on one axis.
Needs matplotlib (pip install matplotlib).
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    rows = []
    with open(path) as f:
        next(f)
        for line in f:
            step, tokens, train, val = line.split("\t")
            rows.append((int(step), int(tokens), float(train), float(val)))
    return rows


def main():
    out, series = sys.argv[1], sys.argv[2:]
    # The legend goes below the axes, grown with the number of runs, so it never hides a curve.
    fig, ax = plt.subplots(figsize=(7, 4 + 0.35 * len(series)), dpi=120)
    for i, spec in enumerate(series):
        label, path = spec.split("=", 1)
        path, _, offset = path.partition("@")
        rows = read(path)
        tokens = [(r[1] + int(offset or 0)) / 1e6 for r in rows]
        colour = f"C{i}"
        ax.plot(tokens, [r[3] for r in rows], label=f"{label}: validation", color=colour, linewidth=2)
        ax.plot(tokens, [r[2] for r in rows], label=f"{label}: train", color=colour, linewidth=1,
                alpha=0.45, linestyle="--")
    ax.set_xlabel("training bytes seen (millions)")
    ax.set_ylabel("bits per byte")
    ax.set_title("lmzip training (validation = held-back 1% of the training files)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize="small", ncol=2,
              frameon=False)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
