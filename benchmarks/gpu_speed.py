"""COMBINER with the fitting on a GPU: seconds per image, fitting steps/s, files that decode.

Fits on CUDA (coding and the reported reconstruction stay on the CPU in float64, as always),
for batches of the bundled CIFAR-10 test images (tiled past 20), and prints per batch the
phase table of ``encode_speed.py``, seconds per image and posterior-fitting steps per second
per image. Every file is then decoded on the CPU and must give back, bit for bit, the
reconstruction the encoder reported; the first 20 images' mean rate and PSNR are printed
beside the CPU's published point for the same prior and preset. Run on a machine with a GPU:
``python benchmarks/gpu_speed.py --json gpu.json`` (a few minutes; ``--batches`` changes the
batch sizes). Results measured on an H200 are in docs/results.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch
from encode_speed import PRIOR, WARM_UP, timed_encode

from combiner import codec
from combiner.data import cifar10_samples
from combiner.shipped import load_prior

# docs/results.md, CIFAR-10 table: the `fast` preset on the CPU with this prior, 20 images,
# blocks coded hardest first (2026-11-29; in partition order, the H200 run's: 1.913, 28.54).
CPU_POINT = {"bpp": 1.913, "psnr_db": 29.41}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 20, 100])
    parser.add_argument("--device", default="cuda", help="cpu only to try the script")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device here: this benchmark measures the GPU path")
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"device {name}, torch {torch.__version__}, preset {args.preset}, prior {PRIOR}")
    prior = load_prior(PRIOR)
    steps = codec.PRESETS[args.preset].fitting_steps(len(prior.blocks))
    images = cifar10_samples()[0]
    report: dict = {
        "device": name,
        "torch": torch.__version__,
        "preset": args.preset,
        "batches": [],
    }
    for count in args.batches:
        batch = images[np.arange(count) % len(images)]
        start = time.perf_counter()
        timed_encode(batch, WARM_UP, args.device)  # compile for this batch size
        compile_s = time.perf_counter() - start
        phases, results = timed_encode(batch, args.preset, args.device)
        mismatched = sum(
            not np.array_equal(codec.decompress(r.data, prior), r.reconstruction) for r in results
        )
        unique = results[: len(images)]
        row = {
            "batch": count,
            "warm_up_s": compile_s,
            "seconds_per_image": phases["total"] / count,
            "fitting_steps_per_s_per_image": steps * count / phases["posterior fitting"],
            "phases_s": phases,
            "bpp": float(np.mean([r.bpp for r in unique])),
            "psnr_db": float(np.mean([r.psnr_db for r in unique])),
            "files_not_decoding_identically": mismatched,
        }
        report["batches"].append(row)
        print(f"\n{count} image(s), after {compile_s:.1f} s compiling: seconds (per image)")
        for phase, seconds in phases.items():
            print(f"  {phase:<44} {seconds:8.2f}  ({seconds / count:.3f})")
        print(
            f"  {steps} fitting steps: {row['fitting_steps_per_s_per_image']:.0f} steps/s per"
            f" image; first {len(unique)} images {row['bpp']:.3f} bpp {row['psnr_db']:.2f} dB"
            f" (CPU, 20 images: {CPU_POINT['bpp']} bpp {CPU_POINT['psnr_db']} dB);"
            f" files decoding to another reconstruction on the CPU: {mismatched}"
        )
        if args.json:
            with open(args.json, "w") as out:
                json.dump(report, out, indent=1)
    if any(row["files_not_decoding_identically"] for row in report["batches"]):
        sys.exit("some files decode to another reconstruction than the encoder reported")


if __name__ == "__main__":
    main()
