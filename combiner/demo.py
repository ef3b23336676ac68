"""``combiner demo``: compress the bundled CIFAR-10 images with a shipped prior, end to end.

Writes each ``.cmb`` file and its decoded PNG, checks every file decodes to exactly the image
the encoder reported, and prints bits per pixel and PSNR next to what JPEG and WebP (Pillow)
reach at the same rate: each codec's PSNR interpolated between the two qualities whose files
bracket COMBINER's size (``-`` where the codec cannot make a file that small).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from combiner import codec
from combiner.data import cifar10_samples
from combiner.evaluate import pillow_round_trip
from combiner.safeio import write_atomically
from combiner.shipped import load_prior

#: The demo's rate: the default prior, about 1.9 bpp on 32x32 images, where COMBINER is ahead
#: of WebP at equal rate on the bundled images (by 1.67 dB on all 20; ahead at every shipped
#: rate; docs/results.md). Lower rates lose WebP's comparison: its smallest file of some images
#: is larger than 1.1 bpp.
DEMO_PRIOR = "cifar-learned-beta2e-06"


def psnr_at_rate(image: np.ndarray, target_bpp: float, fmt: str) -> float:
    """PSNR of the Pillow ``fmt`` codec (JPEG, WEBP) at ``target_bpp``, interpolated over its
    quality sweep; ``nan`` below its smallest file, its best PSNR above its largest."""
    pixels = image.shape[0] * image.shape[1]
    points = []
    for quality in range(1, 101):
        num_bytes, decoded = pillow_round_trip(image, fmt, quality=quality)
        points.append((8 * num_bytes / pixels, codec.psnr(image, decoded)))
    rates, psnrs = zip(*sorted(points), strict=True)
    if target_bpp < rates[0]:
        return float("nan")
    return float(np.interp(target_bpp, rates, psnrs))


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
        write_atomically(stem.with_suffix(".cmb"), result.data)
        decoded = codec.decompress(stem.with_suffix(".cmb").read_bytes(), prior)
        if not np.array_equal(decoded, result.reconstruction):
            raise RuntimeError(
                f"{name}: the decoded file differs from the encoder's reconstruction"
            )
        Image.fromarray(decoded).save(stem.with_suffix(".png"))
        row = {"image": name, "bytes": len(result.data), "bpp": result.bpp, "psnr": result.psnr_db}
        for fmt in ("JPEG", "WEBP"):
            row[f"{fmt}_psnr"] = psnr_at_rate(image, result.bpp, fmt)
        rows.append(row)
    print(
        f"prior {prior_name}, preset {preset}: "
        f"{encode_s / count:.1f} s per image (batch of {count})"
    )
    columns = ("bpp", "psnr", "JPEG_psnr", "WEBP_psnr")
    print("PSNR in dB; JPEG and WebP at the same bits per pixel as COMBINER's file")
    print(f"{'image':>18} {'bytes':>6} " + " ".join(f"{c:>10}" for c in columns))

    def cell(value: float) -> str:
        return f"{'-':>10}" if np.isnan(value) else f"{value:10.2f}"

    for r in rows:
        print(f"{r['image']:>18} {r['bytes']:6d} " + " ".join(cell(r[c]) for c in columns))
    means = " ".join(cell(np.mean([r[c] for r in rows])) for c in columns)
    print(f"{'mean':>18} {'':>6} {means}")
    print(f"files and decoded PNGs in {output}/ (every file decoded bit-identically)")
    return rows
