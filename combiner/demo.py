"""``combiner demo``: compress the bundled CIFAR-10 images with a shipped prior, end to end.

Writes each ``.cmb`` file and its decoded PNG, checks every file decodes to exactly the image
the encoder reported, and prints bits per pixel and PSNR next to JPEG at a similar size.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
from PIL import Image

from combiner import codec
from combiner.data import cifar10_samples
from combiner.shipped import load_prior


def jpeg_at(image: np.ndarray, target_bpp: float) -> tuple[float, float]:
    """``(bpp, PSNR)`` of the Pillow JPEG whose size is closest to ``target_bpp``."""
    pixels = image.shape[0] * image.shape[1]
    best = (np.inf, 0.0, 0.0)
    for quality in range(5, 100, 5):
        buffer = io.BytesIO()
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(
            buffer, format="JPEG", quality=quality
        )
        bpp = 8 * buffer.tell() / pixels
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
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
        jpeg_bpp, jpeg_psnr = jpeg_at(image, result.bpp)
        rows.append(
            {
                "image": name,
                "bytes": len(result.data),
                "bpp": result.bpp,
                "psnr": result.psnr_db,
                "jpeg_bpp": jpeg_bpp,
                "jpeg_psnr": jpeg_psnr,
            }
        )
    print(
        f"prior {prior_name}, preset {preset}: "
        f"{encode_s / count:.1f} s per image (batch of {count})"
    )
    print(f"{'image':>18} {'bytes':>6} {'bpp':>6} {'PSNR':>6} | {'JPEG bpp':>8} {'PSNR':>6}")
    for r in rows:
        print(
            f"{r['image']:>18} {r['bytes']:6d} {r['bpp']:6.2f} {r['psnr']:6.2f} | "
            f"{r['jpeg_bpp']:8.2f} {r['jpeg_psnr']:6.2f}"
        )
    mean = {k: np.mean([r[k] for r in rows]) for k in ("bpp", "psnr", "jpeg_bpp", "jpeg_psnr")}
    print(
        f"{'mean':>18} {'':>6} {mean['bpp']:6.2f} {mean['psnr']:6.2f} | "
        f"{mean['jpeg_bpp']:8.2f} {mean['jpeg_psnr']:6.2f}"
    )
    print(f"files and decoded PNGs in {output}/ (every file decoded bit-identically)")
    return rows
