"""Greedy Poisson rejection sampling (Flamich, 2023): exact samples, global and branch-and-bound.

GPRS runs a unit Poisson process of candidates ``(T_i, X_i)``, ``X_i ~ p``, and sends the first
one under the graph of ``σ(r(x))``, ``r = q / p``: accept when ``T_i <= σ(r(X_i))``. The
stretch function makes the accepted ``X`` follow q exactly: writing ``w_P(h) = P_p(r(X) >= h)``
and ``w_Q(h) = P_q(r(X) >= h)``, the first acceptance before time ``t`` has probability
``E_p[min(h, r(X))]`` with ``h = σ^{-1}(t)``, which forces

    dσ^{-1}/dt = w_Q(h) - h w_P(h),   i.e.   σ(h) = ∫_0^h dη / (w_Q(η) - η w_P(η)).

So GPRS needs the two tail functions, known here for categorical pairs (in closed form) and for
1-D Gaussian pairs with q narrower than p (a unimodal ratio: ``{r >= h}`` is an interval).

- ``"gprs"`` scans candidates in order, like A*: run time about ``2 ** D_inf`` candidates, an
  index of about ``KL + log2(KL + 1) + O(1)`` bits.
- ``"gprs-bnb"`` is the branch-and-bound form for a unimodal ratio on the line: each rejected
  candidate cuts away the side of the line beyond it (the ratio only falls there, and the
  process's later points come later still), so the search descends a binary tree and runs in
  about ``D_inf`` steps instead of ``2 ** D_inf``. The index is the node of the tree
  (``2 ** depth - 1 + position``): its bits describe the path.
"""

from __future__ import annotations

import math
from typing import ClassVar, Protocol

import numpy as np
from scipy import special

from rectools import ops
from rectools.coders.base import (
    EncodeResult,
    ImportanceSamplingCoder,
    _kl_or_nan,
    check_index,
)
from rectools.coders.registry import register_coder
from rectools.distributions import Categorical, DiagonalGaussian, Proposal, Target
from rectools.streams import get_stream, private_generator, private_key, shared_key


class RatioTails(Protocol):
    """What GPRS needs of a pair: the largest ratio and the stretch function σ."""

    #: ``max_x q(x) / p(x)``.
    r_max: float

    def stretch(self, ratio: np.ndarray) -> np.ndarray:
        """``σ(ratio)``, the latest arrival time a candidate of this ratio is accepted at."""
        ...


class CategoricalTails:
    """Exact σ for categorical q and p: the tails are step functions, so σ is a sum of logs."""

    def __init__(self, q: Categorical, p: Categorical) -> None:
        if np.any(p.probs[q.probs > 0] == 0):
            raise ValueError("p must be positive wherever q is")
        support = q.probs > 0
        ratios = np.zeros_like(q.probs)
        ratios[support] = q.probs[support] / p.probs[support]
        self.r_max = float(ratios.max())
        # Distinct ratio levels ascending; on (level[j-1], level[j]] the tails are constant.
        self.levels = np.unique(ratios[support])
        self.w_p = np.array([p.probs[ratios >= h].sum() for h in self.levels])
        self.w_q = np.array([q.probs[ratios >= h].sum() for h in self.levels])
        # σ at the start of each piece (level[j-1], level[j]]: the sum of the pieces below.
        self.starts = np.concatenate([[0.0], self.levels[:-1]])
        below = self._pieces(np.arange(len(self.levels) - 1), self.levels[:-1])
        self.sigma_at_start = np.concatenate([[0.0], np.cumsum(below)])

    def _pieces(self, j: np.ndarray, end: np.ndarray) -> np.ndarray:
        """``∫ dη / (w_Q - η w_P)`` over piece ``j`` from its start to ``end``."""
        wp, wq, start = self.w_p[j], self.w_q[j], self.starts[j]
        with np.errstate(divide="ignore", invalid="ignore"):
            flat = (end - start) / wq
            gap_end = wq - end * wp
            curved = np.log((wq - start * wp) / gap_end) / wp
        # At the top level w_Q = r_max w_P, so the gap closes and σ diverges there.
        return np.where(wp == 0.0, flat, np.where(gap_end <= 0.0, np.inf, curved))

    def stretch(self, ratio: np.ndarray) -> np.ndarray:
        """Exact ``σ(ratio)`` (``inf`` at the largest ratio)."""
        ratio = np.asarray(ratio, dtype=np.float64)
        j = np.clip(np.searchsorted(self.levels, ratio, side="left"), 0, len(self.levels) - 1)
        return self.sigma_at_start[j] + self._pieces(j, np.minimum(ratio, self.levels[j]))


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)


class GaussianTails1D:
    """σ for 1-D Gaussians with q narrower than p, tabulated once per pair.

    ``{r >= h}`` is the interval where a downward parabola in ``x`` exceeds ``log h``, so both
    tails are differences of normal CDFs. The integrand of σ is singular at both ends (the
    tails move like a power of ``η`` near 0 and σ grows like ``(r_max - η)^{-1/2}`` near the
    top), so σ is integrated on ``log η`` below ``r_max / 2`` (``points``) and on
    ``-log(r_max - η)`` above (``points // 2 + 1``: σ is smooth there), by the end-corrected
    trapezoid rule (the integrand's derivative is
    exact, since ``d(w_Q - η w_P)/dη = -w_P``), and interpolated as a cubic Hermite spline
    with the exact slopes: relative error of σ about 5e-6 at 513 points (the default), 5e-7
    at 1,025.
    """

    def __init__(self, q: DiagonalGaussian, p: DiagonalGaussian, points: int = 513) -> None:
        if q.dim != 1 or p.dim != 1:
            raise ValueError("GaussianTails1D is for 1-D Gaussians")
        mq, sq, mp, sp = float(q.mean[0]), float(q.std[0]), float(p.mean[0]), float(p.std[0])
        if not sq < sp:
            raise ValueError("q must be narrower than p for a bounded, unimodal ratio")
        # log r(x) = log r_max - a (x - mode)^2 with a > 0.
        self.a = 0.5 * (1.0 / sq**2 - 1.0 / sp**2)
        self.mode = (mq / sq**2 - mp / sp**2) / (2.0 * self.a)
        self.log_r_max = float(
            math.log(sp / sq)
            - (self.mode - mq) ** 2 / (2 * sq**2)
            + (self.mode - mp) ** 2 / (2 * sp**2)
        )
        self.r_max = math.exp(self.log_r_max)
        self.params = np.array([self.mode, self.a, self.log_r_max, self.r_max, mq, sq, mp, sp])
        self.low, self.high = ops.gaussian_stretch_table(
            self.params, points, _GL_NODES, _GL_WEIGHTS
        )

    def log_ratio(self, x: float) -> float:
        """``log q(x)/p(x) = log r_max - a (x - mode)^2`` at one point."""
        return self.log_r_max - self.a * (x - self.mode) ** 2

    def stretch(self, ratio: np.ndarray) -> np.ndarray:
        """``σ(ratio)`` from the tables; ``inf`` within ``1e-14 r_max`` of the top."""
        ratio = np.asarray(ratio, dtype=np.float64)
        flat = ops.gaussian_stretch_many(self.low, self.high, self.r_max, ratio.ravel())
        return flat.reshape(ratio.shape)


def _has_tails(target: Target, proposal: Proposal) -> bool:
    if isinstance(target, Categorical) and isinstance(proposal, Categorical):
        return target.num_categories == proposal.num_categories
    return (
        isinstance(target, DiagonalGaussian)
        and isinstance(proposal, DiagonalGaussian)
        and target.dim == proposal.dim == 1
        and target.std[0] < proposal.std[0]
    )


def ratio_tails(target: Target, proposal: Proposal) -> RatioTails:
    """The stretch function of a pair GPRS supports.

    Raises:
        ValueError: neither a categorical pair nor 1-D Gaussians with q narrower than p.
    """
    if _has_tails(target, proposal):
        if isinstance(target, Categorical):
            return CategoricalTails(target, proposal)
        return GaussianTails1D(target, proposal)
    raise ValueError(
        "GPRS needs the tails of the density ratio: give categorical q and p, or 1-D Gaussians "
        f"with q narrower than p (got {target!r} and {proposal!r})"
    )


@register_coder("gprs")
class GreedyPoissonCoder(ImportanceSamplingCoder):
    """Global greedy Poisson rejection sampling: the first candidate under ``σ(r(x))`` is sent.

    Exact for the pairs [`ratio_tails`][rectools.coders.gprs.ratio_tails] supports
    (categorical pairs; 1-D Gaussians with q narrower than p). Examines about ``2 ** D_inf``
    candidates; ``num_candidates`` is the search cap ``2 ** max_log2_num_candidates`` and ``t``
    and ``log2_num_candidates`` are not used.

    Examples:
        >>> import numpy as np, rectools
        >>> p = rectools.DiagonalGaussian(np.zeros(1), np.ones(1))
        >>> q = rectools.DiagonalGaussian(np.array([0.5]), np.array([0.3]))
        >>> coder = rectools.get_coder("gprs")
        >>> res = coder.encode(q, p, seed=2)
        >>> bool(np.array_equal(coder.decode(res.index, p, 2, res.num_candidates), res.sample))
        True
    """

    index_model = "empirical"
    exact = True
    #: Gaussian targets only on the line (categorical ones are 1-D too).
    max_dim: ClassVar[int] = 1

    def num_candidates(
        self, target: Target, proposal: Proposal, log2_num_candidates: float | None = None
    ) -> tuple[int, float]:
        """``(search cap, KL in bits)``: the index may be anywhere below the cap."""
        return 2**self.max_log2_num_candidates, _kl_or_nan(target, proposal)

    def supports(self, target: Target, proposal: Proposal) -> bool:
        """Categorical pairs, and 1-D Gaussians with q narrower than p."""
        return _has_tails(target, proposal)

    def _select(
        self,
        target: Target,
        proposal: Proposal,
        key: np.ndarray,
        n: int,
        rng: np.random.Generator,
    ) -> tuple[int, int]:
        tails = ratio_tails(target, proposal)
        _check_d_inf(tails.r_max, self.max_log2_num_candidates)
        noise_key, time = private_key(rng), 0.0
        for start, log_w in self._log_weight_chunks(target, proposal, key, n, first_chunk=256):
            arrivals = time + np.cumsum(ops.philox_exponentials(noise_key, start, log_w.size))
            accepted = np.flatnonzero(arrivals <= tails.stretch(np.exp(log_w)))
            if accepted.size:
                return start + int(accepted[0]), start + int(accepted[0]) + 1
            time = float(arrivals[-1])
        raise ValueError(f"GPRS did not accept within 2^{self.max_log2_num_candidates} candidates")

    @staticmethod
    def categorical_output_law(q_probs: np.ndarray, p_probs: np.ndarray, n: int) -> np.ndarray:
        """Exactly ``q`` (whatever ``n``)."""
        return np.asarray(q_probs, dtype=np.float64).copy()


def _check_d_inf(r_max: float, max_log2: int) -> None:
    d_inf_bits = math.log2(r_max)
    if d_inf_bits > max_log2:
        raise ValueError(
            f"D_inf(q||p) = {d_inf_bits:.1f} bits would need about 2^{d_inf_bits:.1f} "
            f"candidates, more than the limit of 2^{max_log2}; split the weights into "
            "blocks of about 16 bits each and code every block separately"
        )


#: The largest D_inf (bits) the branch-and-bound search accepts (double precision in p's CDF).
MAX_BNB_D_INF_BITS = 40


@register_coder("gprs-bnb")
class BranchAndBoundGPRSCoder:
    """Branch-and-bound GPRS for 1-D Gaussians with q narrower than p (Flamich, 2023).

    The density ratio is unimodal, so a rejected candidate ``X`` rules out the whole side of
    the line beyond it: the ratio is lower there and the process's remaining points arrive
    later than the current time, which already exceeded ``σ(r(X))``. The search keeps the
    p-mass ``M`` of the interval left, draws the next arrival ``Exp(1) / M`` later and its
    position from p restricted to the interval (by inverse CDF of a shared uniform, one per
    tree node), and descends towards the mode. It stops after about ``D_inf`` steps, exact in
    law; the index is the heap number of the node reached (root 0, children ``2k + 1`` on the
    left and ``2k + 2`` on the right), so it costs about one bit per step.

    Args:
        max_depth: deepest node searched (indices stay below ``2 ** (max_depth + 1)``).
        candidates: the shared stream of the nodes' uniforms; only ``"philox"``, which the
            search kernel draws from directly.

    Examples:
        >>> import numpy as np, rectools
        >>> p = rectools.DiagonalGaussian(np.zeros(1), np.ones(1))
        >>> q = rectools.DiagonalGaussian(np.array([0.5]), np.array([1e-4]))  # D_inf 13 bits
        >>> coder = rectools.get_coder("gprs-bnb")
        >>> res = coder.encode(q, p, seed=2)
        >>> res.num_examined < 60
        True
        >>> bool(np.array_equal(coder.decode(res.index, p, 2, res.num_candidates), res.sample))
        True
    """

    name: ClassVar[str]
    index_model: ClassVar[str] = "empirical"
    exact: ClassVar[bool] = True
    samples_target: ClassVar[bool] = True
    #: Only 1-D targets.
    max_dim: ClassVar[int] = 1

    def __init__(self, max_depth: int = 62, candidates: str = "philox") -> None:
        if not 1 <= max_depth <= 62:
            raise ValueError("max_depth must be in [1, 62]")
        self.max_depth = int(max_depth)
        self.stream = get_stream(candidates)
        if self.stream.name != "philox":
            reason = (
                "it is exact only with independent candidates (quasi-random Sobol points are not)"
                if not self.stream.independent
                else "its search kernel draws the nodes' uniforms from that stream"
            )
            raise ValueError(f"branch-and-bound GPRS needs candidates='philox': {reason}")
        self.t = 0.0
        self.max_log2_num_candidates = self.max_depth + 1

    def __repr__(self) -> str:
        return (
            f"BranchAndBoundGPRSCoder(max_depth={self.max_depth}, candidates={self.stream.name!r})"
        )

    def supports(self, target: Target, proposal: Proposal) -> bool:
        """1-D Gaussians with q narrower than p."""
        return isinstance(target, DiagonalGaussian) and _has_tails(target, proposal)

    def _gaussian(self, proposal: Proposal) -> tuple[float, float]:
        if not isinstance(proposal, DiagonalGaussian) or proposal.dim != 1:
            raise ValueError(
                "branch-and-bound GPRS needs a 1-D (dim 1) DiagonalGaussian proposal "
                f"(got {proposal!r}); use 'gprs' or 'pfr' for other pairs"
            )
        return float(proposal.mean[0]), float(proposal.std[0])

    def encode(
        self,
        target: Target,
        proposal: Proposal,
        seed: int,
        *,
        stream: int = 0,
        log2_num_candidates: float | None = None,
        rng: np.random.Generator | None = None,
    ) -> EncodeResult:
        """Encode an exact sample of a 1-D Gaussian ``target`` narrower than ``proposal``.

        ``log2_num_candidates`` is not used (the search has no fixed N).
        """
        key = shared_key(seed, stream)
        mean_p, std_p = self._gaussian(proposal)
        if not isinstance(target, DiagonalGaussian) or target.dim != 1:
            raise ValueError(f"branch-and-bound GPRS needs a 1-D Gaussian target, got {target!r}")
        tails = GaussianTails1D(target, proposal)
        # Each step halves the interval's p-mass on average, about one step per bit of D_inf,
        # with a tail of a few tens more; and the interval lives in p's CDF, where doubles
        # resolve about 2^-52: beyond 40 bits q is narrower than the search can represent.
        _check_d_inf(tails.r_max, min(self.max_depth - 8, MAX_BNB_D_INF_BITS))
        rng = private_generator(seed, stream) if rng is None else rng
        exponentials = ops.philox_exponentials(private_key(rng), 0, self.max_depth + 1)
        node, steps, lo, hi = ops.gprs_bnb_search(
            key, exponentials, tails.low, tails.high, tails.params, mean_p, std_p, self.max_depth
        )
        if node < 0:
            raise ValueError(
                f"branch-and-bound GPRS did not accept within depth {self.max_depth} "
                "(q too narrow for double precision, or raise max_depth)"
            )
        # The sample exactly as the decoder rebuilds it (SciPy's quantile of the same u).
        u = lo + float(self.stream.uniforms(key, int(node), 1, 1)[0, 0]) * (hi - lo)
        sample = np.array([mean_p + std_p * float(special.ndtri(u))])
        return EncodeResult(
            int(node),
            sample,
            2 ** (self.max_depth + 1),
            _kl_or_nan(target, proposal),
            int(steps),
            int(seed),
            int(stream),
        )

    def decode(
        self, index: int, proposal: Proposal, seed: int, num_candidates: int, *, stream: int = 0
    ) -> np.ndarray:
        """Replay the path to node ``index``: O(depth) uniforms and inverse CDFs."""
        key = shared_key(seed, stream)
        check_index(index, num_candidates)
        mean_p, std_p = self._gaussian(proposal)
        path, node = [], int(index)
        while node > 0:
            path.append(node)
            node = (node - 1) // 2
        lo, hi, node = 0.0, 1.0, 0
        for child in reversed(path):
            u = lo + float(self.stream.uniforms(key, node, 1, 1)[0, 0]) * (hi - lo)
            lo, hi = (u, hi) if child == 2 * node + 2 else (lo, u)
            node = child
        u = lo + float(self.stream.uniforms(key, node, 1, 1)[0, 0]) * (hi - lo)
        return np.array([mean_p + std_p * float(special.ndtri(u))])

    @staticmethod
    def categorical_output_law(q_probs: np.ndarray, p_probs: np.ndarray, n: int) -> np.ndarray:
        """Exactly ``q``."""
        return np.asarray(q_probs, dtype=np.float64).copy()
