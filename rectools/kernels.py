"""numba kernels: pure functions, arrays in and arrays out.

Every kernel here has a NumPy twin of the same name and signature in
``rectools.kernels_reference``; ``tests/rectools/test_kernels.py`` checks each pair agrees.
Callers import kernels through ``rectools.ops``, which picks this module when numba is
installed and the twins otherwise.

The shared randomness is Philox4x64-10 (Salmon et al., 2011), bit-compatible with
``numpy.random.Philox``: block ``c`` of key ``k`` is what ``Philox(key=k, counter=c - 1)``
returns first. The stream is flat: value ``f`` is lane ``f % 4`` of block ``f // 4 + 1`` (lanes
(0, 1) and (2, 3) make Box-Muller pairs), and coordinate ``j`` of candidate ``i`` of a
``dim``-dimensional stream is value ``i * dim + j``. Any candidate is regenerated in O(dim) time
without touching the others, and no random bits are wasted when ``dim`` is not a multiple of 4.
"""

from __future__ import annotations

import math

import numpy as np

from rectools._jit import njit

_M0 = np.uint64(0xD2E7470EE14C6C93)
_M1 = np.uint64(0xCA5A826395121157)
_W0 = np.uint64(0x9E3779B97F4A7C15)
_W1 = np.uint64(0xBB67AE8584CAA73B)
_MASK32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_TWO_POW_M53 = 1.0 / 9007199254740992.0
_TWO_PI = 2.0 * math.pi


@njit
def _mulhilo(a: np.uint64, b: np.uint64) -> tuple[np.uint64, np.uint64]:
    # 64 x 64 -> 128-bit product from four 32-bit partial products (numba has no uint128).
    a0 = a & _MASK32
    a1 = a >> _S32
    b0 = b & _MASK32
    b1 = b >> _S32
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    p11 = a1 * b1
    mid = (p00 >> _S32) + (p01 & _MASK32) + (p10 & _MASK32)
    hi = p11 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)
    return hi, a * b


@njit
def philox_block(counter: np.uint64, key: np.ndarray) -> np.ndarray:
    """Philox4x64-10 of the counter ``(counter, 0, 0, 0)`` under ``key``.

    Args:
        counter: low 64-bit word of the 256-bit counter.
        key: ``uint64[2]``.

    Returns:
        ``uint64[4]``, identical to ``numpy.random.Philox(key=key, counter=counter - 1)``'s
        first four outputs.
    """
    c0 = counter
    c1 = np.uint64(0)
    c2 = np.uint64(0)
    c3 = np.uint64(0)
    k0 = key[0]
    k1 = key[1]
    for r in range(10):
        if r > 0:
            k0 = k0 + _W0
            k1 = k1 + _W1
        hi0, lo0 = _mulhilo(_M0, c0)
        hi1, lo1 = _mulhilo(_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    out = np.empty(4, dtype=np.uint64)
    out[0] = c0
    out[1] = c1
    out[2] = c2
    out[3] = c3
    return out


@njit
def _to_open_unit(x: np.uint64) -> float:
    # Top 53 bits, shifted by half a step so the result lies strictly inside (0, 1).
    return (float(x >> _S11) + 0.5) * _TWO_POW_M53


@njit
def _fill_normals(block: np.ndarray, out: np.ndarray) -> None:
    # Box-Muller on the lane pairs (0, 1) and (2, 3).
    for pair in range(2):
        u0 = _to_open_unit(block[2 * pair])
        u1 = _to_open_unit(block[2 * pair + 1])
        radius = math.sqrt(-2.0 * math.log(u0))
        angle = _TWO_PI * u1
        out[2 * pair] = radius * math.cos(angle)
        out[2 * pair + 1] = radius * math.sin(angle)


@njit
def _flat_normals(key: np.ndarray, first: int, total: int, out: np.ndarray) -> None:
    # Normals first ... first + total - 1 of the flat stream (lane f % 4 of block f // 4 + 1).
    four = np.empty(4, dtype=np.float64)
    f = 0
    while f < total:
        flat = first + f
        _fill_normals(philox_block(np.uint64(flat // 4) + _ONE, key), four)
        lane = flat % 4
        while lane < 4 and f < total:
            out[f] = four[lane]
            lane += 1
            f += 1


@njit
def _flat_uniforms(key: np.ndarray, first: int, total: int, out: np.ndarray) -> None:
    f = 0
    while f < total:
        flat = first + f
        block = philox_block(np.uint64(flat // 4) + _ONE, key)
        lane = flat % 4
        while lane < 4 and f < total:
            out[f] = _to_open_unit(block[lane])
            lane += 1
            f += 1


@njit
def philox_normals(key: np.ndarray, start: int, count: int, dim: int) -> np.ndarray:
    """Standard normal candidates ``start ... start + count - 1``; shape ``(count, dim)``.

    Coordinate ``j`` of candidate ``i`` is normal number ``i * dim + j`` of the flat stream.
    """
    out = np.empty(count * dim, dtype=np.float64)
    _flat_normals(key, start * dim, count * dim, out)
    return out.reshape(count, dim)


@njit
def philox_uniforms(key: np.ndarray, start: int, count: int, dim: int) -> np.ndarray:
    """Uniform candidates on the open cube ``(0, 1)^dim``, laid out like
    [`philox_normals`][rectools.kernels.philox_normals]."""
    out = np.empty(count * dim, dtype=np.float64)
    _flat_uniforms(key, start * dim, count * dim, out)
    return out.reshape(count, dim)


@njit
def philox_exponentials(key: np.ndarray, start: int, count: int) -> np.ndarray:
    """Standard exponentials ``start ... start + count - 1`` of the flat stream; ``(count,)``."""
    out = np.empty(count, dtype=np.float64)
    _flat_uniforms(key, start, count, out)
    for i in range(count):
        out[i] = -math.log(out[i])
    return out


@njit
def normal_log_weights(
    z: np.ndarray, scale: np.ndarray, shift: np.ndarray, offset: float
) -> np.ndarray:
    """Log importance weights of standard-normal draws ``z`` (shape ``(n, d)``); ``(n,)``.

    With ``x = mean_p + std_p * z`` the Gaussian log ratio is
    ``offset + sum_j (z_j^2 - (scale_j * z_j + shift_j)^2) / 2``, where ``scale = std_p / std_q``,
    ``shift = (mean_p - mean_q) / std_q`` and ``offset = sum_j log(std_p / std_q)``.
    """
    n, d = z.shape
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        acc = 0.0
        for j in range(d):
            zj = z[i, j]
            y = scale[j] * zj + shift[j]
            acc += zj * zj - y * y
        out[i] = offset + 0.5 * acc
    return out


@njit
def gaussian_log_weights(
    key: np.ndarray,
    start: int,
    count: int,
    scale: np.ndarray,
    shift: np.ndarray,
    offset: float,
) -> np.ndarray:
    """[`normal_log_weights`][rectools.kernels.normal_log_weights] of
    [`philox_normals`][rectools.kernels.philox_normals] fused, never storing candidates."""
    dim = scale.shape[0]
    out = np.empty(count, dtype=np.float64)
    four = np.empty(4, dtype=np.float64)
    total = count * dim
    first = start * dim
    candidate, j, acc, f = 0, 0, 0.0, 0
    while f < total:
        flat = first + f
        _fill_normals(philox_block(np.uint64(flat // 4) + _ONE, key), four)
        lane = flat % 4
        while lane < 4 and f < total:
            z = four[lane]
            y = scale[j] * z + shift[j]
            acc += z * z - y * y
            j += 1
            if j == dim:
                out[candidate] = offset + 0.5 * acc
                candidate += 1
                j = 0
                acc = 0.0
            lane += 1
            f += 1
    return out


@njit
def astar_scan(
    log_weights: np.ndarray,
    exponentials: np.ndarray,
    gumbel_sum: float,
    best_score: float,
    log_weight_bound: float,
) -> tuple[int, float, float, int]:
    """One chunk of global-bound A* search over perturbed log importance weights.

    The Gumbels ``G_1 > G_2 > ...`` follow the truncated-Gumbel recursion
    ``G_i ~ TruncGumbel(G_{i-1})``, written as ``G_i = -log(E_1 + ... + E_i)`` with
    standard exponentials ``E``. Candidate ``i`` scores ``G_i + log_weights[i]``. Search stops
    before candidate ``i`` once ``G_i + log_weight_bound <= best_score``: no later candidate can
    score higher, so the result equals the full search's.

    Args:
        log_weights: ``(n,)`` log q/p of the chunk's candidates (nats).
        exponentials: ``(n,)`` the chunk's encoder-private standard exponentials.
        gumbel_sum: ``E_1 + ... `` of all earlier chunks (0 for the first).
        best_score: best perturbed weight so far (``-inf`` for the first chunk).
        log_weight_bound: an upper bound on every log weight (``inf`` if unknown).

    Returns:
        ``(best_local_index, best_score, gumbel_sum, num_examined)``: the position in this
        chunk of a new best (``-1`` if none), the updated score and sum, and how many
        candidates were examined (``< n`` when the bound stopped the search).
    """
    best_local = -1
    n = log_weights.shape[0]
    for i in range(n):
        running_sum = gumbel_sum + exponentials[i]
        gumbel = -math.log(running_sum)
        if gumbel + log_weight_bound <= best_score:
            return best_local, best_score, gumbel_sum, i
        gumbel_sum = running_sum
        score = gumbel + log_weights[i]
        if score > best_score:
            best_score = score
            best_local = i
    return best_local, best_score, gumbel_sum, n
