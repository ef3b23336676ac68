"""REC kernels at the hardware limit: where A* and MRC spend their time, per candidate stream.

For N = 2^16 candidates of dimension d (4, 16, 25: COMBINER's blocks hold about 16 bits), one
process, one thread, it times each stage of an encode and the whole encode, next to NumPy
drawing the same N x d standard normals with its own Philox (``Generator.standard_normal``,
the baseline of issue 15). Stages, each a kernel of ``rectools.kernels`` run on cache-sized
chunks the way the encoder runs them:

- ``bits``: the shared stream's random bits alone (Philox4x64-10 or Philox4x32-10);
- ``normals``: bits turned into standard normals (Box-Muller or the ziggurat), stored;
- ``log_weights``: the fused kernel the coders call (normals and ``log q/p``, never stored);
- ``private``: the encoder's exponentials and A*'s Gumbel scan with its running argmax;
- ``astar``/``mrc``: ``encode`` end to end with every candidate examined.

Run: ``python benchmarks/rec_kernels.py`` (about a minute). Prints a table and writes
``benchmarks/out/rec_kernels.csv``. ``--torch-device cuda`` also times the torch twin of the
stream (``combiner.torch_stream``) on a GPU, and checks its weights are bit-identical.
"""

from __future__ import annotations

import argparse
import csv
import math
from functools import partial
from pathlib import Path

import numba
import numpy as np

import rectools
from rectools import kernels
from rectools.bench import best_time, format_table, target_with_kl

OUT = Path(__file__).parent / "out"
LOG2_N = 16
CHUNK = 4096  # values per chunk, as the fused kernels use


@numba.njit(cache=True)
def philox_bits(key: np.ndarray, total: int) -> np.uint64:
    """Philox4x64-10 blocks for ``total`` values (4 per block), xor-folded so none is skipped."""
    acc = np.uint64(0)
    for c in range(total // 4):
        block = kernels.philox_block(np.uint64(c + 1), key)
        acc ^= block[0] ^ block[1] ^ block[2] ^ block[3]
    return acc


@numba.njit(cache=True)
def philox32_bits(key: np.ndarray, total: int) -> np.uint64:
    """Philox4x32-10 bits for ``total`` values (2 per block), a chunk at a time."""
    key32 = kernels.philox32_key(key)
    acc = np.uint64(0)
    for first in range(0, total, CHUNK):
        acc ^= kernels._philox32_raw(first, CHUNK, key32)[0]
    return acc


@numba.njit(cache=True)
def philox_normals(key: np.ndarray, total: int) -> float:
    out = np.empty(CHUNK)
    acc = 0.0
    for first in range(0, total, CHUNK):
        kernels._flat_normals(key, first, CHUNK, out)
        acc += out[0]
    return acc


@numba.njit(cache=True)
def philox32_normals(key: np.ndarray, total: int) -> float:
    key32 = kernels.philox32_key(key)
    acc = 0.0
    for first in range(0, total, CHUNK):
        acc += kernels._philox32_normals(first, CHUNK, key32)[0]
    return acc


STAGES = {
    "philox": (philox_bits, philox_normals, kernels.gaussian_log_weights),
    "philox4x32": (philox32_bits, philox32_normals, kernels.philox32_gaussian_log_weights),
}


def private_scan(key: np.ndarray, n: int, weights: np.ndarray) -> None:
    """A*'s encoder-private part: exponentials, the Gumbel recursion and the running argmax."""
    gaps = kernels.philox_exponentials(key, 0, n)
    kernels.astar_scan(weights, gaps, 0.0, -math.inf, math.inf)


def rows_for(dim: int, repeats: int) -> list[dict]:
    n = 2**LOG2_N
    q, p = target_with_kl(16.0, dim)
    key = rectools.shared_key(3, 0)
    scale, shift = p.std / q.std, (p.mean - q.mean) / q.std
    offset = float(np.sum(np.log(scale)))
    rng = np.random.Generator(np.random.Philox(7))
    numpy_ms = 1e3 * best_time(partial(rng.standard_normal, n * dim), repeats)
    rows = []
    for name, (bits, normals, log_weights) in STAGES.items():
        args = (key, 0, n, scale, shift, offset)
        for fn, warm in ((bits, (key, CHUNK)), (normals, (key, CHUNK))):
            fn(*warm)
        log_weights(key, 0, 8, scale, shift, offset)
        weights = log_weights(*args)
        private_scan(key, 8, weights[:8])
        coders = {
            c: rectools.get_coder(
                c, candidates=name, **({"early_stopping": False} if c == "astar" else {})
            )
            for c in ("astar", "mrc")
        }
        timed = {
            "bits": partial(bits, key, n * dim),
            "normals": partial(normals, key, n * dim),
            "log_weights": partial(log_weights, *args),
            "private": partial(private_scan, key, n, weights),
            **{
                c: partial(coder.encode, q, p, seed=3, log2_num_candidates=LOG2_N)
                for c, coder in coders.items()
            },
        }
        ms = {stage: 1e3 * best_time(fn, repeats) for stage, fn in timed.items()}
        rows.append(
            {
                "stream": name,
                "d": dim,
                "N": n,
                "numpy_normals_ms": round(numpy_ms, 2),
                **{f"{stage}_ms": round(t, 2) for stage, t in ms.items()},
                "astar_vs_numpy": round(ms["astar"] / numpy_ms, 2),
                "astar_Mcand_dims_per_s": round(n * dim / ms["astar"] / 1e3, 1),
            }
        )
    return rows


def torch_rows(device: str, repeats: int) -> list[dict]:
    """The torch twin of the philox4x32 stream (combiner.torch_stream) scoring candidates on
    ``device``, and an A* encode that scores them there; candidates are bit-identical."""
    import torch

    from combiner.torch_stream import TorchPhilox32Stream

    twin = TorchPhilox32Stream(device)
    sync = torch.cuda.synchronize if twin.device.type == "cuda" else (lambda: None)
    rows = []
    for dim in (4, 16, 25):
        n = 2**LOG2_N
        q, p = target_with_kl(16.0, dim)
        key = rectools.shared_key(3, 0)
        scale, shift = p.std / q.std, (p.mean - q.mean) / q.std
        args = (key, 0, n, scale, shift, float(np.sum(np.log(scale))))
        same = np.array_equal(
            twin.gaussian_log_weights(*args), kernels.philox32_gaussian_log_weights(*args)
        )
        coder = rectools.get_coder("astar", candidates=twin, early_stopping=False)

        def weights(args: tuple = args) -> None:
            twin.gaussian_log_weights(*args)
            sync()

        rows.append(
            {
                "device": str(twin.device),
                "d": dim,
                "N": n,
                "log_weights_ms": round(1e3 * best_time(weights, repeats), 2),
                "astar_ms": round(
                    1e3
                    * best_time(
                        partial(coder.encode, q, p, seed=3, log2_num_candidates=LOG2_N), repeats
                    ),
                    2,
                ),
                "bit_identical_to_cpu": same,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--torch-device",
        help="also time the torch twin of the stream on this device (e.g. cuda)",
    )
    args = parser.parse_args()
    numba.set_num_threads(1)
    rows = [row for dim in (4, 16, 25) for row in rows_for(dim, repeats=7)]
    print(format_table(rows))
    by = {(r["stream"], r["d"]): r for r in rows}
    print()
    for dim in (4, 16, 25):
        old, new = by["philox", dim], by["philox4x32", dim]
        print(
            f"d={dim:2d}: A* encode {new['astar_ms']:.2f} ms = {new['astar_vs_numpy']:.2f}x "
            f"NumPy's normals ({new['numpy_normals_ms']:.2f} ms); "
            f"{old['astar_ms'] / new['astar_ms']:.1f}x faster than the philox stream "
            f"({old['astar_ms']:.2f} ms)"
        )
    OUT.mkdir(exist_ok=True)
    with open(OUT / "rec_kernels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwrote {OUT / 'rec_kernels.csv'}")
    if args.torch_device:
        print(f"\nThe torch twin on {args.torch_device}")
        print(format_table(torch_rows(args.torch_device, repeats=7)))


if __name__ == "__main__":
    main()
