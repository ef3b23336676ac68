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

from rectools import ziggurat as _zt
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


_SQRT_HALF = math.sqrt(0.5)
_SQRT_TWO_PI = math.sqrt(2.0 * math.pi)


@njit
def _ndtr(z: float) -> float:
    return 0.5 * math.erfc(-z * _SQRT_HALF)


# Acklam's rational approximation of the inverse normal CDF, coefficients highest power first.
_ACKLAM_CENTRAL_NUM = np.array(
    [-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
     1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00]
)  # fmt: skip
_ACKLAM_CENTRAL_DEN = np.array(
    [-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
     6.680131188771972e01, -1.328068155288572e01, 1.0]
)  # fmt: skip
_ACKLAM_TAIL_NUM = np.array(
    [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
     -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00]
)  # fmt: skip
_ACKLAM_TAIL_DEN = np.array(
    [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
     3.754408661907416e00, 1.0]
)  # fmt: skip


@njit
def _horner(coefficients: np.ndarray, x: float) -> float:
    total = 0.0
    for c in coefficients:
        total = total * x + c
    return total


@njit
def _ndtri(p: float) -> float:
    # Acklam's approximation (relative error 1.2e-9), then one Halley step on the exact CDF,
    # which brings it to a few ulp.
    if 0.02425 <= p <= 1.0 - 0.02425:
        q = p - 0.5
        r = q * q
        x = q * _horner(_ACKLAM_CENTRAL_NUM, r) / _horner(_ACKLAM_CENTRAL_DEN, r)
    else:
        # The tails, by symmetry: q = sqrt(-2 log(min(p, 1 - p))).
        q = math.sqrt(-2.0 * (math.log(p) if p < 0.5 else math.log1p(-p)))
        x = _horner(_ACKLAM_TAIL_NUM, q) / _horner(_ACKLAM_TAIL_DEN, q)
        x = x if p < 0.5 else -x
    # ndtr(x) - p, from the upper tail above the median: 1 - p is exact there (Sterbenz).
    e = _ndtr(x) - p if p < 0.5 else (1.0 - p) - 0.5 * math.erfc(x * _SQRT_HALF)
    u = e * _SQRT_TWO_PI * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


@njit
def _cumulative_integral(x: np.ndarray, f: np.ndarray, df: np.ndarray, start: float) -> np.ndarray:
    out = np.empty(x.size)
    out[0] = start
    h = x[1] - x[0]
    for i in range(1, x.size):
        out[i] = out[i - 1] + 0.5 * h * (f[i] + f[i - 1]) + h * h / 12.0 * (df[i - 1] - df[i])
    return out


@njit
def gaussian_stretch_table(
    params: np.ndarray, points: int, gl_x: np.ndarray, gl_w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """GPRS's stretch function σ for 1-D Gaussians with q narrower than p: ``(low, high)``.

    ``params`` is ``(mode, a, log r_max, r_max, mean_q, std_q, mean_p, std_p)`` with
    ``log r(x) = log r_max - a (x - mode)^2``. ``low`` ``(3, points)``: the grid ``x = log η``
    below ``r_max / 2``, σ there and its slope ``dσ/dx``; ``high`` ``(3, points // 2 + 1)``:
    the grid ``s = -log(r_max - η)`` above (σ is smooth there, about ``e^{s/2}``, so half the
    points do), σ and ``dσ/ds``. The tails ``w_Q(η) - η w_P(η)`` come from normal CDFs below and
    from the Gauss-Legendre rule ``(gl_x, gl_w)`` over ``{r >= η}`` above (no cancellation
    near the top); σ is integrated by the end-corrected trapezoid rule. See
    [`GaussianTails1D`][rectools.coders.gprs.GaussianTails1D].
    """
    mode, a, log_r_max, r_max = params[0], params[1], params[2], params[3]
    mq, sq, mp, sp = params[4], params[5], params[6], params[7]
    log_half = log_r_max - math.log(2.0)
    tiny = log_r_max - 14.0 * math.log(10.0)
    low = np.empty((3, points))
    step = (log_half - tiny) / (points - 1)
    slope_dx = np.empty(points)
    for i in range(points):
        x = tiny + i * step
        eta = math.exp(x)
        half = math.sqrt((log_r_max - x) / a)
        w_q = _ndtr((mode + half - mq) / sq) - _ndtr((mode - half - mq) / sq)
        w_p = _ndtr((mode + half - mp) / sp) - _ndtr((mode - half - mp) / sp)
        gap = w_q - eta * w_p
        low[0, i] = x
        low[2, i] = eta / gap
        slope_dx[i] = low[2, i] * (1.0 + eta * w_p / gap)
    low[1] = _cumulative_integral(low[0], low[2], slope_dx, math.exp(tiny))
    norm = 1.0 / (sp * _SQRT_TWO_PI)
    count = points // 2 + 1
    high = np.empty((3, count))
    step = (log_half - tiny) / (count - 1)
    slope_ds = np.empty(count)
    for i in range(count):
        s = -log_half + i * step
        v = math.exp(-s)
        eta = r_max - v
        half = math.sqrt(-math.log1p(-v / r_max) / a)
        gap = 0.0
        w_p = 0.0
        # The rule is symmetric (nodes ±t_j, even count): r - η is even in t, p is not.
        for j in range(gl_x.size // 2):
            t = half * gl_x[j]
            z_minus = (mode - t - mp) / sp
            z_plus = (mode + t - mp) / sp
            density = (
                gl_w[j]
                * half
                * norm
                * (math.exp(-0.5 * z_minus * z_minus) + math.exp(-0.5 * z_plus * z_plus))
            )
            gap += density * math.expm1(a * (half * half - t * t))
            w_p += density
        gap *= eta
        high[0, i] = s
        high[2, i] = v / gap
        slope_ds[i] = high[2, i] * (v * w_p / gap - 1.0)
    high[1] = _cumulative_integral(high[0], high[2], slope_ds, low[1, points - 1])
    return low, high


@njit
def _hermite(grid: np.ndarray, values: np.ndarray, slopes: np.ndarray, x: float) -> float:
    h = grid[1] - grid[0]
    k = min(max(int((x - grid[0]) / h), 0), grid.size - 2)
    u = min(max((x - grid[k]) / h, 0.0), 1.0)
    return (
        (1 + 2 * u) * (1 - u) ** 2 * values[k]
        + u * (1 - u) ** 2 * h * slopes[k]
        + u * u * (3 - 2 * u) * values[k + 1]
        + u * u * (u - 1) * h * slopes[k + 1]
    )


@njit
def gaussian_stretch(low: np.ndarray, high: np.ndarray, r_max: float, ratio: float) -> float:
    """σ at one ratio from [`gaussian_stretch_table`][rectools.kernels.gaussian_stretch_table]
    (cubic Hermite between grid points; ``inf`` within ``1e-14 r_max`` of the top)."""
    eta_min = math.exp(low[0, 0])
    if ratio < eta_min:
        return ratio
    if ratio < 0.5 * r_max:
        return _hermite(low[0], low[1], low[2], math.log(ratio))
    gap = r_max - ratio
    if gap <= 0.0 or -math.log(gap) > high[0, high.shape[1] - 1]:
        return math.inf
    return _hermite(high[0], high[1], high[2], -math.log(gap))


@njit
def gaussian_stretch_many(
    low: np.ndarray, high: np.ndarray, r_max: float, ratios: np.ndarray
) -> np.ndarray:
    """[`gaussian_stretch`][rectools.kernels.gaussian_stretch] of every ratio of ``(n,)``."""
    out = np.empty(ratios.size)
    for i in range(ratios.size):
        out[i] = gaussian_stretch(low, high, r_max, ratios[i])
    return out


@njit
def gprs_bnb_search(
    key: np.ndarray,
    exponentials: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    params: np.ndarray,
    mean_p: float,
    std_p: float,
    max_depth: int,
) -> tuple[int, int, float, float]:
    """Branch-and-bound GPRS on the line: ``(node, steps, lo, hi)``; node -1 if none accepted.

    The interval ``(lo, hi)`` lives in p's CDF; node ``k``'s candidate is p's quantile at
    ``lo + u_k (hi - lo)`` with ``u_k`` the shared stream's uniform number ``k``; arrivals are
    ``exponentials[step] / (hi - lo)`` later (encoder private). See
    [`BranchAndBoundGPRSCoder`][rectools.coders.gprs.BranchAndBoundGPRSCoder].
    """
    mode, a, log_r_max, r_max = params[0], params[1], params[2], params[3]
    mode_u = _ndtr((mode - mean_p) / std_p)
    lo, hi, node, time = 0.0, 1.0, 0, 0.0
    one = np.empty(1)
    for depth in range(max_depth + 1):
        time += exponentials[depth] / (hi - lo)
        _flat_uniforms(key, node, 1, one)
        u = lo + one[0] * (hi - lo)
        x = mean_p + std_p * _ndtri(u)
        if time <= gaussian_stretch(low, high, r_max, math.exp(log_r_max - a * (x - mode) ** 2)):
            return node, depth + 1, lo, hi
        if u < mode_u:
            lo = u
            node = 2 * node + 2
        else:
            hi = u
            node = 2 * node + 1
        if not lo < hi:
            break
    return -1, max_depth + 1, lo, hi


# --- Philox4x32-10 and the ziggurat: the "philox4x32" stream -------------------------------
#
# Value ``f`` of the flat stream (coordinate ``j`` of candidate ``i`` is ``f = i * dim + j``)
# takes 64 bits from Philox4x32-10 block ``(f // 2, 0)`` (counter words ``(g mod 2^32,
# g >> 32, 0, 0)``): words 0-1 for even ``f``, 2-3 for odd. A normal is the ziggurat's fast
# path on those bits about 99% of the time (a table lookup, an integer compare, a multiply:
# exact IEEE arithmetic); the rest draws more bits from blocks ``(f mod 2^32, f >> 32,
# attempt, 1)``, attempt = 1, 2, ..., which no other value uses. The 64-bit Philox4x32 key
# is a hash of the shared ``(seed, stream)`` key: the first word of its Philox4x64 block 0,
# which the "philox" stream never uses.

_P32_M0 = np.uint64(0xD2511F53)
_P32_M1 = np.uint64(0xCD9E8D57)
_P32_W0 = np.uint64(0x9E3779B9)
_P32_W1 = np.uint64(0xBB67AE85)
_ZERO = np.uint64(0)
_S8 = np.uint64(8)
_BYTE = np.uint64(0xFF)
_ZIG_SCALES = _zt.EDGES * _TWO_POW_M53  # u * _ZIG_SCALES[i] = (u / 2^53) * x_i, exactly
_ZIG_THRESHOLDS = _zt.THRESHOLDS
_ZIG_DENSITIES = _zt.DENSITIES
_ZIG_TAIL = float(_zt.EDGES[1])


@njit
def _philox32_round(
    c0: np.uint64, c1: np.uint64, c2: np.uint64, c3: np.uint64, k0: np.uint64, k1: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    # Words are 32-bit values held in uint64: a product of two fits exactly.
    p0 = _P32_M0 * c0
    p1 = _P32_M1 * c2
    return (p1 >> _S32) ^ c1 ^ k0, p1 & _MASK32, (p0 >> _S32) ^ c3 ^ k1, p0 & _MASK32


@njit
def _philox4x32(
    c0: np.uint64, c1: np.uint64, c2: np.uint64, c3: np.uint64, k0: np.uint64, k1: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    for r in range(10):
        if r > 0:
            k0 = (k0 + _P32_W0) & _MASK32
            k1 = (k1 + _P32_W1) & _MASK32
        c0, c1, c2, c3 = _philox32_round(c0, c1, c2, c3, k0, k1)
    return c0, c1, c2, c3


@njit
def philox4x32_block(counter: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Philox4x32-10 of a 128-bit counter under a 64-bit key (Random123's reference).

    Args:
        counter: ``uint64[4]``, 32-bit words, least significant first.
        key: ``uint64[2]``, 32-bit words.

    Returns:
        ``uint64[4]``, the four 32-bit output words.
    """
    out = np.empty(4, dtype=np.uint64)
    out[0], out[1], out[2], out[3] = _philox4x32(
        counter[0], counter[1], counter[2], counter[3], key[0], key[1]
    )
    return out


@njit
def philox32_key(key: np.ndarray) -> np.ndarray:
    """The Philox4x32 key (``uint64[2]``, 32-bit words) of a shared ``(seed, stream)`` key."""
    word = philox_block(_ZERO, key)[0]
    out = np.empty(2, dtype=np.uint64)
    out[0] = word & _MASK32
    out[1] = word >> _S32
    return out


@njit
def _philox32_blocks(first_pair: int, pairs: int, key32: np.ndarray, raw: np.ndarray) -> None:
    # Blocks first_pair ... into raw[2m], raw[2m + 1] (words 0-1 and 2-3). Rounds run over
    # all blocks at once (lanes innermost), which the compiler turns into SIMD.
    c0 = np.empty(pairs, dtype=np.uint64)
    c1 = np.empty(pairs, dtype=np.uint64)
    c2 = np.zeros(pairs, dtype=np.uint64)
    c3 = np.zeros(pairs, dtype=np.uint64)
    for m in range(pairs):
        g = np.uint64(first_pair + m)
        c0[m] = g & _MASK32
        c1[m] = g >> _S32
    k0 = key32[0]
    k1 = key32[1]
    for r in range(10):
        if r > 0:
            k0 = (k0 + _P32_W0) & _MASK32
            k1 = (k1 + _P32_W1) & _MASK32
        for m in range(pairs):
            c0[m], c1[m], c2[m], c3[m] = _philox32_round(c0[m], c1[m], c2[m], c3[m], k0, k1)
    for m in range(pairs):
        raw[2 * m] = c0[m] | (c1[m] << _S32)
        raw[2 * m + 1] = c2[m] | (c3[m] << _S32)


_PAIRS_PER_PASS = 2048


@njit
def _philox32_raw(first: int, total: int, key32: np.ndarray) -> np.ndarray:
    # The 64 raw bits of values first ... first + total - 1, two values per block, made a
    # cache-sized pass at a time.
    first_pair = first // 2
    pairs = (first + total + 1) // 2 - first_pair
    raw = np.empty(2 * pairs, dtype=np.uint64)
    for done in range(0, pairs, _PAIRS_PER_PASS):
        size = min(_PAIRS_PER_PASS, pairs - done)
        _philox32_blocks(first_pair + done, size, key32, raw[2 * done : 2 * (done + size)])
    return raw[first - 2 * first_pair : first - 2 * first_pair + total]


@njit
def _wedge_keeps(layer: np.uint64, x: float, unit: float) -> bool:
    # A point at x, `unit` of the way up layer's wedge, lies under the density.
    low = _ZIG_DENSITIES[layer]
    return low + unit * (_ZIG_DENSITIES[layer + 1] - low) < math.exp(-0.5 * x * x)


@njit
def _tail_offset(first_unit: float, second_unit: float) -> tuple[float, bool]:
    # The tail beyond R (Marsaglia, 1964): R + a with a ~ Exp(R), kept with probability
    # exp(-a^2 / 2); returns a and whether it is kept.
    a = -math.log(first_unit) / _ZIG_TAIL
    return a, -2.0 * math.log(second_unit) > a * a


@njit
def _ziggurat_slow(raw: np.uint64, flat: int, key32: np.ndarray) -> float:
    # Wedges, the tail and retries, with extra blocks (flat, attempt, 1), attempt = 1, 2, ...
    f = np.uint64(flat)
    attempt = np.uint64(1)
    while True:
        layer = raw & _BYTE
        u = raw >> _S11
        x = float(u) * _ZIG_SCALES[layer]
        if u < _ZIG_THRESHOLDS[layer]:
            break
        b0, b1, b2, b3 = _philox4x32(f & _MASK32, f >> _S32, attempt, _ONE, key32[0], key32[1])
        attempt += _ONE
        if layer == _ZERO:
            while True:
                a, kept = _tail_offset(
                    _to_open_unit(b0 | (b1 << _S32)), _to_open_unit(b2 | (b3 << _S32))
                )
                if kept:
                    break
                b0, b1, b2, b3 = _philox4x32(
                    f & _MASK32, f >> _S32, attempt, _ONE, key32[0], key32[1]
                )
                attempt += _ONE
            x = _ZIG_TAIL + a
            break
        if _wedge_keeps(layer, x, _to_open_unit(b0 | (b1 << _S32))):
            break
        raw = b2 | (b3 << _S32)
    return -x if (raw >> _S8) & _ONE else x


@njit
def _philox32_normals(first: int, total: int, key32: np.ndarray) -> np.ndarray:
    # Normals first ... first + total - 1. Bits 0-7 of a value's raw bits pick the ziggurat
    # layer, bit 8 the sign, bits 11-63 the position u in the layer. The first pass takes
    # every value's fast path without branching (it vectorizes); the second redoes the ~1%
    # whose u falls outside their layer's rectangle.
    raw = _philox32_raw(first, total, key32)
    out = np.empty(total, dtype=np.float64)
    outside = 0
    for f in range(total):
        layer = raw[f] & _BYTE
        u = raw[f] >> _S11
        sign = 1.0 - 2.0 * float((raw[f] >> _S8) & _ONE)
        out[f] = sign * float(u) * _ZIG_SCALES[layer]
        outside += u >= _ZIG_THRESHOLDS[layer]
    if outside:
        for f in range(total):
            if raw[f] >> _S11 >= _ZIG_THRESHOLDS[raw[f] & _BYTE]:
                out[f] = _ziggurat_slow(raw[f], first + f, key32)
    return out


@njit
def philox32_normals(key: np.ndarray, start: int, count: int, dim: int) -> np.ndarray:
    """Standard normal candidates of the "philox4x32" stream; ``(count, dim)``.

    Coordinate ``j`` of candidate ``i`` is normal number ``i * dim + j`` of the flat stream.
    """
    return _philox32_normals(start * dim, count * dim, philox32_key(key)).reshape(count, dim)


@njit
def philox32_normals_at(key: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """Normals number ``flat[k]`` of the "philox4x32" flat stream, in any order; ``(n,)``.

    What a vectorized twin (a GPU one, say) calls for the ~1% of values its fast path leaves.
    """
    key32 = philox32_key(key)
    out = np.empty(flat.size, dtype=np.float64)
    for k in range(flat.size):
        out[k] = _philox32_normals(flat[k], 1, key32)[0]
    return out


@njit
def philox32_uniforms(key: np.ndarray, start: int, count: int, dim: int) -> np.ndarray:
    """Uniforms on ``(0, 1)`` of the "philox4x32" stream's raw bits; ``(count, dim)``."""
    raw = _philox32_raw(start * dim, count * dim, philox32_key(key))
    out = np.empty(count * dim, dtype=np.float64)
    for f in range(count * dim):
        out[f] = _to_open_unit(raw[f])
    return out.reshape(count, dim)


@njit
def philox32_gaussian_log_weights(
    key: np.ndarray,
    start: int,
    count: int,
    scale: np.ndarray,
    shift: np.ndarray,
    offset: float,
) -> np.ndarray:
    """[`normal_log_weights`][rectools.kernels.normal_log_weights] of
    [`philox32_normals`][rectools.kernels.philox32_normals], a few thousand normals at a
    time in cache, never storing them all; ``(count,)``."""
    key32 = philox32_key(key)
    dim = scale.shape[0]
    out = np.empty(count, dtype=np.float64)
    per_task = max(1, 4096 // dim)
    for task in range((count + per_task - 1) // per_task):
        lo = task * per_task
        hi = min(count, lo + per_task)
        z = _philox32_normals((start + lo) * dim, (hi - lo) * dim, key32)
        # Candidates innermost: every sum still runs over j in order, and the loop vectorizes.
        acc = np.zeros(hi - lo)
        for j in range(dim):
            for c in range(hi - lo):
                zj = z[c * dim + j]
                y = scale[j] * zj + shift[j]
                acc[c] += zj * zj - y * y
        for c in range(hi - lo):
            out[lo + c] = offset + 0.5 * acc[c]
    return out


# Private noise: SplitMix64 (Steele, Lea and Flood, 2014) as a counter-based generator and a
# float32 ziggurat on the same 256 layers. Not a candidate stream (float32 values, 23-bit
# positions): what an encoder draws for itself, e.g. the local reparameterization trick's
# pre-activation noise, where torch.randn (Box-Muller on a Mersenne Twister) takes about twice
# as long (benchmarks/encode_speed.py).
_SM_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_SM_M1 = np.uint64(0xBF58476D1CE4E5B9)
_SM_M2 = np.uint64(0x94D049BB133111EB)
_SM_SLOW = np.uint64(0xD1B54A32D192ED03)
_S9 = np.uint32(9)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_LOW_BYTE = np.uint32(0xFF)
_ATTEMPT_BITS = np.uint64(16)
# u32 * _ZIG32_SCALES[i] ~ (u32 / 2^23) * x_i; a 23-bit u below _ZIG32_THRESHOLDS[i] =
# floor(2^23 x_{i+1} / x_i) (the 53-bit threshold shifted, exactly) is inside the rectangle.
_ZIG32_SCALES = (_zt.EDGES[:256] * 2.0**-23).astype(np.float32)
_ZIG32_THRESHOLDS = (_zt.THRESHOLDS >> np.uint64(30)).astype(np.uint32)
_ZIG32_EDGES = _zt.EDGES * 2.0**-23


@njit
def _splitmix(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> _S30)) * _SM_M1
    z = (z ^ (z >> _S27)) * _SM_M2
    return z ^ (z >> _S31)


@njit
def _slow_word(slow_key: np.uint64, base: np.uint64, attempt: np.uint64) -> np.uint64:
    return _splitmix(slow_key + (base + attempt) * _SM_GAMMA)


@njit
def _value_word(key: np.uint64, flat: int) -> np.uint32:
    # The 32 bits of value `flat`: half flat % 2 of word flat // 2.
    z = _splitmix(key + np.uint64(flat // 2 + 1) * _SM_GAMMA)
    return np.uint32((z >> (_S32 * np.uint64(flat % 2))) & _MASK32)


@njit
def _zig32_slow(word: np.uint32, flat: int, slow_key: np.uint64) -> np.float32:
    # Wedges, the tail and retries of value `flat`, with fresh words
    # _slow_word(slow_key, flat * 2^16, attempt), attempt = 1, 2, ...
    base = np.uint64(flat) << _ATTEMPT_BITS
    attempt = np.uint64(1)
    while True:
        layer = word & _LOW_BYTE
        u = word >> _S9
        x = float(u) * _ZIG32_EDGES[layer]
        if u < _ZIG32_THRESHOLDS[layer]:
            break
        fresh = _slow_word(slow_key, base, attempt)
        attempt += _ONE
        if layer == 0:
            while True:
                second = _slow_word(slow_key, base, attempt)
                attempt += _ONE
                a, kept = _tail_offset(_to_open_unit(fresh), _to_open_unit(second))
                if kept:
                    break
                fresh = _slow_word(slow_key, base, attempt)
                attempt += _ONE
            x = _ZIG_TAIL + a
            break
        if _wedge_keeps(layer, x, _to_open_unit(fresh)):
            break
        # Rejected: start again from a word of its own (fresh's bits made the test).
        word = np.uint32(_slow_word(slow_key, base, attempt) >> _S32)
        attempt += _ONE
    return np.float32(-x if (word >> np.uint32(8)) & np.uint32(1) else x)


@njit
def splitmix_normals32(seed: int, first: int, count: int) -> np.ndarray:
    """Standard normals ``first ... first + count - 1`` of the private stream ``seed``
    (``0 <= seed < 2^63``); ``(count,)`` float32.

    Value ``f`` comes from the 32-bit half ``f % 2`` of SplitMix64 word ``f // 2`` (the
    Weyl sequence ``splitmix(seed) + (f // 2 + 1) * gamma``, mixed): bits 0-7 pick a
    ziggurat layer, bit 8 the sign, bits 9-31 the position. About 1.5% of values fall
    outside their layer's rectangle and are finished with fresh words of a second sequence.
    Any range is regenerated without the values before it (counter-based), so a fit can draw
    step after step, or in parallel pieces, and get the same numbers.

    Example:
        >>> z = splitmix_normals32(7, 0, 100_000)
        >>> z.dtype, round(float(z.std()), 2)
        (dtype('float32'), 1.0)
    """
    key = _splitmix(np.uint64(seed))
    first_word = first // 2
    words = (first + count + 1) // 2 - first_word
    out = np.empty(2 * words, dtype=np.float32)
    outside = np.empty(2 * words, dtype=np.bool_)
    # One pass makes both halves of each word and takes every fast path without branching
    # (it vectorizes); the second finishes the ~1.5% of values outside their rectangle.
    for k in range(words):
        z = _splitmix(key + np.uint64(first_word + k + 1) * _SM_GAMMA)
        for half in range(2):
            word = np.uint32((z >> (_S32 * np.uint64(half))) & _MASK32)
            layer = word & _LOW_BYTE
            u = word >> _S9
            negative = np.float32((word >> np.uint32(8)) & np.uint32(1))
            out[2 * k + half] = (np.float32(1.0) - np.float32(2.0) * negative) * (
                np.float32(u) * _ZIG32_SCALES[layer]
            )
            outside[2 * k + half] = u >= _ZIG32_THRESHOLDS[layer]
    slow_key = _splitmix(key ^ _SM_SLOW)
    for v in np.flatnonzero(outside):
        flat = 2 * first_word + v
        out[v] = _zig32_slow(_value_word(key, flat), flat, slow_key)
    skip = first - 2 * first_word
    return out[skip : skip + count]
