"""Dithered quantization: the coder contract for uniform channels, and its exact law."""

import math

import numpy as np
import pytest

import rectools
from rectools.testing import ALPHA, assert_samples_follow, coder_samples

WIDTH = 0.2
P = rectools.DiagonalGaussian(np.array([0.3]), np.array([1.5]))


def _box(center):
    return rectools.UniformBox(np.array([center]), WIDTH)


def test_round_trip_determinism_and_one_step():
    coder = rectools.get_coder("dithered", width=WIDTH)
    for seed in range(20):
        res = coder.encode(_box(0.7), P, seed=seed)
        assert res.num_examined == 1 and 0 <= res.index < res.num_candidates
        assert np.array_equal(coder.decode(res.index, P, seed, res.num_candidates), res.sample)
        assert res.index == coder.encode(_box(0.7), P, seed=seed).index
    a, b = coder.encode(_box(0.7), P, seed=1), coder.encode(_box(0.7), P, seed=1, stream=1)
    assert a.sample[0] != b.sample[0]


@pytest.mark.parametrize("center", [0.3, 0.71, -2.4])
def test_the_sample_is_exactly_uniform_around_the_target(center):
    coder = rectools.get_coder("dithered", width=WIDTH)
    samples = coder_samples(coder, _box(center), P, range(2000))
    assert np.all(np.abs(samples - center) <= WIDTH / 2 + 1e-12)
    assert_samples_follow(samples, _box(center), ALPHA)


def test_index_cost_is_about_the_entropy_of_the_quantized_prior():
    # Targets centred on draws from p: K's entropy is about h(p) - log2(w) bits.
    coder = rectools.get_coder("dithered", width=WIDTH)
    rng = np.random.default_rng(4)
    centers = P.sample(rng, 2000)[:, 0]
    indices = np.array([coder.encode(_box(c), P, seed=s).index for s, c in enumerate(centers)])
    model = rectools.fit_index_model("empirical", indices[:1000], 2**24)
    bits = float(np.mean(model.bits(indices[1000:])))
    entropy = 0.5 * math.log2(2 * math.pi * math.e * 1.5**2) - math.log2(WIDTH)
    assert entropy - 0.5 < bits < entropy + 1.5


def test_bad_inputs_are_refused():
    coder = rectools.get_coder("dithered", width=WIDTH)
    with pytest.raises(ValueError, match=r"width 0\.2"):
        coder.encode(rectools.UniformBox(np.array([0.0]), 0.3), P, seed=0)
    with pytest.raises(ValueError, match="UniformBox"):
        coder.encode(rectools.DiagonalGaussian(np.zeros(1), np.ones(1)), P, seed=0)
    with pytest.raises(ValueError, match="1-D"):
        coder.encode(_box(0.0), rectools.DiagonalGaussian(np.zeros(2), np.ones(2)), seed=0)
    with pytest.raises(ValueError, match="index range"):
        coder.encode(_box(1e7), P, seed=0)
    with pytest.raises(ValueError, match="outside"):
        coder.decode(5, P, seed=0, num_candidates=5)
    with pytest.raises(ValueError, match="independent"):
        rectools.get_coder("dithered", candidates="sobol")
    with pytest.raises(ValueError, match="width"):
        rectools.get_coder("dithered", width=0.0)
    # The importance-sampling coders take a box too; dithered only at its own width.
    assert "dithered" not in rectools.available_coders(_box(0.0), P)
    assert "dithered" in rectools.available_coders(rectools.UniformBox(np.zeros(1), 1.0), P)


def test_kl_and_bound_of_a_box_against_a_gaussian():
    q = _box(0.7)
    exact = rectools.kl_bits(q, P)
    estimate, error = rectools.kl_bits_monte_carlo(q, P, np.random.default_rng(0), 200_000)
    assert abs(exact - estimate) < 5 * error + 1e-9
    assert rectools.log_ratio_bound(q, P) >= np.max(
        q.log_prob(q.sample(np.random.default_rng(1), 1000))
        - P.log_prob(q.sample(np.random.default_rng(1), 1000))
    )
