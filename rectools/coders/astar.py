"""Global-bound depth-limited A* coding (Flamich et al., 2022; COMBINER's Algorithms 2 and 3)."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
from scipy import integrate

from rectools import ops
from rectools.coders.base import ImportanceSamplingCoder
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
        bound = log_ratio_bound(target, proposal) if self.early_stopping else math.inf
        # Rounding can push a computed log weight a hair above the exact bound; the margin
        # keeps the stopping rule conservative so it never changes the result.
        bound += 1e-6 * (1.0 + abs(bound)) if math.isfinite(bound) else 0.0
        noise_key = private_key(rng)
        best_index, best_score, gumbel_sum = 0, -math.inf, 0.0
        for start, weights in self._log_weight_chunks(target, proposal, key, n, first_chunk=256):
            exponentials = ops.philox_exponentials(noise_key, start, weights.shape[0])
            local, best_score, gumbel_sum, examined = ops.astar_scan(
                weights, exponentials, gumbel_sum, best_score, bound
            )
            if local >= 0:
                best_index = start + local
            if examined < weights.shape[0]:
                return best_index, start + examined
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
        Unlike MRC's law this is not a Gumbel-max categorical: the two differ at finite N.
        """
        w = np.divide(q_probs, p_probs, out=np.zeros_like(q_probs), where=p_probs > 0)
        out = np.zeros(q_probs.size)
        for k in np.flatnonzero(q_probs > 0):

            def integrand(v: float) -> float:
                beaten = float(np.sum(p_probs * np.minimum(1.0, v * w / n)))
                return math.exp((n - 1) * math.log1p(-beaten)) if beaten < 1.0 else 0.0

            end = n / w[k]
            # Kinks where a category's min() saturates, plus the O(1) scale where the
            # integrand (about e^{-v}) lives when N is large.
            scales = {n / x for x in w if x > 0} | {1.0, 10.0, 100.0}
            edges = [0.0, *sorted(x for x in scales if x < end), end]
            out[k] = q_probs[k] * sum(
                integrate.quad(integrand, a, b)[0] for a, b in pairwise(edges)
            )
        return out
