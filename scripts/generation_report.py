#!/usr/bin/env python3
"""Re-creates docs/generation.md and docs/samples/: every generator continues a real text, image
and audio prompt from the dev sets, with speeds and the judge model's bits per byte.

    python3 scripts/generation_report.py [DATA]      # DATA defaults to data/

Needs target/release/lmzip (cargo build --release) and the fetched data
(bash ../shared/data/fetch.sh data). Deterministic for a given binary and models.
"""
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "data"
BIN = ROOT / "target" / "release" / "lmzip"
SAMPLES = ROOT / "docs" / "samples"
GENERATORS = ["gzip", "zstd", "bzip2", "xz", "brotli", "lm-200k", "lm-800k"]
SLOW = ("xz", "brotli")
SLOW_BYTES = 64
SEED = 1


def first(folder, suffix):
    return sorted(p for p in (DATA / folder).iterdir() if p.suffix == suffix)[0]


def prompts():
    # Text: 2,048 bytes of article text from the middle of the dev file, cut to a prompt file
    # (the next bytes are the real continuation).
    dev = (DATA / "text" / "dev.xml").read_bytes()
    start = dev.index(b"'''", len(dev) // 3)
    text = Path(tempfile.mkdtemp()) / "dev-excerpt.xml"  # not committed: it is dev data
    text.write_bytes(dev[start - 1024 : start + 4096])
    return [
        ("text", text, 2048, 128),
        ("image", first("image/dev", ".png"), None, 512),  # whole rows: one row of 512
        ("audio", first("audio/dev", ".wav"), 16000, 1024),  # 1 s prompt, 64 ms continued
    ]


def views(codec):
    # xz and brotli at their strongest settings take ~1 ms per candidate: one view keeps the
    # report to minutes.
    return 1 if codec in ("xz", "brotli") else 2


def run(kind, prompt, prompt_bytes, n, codec):
    ext = {"text": "txt", "image": "png", "audio": "wav"}[kind]
    out = SAMPLES / f"{kind}-{codec}.{ext}"
    args = [str(BIN), "generate", "-c", codec, "--prompt", str(prompt), "-n", str(n),
            "--seed", str(SEED), "--context", "512", "--views", str(views(codec)), "-o", str(out)]
    if prompt_bytes is not None:
        args += ["--prompt-bytes", str(prompt_bytes)]
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        return None
    speed = re.search(r"in ([\d.]+) s \((\d+) bytes/s\)", r.stderr)
    judge = re.search(r"(lm-\S+) bits/byte: ([\d.]+) on the sample, ([\d.\-]+) on the real", r.stderr)
    return {
        "codec": codec, "file": out.name, "seconds": float(speed.group(1)),
        "rate": int(speed.group(2)),
        "judge": judge.group(1) if judge else "-",
        "sample": judge.group(2) if judge else "-",
        "real": judge.group(3) if judge else "-",
    }


def main():
    SAMPLES.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Generation: every compressor is a generative model",
        "",
        "Made by `python3 scripts/generation_report.py` (seed 1; codecs see the last 512 bytes, code",
        "lengths averaged over 2 window offsets, 1 for xz and brotli; models use their integer engine). A good generator",
        "writes samples that the judge (the largest shipped model) finds about as likely as what",
        "really followed the prompt: compare the two bits-per-byte columns.",
        "",
    ]
    for kind, prompt, prompt_bytes, n in prompts():
        name = "text/dev.xml (an excerpt from the middle)" if kind == "text" else prompt.name
        lines += [f"## {kind}: {name}", "",
                  "| generator | bytes | seconds | bytes/s | judge | bits/byte, sample | bits/byte, real continuation | file |",
                  "|---|---|---|---|---|---|---|---|"]
        for codec in GENERATORS:
            if codec in SLOW and kind != "text":
                # xz and brotli at their strongest settings spend ~4 ms per candidate: on images
                # (a whole 512-pixel row at least) that is minutes; audio gets a short sample.
                if kind == "image":
                    continue
            m = SLOW_BYTES if codec in SLOW and kind == "audio" else n
            row = run(kind, prompt, prompt_bytes, m, codec)
            if row is None:
                continue
            lines.append(f"| {codec} | {m} | {row['seconds']:.2f} | {row['rate']} | {row['judge']} | "
                         f"{row['sample']} | {row['real']} | [{row['file']}](samples/{row['file']}) |")
            print(kind, row, flush=True)
        lines.append("")
    (ROOT / "docs" / "generation.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
