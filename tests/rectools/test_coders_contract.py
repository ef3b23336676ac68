"""The contract every registered coder honours, with every candidate stream."""

import math

import numpy as np
import pytest

import rectools

STREAMS = ["philox4x32", "philox", "sobol"]


#: The coders of Gaussian targets (dithered quantization, for uniform channels, has its own
#: contract tests in test_dithered.py).
GAUSSIAN_CODERS = [c for c in rectools.available_coders() if c != "dithered"]
EXACT = [c for c in GAUSSIAN_CODERS if rectools.get_coder(c).exact]


def _accepts(name: str, stream: str) -> bool:
    """Exact coders need independent candidates; branch-and-bound GPRS only Philox4x64's."""
    if name == "gprs-bnb":
        return stream == "philox"
    return name not in EXACT or rectools.get_stream(stream).independent


PAIRS = [(c, s) for c in GAUSSIAN_CODERS for s in STREAMS if _accepts(c, s)]


@pytest.mark.parametrize("name", EXACT)
def test_exact_coders_refuse_quasi_random_candidates(name):
    with pytest.raises(ValueError, match="independent candidates"):
        rectools.get_coder(name, candidates="sobol")


def test_branch_and_bound_gprs_says_which_stream_it_needs():
    with pytest.raises(ValueError, match=r"candidates='philox'.*search kernel"):
        rectools.get_coder("gprs-bnb", candidates="philox4x32")


@pytest.fixture(params=PAIRS, ids=str)
def coder(request):
    name, stream = request.param
    # Exact coders have no oversampling t: their N is not chosen from the KL.
    options = {} if rectools.get_coder(name).exact else {"t": 1.0}
    return rectools.get_coder(name, candidates=stream, **options)


@pytest.fixture
def pair(coder):
    """A 5-D pair, or a 1-D one for coders restricted to the line."""
    dim = getattr(coder, "max_dim", None) or 5
    rng = np.random.default_rng(3)
    p = rectools.DiagonalGaussian(rng.normal(size=dim), rng.uniform(0.5, 1.5, dim))
    q = rectools.DiagonalGaussian(p.mean + 0.3 * p.std, 0.6 * p.std)
    return q, p


def _expected_n(coder, log2_n):
    """A depth-limited coder searches ``ceil(2 ** log2_n)`` candidates; an exact one has no
    depth limit, so its index may be anywhere below its search cap."""
    if coder.exact:
        return 2**coder.max_log2_num_candidates
    return math.ceil(2**log2_n)


def test_registry_lists_astar_and_mrc():
    assert {"astar", "mrc"} <= set(rectools.available_coders())


def test_unknown_coder_lists_choices():
    with pytest.raises(ValueError, match="astar"):
        rectools.get_coder("nope")


def test_round_trip_is_bit_identical(coder, pair):
    q, p = pair
    for seed in range(5):
        res = coder.encode(q, p, seed=seed)
        x = coder.decode(res.index, p, seed=seed, num_candidates=res.num_candidates)
        assert np.array_equal(x, res.sample)
        assert x.dtype == np.float64 and x.shape == (q.dim,)
        assert 0 <= res.index < res.num_candidates
        assert res.num_candidates == _expected_n(coder, rectools.kl_bits(q, p) + coder.t)


def test_encode_is_deterministic(coder, pair):
    q, p = pair
    a, b = coder.encode(q, p, seed=11), coder.encode(q, p, seed=11)
    assert a.index == b.index and np.array_equal(a.sample, b.sample)
    c = coder.encode(q, p, seed=11, rng=np.random.default_rng(5))
    d = coder.encode(q, p, seed=11, rng=np.random.default_rng(5))
    assert c.index == d.index


def test_seeds_and_streams_give_different_candidates(coder, pair):
    _, p = pair
    x0 = coder.decode(0, p, seed=1, num_candidates=4)
    assert not np.array_equal(x0, coder.decode(0, p, seed=2, num_candidates=4))
    assert not np.array_equal(x0, coder.decode(0, p, seed=1, num_candidates=4, stream=1))
    assert not np.array_equal(x0, coder.decode(1, p, seed=1, num_candidates=4))


def test_fixed_number_of_candidates(coder, pair):
    q, p = pair
    res = coder.encode(q, p, seed=0, log2_num_candidates=10)
    assert res.num_candidates == _expected_n(coder, 10)


def test_categorical_and_mixture_targets(coder):
    q = rectools.Categorical(np.array([0.5, 0.25, 0.125, 0.125]))
    p = rectools.UniformCategorical(4)
    if isinstance(coder, rectools.BranchAndBoundGPRSCoder):  # Gaussians on the line only
        with pytest.raises(ValueError, match="1-D"):
            coder.encode(q, p, seed=4)
        return
    res = coder.encode(q, p, seed=4)
    assert res.sample.shape == (1,) and res.sample[0] in range(4)
    mix = rectools.GaussianMixture(
        np.array([0.5, 0.5]), np.array([[-1.0], [1.0]]), np.full((2, 1), 0.3)
    )
    gauss = rectools.DiagonalGaussian(np.zeros(1), np.full(1, 2.0))
    if coder.exact:  # no bound on a mixture's ratio (or no tails): an exact coder refuses
        with pytest.raises(ValueError, match="density ratio"):
            coder.encode(mix, gauss, seed=0, log2_num_candidates=6)
        return
    with pytest.raises(TypeError, match="log2_num_candidates"):
        coder.encode(mix, gauss, seed=0)
    res = coder.encode(mix, gauss, seed=0, log2_num_candidates=6)
    assert math.isnan(res.kl_bits)
    assert np.array_equal(coder.decode(res.index, gauss, 0, res.num_candidates), res.sample)


def test_bad_inputs_are_refused(coder, pair):
    q, p = pair
    with pytest.raises(ValueError, match="outside"):
        coder.decode(10, p, seed=0, num_candidates=10)
    with pytest.raises(ValueError, match="outside"):
        coder.decode(-1, p, seed=0, num_candidates=10)
    with pytest.raises(TypeError, match="seed"):
        coder.encode(q, p, seed=1.5)
    with pytest.raises(TypeError, match="seed"):
        coder.decode(0, p, seed="1", num_candidates=2)
    with pytest.raises(ValueError, match="seed"):
        coder.encode(q, p, seed=-1)
    with pytest.raises(TypeError, match="index"):
        coder.decode(1.0, p, seed=0, num_candidates=2)
    other = rectools.DiagonalGaussian(np.zeros(3), np.ones(3))
    other = other if q.dim != 3 else rectools.DiagonalGaussian(np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="dim"):
        coder.encode(q, other, seed=0)
    huge = rectools.DiagonalGaussian(p.mean + 10 * p.std, 0.01 * p.std)
    with pytest.raises(ValueError, match="split the weights into blocks"):
        coder.encode(huge, p, seed=0)


@pytest.mark.parametrize(
    ("mean", "std", "message"),
    [
        ([0.0, 1.0], [1.0, 0.0], "positive"),
        ([0.0, 1.0], [1.0, -2.0], "positive"),
        ([0.0, np.nan], [1.0, 1.0], "NaN"),
        ([0.0, 1.0], [np.inf, 1.0], "NaN"),
        ([0.0, 1.0], [1.0, 1.0, 1.0], "shape"),
        ([[0.0, 1.0]], [[1.0, 1.0]], "1-D"),
    ],
)
def test_distribution_validation(mean, std, message):
    with pytest.raises(ValueError, match=message):
        rectools.DiagonalGaussian(np.array(mean), np.array(std))


def test_coder_options_are_validated():
    with pytest.raises(ValueError, match="t must"):
        rectools.get_coder("astar", t=-1.0)
    with pytest.raises(ValueError, match="candidate stream"):
        rectools.get_coder("mrc", candidates="halton")


def test_misplaced_options_get_a_helpful_message():
    with pytest.raises(TypeError, match="argument of encode"):
        rectools.get_coder("astar", log2_num_candidates=10)
    with pytest.raises(TypeError, match=r"its options: .*max_depth"):
        rectools.get_coder("gprs-bnb", t=1.0)
    with pytest.raises(TypeError, match=r"takes no option 'tt'.*early_stopping"):
        rectools.get_coder("astar", tt=1.0)
    with pytest.raises(TypeError, match="always stops"):
        rectools.get_coder("pfr", early_stopping=False)
