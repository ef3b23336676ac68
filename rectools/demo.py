"""The rectools demo: send Gaussian samples with every coder and print bits against KL.

Run it with ``python -m rectools.demo`` (or ``rectools-demo``).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import rectools


def _pair(kl_bits: float, dim: int) -> tuple[rectools.DiagonalGaussian, rectools.DiagonalGaussian]:
    # A target half as wide as a standard-normal proposal, shifted so KL(q||p) = kl_bits.
    std = 0.5
    spread = 2.0 * kl_bits * math.log(2.0) / dim - (std**2 - 1.0 - 2.0 * math.log(std))
    mean = math.sqrt(max(spread, 0.0))
    return (
        rectools.DiagonalGaussian(np.full(dim, mean), np.full(dim, std)),
        rectools.DiagonalGaussian(np.zeros(dim), np.ones(dim)),
    )


def main(argv: list[str] | None = None) -> None:
    """Encode and decode one sample per (KL, coder) and print the real coded sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=4, help="dimensions of the Gaussians")
    parser.add_argument("--seeds", type=int, default=200, help="training and coded indices per row")
    args = parser.parse_args(argv)

    print(f"rectools {rectools.__version__} (numba: {rectools.HAVE_NUMBA}), d = {args.dim}")
    header = ("coder", "KL bits", "log2 N", "index model", "bits/index", "bytes/index", "ok")
    print(" ".join(h.rjust(w) for h, w in zip(header, (6, 8, 7, 12, 11, 12, 2), strict=True)))
    for kl in (2.0, 8.0, 14.0):
        q, p = _pair(kl, args.dim)
        for name in rectools.available_coders():
            coder = rectools.get_coder(name)
            results = [coder.encode(q, p, seed=s) for s in range(2 * args.seeds)]
            n = results[0].num_candidates
            indices = np.array([r.index for r in results])
            # Fit the coder's preferred index model on the first half, code the second half.
            train, test = indices[: args.seeds], indices[args.seeds :]
            model = rectools.fit_index_model(coder.index_model, train, n)
            data = model.compress(test)
            decoded = model.decompress(data, len(test))
            round_trip = all(
                np.array_equal(coder.decode(int(i), p, args.seeds + k, n), r.sample)
                for k, (i, r) in enumerate(zip(decoded, results[args.seeds :], strict=True))
            )
            print(
                f"{name:>6} {rectools.kl_bits(q, p):8.2f} {math.log2(n):7.2f} {model.name:>12} "
                f"{np.mean(model.bits(test)):11.2f} {len(data) / len(test):12.2f} "
                f"{'yes' if round_trip else 'NO'}"
            )


if __name__ == "__main__":
    main()
