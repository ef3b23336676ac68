"""NumPy twins of [`rectools.kernels`][rectools.kernels]: same names, signatures and results.

They draw Philox bits from ``numpy.random.Philox`` itself, so the numba kernels are checked
against NumPy's implementation, and they run wherever numba is absent.
"""

from __future__ import annotations

import math

import numpy as np

from rectools import ziggurat as _zt


def _philox_raw(key: np.ndarray, first_block: int, num_blocks: int) -> np.ndarray:
    # NumPy's Philox returns block counter + 1 first; -1 wraps to the 256-bit counter 2^256 - 1.
    counter = np.array([(first_block >> (64 * w)) % 2**64 for w in range(4)], dtype=np.uint64)
    bits = np.random.Philox(key=np.asarray(key, dtype=np.uint64), counter=counter)
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


def _cumulative_integral(x: np.ndarray, f: np.ndarray, df: np.ndarray) -> np.ndarray:
    # End-corrected trapezoid (Euler-Maclaurin, error O(h^4)) on a uniform grid, from 0.
    h = x[1] - x[0]
    pieces = 0.5 * h * (f[1:] + f[:-1]) + h * h / 12.0 * (df[:-1] - df[1:])
    return np.concatenate([[0.0], np.cumsum(pieces)])


def gaussian_stretch_table(
    params: np.ndarray, points: int, gl_x: np.ndarray, gl_w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """See [`rectools.kernels.gaussian_stretch_table`][rectools.kernels.gaussian_stretch_table]."""
    from scipy import special

    mode, a, log_r_max, r_max, mq, sq, mp, sp = (float(v) for v in params)
    log_half, tiny = log_r_max - np.log(2.0), log_r_max - 14.0 * np.log(10.0)
    low, high = np.empty((3, points)), np.empty((3, points // 2 + 1))
    # Below r_max / 2, in x = log η: tails from normal CDFs.
    x = np.linspace(tiny, log_half, points)
    eta = np.exp(x)
    half = np.sqrt((log_r_max - x) / a)
    lo, hi = mode - half, mode + half
    w_q = special.ndtr((hi - mq) / sq) - special.ndtr((lo - mq) / sq)
    w_p = special.ndtr((hi - mp) / sp) - special.ndtr((lo - mp) / sp)
    gap = w_q - eta * w_p
    slope = eta / gap
    low[0], low[2] = x, slope
    low[1] = _cumulative_integral(x, slope, slope * (1.0 + eta * w_p / gap)) + eta[0]
    # Above, in s = -log(r_max - η): the gap by Gauss-Legendre over the interval.
    s = np.linspace(-log_half, -tiny, points // 2 + 1)
    v = np.exp(-s)
    eta = r_max - v
    half = np.sqrt(-np.log1p(-v / r_max) / a)[:, None]
    t = half * gl_x
    density = gl_w * np.exp(-0.5 * ((mode + t - mp) / sp) ** 2) * half / (sp * np.sqrt(2 * np.pi))
    gap = np.sum(density * np.expm1(a * (half**2 - t**2)), axis=1) * eta
    w_p = np.sum(density, axis=1)
    slope = v / gap
    high[0], high[2] = s, slope
    high[1] = _cumulative_integral(s, slope, slope * (v * w_p / gap - 1.0)) + low[1, -1]
    return low, high


def _hermite(grid: np.ndarray, values: np.ndarray, slopes: np.ndarray, x: float) -> float:
    h = grid[1] - grid[0]
    k = min(max(int((x - grid[0]) / h), 0), grid.size - 2)
    u = min(max((x - grid[k]) / h, 0.0), 1.0)
    return float(
        (1 + 2 * u) * (1 - u) ** 2 * values[k]
        + u * (1 - u) ** 2 * h * slopes[k]
        + u * u * (3 - 2 * u) * values[k + 1]
        + u * u * (u - 1) * h * slopes[k + 1]
    )


def gaussian_stretch(low: np.ndarray, high: np.ndarray, r_max: float, ratio: float) -> float:
    """See [`rectools.kernels.gaussian_stretch`][rectools.kernels.gaussian_stretch]."""
    eta_min = float(np.exp(low[0, 0]))
    if ratio < eta_min:
        return ratio
    if ratio < 0.5 * r_max:
        return _hermite(low[0], low[1], low[2], float(np.log(ratio)))
    gap = r_max - ratio
    if gap <= 0.0 or -np.log(gap) > high[0, -1]:
        return np.inf
    return _hermite(high[0], high[1], high[2], float(-np.log(gap)))


def gaussian_stretch_many(
    low: np.ndarray, high: np.ndarray, r_max: float, ratios: np.ndarray
) -> np.ndarray:
    """See [`rectools.kernels.gaussian_stretch_many`][rectools.kernels.gaussian_stretch_many]."""
    return np.array([gaussian_stretch(low, high, r_max, float(r)) for r in ratios])


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
    """See [`rectools.kernels.gprs_bnb_search`][rectools.kernels.gprs_bnb_search]."""
    from scipy import special

    mode, a, log_r_max, r_max = (float(v) for v in params[:4])
    mode_u = float(special.ndtr((mode - mean_p) / std_p))
    lo, hi, node, time = 0.0, 1.0, 0, 0.0
    for depth in range(max_depth + 1):
        time += exponentials[depth] / (hi - lo)
        u = lo + float(philox_uniforms(key, node, 1, 1)[0, 0]) * (hi - lo)
        x = mean_p + std_p * float(special.ndtri(u))
        ratio = float(np.exp(log_r_max - a * (x - mode) ** 2))
        if time <= gaussian_stretch(low, high, r_max, ratio):
            return node, depth + 1, lo, hi
        if u < mode_u:
            lo, node = u, 2 * node + 2
        else:
            hi, node = u, 2 * node + 1
        if not lo < hi:
            break
    return -1, max_depth + 1, lo, hi


_P32_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
_P32_WEYL = (0x9E3779B9, 0xBB67AE85)
_M32 = np.uint64(0xFFFFFFFF)


def _philox4x32(words: np.ndarray, key: np.ndarray) -> np.ndarray:
    # words (4, n) uint64 of 32-bit values, every block at once; returns (4, n).
    c = [words[i].astype(np.uint64) for i in range(4)]
    k = [int(key[0]), int(key[1])]
    for r in range(10):
        if r:
            k = [(k[i] + _P32_WEYL[i]) % 2**32 for i in range(2)]
        lo_hi = [np.uint64(m) * c[2 * i] for i, m in enumerate(_P32_MULTIPLIERS)]
        c = [
            (lo_hi[1] >> np.uint64(32)) ^ c[1] ^ np.uint64(k[0]),
            lo_hi[1] & _M32,
            (lo_hi[0] >> np.uint64(32)) ^ c[3] ^ np.uint64(k[1]),
            lo_hi[0] & _M32,
        ]
    return np.stack(c)


def philox4x32_block(counter: np.ndarray, key: np.ndarray) -> np.ndarray:
    """See [`rectools.kernels.philox4x32_block`][rectools.kernels.philox4x32_block]."""
    return _philox4x32(np.asarray(counter, dtype=np.uint64).reshape(4, 1), key)[:, 0]


def philox32_key(key: np.ndarray) -> np.ndarray:
    """See [`rectools.kernels.philox32_key`][rectools.kernels.philox32_key]."""
    word = int(philox_block(np.uint64(0), key)[0])
    return np.array([word % 2**32, word >> 32], dtype=np.uint64)


def _philox32_raw(first: int, total: int, key32: np.ndarray) -> np.ndarray:
    values = np.arange(first, first + total, dtype=np.uint64)
    pairs = values >> np.uint64(1)
    zero = np.zeros_like(pairs)
    words = _philox4x32(np.stack([pairs & _M32, pairs >> np.uint64(32), zero, zero]), key32)
    odd = (values & np.uint64(1)).astype(bool)
    low = np.where(odd, words[2], words[0])
    high = np.where(odd, words[3], words[1])
    return low | (high << np.uint64(32))


def _open_unit(raw: int) -> float:
    return ((raw >> 11) + 0.5) / 2.0**53


def _ziggurat_outside(raw: int, flat: int, key32: np.ndarray) -> float:
    # One value whose fast path failed: wedge tests, the tail and retries, as in the kernel.
    attempt = 1

    def more() -> tuple[float, float, int]:
        nonlocal attempt
        counter = np.array([flat % 2**32, flat >> 32, attempt, 1], dtype=np.uint64)
        w = [int(v) for v in philox4x32_block(counter, key32)]
        attempt += 1
        return _open_unit(w[0] | w[1] << 32), _open_unit(w[2] | w[3] << 32), w[2] | w[3] << 32

    tail = float(_zt.EDGES[1])
    while True:
        layer, u = raw & 0xFF, raw >> 11
        x = u * float(_zt.EDGES[layer]) / 2.0**53
        if u < int(_zt.THRESHOLDS[layer]):
            break
        first, second, next_raw = more()
        if layer == 0:
            while -2.0 * math.log(second) <= (math.log(first) / tail) ** 2:
                first, second, _ = more()
            x = tail - math.log(first) / tail
            break
        low, high = float(_zt.DENSITIES[layer]), float(_zt.DENSITIES[layer + 1])
        if low + first * (high - low) < math.exp(-0.5 * x * x):
            break
        raw = next_raw
    return -x if raw >> 8 & 1 else x


def _philox32_normals(first: int, total: int, key32: np.ndarray) -> np.ndarray:
    raw = _philox32_raw(first, total, key32)
    layer = (raw & np.uint64(0xFF)).astype(np.intp)
    u = raw >> np.uint64(11)
    z = u.astype(np.float64) * _zt.EDGES[layer] / 2.0**53
    z = np.where((raw >> np.uint64(8)) & np.uint64(1), -z, z)
    for f in np.flatnonzero(u >= _zt.THRESHOLDS[layer]):
        z[f] = _ziggurat_outside(int(raw[f]), first + int(f), key32)
    return z


def philox32_normals(key: np.ndarray, start: int, count: int, dim: int) -> np.ndarray:
    """See [`rectools.kernels.philox32_normals`][rectools.kernels.philox32_normals]."""
    return _philox32_normals(start * dim, count * dim, philox32_key(key)).reshape(count, dim)


def philox32_normals_at(key: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """See [`rectools.kernels.philox32_normals_at`][rectools.kernels.philox32_normals_at]."""
    key32 = philox32_key(key)
    return np.array([_philox32_normals(int(f), 1, key32)[0] for f in flat], dtype=np.float64)


def philox32_uniforms(key: np.ndarray, start: int, count: int, dim: int) -> np.ndarray:
    """See [`rectools.kernels.philox32_uniforms`][rectools.kernels.philox32_uniforms]."""
    raw = _philox32_raw(start * dim, count * dim, philox32_key(key))
    return _to_open_unit(raw).reshape(count, dim)


def philox32_gaussian_log_weights(
    key: np.ndarray,
    start: int,
    count: int,
    scale: np.ndarray,
    shift: np.ndarray,
    offset: float,
) -> np.ndarray:
    """See [`philox32_gaussian_log_weights`][rectools.kernels.philox32_gaussian_log_weights]
    in [`rectools.kernels`][rectools.kernels]."""
    return normal_log_weights(
        philox32_normals(key, start, count, scale.shape[0]), scale, shift, offset
    )


_M64 = (1 << 64) - 1
_SM_GAMMA = 0x9E3779B97F4A7C15


def _splitmix_words(z: np.ndarray) -> np.ndarray:
    # SplitMix64's mixer on uint64 arrays (their products wrap modulo 2^64).
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _splitmix(z: int) -> int:
    return int(_splitmix_words(np.array([z & _M64], dtype=np.uint64))[0])


def _zig32_outside(word: int, flat: int, slow_key: int) -> float:
    # One value outside its layer's rectangle: wedge tests, the tail and retries.
    attempt = 1

    def fresh() -> int:
        nonlocal attempt
        out = _splitmix(slow_key + ((flat << 16) + attempt) * _SM_GAMMA)
        attempt += 1
        return out

    tail = float(_zt.EDGES[1])
    while True:
        layer, u = word & 0xFF, word >> 9
        x = u * float(_zt.EDGES[layer]) * 2.0**-23
        if u < int(_zt.THRESHOLDS[layer]) >> 30:
            break
        first = fresh()
        if layer == 0:
            while True:
                second = fresh()
                a = -math.log(_open_unit(first)) / tail
                if -2.0 * math.log(_open_unit(second)) > a * a:
                    break
                first = fresh()
            x = tail + a
            break
        low, high = float(_zt.DENSITIES[layer]), float(_zt.DENSITIES[layer + 1])
        if low + _open_unit(first) * (high - low) < math.exp(-0.5 * x * x):
            break
        word = fresh() >> 32
    return -x if word >> 8 & 1 else x


def splitmix_normals32(seed: int, first: int, count: int) -> np.ndarray:
    """See [`rectools.kernels.splitmix_normals32`][rectools.kernels.splitmix_normals32]."""
    key = _splitmix(seed)
    flat = np.arange(first, first + count, dtype=np.uint64)
    z = _splitmix_words(
        np.uint64(key) + (flat // np.uint64(2) + np.uint64(1)) * np.uint64(_SM_GAMMA)
    )
    word = (z >> (np.uint64(32) * (flat % np.uint64(2)))) & np.uint64(0xFFFFFFFF)
    layer = (word & np.uint64(0xFF)).astype(np.intp)
    u = word >> np.uint64(9)
    scales = (_zt.EDGES[:256] * 2.0**-23).astype(np.float32)
    sign = (1 - 2 * ((word >> np.uint64(8)) & np.uint64(1)).astype(np.int64)).astype(np.float32)
    out = sign * (u.astype(np.float32) * scales[layer])
    slow_key = _splitmix(key ^ 0xD1B54A32D192ED03)
    for f in np.flatnonzero(u >= _zt.THRESHOLDS[layer] >> np.uint64(30)):
        out[f] = _zig32_outside(int(word[f]), first + int(f), slow_key)
    return out
