"""Finish the priors shipped in ``combiner/priors/``: index model, data shape and notes.

A trained prior (``train_cifar_priors.py``, or ``combiner train-prior`` for speech and Kodak
sizes) becomes a shipped one here: its per-datum shape is recorded (files of that shape then
omit it), an empirical index model is fitted on A*'s indices for *training* signals (so a
block costs less than ``kappa`` bits), and notes say how it was trained and what it was
measured at. Run after training::

    python benchmarks/ship_priors.py cifar                  # the CIFAR priors, in place
    python benchmarks/ship_priors.py speech PRIOR.npz       # -> speech-learned-beta1e-07.npz
    python benchmarks/ship_priors.py kodak PRIOR.npz        # -> kodak-learned-beta1e-08.npz

``--measured NAME="..."`` adds the rate and PSNR a prior was measured at to its notes
(``combiner priors`` prints them); for speech and Kodak priors ``--measured "..."``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import rectools
from combiner import codec
from combiner.inputs import read_audio, read_image

PRIORS = Path(__file__).resolve().parent.parent / "combiner" / "priors"
OUT = Path(__file__).resolve().parent / "out"


def _training_signals(kind: str, count: int) -> np.ndarray:
    if kind == "cifar":
        from train_cifar_priors import training_images

        # A fixed spread of the prior's own training images (never evaluation images).
        images = training_images()
        return images[np.linspace(0, len(images) - 1, count).astype(int)]
    if kind == "speech":
        files = sorted((OUT / "audio" / "train").glob("*.wav"))[:count]
        return np.stack([read_audio(p, 16_000) for p in files])
    files = sorted((OUT / "kodak" / "train").glob("*.png"))[:count]
    return np.stack([read_image(p) for p in files])


def finish(
    prior: codec.PriorFile, kind: str, preset: str, count: int, notes: dict[str, str]
) -> codec.PriorFile:
    """Record the data shape and notes; fit the index model on ``count`` training signals
    (``0``: none, indices then cost ``kappa`` bits)."""
    data = _training_signals(kind, max(count, 1))
    prior = replace(prior, data_shape=prior.data_shape or data.shape[1:], notes=notes)
    if count == 0:
        return prior
    start = time.perf_counter()
    options = {"sample_rate": 16_000} if kind == "speech" else None
    shipped = codec.attach_index_model(prior, data, preset=preset, modality_options=options)
    model = shipped.index_model(rectools.get_coder("astar"))
    print(
        f"index model from {len(data)} training signals in {time.perf_counter() - start:.0f} s: "
        f"{model.expected_bits():.2f} bits per block instead of {prior.kappa}"
    )
    return shipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["cifar", "speech", "kodak"])
    parser.add_argument("prior", nargs="?", help="the trained prior (speech, kodak)")
    parser.add_argument("--count", type=int, default=24, help="training signals for indices")
    parser.add_argument("--only", nargs="*", help="CIFAR: these prior names only")
    parser.add_argument("--preset", default=None, help="encoding preset for the indices")
    parser.add_argument("--trained", default="", help="how the prior was trained (notes)")
    parser.add_argument(
        "--notes-only",
        action="store_true",
        help="CIFAR: only rewrite the notes (notes are not part of a prior's hash)",
    )
    parser.add_argument(
        "--measured", nargs="*", default=[], help="NAME=TEXT (CIFAR) or TEXT: measured rate, PSNR"
    )
    args = parser.parse_args()
    preset = (
        args.preset or {"cifar": "fast", "speech": "large-cpu", "kodak": "large-cpu"}[args.kind]
    )
    measured = dict(m.split("=", 1) if "=" in m else ("", m) for m in args.measured)
    trained = {"trained": args.trained} if args.trained else {}
    if args.kind == "cifar":
        for path in sorted(PRIORS.glob("cifar-*.npz")):
            if args.only and path.stem not in args.only:
                continue
            prior = codec.PriorFile.load(path)
            notes = {
                **trained,
                **({"measured": measured[path.stem]} if path.stem in measured else {}),
            }
            if args.notes_only:
                prior = replace(prior, notes={**(prior.notes or {}), **notes})
            else:
                prior = finish(prior, "cifar", preset, args.count, notes)
            prior.save(path)
            print(f"{path.name}: {len(prior.blocks)} blocks")
        return
    notes = {**trained, **({"measured": measured[""]} if "" in measured else {})}
    prior = codec.PriorFile.load(args.prior)
    name = {"speech": "speech-learned-beta{:.0e}", "kodak": "kodak-learned-beta{:.0e}"}
    path = PRIORS / f"{name[args.kind].format(prior.beta)}.npz"
    finish(prior, args.kind, preset, args.count, notes).save(path)
    print(f"{path}: {len(prior.blocks)} blocks, {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
