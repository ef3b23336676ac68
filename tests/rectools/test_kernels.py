"""Each numba kernel against its NumPy twin, and the Philox kernel against numpy.random.Philox."""

import numpy as np
import pytest

import rectools
from rectools import kernels, kernels_reference

pytestmark = pytest.mark.skipif(
    kernels.philox_block is kernels_reference.philox_block, reason="numba not installed"
)

KEY = np.array([0x0123456789ABCDEF, 42], dtype=np.uint64)
# Box-Muller and exp/log go through libm in numba and through NumPy's own loops in the twin;
# they may differ in the last bit, never more than a few ulp.
ULP_RTOL = 8 * np.finfo(np.float64).eps


@pytest.mark.parametrize("counter", [1, 2, 3, 2**32 + 5, 2**63 + 11])
def test_philox_block_matches_numpy_philox(counter):
    key = np.array([2**64 - 1, 7], dtype=np.uint64)
    expected = np.random.Philox(key=key, counter=counter - 1).random_raw(4)
    np.testing.assert_array_equal(kernels.philox_block(np.uint64(counter), key), expected)


@pytest.mark.parametrize(("start", "count", "dim"), [(0, 50, 1), (7, 33, 4), (1000, 20, 13)])
def test_normals_and_uniforms_match_twin(start, count, dim):
    for name in ("philox_normals", "philox_uniforms"):
        fast = getattr(kernels, name)(KEY, start, count, dim)
        slow = getattr(kernels_reference, name)(KEY, start, count, dim)
        assert fast.shape == slow.shape == (count, dim)
        np.testing.assert_allclose(fast, slow, rtol=ULP_RTOL, atol=1e-300)


def test_uniforms_are_bit_identical_to_twin():
    np.testing.assert_array_equal(
        kernels.philox_uniforms(KEY, 3, 100, 5), kernels_reference.philox_uniforms(KEY, 3, 100, 5)
    )


@pytest.mark.parametrize(("start", "count"), [(0, 1), (0, 17), (3, 9), (6, 1), (1001, 64)])
def test_exponentials_match_twin(start, count):
    fast = kernels.philox_exponentials(KEY, start, count)
    np.testing.assert_allclose(
        fast, kernels_reference.philox_exponentials(KEY, start, count), rtol=ULP_RTOL
    )


def test_candidate_stream_is_indexable():
    whole = kernels.philox_normals(KEY, 0, 64, 6)
    for i in (0, 1, 31, 63):
        np.testing.assert_array_equal(kernels.philox_normals(KEY, i, 1, 6)[0], whole[i])


def test_log_weight_kernels_match_twins():
    rng = np.random.default_rng(0)
    scale, shift = rng.uniform(0.5, 3.0, 9), rng.normal(size=9)
    fused = kernels.gaussian_log_weights(KEY, 5, 300, scale, shift, 0.25)
    twin = kernels_reference.gaussian_log_weights(KEY, 5, 300, scale, shift, 0.25)
    np.testing.assert_allclose(fused, twin, rtol=1e-12, atol=1e-12)
    z = kernels.philox_normals(KEY, 5, 300, 9)
    np.testing.assert_array_equal(kernels.normal_log_weights(z, scale, shift, 0.25), fused)
    np.testing.assert_allclose(
        kernels_reference.normal_log_weights(z, scale, shift, 0.25), fused, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("bound", [np.inf, 2.0, 0.5])
def test_astar_scan_matches_twin(bound):
    rng = np.random.default_rng(1)
    for trial in range(20):
        weights = rng.normal(-1.0, 1.0, 200).clip(max=bound)
        exps = rng.exponential(size=200)
        state = (trial * 0.1, -np.inf if trial % 2 else 1.5)
        fast = kernels.astar_scan(weights, exps, state[0], state[1], bound)
        slow = kernels_reference.astar_scan(weights, exps, state[0], state[1], bound)
        assert fast[0] == slow[0] and fast[3] == slow[3]
        np.testing.assert_allclose(fast[1:3], slow[1:3], rtol=1e-14)


def _bnb_pair(mean, std):
    from rectools.coders.gprs import GaussianTails1D

    q = rectools.DiagonalGaussian(np.array([mean]), np.array([std]))
    p = rectools.DiagonalGaussian(np.zeros(1), np.ones(1))
    return GaussianTails1D(q, p)


@pytest.mark.parametrize(("mean", "std"), [(0.7, 0.3), (0.3, 2.0**-20), (-2.0, 0.9)])
def test_gprs_stretch_table_matches_twin(mean, std):
    from rectools.coders.gprs import _GL_NODES, _GL_WEIGHTS

    tails = _bnb_pair(mean, std)
    fast = kernels.gaussian_stretch_table(tails.params, 257, _GL_NODES, _GL_WEIGHTS)
    slow = kernels_reference.gaussian_stretch_table(tails.params, 257, _GL_NODES, _GL_WEIGHTS)
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9)
    for ratio in tails.r_max * np.array([1e-15, 1e-3, 0.3, 0.5, 0.9, 1 - 1e-9, 1.0]):
        a = kernels.gaussian_stretch(*fast, tails.r_max, ratio)
        b = kernels_reference.gaussian_stretch(*slow, tails.r_max, ratio)
        assert a == pytest.approx(b, rel=1e-9) or a == b == np.inf
    ratios = tails.r_max * np.array([1e-3, 0.3, 0.9, 1.0])
    many = kernels.gaussian_stretch_many(*fast, tails.r_max, ratios)
    assert many.shape == (4,)
    np.testing.assert_allclose(
        many, kernels_reference.gaussian_stretch_many(*slow, tails.r_max, ratios), rtol=1e-9
    )


def test_inverse_normal_cdf_is_scipys_to_a_few_ulp():
    from scipy import special

    p = np.concatenate([np.logspace(-300, -1, 200), np.linspace(0.01, 0.99, 200)])
    p = np.concatenate([p, 1 - np.logspace(-16, -2, 100)])
    ours = np.array([kernels._ndtri(float(v)) for v in p])
    np.testing.assert_allclose(ours, special.ndtri(p), rtol=1e-13, atol=1e-13)


def test_gprs_branch_and_bound_search_matches_twin():
    tails = _bnb_pair(0.3, 2.0**-12)
    exponentials = kernels.philox_exponentials(KEY, 0, 63)
    for seed in range(50):
        key = rectools.shared_key(seed, 0)
        tables = (tails.low, tails.high, tails.params)
        fast = kernels.gprs_bnb_search(key, exponentials, *tables, 0.0, 1.0, 62)
        slow = kernels_reference.gprs_bnb_search(key, exponentials, *tables, 0.0, 1.0, 62)
        assert fast[:2] == slow[:2] and fast[2:] == pytest.approx(slow[2:], rel=1e-14)


# Random123's known answers for Philox4x32-10: (counter, key, output), 32-bit words.
PHILOX4X32_KAT = [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    (
        [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
        [0xA4093822, 0x299F31D0],
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1],
    ),
]


@pytest.mark.parametrize(("counter", "key", "expected"), PHILOX4X32_KAT)
def test_philox4x32_matches_random123(counter, key, expected):
    for module in (kernels, kernels_reference):
        out = module.philox4x32_block(np.array(counter, np.uint64), np.array(key, np.uint64))
        assert out.tolist() == expected


def test_philox4x32_key_matches_twin():
    for seed, stream in ((0, 0), (1, 2), (2**64 - 1, 2**63)):
        key = rectools.shared_key(seed, stream)
        np.testing.assert_array_equal(
            kernels.philox32_key(key), kernels_reference.philox32_key(key)
        )


@pytest.mark.parametrize(("start", "count", "dim"), [(0, 5000, 7), (3, 1, 1), (2**30 + 1, 700, 16)])
def test_philox4x32_stream_matches_twin(start, count, dim):
    # 35,000 normals take the ziggurat's slow path (wedges, tail, retries) a few hundred times;
    # the fast path is exact arithmetic and the slow one uses exp/log, equal to a few ulp.
    fast = kernels.philox32_normals(KEY, start, count, dim)
    slow = kernels_reference.philox32_normals(KEY, start, count, dim)
    assert fast.shape == slow.shape == (count, dim)
    np.testing.assert_allclose(fast, slow, rtol=ULP_RTOL, atol=0)
    np.testing.assert_array_equal(
        kernels.philox32_uniforms(KEY, start, count, dim),
        kernels_reference.philox32_uniforms(KEY, start, count, dim),
    )
    rng = np.random.default_rng(2)
    scale, shift = rng.uniform(0.5, 3.0, dim), rng.normal(size=dim)
    weights = kernels.philox32_gaussian_log_weights(KEY, start, count, scale, shift, 0.25)
    np.testing.assert_allclose(
        weights,
        kernels_reference.philox32_gaussian_log_weights(KEY, start, count, scale, shift, 0.25),
        rtol=1e-12,
        atol=1e-12,
    )
    # The fused kernel sums each candidate's terms in coordinate order, as the plain one does.
    np.testing.assert_array_equal(kernels.normal_log_weights(fast, scale, shift, 0.25), weights)


def test_philox4x32_normals_at_any_positions_match_the_stream_and_twin():
    whole = kernels.philox32_normals(KEY, 0, 3000, 1)[:, 0]
    flat = np.array([2999, 0, 17, 1500, 17], dtype=np.int64)
    np.testing.assert_array_equal(kernels.philox32_normals_at(KEY, flat), whole[flat])
    np.testing.assert_allclose(
        kernels_reference.philox32_normals_at(KEY, flat), whole[flat], rtol=ULP_RTOL, atol=0
    )


@pytest.mark.parametrize(
    ("seed", "first", "count"), [(0, 0, 1), (3, 1, 7), (11, 5, 300_000), (2**62, 12_345, 50_001)]
)
def test_private_normals_match_twin_bit_for_bit(seed, first, count):
    fast = kernels.splitmix_normals32(seed, first, count)
    slow = kernels_reference.splitmix_normals32(seed, first, count)
    assert fast.dtype == slow.dtype == np.float32 and fast.shape == (count,)
    np.testing.assert_array_equal(fast, slow)
    if count > 100_000:  # wedges and the tail beyond R = 3.654 were taken
        assert np.sum(np.abs(fast) > 3.654) > 10


def test_private_normals_regenerate_any_range_alone():
    whole = kernels.splitmix_normals32(9, 0, 10_001)
    for first, count in [(0, 1), (1, 2), (333, 4_000), (9_999, 2)]:
        np.testing.assert_array_equal(
            kernels.splitmix_normals32(9, first, count), whole[first : first + count]
        )
    assert not np.array_equal(kernels.splitmix_normals32(10, 0, 100), whole[:100])
