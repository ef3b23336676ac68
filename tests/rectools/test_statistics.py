"""Do the coders' outputs follow the distributions theory says they should?

Every test runs with fixed seeds, so CI is deterministic. Each goodness-of-fit test rejects at
level ALPHA: were the coder exact, a fresh choice of seeds would fail it with probability
ALPHA = 1e-3 (Bonferroni-corrected where one test makes several comparisons).
"""

import itertools
import math

import numpy as np
import pytest
from scipy import integrate

import rectools
from rectools import diagnostics
from rectools.distributions import log_weights
from rectools.streams import shared_key
from rectools.testing import ALPHA, assert_samples_follow, coder_samples

#: Coders of Gaussian targets (dithered quantization is tested in test_dithered.py).
CODERS = tuple(c for c in rectools.available_coders() if c != "dithered")
#: Coders whose output approaches q (greedy selection is a quantizer: it sends the best
#: candidate, and its own exact law is tested instead).
SAMPLERS = [c for c in CODERS if rectools.get_coder(c).samples_target]
#: Coders searching a fixed number N of candidates (their law depends on N).
DEPTH_LIMITED = [c for c in CODERS if not rectools.get_coder(c).exact]
EXACT = [c for c in CODERS if rectools.get_coder(c).exact]
#: Samplers for targets of any dimension (the others work on the line only).
ANY_DIM = [c for c in SAMPLERS if getattr(rectools.get_coder(c), "max_dim", None) is None]
CATEGORICAL = [c for c in CODERS if c != "gprs-bnb"]


def _win_probabilities(name, w):
    """P(candidate i is sent | candidate weights w), straight from each algorithm's definition."""
    if name == "greedy":  # the first candidate of largest weight
        return (np.arange(len(w)) == np.argmax(w)).astype(float)
    if name in ("mrc", "orc"):  # a categorical draw proportional to the weights
        # (ORC's sorted noise favours early positions, but over all orders of the same
        # candidates, which the enumeration sums over, its wins are MRC's.)
        return w / w.sum()
    # A*: the argmax of w_i / U_i with independent uniforms U_i (AStarCoder's docstring says
    # why). This checks the integral over candidate sets; the chi-square test below checks the
    # coder itself against the law.
    return np.array(
        [
            integrate.quad(
                lambda u, i=i: np.prod(
                    [1.0 - min(1.0, u * w[j] / w[i]) for j in range(len(w)) if j != i]
                ),
                0.0,
                1.0,
            )[0]
            for i in range(len(w))
        ]
    )


def _enumerated_output_distribution(name, q_probs, p_probs, n):
    """Brute force over all n-tuples of candidate categories (small K and n only)."""
    w = q_probs / p_probs
    out = np.zeros(len(q_probs))
    for cats in itertools.product(range(len(q_probs)), repeat=n):
        cats = np.array(cats)
        np.add.at(out, cats, np.prod(p_probs[cats]) * _win_probabilities(name, w[cats]))
    return out


@pytest.mark.parametrize("name", DEPTH_LIMITED)
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_exact_output_distribution_matches_enumeration(name, n):
    q = rectools.Categorical(np.array([0.6, 0.3, 0.1]))
    p = rectools.Categorical(np.array([0.2, 0.5, 0.3]))
    exact = diagnostics.exact_output_distribution(rectools.get_coder(name), q, p, n)
    brute = _enumerated_output_distribution(name, q.probs, p.probs, n)
    np.testing.assert_allclose(exact, brute, atol=1e-8)


def test_astar_and_mrc_laws_differ_at_small_n():
    q = rectools.Categorical(np.array([0.4, 0.3, 0.15, 0.1, 0.05]))
    p = rectools.UniformCategorical(5)
    laws = [
        diagnostics.exact_output_distribution(rectools.get_coder(c), q, p, 8)
        for c in ("astar", "mrc")
    ]
    assert diagnostics.tv_distance(*laws) > 0.01


@pytest.mark.parametrize("name", CATEGORICAL)
def test_categorical_output_matches_exact_law_at_small_n(name):
    # With 8 candidates from a poorly matched proposal the output is far from q (TV > 0.1);
    # the coder must follow its exact law instead.
    q = rectools.Categorical(np.array([0.4, 0.3, 0.15, 0.1, 0.05]))
    p = rectools.Categorical(np.array([0.05, 0.1, 0.15, 0.3, 0.4]))
    seeds = range(3000)
    coder = rectools.get_coder(name)
    samples = coder_samples(coder, q, p, seeds, log2_num_candidates=3)
    expected = diagnostics.exact_output_distribution(coder, q, p, 8)
    # Exact coders reach q itself whatever N; the others must not, at N = 8.
    assert (diagnostics.tv_distance(expected, q.probs) > 0.1) != coder.exact
    assert_samples_follow(samples, expected, ALPHA)


@pytest.mark.parametrize(
    ("name", "candidates"),
    [
        (c, s)
        for c in SAMPLERS
        for s in ("philox4x32", "philox", "sobol")
        if (s == "philox" or c != "gprs-bnb") and (c not in EXACT or s != "sobol")
    ],
)
def test_gaussian_output_matches_target_at_large_t(name, candidates):
    q = rectools.DiagonalGaussian(np.array([0.5]), np.array([0.4]))
    p = rectools.DiagonalGaussian(np.array([0.0]), np.array([1.0]))
    options = {} if name in EXACT else {"t": 10.0}  # exact coders have no oversampling
    coder = rectools.get_coder(name, candidates=candidates, **options)
    assert_samples_follow(coder_samples(coder, q, p, range(1500)), q, ALPHA)


@pytest.mark.parametrize("name", ANY_DIM)
def test_each_dimension_matches_target_in_four_dims(name):
    rng = np.random.default_rng(8)
    p = rectools.DiagonalGaussian(rng.normal(size=4), rng.uniform(0.5, 2.0, 4))
    q = rectools.DiagonalGaussian(p.mean + 0.5 * p.std * rng.normal(size=4), 0.7 * p.std)
    coder = rectools.get_coder(name, t=8.0)
    assert_samples_follow(coder_samples(coder, q, p, range(1000)), q, ALPHA)  # KS per axis


def test_far_too_few_candidates_is_detected():
    # The goodness-of-fit tests above can fail: one candidate is a draw from p, not q.
    q = rectools.DiagonalGaussian(np.array([1.5]), np.array([0.3]))
    p = rectools.DiagonalGaussian(np.array([0.0]), np.array([1.0]))
    coder = rectools.get_coder("astar")
    samples = coder_samples(coder, q, p, range(300), log2_num_candidates=0)
    with pytest.raises(AssertionError, match="Kolmogorov-Smirnov"):
        assert_samples_follow(samples, q, ALPHA)


@pytest.mark.parametrize("name", EXACT)
def test_exact_coders_send_q_itself(name):
    # Far from q at small N for every depth-limited coder (above), exactly q here: a
    # continuous target in 3 dimensions (1 for coders on the line) with a bounded ratio.
    coder = rectools.get_coder(name)
    dim = getattr(coder, "max_dim", None) or 3
    q = rectools.DiagonalGaussian(np.array([0.8, -0.3, 0.1][:dim]), np.array([0.3, 0.5, 0.7][:dim]))
    p = rectools.DiagonalGaussian(np.zeros(dim), np.ones(dim))
    # 3,000 seeds: the first 1,000 alone gave GPRS p = 6e-4, a false alarm at ALPHA (20,000
    # seeds give p = 0.73, and every other block of 1,000 p > 0.08).
    assert_samples_follow(coder_samples(coder, q, p, range(3000)), q, ALPHA)


@pytest.mark.parametrize("name", ["gprs", "gprs-bnb"])
@pytest.mark.parametrize(("mean", "std"), [(2.5, 0.6), (-0.4, 0.02)])
def test_gprs_is_exact_far_out_and_narrow(name, mean, std):
    # A target in p's tail, and one 50x narrower (D_inf about 6 bits).
    q = rectools.DiagonalGaussian(np.array([mean]), np.array([std]))
    p = rectools.DiagonalGaussian(np.zeros(1), np.ones(1))
    coder = rectools.get_coder(name)
    assert_samples_follow(coder_samples(coder, q, p, range(1500)), q, ALPHA / 4)


def test_gprs_branch_and_bound_takes_about_one_step_per_bit():
    p = rectools.DiagonalGaussian(np.zeros(1), np.ones(1))
    q = rectools.DiagonalGaussian(np.array([0.3]), np.array([2.0**-20]))  # D_inf 20 bits
    steps = [rectools.get_coder("gprs-bnb").encode(q, p, seed=s).num_examined for s in range(40)]
    assert 15 < np.mean(steps) < 35


@pytest.mark.parametrize("name", [c for c in DEPTH_LIMITED if c in SAMPLERS])
def test_tv_falls_with_t_and_respects_lemma_a1(name):
    q = rectools.Categorical(np.array([0.55, 0.25, 0.12, 0.05, 0.03]))
    p = rectools.UniformCategorical(5)
    kl = rectools.kl_bits(q, p)
    ts = [0.0, 1.0, 2.0, 4.0, 8.0, 17.0, 20.0, 24.0]
    tvs = [
        diagnostics.tv_distance(
            diagnostics.exact_output_distribution(
                rectools.get_coder(name), q, p, math.ceil(2 ** (kl + t))
            ),
            q.probs,
        )
        for t in ts
    ]
    # A*'s TV reaches rounding level (1e-16) by t = 8: there it may only stop falling.
    assert all(a > b or a < 1e-12 for a, b in itertools.pairwise(tvs))
    assert tvs[0] > 0.1
    informative = 0
    for t, tv in zip(ts, tvs, strict=True):
        bound = diagnostics.lemma_a1_tv_bound(q, p, t)
        if bound < 1.0:
            informative += 1
            assert tv <= bound
    assert informative >= 2


def test_lemma_bound_is_uninformative_at_t_zero():
    q = rectools.DiagonalGaussian(np.array([0.3]), np.array([0.5]))
    p = rectools.DiagonalGaussian(np.zeros(1), np.ones(1))
    assert diagnostics.lemma_a1_tv_bound(q, p, 0.0, np.random.default_rng(0)) > 1.0
    assert diagnostics.lemma_a1_tv_bound(q, p, 30.0, np.random.default_rng(0)) < 1.0


def test_histogram_tv_detects_a_shifted_sample():
    q = rectools.DiagonalGaussian(np.zeros(1), np.ones(1))
    rng = np.random.default_rng(2)
    good = diagnostics.histogram_tv_1d(q.sample(rng, 20000), lambda x: q.marginal_cdf(x, 0))
    bad = diagnostics.histogram_tv_1d(q.sample(rng, 20000) + 0.5, lambda x: q.marginal_cdf(x, 0))
    assert good < 0.03 < 0.15 < bad


def test_greedy_selection_converges_to_the_mode_not_to_q():
    # With many candidates greedy selection sends the category of largest q/p almost surely:
    # far from q (a quantizer's bias), which the samplers' tests above would reject.
    q = rectools.Categorical(np.array([0.55, 0.25, 0.12, 0.05, 0.03]))
    p = rectools.Categorical(np.array([0.1, 0.1, 0.2, 0.3, 0.3]))
    coder = rectools.get_coder("greedy")
    law = diagnostics.exact_output_distribution(coder, q, p, 64)
    assert law[0] > 0.99
    samples = coder_samples(coder, q, p, range(400), log2_num_candidates=6)
    assert_samples_follow(samples, law, ALPHA)
    with pytest.raises(AssertionError):
        assert_samples_follow(samples, q, ALPHA)


def test_greedy_sends_the_largest_log_weight():
    rng = np.random.default_rng(4)
    p = rectools.DiagonalGaussian(rng.normal(size=6), rng.uniform(0.5, 1.5, 6))
    q = rectools.DiagonalGaussian(p.mean + 0.4 * p.std, 0.5 * p.std)
    # Small chunks: the argmax is carried across chunk boundaries.
    coder = rectools.get_coder("greedy", chunk_size=1000)
    for seed in range(5):
        res = coder.encode(q, p, seed=seed, log2_num_candidates=13)
        weights = log_weights(q, p, coder.stream, shared_key(seed, 0), 0, res.num_candidates)
        assert res.index == int(np.argmax(weights)) and res.num_examined == res.num_candidates


def test_chi_square_pooling_keeps_every_count():
    # Categories of expected count below 5 are pooled into the next smallest; no count may be
    # lost on the way (an earlier version overwrote a category while pooling).
    probs = np.array([0.001, 0.002, 0.2, 0.797])
    samples = np.repeat(np.arange(4), [1, 2, 200, 797])
    assert_samples_follow(samples, probs, ALPHA)
    with pytest.raises(AssertionError, match="chi-square"):
        assert_samples_follow(np.repeat(np.arange(4), [1, 2, 300, 697]), probs, ALPHA)
