"""Train the priors shipped in ``combiner/priors/`` for CIFAR-sized (32x32) images.

Training images (never the CIFAR-10 evaluation images):

* the 20 bundled CIFAR-100 test images (``combiner.data.cifar100_samples``);
* CC0 photos from Debian's ``libjxl-testdata`` (``wesaturate``): the 64px set downscaled to
  32x32, and random 32x32 crops of the 500px set resized to several scales
  (``apt-get install libjxl-testdata``; skipped with a warning when absent);
* crops of matplotlib's bundled ``grace_hopper.jpg`` (public domain).

Run: ``python benchmarks/train_cifar_priors.py`` (``--preset tiny`` for a smoke run): the
shipped learned priors, the ``fast`` preset's 128 Algorithm 1 rounds (the paper's) on a seeded
third of the images (64), which F.1 of the paper and ``cifar_ablation.py`` find enough.
``--betas 2e-6`` trains one; two jobs with ``OMP_NUM_THREADS=1`` share two cores best.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image

from combiner import codec
from combiner.data import cifar100_samples

WESATURATE = Path("/usr/share/libjxl-testdata/external/wesaturate")
PRIORS = Path(__file__).resolve().parent.parent / "combiner" / "priors"
#: COMBINER's CIFAR-10 betas (appendix E, Table 3).
BETAS = (2e-5, 5e-6, 2e-6, 1e-6, 5e-7)


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


def _random_crops(
    img: Image.Image, scales: tuple[int, ...], per_scale: int, rng: np.random.Generator
) -> list[np.ndarray]:
    crops = []
    for side in scales:
        w, h = img.size
        resized = img.resize((side, max(32, round(side * h / w))), Image.LANCZOS)
        pixels = np.asarray(resized, dtype=np.float64) / 255.0
        for _ in range(per_scale):
            y = rng.integers(0, pixels.shape[0] - 31)
            x = rng.integers(0, pixels.shape[1] - 31)
            crop = pixels[y : y + 32, x : x + 32]
            crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    return crops


def training_images(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = list(cifar100_samples()[0])
    if WESATURATE.exists():
        for path in sorted((WESATURATE / "64px").glob("*_srgb8.png")):
            images.append(
                np.asarray(_rgb(path).resize((32, 32), Image.LANCZOS), dtype=np.float64) / 255.0
            )
        for path in sorted((WESATURATE / "500px").glob("*_srgb8.png")):
            images += _random_crops(_rgb(path), (64, 96, 128, 192), 12, rng)
    else:
        print(
            f"warning: {WESATURATE} not found (apt-get install libjxl-testdata); using fewer images"
        )
    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    images += _random_crops(_rgb(hopper), (64, 128), 12, rng)
    return np.stack(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast", choices=sorted(codec.PRESETS))
    parser.add_argument("--betas", type=float, nargs="*", default=list(BETAS))
    parser.add_argument("--prior", default="learned", choices=["learned", "isotropic"])
    parser.add_argument("--output", type=Path, default=PRIORS)
    parser.add_argument("--epochs", type=int, help="Algorithm 1 rounds (default: the preset's)")
    parser.add_argument(
        "--images", type=int, default=64, help="train on this many of the images (seeded; 0: all)"
    )
    args = parser.parse_args()
    images = training_images()
    if args.images and args.images < len(images):
        keep = np.random.default_rng(0).permutation(len(images))[: args.images]
        images = images[np.sort(keep)]
    preset = codec.PRESETS[args.preset]
    if args.epochs:
        preset = replace(preset, prior_epochs=args.epochs)
    print(f"{len(images)} training images of 32x32, {preset.prior_epochs} epochs")
    args.output.mkdir(parents=True, exist_ok=True)
    for beta in args.betas:
        start = time.perf_counter()
        prior = codec.train_prior(images, prior=args.prior, beta=beta, preset=preset)
        path = args.output / f"cifar-{args.prior}-beta{beta:.0e}.npz"
        prior.save(path)
        print(
            f"beta={beta:.0e}: {len(prior.blocks)} blocks of kappa={prior.kappa} bits, "
            f"mean KL {prior.kl_bits_per_weight.sum():.0f} bits, "
            f"{time.perf_counter() - start:.0f} s: {path}"
        )


if __name__ == "__main__":
    main()
