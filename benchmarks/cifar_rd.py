"""Rate-distortion of COMBINER on the 20 bundled CIFAR-10 test images, next to JPEG and anchors.

Uses the priors shipped in ``combiner/priors/`` (trained by ``train_cifar_priors.py`` on other
images). Rates count every byte of the ``.cmb`` files. Every measured row is appended to
``benchmarks/out/cifar_rd.jsonl``; the table (``cifar_rd.csv``, ``cifar_rd.md``) and the plot
(``cifar_rd.png``) are rebuilt from all rows each run.

Run: ``python benchmarks/cifar_rd.py`` (rates and JPEG); ``--runs ablations`` adds learned vs
isotropic, A* vs MRC, fine-tuning off and the exact-sample estimate at beta = 2e-6;
``--preset paper`` uses the paper's iteration counts (slow on a CPU).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from combiner import codec
from combiner.data import cifar10_samples
from combiner.shipped import available_priors, load_prior

OUT = Path(__file__).parent / "out"

# Published points (bpp, PSNR dB) on CIFAR-10; sources in ../shared/anchors.md.
ANCHORS = {
    "COIN++": [(0.548, 24.22), (1.099, 27.03), (2.195, 30.45), (4.057, 33.69)],
    "RECOMBINER": [(0.297, 23.59), (0.938, 28.51), (1.922, 32.17), (4.391, 38.14)],
}


def psnr_of_mean_mse(references: np.ndarray, decoded: list[np.ndarray]) -> float:
    mse = np.mean([np.mean((d / 255.0 - r) ** 2) for r, d in zip(references, decoded, strict=True)])
    return 10.0 * math.log10(1.0 / mse)


def jpeg_curve(images: np.ndarray) -> list[dict]:
    """Pillow JPEG (4:4:4, no optimisation tricks) at qualities 5..95: mean bpp and PSNRs."""
    rows = []
    for quality in range(5, 100, 5):
        sizes, decoded = [], []
        for img in images:
            buffer = io.BytesIO()
            Image.fromarray(np.round(img * 255).astype(np.uint8)).save(
                buffer, format="JPEG", quality=quality, subsampling=0
            )
            sizes.append(len(buffer.getvalue()))
            decoded.append(np.asarray(Image.open(io.BytesIO(buffer.getvalue()))).astype(np.float64))
        pixels = images.shape[1] * images.shape[2]
        rows.append(
            {
                "method": "JPEG (Pillow, 4:4:4)",
                "setting": f"q={quality}",
                "bpp": float(np.mean(sizes) * 8 / pixels),
                "psnr_mean": float(
                    np.mean([codec.psnr(r, d) for r, d in zip(images, decoded, strict=True)])
                ),
                "psnr_of_mean_mse": psnr_of_mean_mse(images, decoded),
            }
        )
    return rows


def combiner_row(
    images: np.ndarray, prior_name: str, label: str, preset: str, **options: object
) -> dict:
    prior = load_prior(prior_name)
    start = time.perf_counter()
    results = codec.compress(images, prior, preset=preset, **options)
    encode_s = (time.perf_counter() - start) / len(images)
    start = time.perf_counter()
    decoded = [codec.decompress(r.data, prior) for r in results]
    decode_s = (time.perf_counter() - start) / len(images)
    assert all(np.array_equal(d, r.reconstruction) for d, r in zip(decoded, results, strict=True))
    return {
        "method": label,
        "setting": f"{prior_name} {preset}",
        "bpp": float(np.mean([r.bpp for r in results])),
        "psnr_mean": float(np.mean([r.psnr_db for r in results])),
        "psnr_of_mean_mse": psnr_of_mean_mse(images, decoded),
        "kl_bpp": float(np.mean([r.kl_bits for r in results]) / 1024),
        "blocks": len(prior.blocks),
        "encode_s_per_image": encode_s,
        "decode_ms_per_image": 1e3 * decode_s,
    }


def exact_sample_row(images: np.ndarray, prior_name: str, preset: str) -> dict:
    estimates = codec.estimate_exact_sample(images, load_prior(prior_name), preset=preset)
    return {
        "method": "COMBINER exact sample (estimate, no file)",
        "setting": f"{prior_name} {preset}",
        "bpp": float(np.mean([e.bpp_estimate for e in estimates])),
        "psnr_mean": float(np.mean([e.psnr_db for e in estimates])),
    }


def write_outputs(rows: list[dict], stem: str) -> None:
    OUT.mkdir(exist_ok=True)
    fields = sorted(
        {k for r in rows for k in r}, key=lambda k: list(rows[0]).index(k) if k in rows[0] else 99
    )
    with open(OUT / f"{stem}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(fields) + " |", "|" + "---|" * len(fields)]
    for r in rows:
        cells = [
            f"{r[k]:.3f}" if isinstance(r.get(k), float) else str(r.get(k, "")) for k in fields
        ]
        lines.append("| " + " | ".join(cells) + " |")
    (OUT / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for method in dict.fromkeys(r["method"] for r in rows):
        pts = sorted((r["bpp"], r["psnr_mean"]) for r in rows if r["method"] == method)
        ax.plot(*zip(*pts, strict=True), marker="o", label=method)
    for name, pts in ANCHORS.items():
        ax.plot(*zip(*pts, strict=True), linestyle="--", marker="x", label=f"{name} (published)")
    ax.set(
        xlabel="bits per pixel (whole file)",
        ylabel="PSNR (dB)",
        title="CIFAR-10, 20 test images",
        xlim=(0, 5.5),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / f"{stem}.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast", choices=sorted(codec.PRESETS))
    parser.add_argument(
        "--runs",
        nargs="*",
        default=["rates", "jpeg"],
        choices=["rates", "ablations", "jpeg"],
        help="what to measure; results accumulate in benchmarks/out/cifar_rd.jsonl",
    )
    parser.add_argument("--priors", nargs="*", help="only these shipped priors (rates run)")
    parser.add_argument("--images", type=int, default=20, help="use the first N images")
    args = parser.parse_args()
    images = cifar10_samples()[0][: args.images]
    OUT.mkdir(exist_ok=True)
    log = OUT / "cifar_rd.jsonl"

    def record(row: dict) -> None:
        row = {**row, "images": len(images)}
        print(row, flush=True)
        with open(log, "a") as f:
            f.write(json.dumps(row) + "\n")

    if "rates" in args.runs:
        for name in args.priors or [n for n in available_priors() if n.startswith("cifar-learned")]:
            record(combiner_row(images, name, f"COMBINER ({args.preset})", args.preset))
    if "ablations" in args.runs:
        middle = "cifar-learned-beta2e-06"
        record(
            combiner_row(
                images, "cifar-isotropic-beta2e-06", "COMBINER isotropic prior", args.preset
            )
        )
        record(combiner_row(images, middle, "COMBINER with MRC", args.preset, coder="mrc"))
        record(
            combiner_row(
                images, middle, "COMBINER without fine-tuning", args.preset, finetune=False
            )
        )
        record(exact_sample_row(images, middle, args.preset))
    if "jpeg" in args.runs:
        for row in jpeg_curve(images):
            record(row)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    write_outputs(rows, "cifar_rd")


if __name__ == "__main__":
    main()
