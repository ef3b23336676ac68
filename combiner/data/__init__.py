"""Small real images shipped with the package (see ``README.md`` here for sources and licence)."""

from __future__ import annotations

from importlib import resources

import numpy as np
from PIL import Image


def _load(folder: str) -> tuple[np.ndarray, list[str]]:
    root = resources.files(__name__) / folder
    names = sorted(p.name for p in root.iterdir() if p.name.endswith(".png"))
    images = []
    for name in names:
        with resources.as_file(root / name) as path, Image.open(path) as img:
            images.append(np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0)
    return np.stack(images), names


def cifar10_samples() -> tuple[np.ndarray, list[str]]:
    """The 20 bundled CIFAR-10 test images, ``(20, 32, 32, 3)`` in [0, 1], and their file names.

    Examples:
        >>> images, names = cifar10_samples()
        >>> images.shape, names[0]
        ((20, 32, 32, 3), 'cifar10_00_3.png')
    """
    return _load("cifar10")


def cifar100_samples() -> tuple[np.ndarray, list[str]]:
    """The 20 bundled CIFAR-100 test images (training material for priors), ``(20, 32, 32, 3)``."""
    return _load("cifar100")
