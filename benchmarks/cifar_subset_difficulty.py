"""How hard are the 20 bundled CIFAR-10 images compared with the whole CIFAR-10 test set?

Published CIFAR-10 curves (COIN++, BPG, ...) average all 10,000 test images; ours average the
20 bundled ones (the first 20 of the test set, from foolbox). Comparing the two mixes a method's
quality with how hard the images are. This benchmark measures the second part alone: it runs
the protocol of the COIN++ repository's JPEG baseline (``baseline_image.py``: Pillow JPEG at
default settings, for each image the highest quality 1..96 whose *whole file* fits in
``bpp * 32 * 32 / 8`` bytes, mean of the per-image PSNRs) on the 20 bundled images at the rates
where the COIN++ repository publishes that baseline's result on the full test set
(``results/cifar10/jpeg.json``, Pillow 8.1.0), and prints the difference at each rate.

JPEG's ~600-byte header pushes its rates to 5.4-8.2 bpp, but its PSNR there (23-33 dB) spans
the same distortions as COMBINER's curve, so the offset applies to the comparison at equal
*quality*. A negative offset means the bundled images are harder than the test-set average: a
published full-test-set curve should be lowered by about that much before it is compared with
numbers measured on them.

    python benchmarks/cifar_subset_difficulty.py
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from combiner.data import cifar10_samples
from combiner.evaluate import ANCHORS
from combiner.signals import get_modality

#: The COIN++ repository's JPEG baseline on the 10,000 CIFAR-10 test images (bpp, mean PSNR dB).
FULL_TEST_SET_JPEG = (
    (5.4, 22.898),
    (5.8, 25.651),
    (6.2, 27.439),
    (6.6, 28.801),
    (7.0, 29.969),
    (7.4, 30.993),
    (7.8, 31.923),
    (8.2, 32.797),
)


def jpeg_within(image: Image.Image, max_bytes: float) -> np.ndarray | None:
    """Decoded RGB of the best-quality JPEG of ``image`` no larger than ``max_bytes``, or None."""
    low, high, best = 1, 96, None
    while low <= high:
        quality = (low + high) // 2
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        if buffer.tell() <= max_bytes:
            best, low = buffer.getvalue(), quality + 1
        else:
            high = quality - 1
    if best is None:
        return None
    with Image.open(io.BytesIO(best)) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.float64)


def main() -> None:
    images, _ = cifar10_samples()
    modality = get_modality("image")
    pictures = [Image.fromarray(np.round(img * 255).astype(np.uint8)) for img in images]
    pixels = images.shape[1] * images.shape[2]
    print("| bpp | JPEG, 20 bundled images | JPEG, full test set (COIN++ repo) | offset dB |")
    print("|---|---|---|---|")
    offsets = []
    for bpp, published in FULL_TEST_SET_JPEG:
        psnrs = []
        for img, picture in zip(images, pictures, strict=True):
            decoded = jpeg_within(picture, bpp * pixels / 8)
            if decoded is not None:
                psnrs.append(modality.psnr(img, decoded))
        if len(psnrs) < len(images):
            print(f"| {bpp} | {len(images) - len(psnrs)} images fit no JPEG file | | |")
            continue
        offsets.append(float(np.mean(psnrs)) - published)
        print(f"| {bpp} | {np.mean(psnrs):.3f} | {published:.3f} | {offsets[-1]:+.3f} |")
    offset = float(np.mean(offsets))
    print(f"\nmean offset: {offset:+.2f} dB (range {min(offsets):+.2f} to {max(offsets):+.2f})")
    print("COIN++ (full test set) lowered by that offset, for comparisons on the bundled images:")
    for bpp, psnr in ANCHORS["cifar10"]["COIN++"]:
        print(f"  {bpp:.3f} bpp: {psnr:.2f} -> {psnr + offset:.2f} dB")


if __name__ == "__main__":
    main()
