"""Kodak-sized images and 16 kHz speech: fetch real data, train priors, run ``combiner evaluate``.

Nothing is vendored: the data come from Debian packages and a PyPI wheel, fetched into
``benchmarks/out/data`` (``apt-get download`` needs no root):

- images: ``sporco`` ships the Kodak image ``kodim23.png`` (evaluation) and three 768x512
  Waterloo BragZone photos ``monarch``, ``sail``, ``tulips`` (prior training), plus one 768x512
  centre crop of ``flower.png`` from Debian's ``libjxl-testdata`` (CC0);
- speech: the five LibriVox clips of Debian's ``pocketsphinx-testdata`` (evaluation, cut into
  3-second chunks as in the paper) and, for prior training, every other 16 kHz speech file of
  that package and of ``codec2-examples`` (concatenated, then cut into 3-second chunks).

Usage::

    python benchmarks/large_signals.py prepare          # data folders under benchmarks/out
    python benchmarks/large_signals.py audio --points 1e-7:9e-6 1e-8:1e-7
    python benchmarks/large_signals.py kodak --points 1e-8:4e-6 --kl-map

Each run prints and appends to ``benchmarks/out/<audio|kodak>.jsonl``; ``combiner evaluate``
writes the CSV, markdown table and rate-distortion plot (with MP3 or JPEG/WebP/JPEG 2000 and the
published anchors) next to it. Wall time and peak memory of each step are printed.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import wavfile

OUT = Path(__file__).parent / "out"
DATA = OUT / "data"
RATE = 16_000
CHUNK = 3 * RATE
SPHINX = "usr/share/pocketsphinx/test/data"
CODEC2 = "usr/share/codec2"


def _fetch() -> Path:
    root = DATA / "root"
    if not root.exists():
        debs = DATA / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        packages = ["pocketsphinx-testdata", "codec2-examples", "libjxl-testdata"]
        subprocess.run(["apt-get", "download", *packages], cwd=debs, check=True)
        for deb in debs.glob("*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    sporco = DATA / "sporco"
    if not sporco.exists():
        wheels = DATA / "wheels"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "sporco==0.2.1", "-d", wheels],
            check=True,
        )
        with zipfile.ZipFile(next(wheels.glob("sporco-*.whl"))) as wheel:
            for name in wheel.namelist():
                if name.startswith("sporco/data/") and name.endswith(".png"):
                    sporco.mkdir(exist_ok=True)
                    (sporco / Path(name).name).write_bytes(wheel.read(name))
    return root


def _pcm(path: Path) -> np.ndarray:
    if path.suffix == ".raw":  # pocketsphinx's headerless 16 kHz 16-bit little-endian
        return np.fromfile(path, dtype="<i2")
    rate, data = wavfile.read(path)
    assert rate == RATE and data.dtype == np.int16 and data.ndim == 1, path
    return data


def _write_chunks(wave: np.ndarray, folder: Path, stem: str) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    count = len(wave) // CHUNK
    for i in range(count):
        wavfile.write(folder / f"{stem}-{i}.wav", RATE, wave[i * CHUNK : (i + 1) * CHUNK])
    return count


def prepare() -> None:
    root = _fetch()
    librivox = sorted((root / SPHINX / "librivox").glob("*.wav"))
    evaluation = sum(_write_chunks(_pcm(p), OUT / "audio" / "eval", p.stem) for p in librivox)
    training = [
        root / CODEC2 / "raw" / "speech_orig_16k.wav",
        root / CODEC2 / "wav" / "wia_16kHz.wav",
        *sorted((root / SPHINX / "cards").glob("*.wav")),
        *sorted((root / SPHINX).glob("*.raw")),
    ]
    speech = np.concatenate([_pcm(p) for p in training])
    train = _write_chunks(speech, OUT / "audio" / "train", "speech")
    print(f"audio: {train} training and {evaluation} evaluation chunks of 3 s")
    images = OUT / "kodak"
    for folder in ("train", "eval"):
        (images / folder).mkdir(parents=True, exist_ok=True)
    sporco = DATA / "sporco"
    for name in ("monarch", "sail", "tulips"):
        Image.open(sporco / f"{name}.png").convert("RGB").save(images / "train" / f"{name}.png")
    with Image.open(root / "usr/share/libjxl-testdata/jxl/flower/flower.png") as flower:
        left, top = (flower.width - 768) // 2, (flower.height - 512) // 2
        flower.convert("RGB").crop((left, top, left + 768, top + 512)).save(
            images / "train" / "flower-crop.png"
        )
    Image.open(sporco / "kodim23.png").convert("RGB").save(images / "eval" / "kodim23.png")
    print(f"images: 4 training crops and kodim23 for evaluation under {images}")


def _run(command: list[str]) -> None:
    start = time.perf_counter()
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"  {time.perf_counter() - start:.0f} s, peak memory of any step so far {peak_mib:.0f} MiB",
        flush=True,
    )


def sweep(kind: str, preset: str, points: list[str], lr: str, extra: list[str]) -> None:
    """Train one prior per ``beta:init_variance`` point, then evaluate them all."""
    net = {"audio": "audio", "kodak": "kodak-small"}[kind]
    priors = []
    for point in points:
        beta, init_variance = point.split(":")
        prior = OUT / kind / f"prior-{preset}-beta{beta}-var{init_variance}.npz"
        if not prior.exists():
            _run(
                [
                    "combiner", "train-prior", str(OUT / kind / "train"), "-o", str(prior),
                    "--net", net, "--beta", beta, "--preset", preset, "--lr", lr,
                    "--init-variance", init_variance,
                ]
            )  # fmt: skip
        priors.append(str(prior))
    anchors = {"audio": "librispeech", "kodak": "kodak"}[kind]
    _run(
        [
            "combiner", "evaluate", "--folder", str(OUT / kind / "eval"), "--preset", preset,
            "--priors", *priors, "--anchors", anchors, "-o", str(OUT / kind / "rd"), *extra,
        ]
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["prepare", "audio", "kodak"])
    parser.add_argument("--preset", default="large-cpu")
    parser.add_argument(
        "--points",
        nargs="+",
        default=["1e-8:4e-6"],
        help="rate points as beta:initial-posterior-variance (the paper tunes both per point)",
    )
    parser.add_argument("--lr", default="1e-3", help="prior learning rate (paper: 1e-4 Kodak)")
    args, extra = parser.parse_known_args()
    if args.what == "prepare":
        prepare()
    else:
        sweep(args.what, args.preset, args.points, args.lr, extra)


if __name__ == "__main__":
    main()
