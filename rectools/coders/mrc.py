"""Minimal random coding (Havasi et al., 2019; Cuff, 2008)."""

from __future__ import annotations

import numpy as np

from rectools.coders.base import ImportanceSamplingCoder
from rectools.coders.registry import register_coder
from rectools.distributions import Proposal, Target


@register_coder("mrc")
class MRCCoder(ImportanceSamplingCoder):
    """MRC: draw the index from the categorical of importance weights over all N candidates.

    Its output has the same distribution as depth-limited A* with the same N, but it must score
    every candidate and its index is uniform over ``[0, N)``, so it costs ``log2 N`` bits.

    Example:
        >>> import numpy as np, rectools
        >>> p = rectools.DiagonalGaussian(np.zeros(2), np.ones(2))
        >>> q = rectools.DiagonalGaussian(np.full(2, 0.5), np.full(2, 0.4))
        >>> res = rectools.get_coder("mrc", t=1.0).encode(q, p, seed=7)
        >>> res.num_examined == res.num_candidates
        True
    """

    def _select(
        self,
        target: Target,
        proposal: Proposal,
        key: np.ndarray,
        n: int,
        rng: np.random.Generator,
    ) -> tuple[int, int]:
        weights = np.empty(n, dtype=np.float64)
        for start, chunk in self._log_weight_chunks(target, proposal, key, n, self.chunk_size):
            weights[start : start + chunk.shape[0]] = chunk
        cumulative = np.cumsum(np.exp(weights - np.max(weights)))
        index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        return min(index, n - 1), n
