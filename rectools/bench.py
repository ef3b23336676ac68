"""Compare REC algorithms: targets at a chosen KL, batched encoding, a tidy sweep, a plot.

- [`target_with_kl`][rectools.bench.target_with_kl]: a Gaussian pair at an exact KL.
- [`encode_batch`][rectools.batch.encode_batch] (re-exported): many ``(q, p, seed)`` encodes
  at once on all cores; results are identical to a loop of single encodes.
- [`sweep`][rectools.bench.sweep]: for every coder that accepts each pair, coded bits (its index
  model fitted on one half of the seeds, measured on the other), bytes, D_inf, sample quality
  (Kolmogorov-Smirnov distance of the first axis against the target) and encode/decode time,
  as rows of a table; [`plot`][rectools.bench.plot] draws them.
- [`matched_tv`][rectools.bench.matched_tv]: each coder's cost at equal sample quality, for a
  categorical target whose exact output law is known.

Run ``python -m rectools.bench`` (``--quick`` for a smoke run) to write ``rec-bench.csv`` and
``rec-bench.png``.

Examples:
    >>> import rectools
    >>> from rectools.bench import encode_batch, target_with_kl
    >>> q, p = target_with_kl(6.0, dim=4)
    >>> round(rectools.kl_bits(q, p), 6)
    6.0
    >>> results = encode_batch(rectools.get_coder("astar"), [q] * 8, p, seeds=range(8))
    >>> results[3].index == rectools.get_coder("astar").encode(q, p, seed=3).index
    True
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from scipy import stats

from rectools.batch import available_workers, encode_batch
from rectools.coders.base import MAX_LOG2_NUM_CANDIDATES, Coder
from rectools.coders.registry import available_coders, get_coder
from rectools.diagnostics import exact_output_distribution, tv_distance
from rectools.distributions import Categorical, DiagonalGaussian, kl_bits
from rectools.distributions import log_ratio_bound as _log_ratio_bound
from rectools.index_models import fit_index_model
from rectools.testing import gaussian_with_kl


def target_with_kl(
    kl_bits_target: float, dim: int = 1, std_ratio: float = 0.5
) -> tuple[DiagonalGaussian, DiagonalGaussian]:
    """``(q, p)``: ``p = N(0, I)`` in ``dim`` dimensions and ``q`` at exactly ``kl_bits_target``.

    ``q`` is ``std_ratio`` times as wide as ``p`` on every axis and shifted along the diagonal
    (see [`gaussian_with_kl`][rectools.testing.gaussian_with_kl]), so the density ratio is
    bounded and every coder, exact ones included, accepts the pair.
    """
    p = DiagonalGaussian(np.zeros(dim), np.ones(dim))
    return gaussian_with_kl(p, kl_bits_target, std_ratio), p


def best_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """The fastest of ``repeats`` calls of ``fn``, in seconds."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def sweep(
    kls: Iterable[float] = (2.0, 4.0, 8.0, 12.0),
    dims: Iterable[int] = (1, 4),
    coders: Iterable[str] | None = None,
    seeds: int = 200,
    std_ratio: float = 0.5,
    max_exact_d_inf_bits: float = 18.0,
) -> list[dict]:
    """One row per ``(coder, KL, dimension)``: bits, bytes, D_inf, quality and speed.

    Args:
        kls: target KLs in bits.
        dims: dimensions.
        coders: coder names (default: all registered); each runs only on pairs it supports.
        seeds: encodes per cell; the index model is fitted on the first half and the bits are
            measured on the second (train/test split).
        std_ratio: the targets' width relative to the proposal's.
        max_exact_d_inf_bits: skip exact coders (all but the branch-and-bound one examine
            about ``2 ** D_inf`` candidates) on pairs above this D_inf.

    Returns:
        Rows with keys ``coder, kl_bits, d_inf_bits, dim, mean_bits, bytes_per_index,
        ks_axis0, mean_examined, encode_ms, decode_us``.
    """
    names = list(coders) if coders is not None else list(available_coders())
    rows = []
    for dim in dims:
        for kl in kls:
            q, p = target_with_kl(kl, dim, std_ratio)
            d_inf_bits = _log_ratio_bound(q, p) / math.log(2.0)
            for name in names:
                coder = get_coder(name)
                too_slow = coder.exact and d_inf_bits > max_exact_d_inf_bits
                if not coder.supports(q, p) or (too_slow and name != "gprs-bnb"):
                    continue
                rows.append(_cell(coder, q, p, seeds))
    return rows


def _cell(coder: Coder, q: DiagonalGaussian, p: DiagonalGaussian, seeds: int) -> dict:
    coder.encode(q, p, seed=2**40)  # compile and warm up outside the clock
    start = time.perf_counter()
    results = [coder.encode(q, p, seed=s) for s in range(seeds)]
    encode_s = (time.perf_counter() - start) / seeds
    n = results[0].num_candidates
    indices = np.array([r.index for r in results])
    half = seeds // 2
    if n <= 2**MAX_LOG2_NUM_CANDIDATES:
        model = fit_index_model(coder.index_model, indices[:half], n)
        mean_bits = float(np.mean(model.bits(indices[half:])))
        bytes_per_index = len(model.compress(indices[half:])) / (seeds - half)
    else:  # beyond the range coder's alphabet (a search tree's node numbers)
        mean_bits, bytes_per_index = _octave_code_bits(indices[:half], indices[half:]), math.nan
    last = results[-1]
    decode_s = best_time(lambda: coder.decode(last.index, p, last.seed, n), repeats=50)
    samples = np.stack([r.sample for r in results])
    ks = stats.kstest(samples[:, 0], lambda x: q.marginal_cdf(x, 0)).statistic
    return {
        "coder": coder.name,
        "kl_bits": round(kl_bits(q, p), 3),
        "d_inf_bits": round(_log_ratio_bound(q, p) / math.log(2.0), 3),
        "dim": q.dim,
        "mean_bits": round(mean_bits, 3),
        "bytes_per_index": round(bytes_per_index, 3),
        "ks_axis0": round(float(ks), 4),
        "mean_examined": round(float(np.mean([r.num_examined for r in results])), 1),
        "encode_ms": round(1e3 * encode_s, 4),
        "decode_us": round(1e6 * decode_s, 2),
    }


def _octave_code_bits(train: np.ndarray, test: np.ndarray) -> float:
    """Mean ideal bits of ``test`` indices under an octave code fitted on ``train``: the octave
    ``floor(log2(i + 1))`` by its smoothed training frequency, then the offset within it
    uniformly (for indices past the range coder's ``2 ** 24``)."""
    octave_train = np.floor(np.log2(train.astype(np.float64) + 1.0)).astype(np.int64)
    octave_test = np.floor(np.log2(test.astype(np.float64) + 1.0)).astype(np.int64)
    counts = np.bincount(octave_train, minlength=64)[:64] + 0.5
    probs = counts / counts.sum()
    return float(np.mean(-np.log2(probs[octave_test]) + octave_test))


def matched_tv(
    q: Categorical,
    p: Categorical,
    tv_targets: Iterable[float] = (0.1, 0.03, 0.01, 0.003),
    coders: Iterable[str] | None = None,
    max_log2_num_candidates: float = 20.0,
) -> list[dict]:
    """Each coder's smallest ``log2 N`` reaching each exact TV to ``q``, and what it costs.

    Uses the exact output laws, so no sampling noise: for every depth-limited coder with a
    ``categorical_output_law``, the smallest N (to 1/16 bit of ``log2 N``, bisection; TV falls
    with N) with ``TV(sent, q) <= tv``, and ``log2 N - KL``, the oversampling it needs.
    Exact coders reach TV 0 at any N and are left out, as are quantizers (greedy selection),
    whose output converges to q's mode instead.
    """
    kl = kl_bits(q, p)
    names = list(coders) if coders is not None else list(available_coders(q, p))
    rows = []
    for name in names:
        coder = get_coder(name)
        if coder.exact or not coder.samples_target or not hasattr(coder, "categorical_output_law"):
            continue

        def tv_at(log2_n: float, coder: Coder = coder) -> float:
            law = exact_output_distribution(coder, q, p, math.ceil(2.0**log2_n))
            return tv_distance(law, q.probs)

        for target in tv_targets:
            low, high = 0.0, max_log2_num_candidates
            if tv_at(high) > target:
                rows.append({"coder": name, "tv": target, "log2_n": math.nan, "t_bits": math.nan})
                continue
            while high - low > 1.0 / 16.0:
                mid = 0.5 * (low + high)
                low, high = (mid, high) if tv_at(mid) > target else (low, mid)
            rows.append(
                {
                    "coder": name,
                    "tv": target,
                    "log2_n": round(high, 3),
                    "t_bits": round(high - kl, 3),
                }
            )
    return rows


def plot(rows: list[dict], path: str | Path) -> None:
    """Bits above KL against KL, and encode time against KL and against D_inf, per coder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for name in sorted({r["coder"] for r in rows}):
        for dim in sorted({r["dim"] for r in rows}):
            sel = sorted(
                (r for r in rows if r["coder"] == name and r["dim"] == dim),
                key=lambda r: r["kl_bits"],
            )
            if not sel:
                continue
            label = f"{name} d={dim}"
            kl = [r["kl_bits"] for r in sel]
            axes[0].plot(kl, [r["mean_bits"] - r["kl_bits"] for r in sel], marker="o", label=label)
            axes[1].semilogy(kl, [r["encode_ms"] for r in sel], marker="o", label=label)
            axes[2].semilogy(
                [r["d_inf_bits"] for r in sel],
                [r["encode_ms"] for r in sel],
                marker="o",
                label=label,
            )
    kls = sorted({r["kl_bits"] for r in rows})
    axes[0].plot(kls, [math.log2(k + 1) + 1 for k in kls], "k--", label="log2(KL+1)+1")
    axes[0].set(xlabel="KL (bits)", ylabel="coded bits - KL", title="Index cost above the KL")
    axes[1].set(xlabel="KL (bits)", ylabel="encode time (ms)", title="Encode time against KL")
    axes[2].set(xlabel="D_inf (bits)", ylabel="encode time (ms)", title="Encode time against D_inf")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def format_table(rows: list[dict]) -> str:
    """Rows as an aligned plain-text table."""
    columns = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines += [
        "  ".join(str(r[c]).rjust(w) for c, w in zip(columns, widths, strict=True)) for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m rectools.bench``: the sweep as a table, CSV and plot."""
    parser = argparse.ArgumentParser(
        prog="python -m rectools.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="a small grid, seconds")
    parser.add_argument("-o", "--output", default=".", help="folder for rec-bench.csv and .png")
    args = parser.parse_args(argv)
    kls = (2.0, 4.0, 8.0) if args.quick else (2.0, 4.0, 8.0, 12.0, 16.0)
    rows = sweep(kls, dims=(1, 4), seeds=40 if args.quick else 200)
    print(format_table(rows))
    q = Categorical(np.array([0.45, 0.25, 0.15, 0.1, 0.05]))
    tv_rows = matched_tv(q, Categorical(np.full(5, 0.2)))
    print("\nAt matched total variation (categorical target, exact laws):")
    print(format_table(tv_rows))
    folder = Path(args.output)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "rec-bench.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, folder / "rec-bench.png")
    print(f"\nwrote {folder / 'rec-bench.csv'} and {folder / 'rec-bench.png'}")


__all__ = [
    "available_workers",
    "best_time",
    "encode_batch",
    "format_table",
    "matched_tv",
    "plot",
    "sweep",
    "target_with_kl",
]

if __name__ == "__main__":
    main()
