"""Rate-distortion evaluation: COMBINER rate sweeps, ablations and classical codecs, one table.

Every measured row is appended to a JSON-lines log, so long sweeps can be run in pieces; the
CSV, the markdown table and the plot are rebuilt from the whole log each time.

Examples:
    >>> from combiner.evaluate import image_baselines
    >>> import numpy as np
    >>> rows = image_baselines(np.full((1, 16, 16, 3), 0.5), codecs=("JPEG",), qualities=(50,))
    >>> rows[0]["method"], rows[0]["bpp"] > 0
    ('JPEG (Pillow, 4:4:4)', True)
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from combiner import codec
from combiner.shipped import load_prior

#: Published (bpp, PSNR dB) points; sources in the project's anchors list.
ANCHORS = {
    "cifar10": {
        "COIN++": [(0.548, 24.22), (1.099, 27.03), (2.195, 30.45), (4.057, 33.69)],
        "RECOMBINER": [(0.297, 23.59), (0.938, 28.51), (1.922, 32.17), (4.391, 38.14)],
    },
}

_PILLOW_CODECS = {
    # name: (Pillow format, options for a quality q)
    "JPEG": ("JPEG", lambda q: {"quality": q, "subsampling": 0}),
    "WebP": ("WEBP", lambda q: {"quality": q}),
    "JPEG 2000": ("JPEG2000", lambda q: {"quality_mode": "dB", "quality_layers": [q]}),
}
_LABELS = {
    "JPEG": "JPEG (Pillow, 4:4:4)",
    "WebP": "WebP (Pillow)",
    "JPEG 2000": "JPEG 2000 (Pillow)",
}


def psnr_of_mean_mse(references: np.ndarray, decoded: Iterable[np.ndarray]) -> float:
    """PSNR of the MSE averaged over images (8-bit decoded vs [0, 1] references)."""
    mse = np.mean([np.mean((d / 255.0 - r) ** 2) for r, d in zip(references, decoded, strict=True)])
    return 10.0 * math.log10(1.0 / mse)


def pillow_round_trip(image: np.ndarray, fmt: str, **options: object) -> tuple[int, np.ndarray]:
    """Encode a [0, 1] image with Pillow's ``fmt`` codec; ``(file bytes, decoded RGB float64)``."""
    buffer = io.BytesIO()
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(buffer, format=fmt, **options)
    with Image.open(io.BytesIO(buffer.getvalue())) as out:
        return buffer.tell(), np.asarray(out.convert("RGB"), dtype=np.float64)


def image_baselines(
    images: np.ndarray,
    codecs: Iterable[str] = ("JPEG", "WebP", "JPEG 2000"),
    qualities: Iterable[int] | None = None,
) -> list[dict]:
    """Mean rate (whole files, bpp) and PSNR of Pillow codecs over a quality sweep.

    JPEG and WebP take a quality 5..95; JPEG 2000 a target PSNR in dB (20..50).
    """
    rows = []
    pixels = images.shape[1] * images.shape[2]
    for name in codecs:
        fmt, options = _PILLOW_CODECS[name]
        sweep = qualities or (range(20, 52, 3) if name == "JPEG 2000" else range(5, 100, 5))
        for q in sweep:
            sizes, decoded = zip(
                *(pillow_round_trip(img, fmt, **options(q)) for img in images), strict=True
            )
            rows.append(
                {
                    "method": _LABELS[name],
                    "setting": f"q={q}",
                    "bpp": float(np.mean(sizes) * 8 / pixels),
                    "psnr_mean": float(
                        np.mean([codec.psnr(r, d) for r, d in zip(images, decoded, strict=True)])
                    ),
                    "psnr_of_mean_mse": psnr_of_mean_mse(images, decoded),
                }
            )
    return rows


def combiner_run(
    images: np.ndarray, prior_name: str, label: str, preset: str, **options: object
) -> dict:
    """Compress and decompress ``images`` with one prior; rate, distortion and timings."""
    prior = load_prior(prior_name)
    start = time.perf_counter()
    results = codec.compress(images, prior, preset=preset, **options)
    encode_s = (time.perf_counter() - start) / len(images)
    start = time.perf_counter()
    decoded = [codec.decompress(r.data, prior) for r in results]
    decode_s = (time.perf_counter() - start) / len(images)
    if not all(np.array_equal(d, r.reconstruction) for d, r in zip(decoded, results, strict=True)):
        raise RuntimeError("a file did not decode to the encoder's reconstruction")
    return {
        "method": label,
        "setting": f"{prior_name} {preset}",
        "bpp": float(np.mean([r.bpp for r in results])),
        "psnr_mean": float(np.mean([r.psnr_db for r in results])),
        "psnr_of_mean_mse": psnr_of_mean_mse(images, decoded),
        "kl_bpp": float(np.mean([r.kl_bits for r in results]) / images[0, ..., 0].size),
        "blocks": len(prior.blocks),
        "encode_s_per_image": encode_s,
        "decode_ms_per_image": 1e3 * decode_s,
    }


def exact_sample_run(images: np.ndarray, prior_name: str, preset: str) -> dict:
    """COMBINER's "theoretical" reference: KL rate, one exact posterior sample. Not a file."""
    estimates = codec.estimate_exact_sample(images, load_prior(prior_name), preset=preset)
    return {
        "method": "COMBINER exact sample (KL estimate, no file)",
        "setting": f"{prior_name} {preset}",
        "bpp": float(np.mean([e.bpp_estimate for e in estimates])),
        "psnr_mean": float(np.mean([e.psnr_db for e in estimates])),
    }


def append(log: Path, row: dict) -> None:
    """Append one measured row to the JSON-lines log (and echo it)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        f.write(json.dumps(row) + "\n")
    print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)


def report(log: Path, anchors: str | None = None, title: str = "") -> list[dict]:
    """Rebuild ``<log>.csv``, ``<log>.md`` and ``<log>.png`` from all rows of the log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    fields = list(dict.fromkeys(k for r in rows for k in r))
    stem = log.with_suffix("")
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(fields) + " |", "|" + "---|" * len(fields)]
    for r in rows:
        cells = [
            f"{r[k]:.3f}" if isinstance(r.get(k), float) else str(r.get(k, "")) for k in fields
        ]
        lines.append("| " + " | ".join(cells) + " |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")

    fig, ax = plt.subplots(figsize=(7, 4.8))
    for method in dict.fromkeys(r["method"] for r in rows):
        points = sorted((r["bpp"], r["psnr_mean"]) for r in rows if r["method"] == method)
        style = (
            "o-"
            if method.startswith("COMBINER (")
            else "s"
            if method.startswith("COMBINER")
            else ".-"
        )
        ax.plot(*zip(*points, strict=True), style, label=method, markersize=5)
    for name, points in ANCHORS.get(anchors or "", {}).items():
        ax.plot(*zip(*points, strict=True), "x--", label=f"{name} (published)")
    ax.set(
        xlabel="bits per pixel (whole file)",
        ylabel="PSNR (dB)",
        title=title,
        xlim=(0, 6),
        ylim=(10, 45),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(stem.with_suffix(".png"), dpi=120)
    return rows
