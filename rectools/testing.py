"""Testing helpers for coders: hypothesis strategies and goodness-of-fit assertions.

What a researcher needs to check that a coder's samples follow the law it should, with a
stated false-alarm rate:

- strategies for target/proposal pairs ([`gaussian_pairs`][rectools.testing.gaussian_pairs] at
  a chosen KL range and dimension, [`categorical_pairs`][rectools.testing.categorical_pairs],
  [`mixture_pairs`][rectools.testing.mixture_pairs]) and for seeds;
- [`assert_samples_follow`][rectools.testing.assert_samples_follow]: a Kolmogorov-Smirnov test
  per axis (continuous targets) or a chi-square test (categorical targets, or any exact law given
  as probabilities), Bonferroni-corrected so the whole assertion fails a correct coder with
  probability at most ``alpha``;
- [`coder_samples`][rectools.testing.coder_samples]: one encode per seed, decoded back (so a test
  also checks that decoding reproduces the sample).

Strategies need ``hypothesis`` (``pip install rectools[test]`` or the ``dev`` extra); the
assertions need only NumPy and SciPy.

Examples:
    >>> import numpy as np, rectools
    >>> from rectools.testing import assert_samples_follow, coder_samples
    >>> p = rectools.DiagonalGaussian(np.zeros(2), np.ones(2))
    >>> q = rectools.DiagonalGaussian(np.array([0.3, -0.2]), np.array([0.5, 0.6]))
    >>> samples = coder_samples(rectools.get_coder("pfr", max_log2_num_candidates=16), q, p,
    ...                         seeds=range(300))
    >>> assert_samples_follow(samples, q, alpha=1e-3)  # raises AssertionError if not
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from scipy import stats

from rectools.coders.base import Coder
from rectools.distributions import (
    Categorical,
    DiagonalGaussian,
    GaussianMixture,
    Proposal,
    Target,
    log_ratio_bound,
)

#: The default false-alarm rate of the assertions: a correct coder fails one in 1,000 seeds.
ALPHA = 1e-3


def coder_samples(
    coder: Coder,
    target: Target,
    proposal: Proposal,
    seeds: Iterable[int],
    log2_num_candidates: float | None = None,
) -> np.ndarray:
    """Encode once per seed and decode each index back; the decoded samples ``(n, dim)``.

    Raises:
        AssertionError: a decoded sample differs from the encoder's.
    """
    out = []
    for seed in seeds:
        res = coder.encode(
            target, proposal, seed=int(seed), log2_num_candidates=log2_num_candidates
        )
        decoded = coder.decode(res.index, proposal, int(seed), res.num_candidates)
        if not np.array_equal(decoded, res.sample):
            raise AssertionError(
                f"seed {seed}: decode({res.index}) differs from the encoder's sample"
            )
        out.append(decoded)
    return np.stack(out)


def assert_samples_follow(
    samples: np.ndarray,
    target: Target | np.ndarray,
    alpha: float = ALPHA,
) -> None:
    """Fail when ``samples`` are unlikely under ``target``; a correct sampler fails with
    probability at most ``alpha``.

    Args:
        samples: ``(n, dim)`` (or ``(n,)``) draws.
        target: a distribution with ``marginal_cdf`` (KS test per axis, Bonferroni over axes),
            a [`Categorical`][rectools.distributions.Categorical], or the probabilities ``(K,)``
            of an exact law over ``{0, ..., K-1}`` (chi-square test; categories of expected
            count below 5 are pooled).
        alpha: false-alarm rate of the whole assertion.

    Raises:
        AssertionError: with the test, statistic, p-value and the corrected level.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[:, None] if samples.ndim == 1 else samples
    if isinstance(target, (Categorical, np.ndarray)):
        probs = target.probs if isinstance(target, Categorical) else np.asarray(target, float)
        _chi_square(samples[:, 0], probs, alpha)
        return
    if not hasattr(target, "marginal_cdf"):
        raise TypeError(f"{type(target).__name__} has no marginal_cdf: give probabilities instead")
    level = alpha / samples.shape[1]
    for axis in range(samples.shape[1]):
        result = stats.kstest(samples[:, axis], lambda x, a=axis: target.marginal_cdf(x, a))
        if result.pvalue <= level:
            raise AssertionError(
                f"axis {axis}: Kolmogorov-Smirnov statistic {result.statistic:.4f}, p-value "
                f"{result.pvalue:.2e} <= {level:.2e} (alpha {alpha} over {samples.shape[1]} "
                f"axes, {samples.shape[0]} samples) against {target!r}"
            )


def _chi_square(categories: np.ndarray, probs: np.ndarray, alpha: float) -> None:
    k = categories.astype(np.int64)
    if np.any(k != categories) or np.any(k < 0) or np.any(k >= probs.size):
        raise AssertionError(f"samples outside the categories 0..{probs.size - 1}")
    observed = np.bincount(k, minlength=probs.size).astype(np.float64)
    expected = probs / probs.sum() * k.size
    if np.any(observed[expected == 0] > 0):
        raise AssertionError("a category of probability zero was sampled")
    observed, expected = _pool_small(observed[expected > 0], expected[expected > 0])
    if observed.size < 2:
        return
    result = stats.chisquare(observed, expected)
    if result.pvalue <= alpha:
        raise AssertionError(
            f"chi-square statistic {result.statistic:.2f} on {observed.size - 1} degrees of "
            f"freedom, p-value {result.pvalue:.2e} <= alpha {alpha} ({k.size} samples); "
            f"observed {observed.astype(int).tolist()}, expected {np.round(expected, 1).tolist()}"
        )


def _pool_small(observed: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool the categories of smallest expected count until each has at least 5."""
    order = np.argsort(expected)
    observed, expected = list(observed[order]), list(expected[order])
    while len(expected) > 1 and expected[0] < 5.0:
        smallest_expected, smallest_observed = expected.pop(0), observed.pop(0)
        expected[0] += smallest_expected
        observed[0] += smallest_observed
        pairs = sorted(zip(expected, observed, strict=True))
        expected, observed = [e for e, _ in pairs], [o for _, o in pairs]
    return np.array(observed), np.array(expected)


def gaussian_with_kl(
    proposal: DiagonalGaussian,
    kl_bits_target: float,
    std_ratio: float = 0.5,
    direction: np.ndarray | list[float] | None = None,
) -> DiagonalGaussian:
    """A diagonal Gaussian target ``q`` with ``KL(q || proposal)`` equal to ``kl_bits_target``.

    Each axis gets ``std_q = std_ratio * std_p`` and the mean moves along ``direction``
    (default: every axis alike) by whatever the KL needs; when the widths alone cost more than
    the KL, the ratio is raised towards 1 and the mean stays.

    Examples:
        >>> import numpy as np, rectools
        >>> p = rectools.DiagonalGaussian(np.zeros(4), np.ones(4))
        >>> round(rectools.kl_bits(gaussian_with_kl(p, 12.0), p), 9)
        12.0
    """
    if not (math.isfinite(kl_bits_target) and kl_bits_target >= 0.0):
        raise ValueError("the KL must be a finite number of bits >= 0")
    if not 0.0 < std_ratio <= 1.0:
        raise ValueError("std_ratio must lie in (0, 1]")
    d = proposal.dim
    kl_nats = kl_bits_target * math.log(2.0)

    def width_cost(r: float) -> float:
        return 0.5 * d * (r * r - 1.0 - 2.0 * math.log(r))

    ratio = std_ratio
    if width_cost(ratio) > kl_nats:  # solve width_cost(r) = kl for r in (std_ratio, 1]
        low, high = ratio, 1.0
        for _ in range(200):
            mid = 0.5 * (low + high)
            low, high = (low, mid) if width_cost(mid) < kl_nats else (mid, high)
        ratio = high
    unit = np.ones(d) if direction is None else np.asarray(direction, dtype=np.float64)
    unit = unit / np.linalg.norm(unit)
    shift = math.sqrt(max(0.0, 2.0 * (kl_nats - width_cost(ratio))))
    return DiagonalGaussian(proposal.mean + shift * unit * proposal.std, ratio * proposal.std)


def _hypothesis():  # imported lazily: only the strategies need hypothesis
    try:
        from hypothesis import strategies as st
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "rectools.testing strategies need hypothesis: pip install hypothesis"
        ) from err
    return st


def seeds():
    """Shared seeds: integers in ``[0, 2**64)``."""
    return _hypothesis().integers(0, 2**64 - 1)


def gaussian_pairs(
    dims: tuple[int, int] = (1, 6),
    kl_bits_range: tuple[float, float] = (0.5, 10.0),
    narrower: bool = True,
    max_d_inf_bits: float | None = None,
):
    """Strategy of ``(q, p)`` diagonal Gaussian pairs with ``KL(q||p)`` in ``kl_bits_range``.

    Args:
        dims: smallest and largest dimension.
        kl_bits_range: the KL in bits is drawn uniformly from this range.
        narrower: ``q`` narrower than ``p`` in every axis (a bounded density ratio, which A*'s
            early stop and exact coders need); ``False`` lets some axes be wider.
        max_d_inf_bits: keep only pairs whose ``log2 max q/p`` is at most this (exact coders
            examine about ``2 ** D_inf`` candidates).
    """
    st = _hypothesis()

    @st.composite
    def build(draw):
        dim = draw(st.integers(*dims))
        floats = st.floats(-3.0, 3.0, allow_nan=False)
        mean = np.array(draw(st.lists(floats, min_size=dim, max_size=dim)))
        std = np.array(draw(st.lists(st.floats(0.1, 5.0), min_size=dim, max_size=dim)))
        p = DiagonalGaussian(mean, std)
        kl = draw(st.floats(*kl_bits_range))
        ratio = draw(st.floats(0.2, 0.95))
        direction = draw(
            st.lists(st.floats(-1.0, 1.0), min_size=dim, max_size=dim).filter(
                lambda v: np.linalg.norm(v) > 0.1
            )
        )
        q = gaussian_with_kl(p, kl, ratio, direction)
        if not narrower and dim > 1 and draw(st.booleans()):
            wide = q.std.copy()
            wide[0] = p.std[0] * draw(st.floats(1.0, 1.5))
            q = DiagonalGaussian(q.mean, wide)
        return q, p

    if max_d_inf_bits is None:
        return build()
    return build().filter(lambda pair: log_ratio_bound(*pair) <= max_d_inf_bits * math.log(2.0))


def categorical_pairs(num_categories: tuple[int, int] = (2, 8), min_prob: float = 0.01):
    """Strategy of ``(q, p)`` categorical pairs; ``p >= min_prob`` everywhere (bounded ratio)."""
    st = _hypothesis()

    @st.composite
    def build(draw):
        k = draw(st.integers(*num_categories))
        weights = st.lists(st.floats(min_prob, 1.0), min_size=k, max_size=k)
        q, p = np.array(draw(weights)), np.array(draw(weights))
        return Categorical(q / q.sum()), Categorical(p / p.sum())

    return build()


def mixture_pairs(components: tuple[int, int] = (2, 3), dims: tuple[int, int] = (1, 3)):
    """Strategy of ``(q, p)``: a Gaussian-mixture target and a wide diagonal Gaussian proposal
    (no closed-form KL: coders need ``log2_num_candidates``)."""
    st = _hypothesis()

    @st.composite
    def build(draw):
        m, d = draw(st.integers(*components)), draw(st.integers(*dims))
        weights = np.array(draw(st.lists(st.floats(0.1, 1.0), min_size=m, max_size=m)))
        means = np.array(draw(st.lists(st.floats(-2.0, 2.0), min_size=m * d, max_size=m * d)))
        stds = np.array(draw(st.lists(st.floats(0.2, 1.0), min_size=m * d, max_size=m * d)))
        q = GaussianMixture(weights, means.reshape(m, d), stds.reshape(m, d))
        return q, DiagonalGaussian(np.zeros(d), np.full(d, 3.0))

    return build()


__all__ = [
    "ALPHA",
    "assert_samples_follow",
    "categorical_pairs",
    "coder_samples",
    "gaussian_pairs",
    "gaussian_with_kl",
    "mixture_pairs",
    "seeds",
]
