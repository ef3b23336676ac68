"""Minimal random coding (Havasi et al., 2019; Cuff, 2008)."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np

from rectools.coders.base import ImportanceSamplingCoder
from rectools.coders.registry import register_coder
from rectools.distributions import Proposal, Target


@register_coder("mrc")
class MRCCoder(ImportanceSamplingCoder):
    """MRC: draw the index from the categorical of importance weights over all N candidates.

    It scores every candidate and its index is uniform over ``[0, N)``, so it costs ``log2 N``
    bits. At a given N its output is further from q than depth-limited A*'s (see
    [`categorical_output_law`][rectools.coders.mrc.MRCCoder.categorical_output_law]).

    Examples:
        >>> import numpy as np, rectools
        >>> p = rectools.DiagonalGaussian(np.zeros(2), np.ones(2))
        >>> q = rectools.DiagonalGaussian(np.full(2, 0.5), np.full(2, 0.4))
        >>> res = rectools.get_coder("mrc", t=1.0).encode(q, p, seed=7)
        >>> res.num_examined == res.num_candidates
        True
    """

    #: MRC's index is uniform on ``[0, N)``.
    index_model = "uniform"

    def _select(
        self,
        target: Target,
        proposal: Proposal,
        key: np.ndarray,
        n: int,
        rng: np.random.Generator,
    ) -> tuple[int, int]:
        weights = self._all_log_weights(target, proposal, key, n)
        top = np.max(weights)
        cumulative = np.cumsum(np.exp(weights - top))
        index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        return min(index, n - 1), n

    @staticmethod
    def categorical_output_law(q_probs: np.ndarray, p_probs: np.ndarray, n: int) -> np.ndarray:
        """Exact law of the sent category for categorical q, p and N candidates; ``(K,)``.

        Category k wins with probability ``E[c_k w_k / sum_j c_j w_j]`` (counts ``c`` of the
        candidates, ``w = q / p``); writing ``1/S = ∫ e^{-sS} ds`` gives
        ``P(k) = ∫_0^∞ q_k e^{-u w_k / N} φ(u / N)^{N-1} du`` with ``φ(s) = Σ_j p_j e^{-s w_j}``.
        """
        from scipy import integrate, special  # a diagnostic: not loaded with every coder

        w = np.divide(q_probs, p_probs, out=np.zeros_like(q_probs), where=p_probs > 0)
        log_p = np.log(p_probs, where=p_probs > 0, out=np.full_like(p_probs, -np.inf))

        def integrand(u: float, k: int) -> float:
            log_phi = special.logsumexp(log_p - (u / n) * w)
            return q_probs[k] * math.exp(-(u / n) * w[k] + (n - 1) * log_phi)

        # The integrand decays like e^{-u}: integrate piecewise over growing scales.
        edges = [0.0, 1.0, 10.0, 100.0, math.inf]
        return np.array(
            [
                sum(integrate.quad(integrand, a, b, args=(k,))[0] for a, b in pairwise(edges))
                if q_probs[k] > 0
                else 0.0
                for k in range(q_probs.size)
            ]
        )
