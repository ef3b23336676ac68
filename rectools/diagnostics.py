"""How close is a coder's output to its target? TV bounds, exact TVs and 1-D goodness of fit.

* [`lemma_a1_tv_bound`][rectools.diagnostics.lemma_a1_tv_bound] — COMBINER's Lemma A.1 (Chatterjee
  & Diaconis, 2018): with
  ``N = 2 ** (KL + t)`` candidates, ``TV <= 4 * eps`` where
  ``eps = (2 ** (-t / 4) + 2 * sqrt(P_{Z~q}[log2 q/p(Z) >= KL + t / 2])) ** 0.5``.
  It exceeds 1 unless ``t`` is above about 16 bits.
* [`exact_output_distribution`][rectools.diagnostics.exact_output_distribution] — the exact law of
  what a coder sends, for a categorical
  target and proposal and any N (each coder derives its own as a one-dimensional integral).
* [`empirical_output_distribution`][rectools.diagnostics.empirical_output_distribution],
  [`ks_statistic_1d`][rectools.diagnostics.ks_statistic_1d],
  [`histogram_tv_1d`][rectools.diagnostics.histogram_tv_1d] —
  estimates from many seeds.

Examples:
    >>> import numpy as np
    >>> from rectools import Categorical, UniformCategorical, diagnostics
    >>> from rectools import get_coder
    >>> q, p = Categorical(np.array([0.7, 0.2, 0.1])), UniformCategorical(3)
    >>> out = diagnostics.exact_output_distribution(get_coder("mrc"), q, p, num_candidates=64)
    >>> bool(diagnostics.tv_distance(out, q.probs) < 0.05)
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import stats

from rectools.coders.base import Coder
from rectools.distributions import Categorical, Proposal, Target, kl_bits

_LOG2E = 1.0 / math.log(2.0)


def tv_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation ``0.5 * sum |a - b|`` between two probability vectors."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return 0.5 * float(np.abs(a - b).sum())


def tail_probability(
    q: Target, p: Target, threshold_bits: float, rng: np.random.Generator, num_samples: int
) -> float:
    """``P_{Z~q}[log2 q(Z)/p(Z) >= threshold_bits]``: exact for categoricals, else Monte Carlo."""
    if isinstance(q, Categorical) and isinstance(p, Categorical):
        support = q.probs > 0.0
        with np.errstate(divide="ignore"):
            log2_ratio = np.log2(q.probs[support]) - np.log2(p.probs[support])
        return float(np.sum(q.probs[support][log2_ratio >= threshold_bits]))
    x = q.sample(rng, num_samples)  # type: ignore[attr-defined]
    log2_ratio = (q.log_prob(x) - p.log_prob(x)) * _LOG2E
    return float(np.mean(log2_ratio >= threshold_bits))


def lemma_a1_tv_bound(
    q: Target,
    p: Target,
    t: float,
    rng: np.random.Generator | None = None,
    num_samples: int = 200_000,
) -> float:
    """Lemma A.1's bound ``4 * eps`` on TV(output, q) for ``N = 2 ** (KL + t)`` candidates.

    Args:
        q: target (KL to ``p`` in closed form).
        p: proposal.
        t: oversampling in bits.
        rng: generator for the Monte Carlo tail probability of continuous targets.
        num_samples: Monte Carlo size.

    Returns:
        The bound (values ``>= 1`` say nothing).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    tail = tail_probability(q, p, kl_bits(q, p) + t / 2.0, rng, num_samples)
    eps = math.sqrt(2.0 ** (-t / 4.0) + 2.0 * math.sqrt(tail))
    return 4.0 * eps


def exact_output_distribution(
    coder: Coder, q: Categorical, p: Categorical, num_candidates: int
) -> np.ndarray:
    """Exact distribution of the category ``coder`` sends with N candidates.

    Args:
        coder: a coder with a ``categorical_output_law`` method (A* and MRC have one).
        q: categorical target.
        p: categorical proposal with the same number of categories, ``p > 0`` where ``q > 0``.
        num_candidates: N.

    Returns:
        ``(K,)`` probabilities.
    """
    if q.num_categories != p.num_categories:
        raise ValueError("q and p must have the same number of categories")
    if np.any(p.probs[q.probs > 0] == 0):
        raise ValueError("p must be positive wherever q is")
    if int(num_candidates) < 1:
        raise ValueError("num_candidates must be at least 1")
    law = getattr(coder, "categorical_output_law", None)
    if law is None:
        raise TypeError(f"{type(coder).__name__} does not know its exact output law")
    return law(q.probs, p.probs, int(num_candidates))


def coder_samples(
    coder: Coder,
    q: Target,
    p: Proposal,
    seeds: range | np.ndarray,
    log2_num_candidates: float | None = None,
) -> np.ndarray:
    """The samples a coder sends, one encode per seed; ``(num_seeds, dim)``."""
    return np.stack(
        [
            coder.encode(q, p, seed=int(s), log2_num_candidates=log2_num_candidates).sample
            for s in seeds
        ]
    )


def empirical_output_distribution(
    coder: Coder,
    q: Categorical,
    p: Proposal,
    seeds: range | np.ndarray,
    log2_num_candidates: float | None = None,
) -> np.ndarray:
    """Frequencies of the categories a coder sends, one encode per seed; ``(K,)``."""
    sent = coder_samples(coder, q, p, seeds, log2_num_candidates)[:, 0].astype(np.int64)
    return np.bincount(sent, minlength=q.num_categories) / sent.size


def ks_statistic_1d(
    samples: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray]
) -> tuple[float, float]:
    """Kolmogorov-Smirnov ``(statistic, p_value)`` of 1-D ``samples`` against ``cdf``."""
    result = stats.kstest(np.asarray(samples).ravel(), cdf)
    return float(result.statistic), float(result.pvalue)


def histogram_tv_1d(
    samples: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray], num_bins: int = 20
) -> float:
    """TV between the samples and the target on ``num_bins`` equal-probability bins.

    A consistent lower estimate of the true TV plus a ``O(sqrt(num_bins / n))`` noise floor.
    """
    u = np.clip(cdf(np.asarray(samples).ravel()), 0.0, np.nextafter(1.0, 0.0))
    counts = np.bincount((u * num_bins).astype(np.int64), minlength=num_bins)
    return tv_distance(counts / counts.sum(), np.full(num_bins, 1.0 / num_bins))
