"""Global-bound depth-limited A* coding (Flamich et al., 2022; COMBINER's Algorithms 2 and 3)."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np

from rectools import ops
from rectools.coders.base import ImportanceSamplingCoder, _kl_or_nan
from rectools.coders.mrc import MRCCoder
from rectools.coders.registry import register_coder
from rectools.distributions import Proposal, Target, log_ratio_bound
from rectools.streams import private_key


@register_coder("astar")
class AStarCoder(ImportanceSamplingCoder):
    """A* coding: the argmax over N candidates of log weight plus a descending Gumbel.

    The Gumbels follow the truncated-Gumbel recursion, so early candidates carry larger
    perturbations and the chosen index is small with high probability: an index model that
    favours small indices codes it in about ``KL + log2(KL + 1) + 1`` bits instead of
    ``log2 N``. When ``log q/p`` is bounded (q narrower than p) the search stops as soon as no
    later candidate can win, returning exactly the full search's index.

    Args:
        early_stopping: use the global bound when one exists.
        **options: see [`ImportanceSamplingCoder`][rectools.coders.base.ImportanceSamplingCoder].

    Examples:
        >>> import numpy as np, rectools
        >>> p = rectools.DiagonalGaussian(np.zeros(4), np.ones(4))
        >>> q = rectools.DiagonalGaussian(np.full(4, 0.3), np.full(4, 0.5))
        >>> coder = rectools.get_coder("astar")
        >>> res = coder.encode(q, p, seed=1)
        >>> x = coder.decode(res.index, p, seed=1, num_candidates=res.num_candidates)
        >>> bool(np.array_equal(x, res.sample))
        True
    """

    #: A*'s index favours small values: a fitted model codes it below ``log2 N``.
    index_model = "empirical"

    def __init__(self, early_stopping: bool = True, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.early_stopping = bool(early_stopping)

    def _select(
        self,
        target: Target,
        proposal: Proposal,
        key: np.ndarray,
        n: int,
        rng: np.random.Generator,
    ) -> tuple[int, int]:
        bound = self._bound(target, proposal)
        noise_key = private_key(rng)
        best_index, best_score, gumbel_sum = 0, -math.inf, 0.0
        for start, weights in self._log_weight_chunks(target, proposal, key, n, first_chunk=256):
            increments = self._arrival_gaps(
                ops.philox_exponentials(noise_key, start, weights.shape[0]), start, n
            )
            local, best_score, gumbel_sum, examined = ops.astar_scan(
                weights, increments, gumbel_sum, best_score, bound
            )
            if local >= 0:
                best_index = start + local
            if examined < weights.shape[0]:
                return best_index, start + examined
        return self._searched_all(best_index, best_score, n)

    def _bound(self, target: Target, proposal: Proposal) -> float:
        """The global bound on ``log q/p`` the search stops with (``inf``: never stop early)."""
        bound = log_ratio_bound(target, proposal) if self.early_stopping else math.inf
        # Rounding can push a computed log weight a hair above the exact bound; the margin
        # keeps the stopping rule conservative so it never changes the result.
        return bound + 1e-6 * (1.0 + abs(bound)) if math.isfinite(bound) else bound

    def _arrival_gaps(self, exponentials: np.ndarray, start: int, n: int) -> np.ndarray:
        """Gaps between the arrival times of candidates ``start ...`` (A*: a unit Poisson
        process, so the gaps are the standard exponentials themselves)."""
        return exponentials

    def _searched_all(self, best_index: int, best_score: float, n: int) -> tuple[int, int]:
        if best_score == -math.inf:
            raise ValueError("no candidate has positive target density; increase t or N")
        return best_index, n

    @staticmethod
    def categorical_output_law(q_probs: np.ndarray, p_probs: np.ndarray, n: int) -> np.ndarray:
        """Exact law of the sent category for categorical q, p and N candidates; ``(K,)``.

        The first N Gumbels of the truncated recursion are ``-log T_i`` for the arrival times
        ``T_i`` of a unit Poisson process; up to a common factor that does not move the argmax,
        ``T_1 ... T_N`` are sorted uniforms. So depth-limited A* sends the candidate maximising
        ``w_i / U_i`` (``w = q / p``, ``U_i`` uniform), which, with ``u = v w_k / N``, gives
        ``P(k) = q_k ∫_0^{N / w_k} (1 - Σ_j p_j min(1, v w_j / N))^{N-1} dv``.
        Between the points ``v = N / w_j`` where a category's ``min`` saturates, the base of
        that power is linear in ``v``, ``c - s v``, so each piece integrates in closed form to
        ``((c - s a)^N - (c - s b)^N) / (N s)`` (``s >= q_k / N > 0`` up to ``N / w_k``).
        Unlike MRC's law this is not a Gumbel-max categorical: the two differ at finite N.
        """
        w = np.divide(q_probs, p_probs, out=np.zeros_like(q_probs), where=p_probs > 0)
        kinks = np.unique(n / w[w > 0])
        out = np.zeros(q_probs.size)
        for k in np.flatnonzero(q_probs > 0):
            end = n / w[k]
            total = 0.0
            for a, b in pairwise([0.0, *kinks[kinks < end], end]):
                saturated = (a + b) / 2 * w / n >= 1
                base = 1.0 - float(p_probs[saturated].sum())
                slope = float((p_probs * w)[~saturated].sum()) / n
                # max(0, .): rounding must not take a probability below zero.
                top, bottom = max(0.0, base - slope * a), max(0.0, base - slope * b)
                total += (top**n - bottom**n) / (n * slope)
            out[k] = q_probs[k] * total
        return out


@register_coder("orc")
class OrderedRandomCoder(AStarCoder):
    """Ordered random coding (Theis & Yosri, 2022): MRC's output law, A*'s short index.

    The N candidates are perturbed by the *sorted* order statistics ``S_(1) < ... < S_(N)`` of
    N independent standard exponentials (``S_(i) = sum_{m<=i} E_m / (N - m + 1)``) and the
    candidate maximising ``w_i / S_(i)`` is sent. Candidates are exchangeable, so the sent
    sample has exactly MRC's law (a Gumbel-max draw from the categorical of the weights,
    [`MRCCoder.categorical_output_law`][rectools.coders.mrc.MRCCoder.categorical_output_law]),
    while the sorted noise makes small indices likely, as in A*. The global bound stops the
    search early exactly as A*'s does.

    Examples:
        >>> import numpy as np, rectools
        >>> p = rectools.DiagonalGaussian(np.zeros(2), np.ones(2))
        >>> q = rectools.DiagonalGaussian(np.full(2, 0.5), np.full(2, 0.4))
        >>> coder = rectools.get_coder("orc")
        >>> res = coder.encode(q, p, seed=3)
        >>> bool(np.array_equal(coder.decode(res.index, p, 3, res.num_candidates), res.sample))
        True
    """

    def _arrival_gaps(self, exponentials: np.ndarray, start: int, n: int) -> np.ndarray:
        """``E_m / (N - m + 1)``: the gaps between sorted exponentials (Renyi's representation)."""
        return exponentials / (n - np.arange(start, start + exponentials.shape[0]))

    @staticmethod
    def categorical_output_law(q_probs: np.ndarray, p_probs: np.ndarray, n: int) -> np.ndarray:
        """Exact law of the sent category: MRC's (see the class docstring); ``(K,)``."""
        return MRCCoder.categorical_output_law(q_probs, p_probs, n)


@register_coder("pfr")
class PoissonFunctionalCoder(AStarCoder):
    """The Poisson functional representation (Li & El Gamal, 2018), i.e. A* without a depth
    limit (Flamich et al., 2022): exact samples of q, a variable-length index.

    Candidates arrive at the times ``T_1 < T_2 < ...`` of a unit Poisson process (encoder
    private) and the one minimising ``T_i / w_i`` is sent: its law is exactly q. The search
    stops once ``T_i / w_max`` exceeds the best score, so it needs a bounded density ratio
    (for diagonal Gaussians: q narrower than p in every dimension) and examines about
    ``2 ** D_inf`` candidates; the index costs about ``KL + log2(KL + 1) + O(1)`` bits with a
    Zipf-like index model. ``num_candidates`` is the search cap ``2 ** max_log2_num_candidates``
    (the index range an index model must cover); ``t`` and ``log2_num_candidates`` are not
    used.

    Raises (from ``encode``):
        ValueError: the density ratio has no known bound, or the search reaches the cap.

    Examples:
        >>> import numpy as np, rectools
        >>> p = rectools.DiagonalGaussian(np.zeros(2), np.ones(2))
        >>> q = rectools.DiagonalGaussian(np.full(2, 0.5), np.full(2, 0.4))
        >>> coder = rectools.get_coder("pfr", max_log2_num_candidates=20)
        >>> res = coder.encode(q, p, seed=3)
        >>> res.num_candidates, res.num_examined < 1000
        (1048576, True)
    """

    #: Exact: the sent sample follows q whatever the KL.
    exact = True

    def __init__(self, **options: object) -> None:
        if "early_stopping" in options:
            raise TypeError("pfr always stops at the global bound: it takes no early_stopping")
        super().__init__(early_stopping=True, **options)  # type: ignore[arg-type]

    def num_candidates(
        self, target: Target, proposal: Proposal, log2_num_candidates: float | None = None
    ) -> tuple[int, float]:
        """``(search cap, KL in bits)``: the index may be anywhere below the cap."""
        return 2**self.max_log2_num_candidates, _kl_or_nan(target, proposal)

    def _bound(self, target: Target, proposal: Proposal) -> float:
        bound = super()._bound(target, proposal)
        if not math.isfinite(bound):
            raise ValueError(
                "the Poisson functional representation needs a bounded density ratio q/p "
                "(for diagonal Gaussians: q narrower than p in every dimension)"
            )
        d_inf_bits = bound / math.log(2.0)
        if d_inf_bits > self.max_log2_num_candidates:
            raise ValueError(
                f"D_inf(q||p) = {d_inf_bits:.1f} bits would need about 2^{d_inf_bits:.1f} "
                f"candidates, more than the limit of 2^{self.max_log2_num_candidates}; split "
                "the weights into blocks of about 16 bits each and code every block separately"
            )
        return bound

    def _searched_all(self, best_index: int, best_score: float, n: int) -> tuple[int, int]:
        raise ValueError(
            f"the search did not stop within 2^{self.max_log2_num_candidates} candidates "
            "(D_inf is too large): raise max_log2_num_candidates or split the block"
        )

    @staticmethod
    def categorical_output_law(q_probs: np.ndarray, p_probs: np.ndarray, n: int) -> np.ndarray:
        """Exactly ``q`` (whatever ``n``)."""
        return np.asarray(q_probs, dtype=np.float64).copy()
