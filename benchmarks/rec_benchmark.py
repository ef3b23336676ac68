"""rectools benchmark: coded bits, sample quality and speed across KL and dimension.

Prints a table and writes ``benchmarks/out/rec_benchmark.csv`` and ``rec_benchmark.png``.
Run: ``python benchmarks/rec_benchmark.py`` (about five minutes on two cores; ``--quick`` for
a smaller grid).
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from functools import partial
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numba
import numpy as np
from tqdm import tqdm

import rectools
import rectools.testing
from rectools import diagnostics, kernels, kernels_reference
from rectools.batch import available_workers, encode_batch
from rectools.bench import best_time, format_table, plot, target_with_kl

OUT = Path(__file__).parent / "out"


@numba.njit(cache=True)
def plain_normal_sum(count: int, dim: int) -> float:
    """The speed reference: draw count * dim normals and sum them, nothing else."""
    acc = 0.0
    for _ in range(count * dim):
        acc += np.random.standard_normal()
    return acc


def coding_rows(kls: list[float], dims: list[int], budget: float) -> list[dict]:
    rows = []
    grid = [(kl, d) for d in dims for kl in kls]
    for kl, dim in tqdm(grid, desc="coding grid"):
        q, p = target_with_kl(kl, dim)
        seeds = int(np.clip(budget / (2.0**kl * dim), 40, 400))
        d_inf_bits = rectools.log_ratio_bound(q, p) / math.log(2.0)
        for name in rectools.available_coders(q, p):
            coder = rectools.get_coder(name)
            if coder.exact and d_inf_bits > 18.0 and name != "gprs-bnb":
                continue  # about 2 ** D_inf candidates: see one_d_speed_rows for that regime
            coder.encode(q, p, seed=10**6)  # compile / warm up
            start = time.perf_counter()
            results = [coder.encode(q, p, seed=s) for s in range(2 * seeds)]
            encode_s = (time.perf_counter() - start) / (2 * seeds)
            n = results[0].num_candidates
            indices = np.array([r.index for r in results])
            train, test = indices[:seeds], indices[seeds:]
            bits = {
                m: float(np.mean(rectools.fit_index_model(m, train, n).bits(test)))
                for m in rectools.available_index_models()
            }
            model = rectools.fit_index_model(coder.index_model, train, n)
            bytes_per_index = len(model.compress(test)) / len(test)
            last = results[-1]
            decode_s = best_time(
                partial(coder.decode, last.index, p, last.seed, last.num_candidates), repeats=200
            )
            samples = np.stack([r.sample for r in results])
            ks, _ = diagnostics.ks_statistic_1d(samples[:, 0], partial(q.marginal_cdf, axis=0))
            rows.append(
                {
                    "coder": name,
                    "kl_bits": round(rectools.kl_bits(q, p), 2),
                    "d_inf_bits": round(rectools.log_ratio_bound(q, p) / math.log(2.0), 2),
                    "dim": dim,
                    "log2_N": round(math.log2(n), 2),
                    "seeds": 2 * seeds,
                    **{f"bits_{m}": round(v, 2) for m, v in bits.items()},
                    "mean_bits": round(bits[coder.index_model], 2),
                    "bytes_per_index": round(bytes_per_index, 2),
                    "kl_plus_log_bound": round(rectools.ideal_bits_per_index(kl), 2),
                    "ks_dim0": round(ks, 3),
                    "examined_frac": round(np.mean([r.num_examined for r in results]) / n, 3),
                    "encode_ms": round(1e3 * encode_s, 3),
                    "decode_us": round(1e6 * decode_s, 1),
                    "Mcand_dims_per_s": round(n * dim / encode_s / 1e6, 1),
                }
            )
    return rows


def speed_rows(log2_n: int) -> list[dict]:
    n = 2**log2_n
    key = rectools.shared_key(1, 0)
    rows = []
    for dim in (1, 4, 16):
        q, p = target_with_kl(12.0, dim)
        scale, shift = p.std / q.std, (p.mean - q.mean) / q.std
        offset = float(np.sum(np.log(scale)))
        kernels.gaussian_log_weights(key, 0, 8, scale, shift, offset)
        args = (key, 0, n, scale, shift, offset)
        weights_numba = best_time(partial(kernels.gaussian_log_weights, *args))
        weights_numpy = best_time(partial(kernels_reference.gaussian_log_weights, *args))
        plain_normal_sum(8, dim)
        plain = best_time(partial(plain_normal_sum, n, dim))
        full = rectools.get_coder("astar", early_stopping=False)
        encode = best_time(partial(full.encode, q, p, seed=3, log2_num_candidates=log2_n))
        decode = best_time(partial(full.decode, n - 1, p, 3, n), repeats=1000)
        rows.append(
            {
                "dim": dim,
                "N": n,
                "log_weights_numba_ms": round(1e3 * weights_numba, 2),
                "log_weights_numpy_ms": round(1e3 * weights_numpy, 2),
                "numba_speedup": round(weights_numpy / weights_numba, 1),
                "plain_normal_sum_ms": round(1e3 * plain, 2),
                "astar_full_encode_ms": round(1e3 * encode, 2),
                "astar_vs_plain_ratio": round(encode / plain, 2),
                "astar_Mcand_dims_per_s": round(n * dim / encode / 1e6, 1),
                "decode_us": round(1e6 * decode, 1),
            }
        )
    return rows


def one_d_speed_rows(d_inf_bits: float = 20.0, encodes: int = 20) -> list[dict]:
    """Encode time of every coder that takes a 1-D Gaussian at ``d_inf_bits`` (issue 12: the
    branch-and-bound search must be at least 100x faster than global-bound A*)."""
    p = rectools.DiagonalGaussian(np.zeros(1), np.ones(1))
    q = rectools.DiagonalGaussian(np.array([0.3]), np.array([2.0**-d_inf_bits]))
    rows, reference = [], None
    for name in ("astar", "pfr", "gprs", "gprs-bnb"):
        coder = (
            rectools.get_coder(name, max_log2_num_candidates=24)
            if name != "gprs-bnb"
            else (rectools.get_coder(name))
        )
        coder.encode(q, p, seed=10**6)  # warm up
        start, results = time.perf_counter(), []
        # At least `encodes` encodes and half a second, so fast coders are timed over many.
        while len(results) < encodes or time.perf_counter() - start < 0.5:
            results.append(coder.encode(q, p, seed=len(results)))
        ms = 1e3 * (time.perf_counter() - start) / len(results)
        reference = reference or ms
        rows.append(
            {
                "coder": name,
                "d_inf_bits": round(rectools.log_ratio_bound(q, p) / math.log(2.0), 2),
                "kl_bits": round(rectools.kl_bits(q, p), 2),
                "mean_examined": round(float(np.mean([r.num_examined for r in results])), 1),
                "encode_ms": round(ms, 3),
                "speedup_vs_astar": round(reference / ms, 1),
            }
        )
    return rows


def batch_speed_rows(blocks: int = 1000, dim: int = 16, kl_bits: float = 16.0) -> list[dict]:
    """A loop of single encodes against ``encode_batch`` on every CPU (issue 12: >= 1.8x on 2
    cores), for blocks like COMBINER's: ``dim`` weights, ``kl_bits`` of KL each."""
    rng = np.random.default_rng(0)
    p = rectools.DiagonalGaussian(np.zeros(dim), np.ones(dim))
    targets = [
        rectools.testing.gaussian_with_kl(p, kl_bits, 0.5, rng.normal(size=dim))
        for _ in range(blocks)
    ]
    coder = rectools.get_coder("astar")
    encode_batch(coder, targets[:4], p, range(4))  # warm up
    start = time.perf_counter()
    loop = [coder.encode(q, p, seed=7, stream=k) for k, q in enumerate(targets)]
    loop_s = time.perf_counter() - start
    start = time.perf_counter()
    batch = encode_batch(coder, targets, p, seeds=[7] * blocks, streams=range(blocks))
    batch_s = time.perf_counter() - start
    same = all(a.index == b.index for a, b in zip(loop, batch, strict=True))
    return [
        {
            "blocks": blocks,
            "dim": dim,
            "kl_bits": kl_bits,
            "workers": available_workers(),
            "loop_s": round(loop_s, 3),
            "batch_s": round(batch_s, 3),
            "speedup": round(loop_s / batch_s, 2),
            "identical_indices": same,
        }
    ]


def print_table(rows: list[dict]) -> None:
    print(format_table(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grid, for a smoke run")
    args = parser.parse_args()
    kls = [2.0, 4.0, 8.0] if args.quick else [2.0, 4.0, 8.0, 12.0, 16.0, 20.0]
    OUT.mkdir(exist_ok=True)
    rows = coding_rows(kls, [1, 4, 16], budget=2e5 if args.quick else 2e7)
    print_table(rows)
    speed = speed_rows(12 if args.quick else 20)
    print()
    print_table(speed)
    print("\n1-D target at D_inf = 20 bits: global-bound A* against the exact coders")
    print_table(one_d_speed_rows(encodes=5 if args.quick else 20))
    print("\nBatched encode (rectools.bench.encode_batch) against a loop of single encodes")
    print_table(batch_speed_rows(blocks=100 if args.quick else 1000))
    with open(OUT / "rec_benchmark.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, OUT / "rec_benchmark.png")
    print(f"\nwrote {OUT / 'rec_benchmark.csv'} and {OUT / 'rec_benchmark.png'}")


if __name__ == "__main__":
    main()
