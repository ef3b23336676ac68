"""Index entropy models: bucket bookkeeping, exact accounting, fitting, and A*'s code length."""

import math

import numpy as np
import pytest

import rectools
from rectools.index_models import (
    EmpiricalIndexModel,
    UniformIndexModel,
    ZipfIndexModel,
    bucket_of,
    bucket_table,
)


@pytest.mark.parametrize("n", [1, 2, 3, 15, 16, 17, 1000, 2**16 + 1, 2**24])
@pytest.mark.parametrize("mantissa_bits", [0, 3])
def test_buckets_tile_the_index_range(n, mantissa_bits):
    low, size = bucket_table(n, mantissa_bits)
    assert low[0] == 1 and np.all(low[1:] == low[:-1] + size[:-1]) and low[-1] + size[-1] == n + 1
    probe = np.unique(np.linspace(0, n - 1, 500).astype(np.int64))
    symbol, offset = bucket_of(probe, mantissa_bits)
    np.testing.assert_array_equal(low[symbol] + offset, probe + 1)
    assert np.all((offset >= 0) & (offset < size[symbol]))


@pytest.mark.parametrize("n", [1, 5, 256, 100_003])
def test_uniform_costs_log2_n_for_every_index(n):
    model = UniformIndexModel(n)
    np.testing.assert_allclose(
        model.bits(np.arange(0, n, max(1, n // 97))), math.log2(n), atol=1e-9
    )
    assert model.expected_bits() == pytest.approx(math.log2(n))


def _sample(model, rng, count):
    symbols = rng.choice(model.bucket_probs.size, size=count, p=model.bucket_probs)
    return model.bucket_low[symbols] - 1 + rng.integers(0, model.bucket_size[symbols])


def test_zipf_fit_recovers_the_exponent():
    rng = np.random.default_rng(0)
    truth = ZipfIndexModel(2**20, 1.3)
    fitted = ZipfIndexModel.fit(_sample(truth, rng, 5000), 2**20)
    assert fitted.exponent == pytest.approx(1.3, abs=0.03)


def test_empirical_model_matches_its_training_distribution():
    rng = np.random.default_rng(1)
    truth = ZipfIndexModel(4096, 1.5)
    fitted = EmpiricalIndexModel.fit(_sample(truth, rng, 20000), 4096)
    # Cross-entropy of the fitted model under the truth, over every index, is close to the
    # truth's entropy (its buckets are coarser, so not equal).
    every = np.arange(4096)
    truth_bits = truth.bits(every)
    weights = 2.0**-truth_bits
    assert np.sum(weights) == pytest.approx(1.0)
    excess = np.sum(weights * fitted.bits(every)) - np.sum(weights * truth_bits)
    assert 0.0 <= excess < 0.1


@pytest.fixture(scope="module")
def astar_indices():
    """Indices A* sends for a d = 4 Gaussian pair of KL 8 bits, over 400 seeds."""
    p = rectools.DiagonalGaussian(np.zeros(4), np.ones(4))
    mean = math.sqrt(2 * 8 * math.log(2) / 4 - (0.25 - 1 - 2 * math.log(0.5)))
    q = rectools.DiagonalGaussian(np.full(4, mean), np.full(4, 0.5))
    assert rectools.kl_bits(q, p) == pytest.approx(8.0)
    coder = rectools.get_coder("astar", t=4.0)
    results = [coder.encode(q, p, seed=s) for s in range(400)]
    return np.array([r.index for r in results]), results[0].num_candidates


def test_astar_index_costs_less_than_the_bound(astar_indices):
    indices, n = astar_indices
    kl = 8.0
    universal = ZipfIndexModel.for_kl_bits(kl, n)
    assert np.mean(universal.bits(indices)) < rectools.ideal_bits_per_index(kl)
    # Real bytes agree with the ideal lengths to within the coder's constant overhead.
    assert 8 * len(universal.compress(indices)) <= np.sum(universal.bits(indices)) + 64


def test_fitted_models_beat_uniform_on_held_out_astar_indices(astar_indices):
    indices, n = astar_indices
    train, test = indices[:200], indices[200:]
    uniform = np.mean(UniformIndexModel(n).bits(test))
    assert uniform == pytest.approx(math.log2(n))
    for name in ("empirical", "zipf"):
        assert np.mean(rectools.fit_index_model(name, train, n).bits(test)) < uniform - 1.0


def test_bad_input_is_refused():
    model = ZipfIndexModel(100, 1.2)
    with pytest.raises(ValueError, match=r"\[0, 100\)"):
        model.compress([5, 100])
    with pytest.raises(ValueError, match=r"\[0, 100\)"):
        model.bits(-1)
    with pytest.raises(ValueError, match="integers"):
        model.compress([1.5])
    with pytest.raises(ValueError, match="corrupt"):
        UniformIndexModel(100).decompress(b"\xff\xff\xff\xff" * 3, 5)
    with pytest.raises(ValueError, match="exponent"):
        ZipfIndexModel(100, 1.0)
    with pytest.raises(ValueError, match="num_candidates"):
        UniformIndexModel(2**24 + 1)
    with pytest.raises(ValueError, match="uniform"):
        rectools.fit_index_model("huffman", [1], 10)
