"""Peak memory of compressing and of decompressing one 768x512 image (Kodak size).

Each step runs in a fresh process and reports its resident high-water mark, next to a process
that only imports combiner (torch alone is a few hundred MiB). Compression uses the large-cpu
batch shapes (a quarter of the pixels per step, fine-tuning every 64 blocks) with fewer steps:
memory depends on shapes, not on step counts.

Usage::

    python benchmarks/large_signals.py prepare
    python benchmarks/large_signals.py kodak            # trains the prior used here
    python benchmarks/kodak_memory.py benchmarks/out/kodak/prior-large-cpu-beta1e-8-var4e-6.npz
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
IMAGE = OUT / "kodak" / "eval" / "kodim23.png"
FILE = OUT / "kodak" / "kodim23-memory.cmb"


def _step(what: str, prior: str) -> None:
    from combiner import codec
    from combiner.inputs import read_image
    from combiner.shipped import load_prior

    pf = load_prior(prior)
    if what == "compress":
        preset = codec.Preset(
            posterior_steps=50,
            finetune_steps=2,
            compile_loss=False,
            point_fraction=0.25,
            finetune_every=64,
        )
        result = codec.compress(read_image(IMAGE)[None], pf, preset=preset)[0]
        FILE.write_bytes(result.data)
    elif what == "decompress":
        codec.decompress(FILE.read_bytes(), pf)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prior")
    parser.add_argument("--step", choices=["import", "compress", "decompress"])
    args = parser.parse_args()
    if args.step:
        _step(args.step, args.prior)
        return
    for step in ("import", "compress", "decompress"):
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, __file__, args.prior, "--step", step],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        print(f"{step:10s} peak RSS {float(out):7.0f} MiB  ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
