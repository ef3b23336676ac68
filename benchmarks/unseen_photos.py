"""COMBINER on 32x32 photos its priors never saw: foolbox's 20 ImageNet sample photos (MIT).

The shipped CIFAR priors were trained on CIFAR-100 test images and crops of sporco's and
matplotlib's photos (``benchmarks/train_cifar_priors.py``); foolbox's photos are another source.
Each is downsampled whole to 32x32 (Lanczos), as CIFAR was made, and saved as a PNG; then
``combiner evaluate`` runs every shipped CIFAR prior on them next to JPEG and WebP, and keeps
its log, table and plot in ``benchmarks/out/unseen/rd.*``.

Run: ``python benchmarks/unseen_photos.py`` (about 10 minutes on 2 cores with the ``fast``
preset; other arguments go to ``combiner evaluate``, e.g. ``--preset tiny``). The photos come
from the foolbox wheel on PyPI (``pip download``), fetched once into ``benchmarks/out/data``.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from PIL import Image

from combiner import cli
from combiner.shipped import available_priors

OUT = Path(__file__).resolve().parent / "out"
FOOLBOX = OUT / "data" / "foolbox"


def foolbox_photos() -> list[Path]:
    """The 20 ImageNet sample photos shipped in foolbox 3.3.4's wheel (fetched once)."""
    if not FOOLBOX.exists():
        wheels = OUT / "data" / "wheels"
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "foolbox==3.3.4"]
        subprocess.run([*command, "-d", str(wheels)], check=True)
        FOOLBOX.mkdir(parents=True)
        with zipfile.ZipFile(next(wheels.glob("foolbox-*.whl"))) as wheel:
            for name in wheel.namelist():
                if name.startswith("foolbox/data/imagenet_"):
                    (FOOLBOX / Path(name).name).write_bytes(wheel.read(name))
    return sorted(FOOLBOX.glob("*.jpg"))


def thumbnails(folder: Path) -> Path:
    """Each photo downsampled whole to 32x32 PNG in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in foolbox_photos():
        with Image.open(path) as img:
            img.convert("RGB").resize((32, 32), Image.LANCZOS).save(folder / f"{path.stem}.png")
    return folder


if __name__ == "__main__":
    folder = thumbnails(OUT / "unseen" / "photos")
    priors = [n for n in available_priors() if n.startswith("cifar-learned")]
    args = ["evaluate", "--folder", str(folder), "-o", str(OUT / "unseen" / "rd"), "--priors"]
    sys.exit(cli.main([*args, *priors, "--title", "20 unseen 32x32 photos", *sys.argv[1:]]))
