"""NumPy twins of [`rectools.kernels`][rectools.kernels]: same names, signatures and results.

They draw Philox bits from ``numpy.random.Philox`` itself, so the numba kernels are checked
against NumPy's implementation, and they run wherever numba is absent.
"""

from __future__ import annotations

import numpy as np


def _philox_raw(key: np.ndarray, first_block: int, num_blocks: int) -> np.ndarray:
    bits = np.random.Philox(key=np.asarray(key, dtype=np.uint64), counter=first_block)
    return bits.random_raw(4 * num_blocks)


def _to_open_unit(raw: np.ndarray) -> np.ndarray:
    return ((raw >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def philox_block(counter: np.uint64, key: np.ndarray) -> np.ndarray:
    """See [`rectools.kernels.philox_block`][rectools.kernels.philox_block]."""
    return _philox_raw(key, int(counter) - 1, 1)


def _flat_uniforms(key: np.ndarray, first: int, total: int, whole_pairs: bool) -> np.ndarray:
    # Values first ... first + total - 1 of the flat stream, or, with whole_pairs, all the
    # blocks covering them (for Box-Muller) and the offset of the first wanted value.
    first_block = first // 4
    last_block = (first + total + 3) // 4
    u = _to_open_unit(_philox_raw(key, first_block, last_block - first_block))
    skip = first - 4 * first_block
    return u if whole_pairs else u[skip : skip + total]


def philox_normals(key: np.ndarray, start: int, count: int, dim: int) -> np.ndarray:
    """See [`rectools.kernels.philox_normals`][rectools.kernels.philox_normals]."""
    first, total = start * dim, count * dim
    u = _flat_uniforms(key, first, total, whole_pairs=True).reshape(-1, 2)
    radius = np.sqrt(-2.0 * np.log(u[:, 0]))
    angle = 2.0 * np.pi * u[:, 1]
    z = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1).ravel()
    skip = first - 4 * (first // 4)
    return z[skip : skip + total].reshape(count, dim)


def philox_uniforms(key: np.ndarray, start: int, count: int, dim: int) -> np.ndarray:
    """See [`rectools.kernels.philox_uniforms`][rectools.kernels.philox_uniforms]."""
    return _flat_uniforms(key, start * dim, count * dim, whole_pairs=False).reshape(count, dim)


def philox_exponentials(key: np.ndarray, start: int, count: int) -> np.ndarray:
    """See [`rectools.kernels.philox_exponentials`][rectools.kernels.philox_exponentials]."""
    return -np.log(_flat_uniforms(key, start, count, whole_pairs=False))


def normal_log_weights(
    z: np.ndarray, scale: np.ndarray, shift: np.ndarray, offset: float
) -> np.ndarray:
    """See [`rectools.kernels.normal_log_weights`][rectools.kernels.normal_log_weights]."""
    y = z * scale + shift
    return offset + 0.5 * np.sum(z * z - y * y, axis=1)


def gaussian_log_weights(
    key: np.ndarray,
    start: int,
    count: int,
    scale: np.ndarray,
    shift: np.ndarray,
    offset: float,
) -> np.ndarray:
    """See [`rectools.kernels.gaussian_log_weights`][rectools.kernels.gaussian_log_weights]."""
    return normal_log_weights(
        philox_normals(key, start, count, scale.shape[0]), scale, shift, offset
    )


def astar_scan(
    log_weights: np.ndarray,
    exponentials: np.ndarray,
    gumbel_sum: float,
    best_score: float,
    log_weight_bound: float,
) -> tuple[int, float, float, int]:
    """See [`rectools.kernels.astar_scan`][rectools.kernels.astar_scan]."""
    # Summed left to right from gumbel_sum, exactly as the sequential kernel adds.
    sums = np.cumsum(np.concatenate([[gumbel_sum], exponentials]))[1:]
    gumbels = -np.log(sums)
    scores = gumbels + log_weights
    # Best score among candidates before each position, including earlier chunks.
    best_before = np.maximum.accumulate(np.concatenate([[best_score], scores]))[:-1]
    stops = np.flatnonzero(gumbels + log_weight_bound <= best_before)
    examined = int(stops[0]) if stops.size else log_weights.shape[0]
    if examined == 0:
        return -1, best_score, gumbel_sum, 0
    local = int(np.argmax(scores[:examined]))
    new_sum = float(sums[examined - 1])
    if scores[local] > best_score:
        return local, float(scores[local]), new_sum, examined
    return -1, best_score, new_sum, examined
