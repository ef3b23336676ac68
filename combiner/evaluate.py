"""Rate-distortion evaluation: COMBINER rate sweeps, ablations and classical codecs, one table.

Every measured row is appended to a JSON-lines log, so long sweeps can be run in pieces; the
CSV, the markdown table and the plot are rebuilt from the whole log each time. Rows name their
rate by the modality's unit (``bpp`` for images, ``kbps`` for audio).

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
import torch
from PIL import Image

from combiner import codec
from combiner.engines import Engine, engine_for
from combiner.parallel import compress_many
from combiner.shipped import load_prior
from combiner.signals import get_modality

#: Published (rate, PSNR dB) points, rate in bpp for images and kbps for audio; sources in the
#: project's anchors list (COMBINER, COIN++ and RECOMBINER papers).
ANCHORS = {
    "cifar10": {
        "COIN++": [(0.548, 24.22), (1.099, 27.03), (2.195, 30.45), (4.057, 33.69)],
        "RECOMBINER": [(0.297, 23.59), (0.938, 28.51), (1.922, 32.17), (4.391, 38.14)],
    },
    "kodak": {
        "COIN++": [(0.067, 23.68), (0.132, 24.93), (0.266, 26.14)],
        "JPEG2000 (paper)": [(0.126, 26.44), (0.199, 27.80), (0.299, 29.19)],
        "RECOMBINER": [(0.074, 26.16), (0.130, 27.65), (0.316, 30.44)],
        "COMBINER (paper, one image)": [(0.0703, 29.73), (0.2928, 33.59)],
    },
    "librispeech": {
        "COIN++": [(5.63, 36.01), (13.81, 39.35), (27.48, 42.90)],
        "MP3 (paper)": [(20.0, 43.52), (28.0, 45.90)],
    },
}
"""Published ``(rate, PSNR dB)`` points by data set, drawn next to measured curves."""
#: Largest lag searched when aligning decoded MP3 with its input: two MP3 frames (LAME's encoder
#: delay plus the decoder's is 1,105 samples).
_MP3_MAX_LAG = 2 * 1152

_PILLOW_CODECS = {
    # name: (Pillow format, options for a quality q)
    "JPEG": ("JPEG", lambda q: {"quality": q, "subsampling": 0}),
    "WebP": ("WEBP", lambda q: {"quality": q}),
    "JPEG 2000": ("JPEG2000", lambda q: {"quality_mode": "dB", "quality_layers": [q]}),
}
_UNIT_LABELS = {"bpp": "bits per pixel", "kbps": "kbit/s"}
_LABELS = {
    "JPEG": "JPEG (Pillow, 4:4:4)",
    "WebP": "WebP (Pillow)",
    "JPEG 2000": "JPEG 2000 (Pillow)",
}


def psnr_of_mean_mse(psnrs_db: Iterable[float]) -> float:
    """PSNR of the MSE averaged over data, from each datum's PSNR (the peak cancels out)."""
    return -10.0 * math.log10(float(np.mean([10.0 ** (-p / 10.0) for p in psnrs_db])))


def _summary(unit: str, rates: Iterable[float], psnrs_db: Iterable[float]) -> dict:
    psnrs_db = list(psnrs_db)
    return {
        unit: float(np.mean(list(rates))),
        "psnr_mean": float(np.mean(psnrs_db)),
        "psnr_of_mean_mse": psnr_of_mean_mse(psnrs_db),
    }


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

    JPEG and WebP take a quality 1..95 (1 is the smallest file the codec makes, the one that
    matters next to a low-rate codec); JPEG 2000 a target PSNR in dB (20..50).
    """
    rows = []
    image, grid = get_modality("image"), images.shape[1:3]
    for name in codecs:
        fmt, options = _PILLOW_CODECS[name]
        sweep = qualities or (range(20, 52, 3) if name == "JPEG 2000" else (1, *range(5, 100, 5)))
        for q in sweep:
            sizes, decoded = zip(
                *(pillow_round_trip(img, fmt, **options(q)) for img in images), strict=True
            )
            psnrs = [image.psnr(r, d) for r, d in zip(images, decoded, strict=True)]
            rows.append(
                {
                    "method": _LABELS[name],
                    "setting": f"q={q}",
                    **_summary("bpp", [image.rate(size, grid) for size in sizes], psnrs),
                }
            )
    return rows


def mp3_round_trip(clip: np.ndarray, sample_rate: int, kbps: int) -> tuple[int, np.ndarray]:
    """Encode a mono [-1, 1] clip ``(T,)`` as constant-bitrate MP3 with LAME (``lameenc``) and
    decode it with libsndfile (``soundfile``); ``(file bytes, decoded (T,) int16)``.

    The decoded clip is aligned to the input at the lag of least squared error within two MP3
    frames (LAME's encoder and decoder delays), which can only favour MP3.
    """
    import lameenc
    import soundfile

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(kbps)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_out_sample_rate(sample_rate)  # LAME would otherwise resample at low rates
    encoder.set_channels(1)
    encoder.set_quality(2)
    pcm = np.round(np.clip(clip, -1.0, 1.0) * 32767.0).astype(np.int16)
    data = bytes(encoder.encode(pcm.tobytes()) + encoder.flush())
    decoded, _ = soundfile.read(io.BytesIO(data), dtype="int16")
    decoded = np.concatenate([decoded, np.zeros(len(pcm) + _MP3_MAX_LAG, np.int16)])
    errors = [
        np.sum((decoded[lag : lag + len(pcm)].astype(np.float64) - pcm) ** 2)
        for lag in range(_MP3_MAX_LAG + 1)
    ]
    lag = int(np.argmin(errors))
    return len(data), decoded[lag : lag + len(pcm)]


def audio_baselines(
    clips: np.ndarray, sample_rate: int, bitrates_kbps: Iterable[int] = (8, 16, 24, 32, 40, 48)
) -> list[dict]:
    """Mean rate (whole files, kbps) and PSNR of MP3 over a bitrate sweep; ``clips (B, T)``."""
    audio = get_modality("audio", sample_rate)
    clips = audio.check(clips)[..., 0]
    rows = []
    for kbps in bitrates_kbps:
        sizes, decoded = zip(*(mp3_round_trip(c, sample_rate, kbps) for c in clips), strict=True)
        psnrs = [audio.psnr(c, d) for c, d in zip(clips, decoded, strict=True)]
        rates = [audio.rate(size, clips.shape[1:]) for size in sizes]
        summary = _summary("kbps", rates, psnrs)
        rows.append({"method": "MP3 (LAME)", "setting": f"{kbps} kbps CBR", **summary})
    return rows


def combiner_run(
    data: np.ndarray,
    prior_name: str,
    label: str,
    preset: str,
    engine: str | Engine = "local",
    **options: object,
) -> dict:
    """Compress and decompress ``data`` with one prior; rate, distortion, timings, peak memory.

    ``options`` go to [`combiner.codec.compress`][combiner.codec.compress] (``coder``, ``finetune``,
    ``modality_options``...). The data is fitted as one batch, or, on an ``engine`` with
    several workers, as one batch per worker (``encode_s_per_datum`` is then wall time over
    the data). Peak memory is this process's resident high-water mark (and the GPU's peak
    allocation when fitting ran there).
    """
    prior = load_prior(prior_name)
    start = time.perf_counter()
    with engine_for(engine) as runner:
        results = compress_many(
            data, prior, runner.workers, -(-len(data) // runner.workers), runner,
            preset=preset, **options,
        )  # fmt: skip
    encode_s = (time.perf_counter() - start) / len(data)
    start = time.perf_counter()
    decoded = [codec.decompress(r.data, prior) for r in results]
    decode_s = (time.perf_counter() - start) / len(data)
    if not all(np.array_equal(d, r.reconstruction) for d, r in zip(decoded, results, strict=True)):
        raise RuntimeError("a file did not decode to the encoder's reconstruction")
    points = 8 * len(results[0].data) / results[0].bpp  # grid points per datum
    row = {
        "method": label,
        "setting": f"{Path(prior_name).stem} {preset}",
        **_summary(results[0].rate_unit, [r.rate for r in results], [r.psnr_db for r in results]),
        "kl_bits_per_point": float(np.mean([r.kl_bits for r in results]) / points),
        "blocks": len(prior.blocks),
        "encode_s_per_datum": encode_s,
        "decode_ms_per_datum": 1e3 * decode_s,
        "peak_rss_mib": _peak_rss_mib(),
    }
    if torch.cuda.is_available():
        row["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def exact_sample_run(
    data: np.ndarray, prior_name: str, preset: str, modality_options: dict | None = None
) -> dict:
    """COMBINER's "theoretical" reference: KL rate, one exact posterior sample. Not a file."""
    estimates = codec.estimate_exact_sample(
        data, load_prior(prior_name), preset=preset, modality_options=modality_options
    )
    return {
        "method": "COMBINER exact sample (KL estimate, no file)",
        "setting": f"{Path(prior_name).stem} {preset}",
        **_summary(
            estimates[0].rate_unit, [e.rate for e in estimates], [e.psnr_db for e in estimates]
        ),
    }


def kl_map(
    datum: np.ndarray,
    prior_name: str,
    preset: str,
    path: Path,
    modality_options: dict | None = None,
) -> float:
    """Fit one datum ``(*grid, C)`` under a prior and save its KL-per-weight heat map to
    ``path``; returns the total KL in bits."""
    import matplotlib

    matplotlib.use("Agg")
    from combiner.figures import kl_heat_map

    prior = load_prior(prior_name)
    kl_bits = codec.posterior_kl_bits(
        datum[None], prior, preset=preset, modality_options=modality_options
    )[0]
    title = f"KL per weight under {Path(prior_name).stem}: {kl_bits.sum():.0f} bits"
    fig = kl_heat_map(kl_bits, prior.config, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return float(kl_bits.sum())


def append(log: Path, row: dict) -> None:
    """Append one measured row to the JSON-lines log (and echo it)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        f.write(json.dumps(row) + "\n")
    print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)


def report(log: Path, anchors: str | None = None, title: str = "", unit: str = "bpp") -> list[dict]:
    """Rebuild ``<log>.csv``, ``<log>.md`` and ``<log>.png`` from all rows of the log.

    Args:
        log: the JSON-lines log.
        anchors: a key of [`ANCHORS`][combiner.evaluate.ANCHORS] whose published points join the
            plot.
        title: plot title.
        unit: the rows' rate column and the plot's x axis (``"bpp"``, ``"kbps"``).
    """
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
    published = ANCHORS.get(anchors or "", {})
    # Zoom on where COMBINER and the published points are; baselines run far beyond.
    focus = [r[unit] for r in rows if r["method"].startswith("COMBINER")]
    focus += [rate for points in published.values() for rate, _ in points]
    right = 1.6 * max(focus) if focus else None
    visible = [r["psnr_mean"] for r in rows if right is None or r[unit] <= right]
    visible += [db for points in published.values() for _, db in points]
    for method in dict.fromkeys(r["method"] for r in rows):
        points = sorted((r[unit], r["psnr_mean"]) for r in rows if r["method"] == method)
        style = (
            "o-"
            if method.startswith("COMBINER (")
            else "s"
            if method.startswith("COMBINER")
            else ".-"
        )
        ax.plot(*zip(*points, strict=True), style, label=method, markersize=5)
    for name, points in published.items():
        ax.plot(*zip(*points, strict=True), "x--", label=f"{name} (published)")
    ax.set(xlabel=f"rate ({_UNIT_LABELS.get(unit, unit)}, whole files)", ylabel="PSNR (dB)")
    ax.set_title(title)
    ax.set_xlim(0, right)
    finite = [db for db in visible if math.isfinite(db)]
    if finite:
        ax.set_ylim(min(finite) - 1.0, max(finite) + 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(stem.with_suffix(".png"), dpi=120)
    return rows
