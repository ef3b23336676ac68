"""``combiner demo``: compress the bundled CIFAR-10 images with a shipped prior, end to end.

Writes each ``.cmb`` file and its decoded PNG, checks every file decodes to exactly the image
the encoder reported, and prints bits per pixel and PSNR next to the JPEG and WebP files
(Pillow) closest in size.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from combiner import codec
from combiner.data import cifar10_samples
from combiner.evaluate import pillow_round_trip
from combiner.shipped import load_prior


def closest_classical(image: np.ndarray, target_bpp: float, fmt: str) -> tuple[float, float]:
    """``(bpp, PSNR)`` of the Pillow ``fmt`` file (JPEG, WEBP) closest in size to ``target_bpp``."""
    pixels = image.shape[0] * image.shape[1]
    best = (np.inf, 0.0, 0.0)
    for quality in range(5, 100, 5):
        num_bytes, decoded = pillow_round_trip(image, fmt, quality=quality)
        bpp = 8 * num_bytes / pixels
        best = min(best, (abs(bpp - target_bpp), bpp, codec.psnr(image, decoded)))
    return best[1], best[2]


def run(prior_name: str, count: int, preset: str, output: Path) -> list[dict]:
    """Compress ``count`` bundled images; returns one row per image."""
    images, names = cifar10_samples()
    images, names = images[:count], names[:count]
    prior = load_prior(prior_name)
    output.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results = codec.compress(images, prior, preset=preset)
    encode_s = time.perf_counter() - start
    rows = []
    for name, image, result in zip(names, images, results, strict=True):
        stem = output / Path(name).stem
        stem.with_suffix(".cmb").write_bytes(result.data)
        decoded = codec.decompress(stem.with_suffix(".cmb").read_bytes(), prior)
        if not np.array_equal(decoded, result.reconstruction):
            raise RuntimeError(
                f"{name}: the decoded file differs from the encoder's reconstruction"
            )
        Image.fromarray(decoded).save(stem.with_suffix(".png"))
        row = {"image": name, "bytes": len(result.data), "bpp": result.bpp, "psnr": result.psnr_db}
        for fmt in ("JPEG", "WEBP"):
            row[f"{fmt}_bpp"], row[f"{fmt}_psnr"] = closest_classical(image, result.bpp, fmt)
        rows.append(row)
    print(
        f"prior {prior_name}, preset {preset}: "
        f"{encode_s / count:.1f} s per image (batch of {count})"
    )
    columns = ("bpp", "psnr", "JPEG_bpp", "JPEG_psnr", "WEBP_bpp", "WEBP_psnr")
    print(f"{'image':>18} {'bytes':>6} " + " ".join(f"{c:>10}" for c in columns))
    for r in rows:
        print(f"{r['image']:>18} {r['bytes']:6d} " + " ".join(f"{r[c]:10.2f}" for c in columns))
    means = " ".join(f"{np.mean([r[c] for r in rows]):10.2f}" for c in columns)
    print(f"{'mean':>18} {'':>6} {means}")
    print(f"files and decoded PNGs in {output}/ (every file decoded bit-identically)")
    return rows
