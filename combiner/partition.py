"""Split the weights into blocks of about ``kappa`` bits each (COMBINER section 3.3).

Each weight's mean KL on the training data is known from prior learning; a seeded random
permutation followed by next-fit bin packing groups them. The result is a pure function of
the prior file's contents, so the decoder recomputes it: no side information is sent.

Examples:
    >>> import numpy as np
    >>> from combiner.partition import next_fit_blocks
    >>> blocks = next_fit_blocks(np.full(10, 4.0), kappa=16.0, seed=0)
    >>> [len(b) for b in blocks]
    [4, 4, 2]
"""

from __future__ import annotations

import numpy as np


def next_fit_blocks(
    kl_bits_per_weight: np.ndarray, kappa: float, seed: int, max_block_size: int = 25
) -> list[np.ndarray]:
    """Next-fit bin packing of a seeded permutation of the weights into blocks of <= kappa bits.

    Args:
        kl_bits_per_weight: ``(num_params,)`` mean KL of each weight on the training data.
        kappa: block budget in bits.
        seed: permutation seed (stored in the prior file).
        max_block_size: cap on weights per block (the reference implementation uses 25).

    Returns:
        Blocks as sorted int64 arrays of weight numbers; every weight is in exactly one block.
        A weight whose KL alone exceeds ``kappa`` gets a block of its own.
    """
    kl = np.asarray(kl_bits_per_weight, dtype=np.float64)
    if kl.ndim != 1 or np.any(~np.isfinite(kl)) or np.any(kl < 0):
        raise ValueError("kl_bits_per_weight must be a 1-D array of finite non-negative numbers")
    order = np.random.Generator(np.random.Philox(seed)).permutation(kl.size)
    blocks: list[list[int]] = [[]]
    load = 0.0
    for w in order.tolist():
        if blocks[-1] and (load + kl[w] > kappa or len(blocks[-1]) >= max_block_size):
            blocks.append([])
            load = 0.0
        blocks[-1].append(w)
        load += kl[w]
    return [np.sort(np.array(b, dtype=np.int64)) for b in blocks]


def block_ids(blocks: list[np.ndarray], num_params: int) -> np.ndarray:
    """Block number of every weight; ``(num_params,)`` int64."""
    ids = np.full(num_params, -1, dtype=np.int64)
    for k, block in enumerate(blocks):
        ids[block] = k
    return ids
