"""Greedy selection: send the candidate with the largest importance weight (a quantizer).

The encoder scores the same ``N`` shared candidates as A* and MRC and sends the index of the one
with the largest ``log q/p``, with no random perturbation. This is a random-codebook quantizer,
not a relative entropy coder: the decoded value does not follow q but sits nearer q's
high-density region than a sample of q would (for Gaussians, nearer the posterior mean,
weighted by how much narrower q is than p). When only the decoded value matters, as for a
neural network's weights, that can be worth more than an unbiased sample at the same
``log2 N`` bits; ``combiner`` measures it (docs/results.md). The index is uniform on
``[0, N)``, so it costs ``log2 N`` bits.
"""

from __future__ import annotations

import numpy as np

from rectools.coders.base import ImportanceSamplingCoder
from rectools.coders.registry import register_coder
from rectools.distributions import Proposal, Target


@register_coder("greedy")
class GreedyCoder(ImportanceSamplingCoder):
    """The argmax over N candidates of the log weight ``log q/p`` (first one on ties).

    Deterministic given the shared stream: the encoder uses no private randomness.

    Args:
        **options: see [`ImportanceSamplingCoder`][rectools.coders.base.ImportanceSamplingCoder].

    Examples:
        >>> import numpy as np, rectools
        >>> p = rectools.DiagonalGaussian(np.zeros(4), np.ones(4))
        >>> q = rectools.DiagonalGaussian(np.full(4, 0.3), np.full(4, 0.5))
        >>> coder = rectools.get_coder("greedy")
        >>> res = coder.encode(q, p, seed=1)
        >>> x = coder.decode(res.index, p, seed=1, num_candidates=res.num_candidates)
        >>> bool(np.array_equal(x, res.sample)), coder.samples_target
        (True, False)
    """

    #: Every index is equally likely.
    index_model = "uniform"
    samples_target = False

    def _select(
        self,
        target: Target,
        proposal: Proposal,
        key: np.ndarray,
        n: int,
        rng: np.random.Generator,
    ) -> tuple[int, int]:
        # np.argmax returns the first of equal maxima.
        return int(np.argmax(self._all_log_weights(target, proposal, key, n))), n

    @staticmethod
    def categorical_output_law(q_probs: np.ndarray, p_probs: np.ndarray, n: int) -> np.ndarray:
        """Exact law of the sent category for categorical q, p and N candidates; ``(K,)``.

        The sent category is the one of largest weight ``w = q / p`` among the N draws: with
        ``A`` the proposal mass of categories weighing more than ``w_k`` and ``G`` that of the
        categories weighing exactly ``w_k``, a category of that weight wins with probability
        ``(1 - A)^N - (1 - A - G)^N``, shared among them in proportion to ``p`` (the first
        draw of the group wins). Draws where every weight is 0 raise instead of sending, so
        the law sums to ``1 - P(all weights 0)``.
        """
        w = np.divide(q_probs, p_probs, out=np.zeros_like(q_probs), where=p_probs > 0)
        law = np.zeros_like(q_probs, dtype=np.float64)
        for weight in np.unique(w[w > 0]):
            above = float(p_probs[w > weight].sum())
            group = w == weight
            mass = float(p_probs[group].sum())
            win = (1.0 - above) ** n - max(0.0, 1.0 - above - mass) ** n
            law[group] = win * p_probs[group] / mass
        return law
