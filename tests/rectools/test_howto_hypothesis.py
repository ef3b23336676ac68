"""The how-to's example: a hypothesis test of A*'s output law, on the public API only."""

from hypothesis import given, settings
from hypothesis import strategies as st

import rectools
from rectools.diagnostics import exact_output_distribution
from rectools.testing import (
    ALPHA,
    assert_samples_follow,
    categorical_pairs,
    coder_samples,
    gaussian_pairs,
)

EXAMPLES = 20


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(pair=categorical_pairs(num_categories=(2, 5)), log2_n=st.integers(0, 4))
def test_astar_sends_its_exact_law(pair, log2_n):
    q, p = pair
    coder = rectools.get_coder("astar")
    # The law A* must follow with N = 2**log2_n candidates (not q itself: N is small).
    law = exact_output_distribution(coder, q, p, 2**log2_n)
    samples = coder_samples(coder, q, p, seeds=range(1000), log2_num_candidates=log2_n)
    # A chi-square test per example, Bonferroni over the examples: a correct coder fails
    # this whole test with probability at most ALPHA.
    assert_samples_follow(samples, law, alpha=ALPHA / EXAMPLES)


def test_the_same_test_catches_a_wrong_law():
    q = rectools.Categorical([0.7, 0.2, 0.1])
    p = rectools.UniformCategorical(3)
    # The two laws differ by TV 0.056 here: 5,000 samples tell them apart.
    samples = coder_samples(rectools.get_coder("mrc"), q, p, range(5000), log2_num_candidates=2)
    astar_law = exact_output_distribution(rectools.get_coder("astar"), q, p, 4)
    try:
        assert_samples_follow(samples, astar_law, alpha=ALPHA)
    except AssertionError:
        return
    raise AssertionError("MRC's samples passed as A*'s law")


@settings(max_examples=10, deadline=None, derandomize=True)
@given(pair=gaussian_pairs(dims=(1, 3), kl_bits_range=(1.0, 6.0), max_d_inf_bits=14.0))
def test_pfr_sends_the_target_itself(pair):
    q, p = pair
    samples = coder_samples(rectools.get_coder("pfr"), q, p, seeds=range(500))
    # Kolmogorov-Smirnov per axis (corrected over axes), Bonferroni over the examples.
    assert_samples_follow(samples, q, alpha=ALPHA / 10)
