"""The shared candidate streams against the laws they promise, with fixed keys.

Each goodness-of-fit test here fails a correct stream with probability at most ALPHA (1e-3,
Bonferroni-corrected within a test); keys are fixed, so CI is deterministic.
"""

import numpy as np
import pytest
from scipy import special, stats

import rectools
from rectools import ops
from rectools.testing import ALPHA

INDEPENDENT = ["philox4x32", "philox"]
#: 2^20 normals: the ziggurat's wedges and tail (|z| > 3.654, 270 expected) are all visited.
COUNT, DIM = 2**16, 16
KEY = rectools.shared_key(seed=2026, stream=11)
#: The same laws hold for the encoder-private float32 noise (rectools.ops.splitmix_normals32).
NORMALS = {
    **{
        name: lambda name=name: rectools.get_stream(name).standard_normals(KEY, 0, COUNT, DIM)
        for name in INDEPENDENT
    },
    "private-splitmix32": lambda: ops.splitmix_normals32(2026, 0, COUNT * DIM).astype(np.float64),
}


def _chi_square_p(observed: np.ndarray, expected: np.ndarray) -> float:
    return float(stats.chisquare(observed, expected).pvalue)


@pytest.mark.parametrize("name", NORMALS)
def test_normals_follow_the_standard_normal_in_the_body_and_the_tails(name):
    z = NORMALS[name]().ravel()
    # 100 equiprobable bins, then the two tails beyond the ziggurat's base strip split off.
    tail = 3.6541528853610088
    edges = np.concatenate([[-np.inf, -tail], special.ndtri(np.linspace(0, 1, 101)[1:-1])])
    edges = np.sort(np.concatenate([edges, [tail, np.inf]]))
    observed = np.histogram(z, edges)[0]
    expected = z.size * np.diff(special.ndtr(edges))
    assert _chi_square_p(observed, expected) > ALPHA / 3
    # The extreme tail on its own: counts beyond 4 sigma are Poisson(n P(|z| > 4)).
    beyond = int(np.sum(np.abs(z) > 4.0))
    mean = z.size * 2 * special.ndtr(-4.0)
    assert stats.poisson.sf(beyond - 1, mean) > ALPHA / 6
    assert stats.poisson.cdf(beyond, mean) > ALPHA / 6
    assert stats.kstest(z, "norm").pvalue > ALPHA / 3


@pytest.mark.parametrize("name", NORMALS)
def test_neighbouring_normals_are_uncorrelated(name):
    # Neighbours share a Philox block (a SplitMix64 word); lags 1 to 4 and the sign/layer
    # bits' use are covered.
    z = NORMALS[name]().ravel()
    level = stats.norm.isf(ALPHA / 2 / 8)
    for lag in (1, 2, 3, 4):
        for statistic in (z[:-lag] * z[lag:], np.abs(z[:-lag]) * np.abs(z[lag:]) - 2 / np.pi):
            assert abs(statistic.mean()) * np.sqrt(statistic.size) / statistic.std() < level


@pytest.mark.parametrize("name", INDEPENDENT)
def test_uniforms_are_uniform(name):
    u = rectools.get_stream(name).uniforms(KEY, 0, COUNT, 4).ravel()
    assert u.min() > 0.0 and u.max() < 1.0
    observed = np.histogram(u, np.linspace(0.0, 1.0, 257))[0]
    assert _chi_square_p(observed, np.full(256, u.size / 256)) > ALPHA


@pytest.mark.parametrize("name", [*INDEPENDENT, "sobol"])
def test_any_candidate_regenerates_alone(name):
    stream = rectools.get_stream(name)
    whole = stream.standard_normals(KEY, 0, 300, 7)
    for i in (0, 1, 150, 299):
        np.testing.assert_array_equal(stream.standard_normals(KEY, i, 1, 7)[0], whole[i])
        np.testing.assert_array_equal(stream.standard_normals(KEY, i, 300 - i, 7), whole[i:])


@pytest.mark.parametrize("name", INDEPENDENT)
def test_seeds_and_sub_streams_give_different_candidates(name):
    stream = rectools.get_stream(name)
    keys = [rectools.shared_key(s, b) for s, b in ((0, 0), (1, 0), (0, 1), (2**64 - 1, 2**64 - 1))]
    draws = [stream.standard_normals(k, 0, 64, 4) for k in keys]
    for i in range(len(draws)):
        for j in range(i):
            assert not np.any(draws[i] == draws[j])


def test_the_default_stream_is_philox4x32():
    # (Files coded with the first stream keep decoding: tests/combiner/test_golden.py.)
    assert rectools.DEFAULT_STREAM == "philox4x32"
    assert rectools.get_coder("astar").stream.name == "philox4x32"
    assert rectools.get_coder("astar", candidates="philox").stream.name == "philox"
