"""Hypothesis properties over random Gaussian target/proposal pairs (``rectools.testing``)."""

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

import rectools
from rectools.testing import gaussian_pairs, seeds

DEPTH_LIMITED = [c for c in rectools.available_coders() if not rectools.get_coder(c).exact]
#: Exact coders of Gaussian targets (dithered quantization has its own tests).
EXACT = [c for c in rectools.available_coders() if rectools.get_coder(c).exact and c != "dithered"]


@given(gaussian_pairs(narrower=False), seeds(), st.sampled_from(DEPTH_LIMITED))
def test_round_trip_and_index_range(pair, seed, name):
    q, p = pair
    coder = rectools.get_coder(name, max_log2_num_candidates=20)
    res = coder.encode(q, p, seed=seed, log2_num_candidates=min(rectools.kl_bits(q, p), 12.0))
    assert 0 <= res.index < res.num_candidates
    assert np.array_equal(coder.decode(res.index, p, seed, res.num_candidates), res.sample)


@given(gaussian_pairs((1, 3), (0.5, 6.0), max_d_inf_bits=18.0), seeds(), st.sampled_from(EXACT))
def test_exact_coders_round_trip(pair, seed, name):
    q, p = pair
    coder = rectools.get_coder(name)
    assume(coder.supports(q, p))
    res = coder.encode(q, p, seed=seed)
    assert 0 <= res.index < res.num_candidates and res.num_examined >= 1
    assert np.array_equal(coder.decode(res.index, p, seed, res.num_candidates), res.sample)


@given(gaussian_pairs(narrower=True), st.integers(0, 2**32), st.floats(0.0, 4.0))
def test_early_stopping_equals_full_search(pair, seed, t):
    q, p = pair
    log2_n = min(rectools.kl_bits(q, p) + t, 14.0)
    fast = rectools.get_coder("astar", early_stopping=True)
    full = rectools.get_coder("astar", early_stopping=False)
    a = fast.encode(q, p, seed=seed, log2_num_candidates=log2_n)
    b = full.encode(q, p, seed=seed, log2_num_candidates=log2_n)
    assert a.index == b.index
    assert b.num_examined == b.num_candidates
    assert a.num_examined <= a.num_candidates


@given(
    st.integers(1, 2**24),
    st.lists(st.integers(0, 2**24 - 1), min_size=0, max_size=40),
    st.sampled_from(rectools.available_index_models()),
)
def test_coded_length_accounts_for_the_bytes(num_candidates, raw, name):
    indices = np.array([i % num_candidates for i in raw], dtype=np.int64)
    training = np.arange(0, num_candidates, max(1, num_candidates // 50))
    model = rectools.fit_index_model(name, training, num_candidates)
    data = model.compress(indices)
    np.testing.assert_array_equal(model.decompress(data, len(indices)), indices)
    ideal = float(np.sum(model.bits(indices))) if len(indices) else 0.0
    # A range coder spends at most ~2 words over the ideal length, plus the cost of quantising
    # bucket probabilities to 24 bits (tiny per symbol); trimming trailing zero bytes can also
    # make a lucky sequence up to 2 words shorter than its ideal length.
    assert 8 * len(data) >= ideal - 64 - 0.01 * len(indices)
    assert 8 * len(data) <= ideal + 64 + 0.05 * len(indices)
