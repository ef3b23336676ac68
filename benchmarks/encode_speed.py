"""Where a COMBINER encode spends its time: start-up, fitting, fine-tuning, REC, the rest.

Prints one table for a single CIFAR-10 image and one for a batch of 20 (``fast`` preset by
default) and the same batch split among worker processes of one thread each
(``compress_many``), the cost of one posterior step at batch 1 compiled and eager, plus the
wall time of the command line on one image and of two command lines at once. Phases are
timed by wrapping the functions the codec calls, so the numbers add up to the encode. Run:
``python benchmarks/encode_speed.py`` (about 8 minutes on 2 cores with the ``fast`` preset;
``--preset`` and ``--batch`` change it).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import rectools
from combiner import codec, fit, parallel, progressive
from combiner.data import cifar10_samples
from combiner.shipped import load_prior

PRIOR = "cifar-learned-beta2e-06"
#: A few compiled steps: what compiles the fitting step for a batch size outside the clock.
WARM_UP = codec.Preset(posterior_steps=3, finetune_steps=1, compile_loss=True)


def timed_encode(
    images: np.ndarray, preset: str | codec.Preset, device: str | None = None
) -> tuple[dict[str, float], list[codec.CompressResult]]:
    """Seconds per phase of ``codec.compress`` on ``images``, and its results.

    On a GPU the fitting phases wait for the device before their clock stops, so queued work
    is not billed to the phase after them.
    """
    spent: dict[str, float] = defaultdict(float)
    originals = (fit.fit_posteriors, rectools.encode_batch)
    state = {"coding": False}

    def timed_fit(*args, **kwargs):
        start = time.perf_counter()
        try:
            return originals[0](*args, **kwargs)
        finally:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            phase = "fine-tuning" if state["coding"] else "posterior fitting"
            spent[phase] += time.perf_counter() - start

    def timed_rec(*args, **kwargs):
        state["coding"] = True
        start = time.perf_counter()
        try:
            return originals[1](*args, **kwargs)
        finally:
            spent["REC (encode_batch)"] += time.perf_counter() - start

    codec.fit_posteriors = progressive.fit_posteriors = timed_fit
    rectools.encode_batch = timed_rec
    try:
        start = time.perf_counter()
        results = codec.compress(images, load_prior(PRIOR), preset=preset, device=device)
        total = time.perf_counter() - start
    finally:
        codec.fit_posteriors = progressive.fit_posteriors = originals[0]
        rectools.encode_batch = originals[1]
    spent["other (entropy coding, decode check, glue)"] = total - sum(spent.values())
    spent["total"] = total
    return dict(spent), results


def step_milliseconds(image: np.ndarray, compile_loss: bool) -> float:
    """Milliseconds per posterior step at batch 1, compilation and coding left out.

    The difference of two encodes (no fine-tuning) that fit for 1,400 and 200 steps, after
    one that compiles.
    """
    prior = load_prior(PRIOR)
    seconds = []
    for steps in (200, 200, 1_400):
        preset = codec.Preset(posterior_steps=steps, compile_loss=compile_loss, posterior_lr=1e-3)
        start = time.perf_counter()
        codec.compress(image, prior, preset=preset, finetune=False)
        seconds.append(time.perf_counter() - start)
    return 1000 * (seconds[2] - seconds[1]) / 1_200


def cli_seconds(image: Path, out: Path, preset: str, copies: int) -> float:
    """Wall time of ``copies`` ``combiner compress`` processes started together."""
    command = [sys.executable, "-m", "combiner", "compress", str(image), "--preset", preset]
    start = time.perf_counter()
    running = [
        subprocess.Popen([*command, "-o", str(out.with_suffix(f".{k}.cmb"))]) for k in range(copies)
    ]
    for process in running:
        if process.wait() != 0:
            raise RuntimeError("combiner compress failed")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    images = cifar10_samples()[0]
    # First, while nothing else has run in this process (torch.compile's kernels, used by the
    # batch's two-thread fits, were seen to slow the one-thread library's steps after them).
    compiled, eager = (step_milliseconds(images[:1], flag) for flag in (True, False))
    print(f"one posterior step at batch 1: {compiled:.2f} ms compiled, {eager:.2f} ms eager")
    for count in (1, args.batch):
        timed_encode(images[:count], WARM_UP)  # compile for this batch size outside the clock
        phases, _ = timed_encode(images[:count], args.preset)
        print(f"\n{count} image(s), preset {args.preset}: seconds (per image)")
        for name, seconds in phases.items():
            print(f"  {name:<44} {seconds:8.2f}  ({seconds / count:.2f})")
    in_process = phases["total"] / args.batch
    workers = rectools.available_workers()
    start = time.perf_counter()
    parallel.compress_many(
        images[: args.batch],
        load_prior(PRIOR),
        workers=workers,
        batch_size=-(-args.batch // workers),
        preset=args.preset,
    )
    shared = (time.perf_counter() - start) / args.batch
    print(
        f"{args.batch} images by compress_many, {workers} workers of one thread (start-up"
        f" included): {shared:.2f} s per image, {shared / in_process:.2f}x one process"
    )
    with tempfile.TemporaryDirectory() as folder:
        png = Path(folder) / "img.png"
        Image.fromarray(np.round(images[0] * 255).astype(np.uint8)).save(png)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import combiner.cli"], check=True)
        print(f"\nimport combiner.cli: {time.perf_counter() - start:.2f} s")
        one = cli_seconds(png, Path(folder) / "out", args.preset, 1)
        two = cli_seconds(png, Path(folder) / "out", args.preset, 2)
        print(f"one `combiner compress`: {one:.1f} s; two at once: {two:.1f} s")
        print(f"two at once / two one after the other: {two / (2 * one):.2f}")


if __name__ == "__main__":
    main()
