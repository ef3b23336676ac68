"""Targets and proposals, KL divergences in bits, and bounds on log importance weights.

A *proposal* ``p`` has ``dim``, ``log_prob`` and ``candidates`` (seeded sampling from a shared
``CandidateStream``); a *target* ``q`` needs only ``dim`` and ``log_prob``
(and ``sample`` for diagnostics). Samples are float64 arrays of shape ``(n, dim)``; discrete
distributions hold category numbers in a single column.

Examples:
    >>> import numpy as np, rectools
    >>> p = rectools.DiagonalGaussian(np.zeros(2), np.ones(2))
    >>> q = rectools.DiagonalGaussian(np.array([0.5, -0.5]), np.array([0.3, 0.3]))
    >>> round(rectools.kl_bits(q, p), 3)
    2.522
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
from scipy import special

from rectools.streams import CandidateStream

_LOG2E = 1.0 / math.log(2.0)


@runtime_checkable
class Target(Protocol):
    """What a coder needs of the distribution it sends a sample of."""

    dim: int

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """Log density (nats) of ``x`` with shape ``(n, dim)``; returns ``(n,)``."""
        ...


@runtime_checkable
class Proposal(Target, Protocol):
    """A target that can also draw candidates from a shared stream."""

    def candidates(
        self, stream: CandidateStream, key: np.ndarray, start: int, count: int
    ) -> np.ndarray:
        """Candidates ``start ... start + count - 1``, shape ``(count, dim)``."""
        ...


def _short(values: np.ndarray) -> str:
    """An array as a short, readable literal (what a falsifying example prints)."""
    return np.array2string(
        np.asarray(values), precision=4, separator=", ", threshold=12, edgeitems=3
    ).replace("\n", "")


def _as_vector(values: object, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _as_batch(x: np.ndarray, dim: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"expected samples of shape (n, {dim}), got {x.shape}")
    return x


class DiagonalGaussian:
    """A Gaussian with diagonal covariance: mean ``(d,)``, standard deviation ``(d,) > 0``.

    Examples:
        >>> g = DiagonalGaussian(np.zeros(3), np.full(3, 2.0))
        >>> g.log_prob(np.zeros((1, 3))).shape
        (1,)
    """

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean = _as_vector(mean, "mean")
        self.std = _as_vector(std, "std")
        if self.mean.shape != self.std.shape:
            raise ValueError(f"mean {self.mean.shape} and std {self.std.shape} differ in shape")
        if np.any(self.std <= 0.0):
            raise ValueError("std must be strictly positive")
        self.dim = int(self.mean.size)

    def __repr__(self) -> str:
        return f"DiagonalGaussian(mean={_short(self.mean)}, std={_short(self.std)})"

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """Log density of each row of ``x`` ``(n, dim)`` (or one point ``(dim,)``), in nats."""
        z = (_as_batch(x, self.dim) - self.mean) / self.std
        return np.sum(-0.5 * z * z - np.log(self.std) - 0.5 * math.log(2.0 * math.pi), axis=1)

    def sample(self, rng: np.random.Generator, num_samples: int) -> np.ndarray:
        """``num_samples`` independent draws using the caller's generator; ``(n, d)``."""
        return self.mean + self.std * rng.standard_normal((num_samples, self.dim))

    def marginal_cdf(self, x: np.ndarray, axis: int) -> np.ndarray:
        """CDF of coordinate ``axis`` at ``x`` (for Kolmogorov-Smirnov tests)."""
        return special.ndtr((np.asarray(x) - self.mean[axis]) / self.std[axis])

    def candidates(
        self, stream: CandidateStream, key: np.ndarray, start: int, count: int
    ) -> np.ndarray:
        """Candidates ``start .. start + count - 1`` of the shared ``stream``; ``(count, dim)``."""
        return self.mean + self.std * stream.standard_normals(key, start, count, self.dim)


class Categorical:
    """A categorical over ``{0, ..., K-1}``, a target or a proposal; samples are ``(n, 1)``."""

    dim = 1

    def __init__(self, probs: np.ndarray) -> None:
        probs = _as_vector(probs, "probs")
        if np.any(probs < 0.0) or not np.isclose(probs.sum(), 1.0, atol=1e-9):
            raise ValueError("probs must be non-negative and sum to 1")
        self.probs = probs / probs.sum()
        self.num_categories = int(probs.size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(probs={_short(self.probs)})"

    def _categories(self, x: np.ndarray) -> np.ndarray:
        x = _as_batch(x, 1)[:, 0]
        k = x.astype(np.int64)
        if np.any(k != x) or np.any(k < 0) or np.any(k >= self.num_categories):
            raise ValueError(f"categories must be integers in [0, {self.num_categories})")
        return k

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """Log probability of each category in ``x`` ``(n, 1)`` or ``(n,)``, in nats (``-inf`` off
        the support).
        """
        with np.errstate(divide="ignore"):
            return np.log(self.probs[self._categories(x)])

    def sample(self, rng: np.random.Generator, num_samples: int) -> np.ndarray:
        """``num_samples`` categories drawn with ``rng``; ``(num_samples, 1)`` float64."""
        return rng.choice(self.num_categories, size=(num_samples, 1), p=self.probs).astype(float)

    def candidates(
        self, stream: CandidateStream, key: np.ndarray, start: int, count: int
    ) -> np.ndarray:
        # Inverse CDF of the shared uniforms.
        """Candidates ``start .. start + count - 1`` of the shared ``stream`` as categories;
        ``(count, 1)``.
        """
        u = stream.uniforms(key, start, count, 1)
        category = np.searchsorted(np.cumsum(self.probs), u, side="right")
        return np.minimum(category, self.num_categories - 1).astype(np.float64)


class UniformCategorical(Categorical):
    """The uniform distribution over ``{0, ..., K-1}``."""

    def __init__(self, num_categories: int) -> None:
        if int(num_categories) < 1:
            raise ValueError("num_categories must be at least 1")
        super().__init__(np.full(int(num_categories), 1.0 / int(num_categories)))


class GaussianMixture:
    """A mixture of diagonal Gaussians: weights ``(m,)``, means and stds ``(m, d)``. A target."""

    def __init__(self, weights: np.ndarray, means: np.ndarray, stds: np.ndarray) -> None:
        self.weights = _as_vector(weights, "weights")
        self.means = np.atleast_2d(np.asarray(means, dtype=np.float64))
        self.stds = np.atleast_2d(np.asarray(stds, dtype=np.float64))
        m = self.weights.size
        if self.means.shape != self.stds.shape or self.means.shape[0] != m:
            raise ValueError("means and stds must both have shape (num_components, dim)")
        if not (np.all(np.isfinite(self.means)) and np.all(np.isfinite(self.stds))):
            raise ValueError("means and stds must be finite")
        if np.any(self.stds <= 0.0) or np.any(self.weights < 0.0):
            raise ValueError("stds must be positive and weights non-negative")
        self.weights = self.weights / self.weights.sum()
        self.dim = int(self.means.shape[1])

    def __repr__(self) -> str:
        return (
            f"GaussianMixture(weights={_short(self.weights)}, means={_short(self.means)}, "
            f"stds={_short(self.stds)})"
        )

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """Log density of each row of ``x`` ``(n, dim)``, in nats."""
        x = _as_batch(x, self.dim)
        z = (x[:, None, :] - self.means) / self.stds
        per_component = np.sum(
            -0.5 * z * z - np.log(self.stds) - 0.5 * math.log(2.0 * math.pi), axis=2
        )
        return special.logsumexp(per_component + np.log(self.weights), axis=1)

    def sample(self, rng: np.random.Generator, num_samples: int) -> np.ndarray:
        """``num_samples`` draws with ``rng``; ``(num_samples, dim)``."""
        component = rng.choice(self.weights.size, size=num_samples, p=self.weights)
        noise = rng.standard_normal((num_samples, self.dim))
        return self.means[component] + self.stds[component] * noise

    def marginal_cdf(self, x: np.ndarray, axis: int) -> np.ndarray:
        """CDF of coordinate ``axis`` at each value of ``x`` (for 1-D goodness-of-fit tests)."""
        z = (np.asarray(x)[..., None] - self.means[:, axis]) / self.stds[:, axis]
        return np.sum(self.weights * special.ndtr(z), axis=-1)


def _kl_gaussians(q: DiagonalGaussian, p: DiagonalGaussian) -> float:
    ratio = q.std / p.std
    diff = (q.mean - p.mean) / p.std
    nats = 0.5 * np.sum(ratio**2 + diff**2 - 1.0 - 2.0 * np.log(ratio))
    return float(nats * _LOG2E)


def _kl_categoricals(q: Categorical, p: Categorical) -> float:
    if q.num_categories != p.num_categories:
        raise ValueError("categorical target and proposal have different numbers of categories")
    support = q.probs > 0.0
    if np.any(p.probs[support] == 0.0):
        return math.inf
    return float(np.sum(q.probs[support] * np.log2(q.probs[support] / p.probs[support])))


class UniformBox:
    """The uniform distribution on a box ``[center - width / 2, center + width / 2]^d``: the
    target of an additive uniform noise channel (what dithered quantization simulates).

    Examples:
        >>> box = UniformBox(np.array([0.3]), 0.5)
        >>> box.log_prob(np.array([[0.3], [1.0]])).tolist()  # inside, outside
        [0.6931471805599453, -inf]
    """

    def __init__(self, center: np.ndarray, width: float) -> None:
        self.center = _as_vector(center, "center")
        if not (math.isfinite(width) and width > 0.0):
            raise ValueError(f"width must be a finite positive number, got {width}")
        self.width = float(width)
        self.dim = int(self.center.size)

    def __repr__(self) -> str:
        return f"UniformBox(center={_short(self.center)}, width={self.width:.4g})"

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """``-dim * log(width)`` inside the box, ``-inf`` outside; ``(n,)``."""
        inside = np.all(np.abs(_as_batch(x, self.dim) - self.center) <= 0.5 * self.width, axis=1)
        return np.where(inside, -self.dim * math.log(self.width), -np.inf)

    def sample(self, rng: np.random.Generator, num_samples: int) -> np.ndarray:
        """``num_samples`` draws with ``rng``; ``(n, dim)``."""
        return self.center + self.width * (rng.random((num_samples, self.dim)) - 0.5)

    def marginal_cdf(self, x: np.ndarray, axis: int) -> np.ndarray:
        """CDF of coordinate ``axis`` at ``x``."""
        low = self.center[axis] - 0.5 * self.width
        return np.clip((np.asarray(x) - low) / self.width, 0.0, 1.0)


def _kl_uniform_gaussian(q: UniformBox, p: DiagonalGaussian) -> float:
    # -h(q) - E_q[log p], with E_q[(x - m)^2] = (c - m)^2 + w^2 / 12 on each axis.
    second = (q.center - p.mean) ** 2 + q.width**2 / 12.0
    cross = np.sum(0.5 * np.log(2.0 * math.pi * p.std**2) + second / (2.0 * p.std**2))
    return float((cross - q.dim * math.log(q.width)) * _LOG2E)


_KL_RULES: list[tuple[type, type, Callable[..., float]]] = [
    (DiagonalGaussian, DiagonalGaussian, _kl_gaussians),
    (Categorical, Categorical, _kl_categoricals),
    (UniformBox, DiagonalGaussian, _kl_uniform_gaussian),
]


def _check_dims(q: Target, p: Target) -> None:
    if q.dim != p.dim:
        raise ValueError(f"target has dim {q.dim} but proposal has dim {p.dim}")


def kl_bits(q: Target, p: Target) -> float:
    """KL(q || p) in bits, in closed form.

    Args:
        q: target.
        p: proposal with the same ``dim``.

    Returns:
        The divergence in bits.

    Raises:
        TypeError: no closed form is known for this pair; use
            [`kl_bits_monte_carlo`][rectools.distributions.kl_bits_monte_carlo].
    """
    _check_dims(q, p)
    for q_type, p_type, rule in _KL_RULES:
        if isinstance(q, q_type) and isinstance(p, p_type):
            return rule(q, p)
    raise TypeError(
        f"no closed-form KL for {type(q).__name__} || {type(p).__name__}; "
        "use rectools.kl_bits_monte_carlo"
    )


def kl_bits_monte_carlo(
    q: Target, p: Target, rng: np.random.Generator, num_samples: int = 100_000
) -> tuple[float, float]:
    """Monte Carlo KL(q || p) in bits from ``q.sample``; returns ``(estimate, standard_error)``."""
    _check_dims(q, p)
    x = q.sample(rng, num_samples)
    log_ratio_bits = (q.log_prob(x) - p.log_prob(x)) * _LOG2E
    return float(log_ratio_bits.mean()), float(log_ratio_bits.std() / math.sqrt(num_samples))


def log_ratio_bound(q: Target, p: Target) -> float:
    """An upper bound on ``log q(x) / p(x)`` (nats) over all ``x``; ``inf`` when none is known.

    For diagonal Gaussians the bound is finite exactly when q is narrower than p in every
    dimension: ``sum_j log(s_p/s_q) + (m_q - m_p)^2 / (2 (s_p^2 - s_q^2))``.
    """
    _check_dims(q, p)
    if isinstance(q, DiagonalGaussian) and isinstance(p, DiagonalGaussian):
        if np.any(q.std >= p.std):
            return math.inf
        gap = p.std**2 - q.std**2
        return float(np.sum(np.log(p.std / q.std) + (q.mean - p.mean) ** 2 / (2.0 * gap)))
    if isinstance(q, Categorical) and isinstance(p, Categorical):
        support = q.probs > 0.0
        if np.any(p.probs[support] == 0.0):
            return math.inf
        return float(np.max(np.log(q.probs[support] / p.probs[support])))
    if isinstance(q, UniformBox) and isinstance(p, DiagonalGaussian):
        # log q - log p is largest at the box's corner farthest from p's mean.
        far = np.abs(q.center - p.mean) + 0.5 * q.width
        log_p_min = -0.5 * np.log(2.0 * math.pi * p.std**2) - far**2 / (2.0 * p.std**2)
        return float(np.sum(-math.log(q.width) - log_p_min))
    return math.inf


def log_weights(
    q: Target,
    p: Proposal,
    stream: CandidateStream,
    key: np.ndarray,
    start: int,
    count: int,
) -> np.ndarray:
    """Log importance weights ``log q/p`` (nats) of candidates ``start ... start + count - 1``.

    Gaussian pairs take a fused kernel that never stores the candidates; any other pair
    draws candidates from ``p`` and evaluates both densities.
    """
    if isinstance(q, DiagonalGaussian) and isinstance(p, DiagonalGaussian):
        scale = p.std / q.std
        shift = (p.mean - q.mean) / q.std
        offset = float(np.sum(np.log(scale)))
        return stream.gaussian_log_weights(key, start, count, scale, shift, offset)
    x = p.candidates(stream, key, start, count)
    with np.errstate(divide="ignore", invalid="ignore"):
        return q.log_prob(x) - p.log_prob(x)
