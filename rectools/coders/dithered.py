"""Dithered (universal) quantization: exact samples of a uniform noise channel, the cheap
baseline (Ziv, 1985; Zamir & Feder, 1992; as channel simulation: Agustsson & Theis, 2020).

Encoder and decoder share a dither ``D ~ U(-w/2, w/2)``. To send a sample of
``q = U(y - w/2, y + w/2)`` the encoder quantizes: ``K = round((y - D) / w)``, and the decoder
outputs ``x = K w + D``. Then ``x - y = w round((y - D)/w) - (y - D)`` is uniform on
``[-w/2, w/2]`` whatever ``y``: ``x`` follows q exactly, in one step. The integer ``K`` is sent
as its zigzag offset from the proposal's mean (0, -1, +1, -2, ... become 0, 1, 2, 3, ...), so
an index model favouring small indices codes it in about ``h(p) - log2 w`` bits.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from rectools.coders.base import MAX_LOG2_NUM_CANDIDATES, EncodeResult, _kl_or_nan, check_index
from rectools.coders.registry import register_coder
from rectools.distributions import DiagonalGaussian, Proposal, Target, UniformBox
from rectools.streams import get_stream, shared_key


def _zigzag(k: int) -> int:
    return 2 * k if k >= 0 else -2 * k - 1


def _unzigzag(i: int) -> int:
    return i // 2 if i % 2 == 0 else -(i + 1) // 2


@register_coder("dithered")
class DitheredQuantizationCoder:
    """Universal quantization with a shared dither, for 1-D uniform targets of a fixed width.

    Both sides must agree on ``width`` (a property of the channel, like the candidate stream);
    the target must be a [`UniformBox`][rectools.distributions.UniformBox] of that width and
    the proposal a 1-D Gaussian (whose mean centres the index).

    Args:
        width: the channel's noise width ``w``.
        candidates: the shared stream of the dither (Philox only: it must be uniform).
        max_log2_num_candidates: indices stay below ``2 ** this``.

    Examples:
        >>> import numpy as np, rectools
        >>> coder = rectools.get_coder("dithered", width=0.25)
        >>> p = rectools.DiagonalGaussian(np.zeros(1), np.ones(1))
        >>> q = rectools.UniformBox(np.array([0.8]), 0.25)
        >>> res = coder.encode(q, p, seed=5)
        >>> bool(abs(res.sample[0] - 0.8) <= 0.125), res.num_examined
        (True, 1)
        >>> bool(np.array_equal(coder.decode(res.index, p, 5, res.num_candidates), res.sample))
        True
    """

    name: ClassVar[str]
    index_model: ClassVar[str] = "empirical"
    exact: ClassVar[bool] = True
    samples_target: ClassVar[bool] = True
    max_dim: ClassVar[int] = 1

    def __init__(
        self,
        width: float = 1.0,
        candidates: str = "philox",
        max_log2_num_candidates: int = MAX_LOG2_NUM_CANDIDATES,
    ) -> None:
        if not (math.isfinite(width) and width > 0.0):
            raise ValueError(f"width must be a finite positive number, got {width}")
        self.width = float(width)
        self.stream = get_stream(candidates)
        if not self.stream.independent:
            raise ValueError(
                "dithered quantization is exact only with independent candidates: use "
                "candidates='philox' or 'philox4x32'"
            )
        if not 1 <= max_log2_num_candidates <= 62:
            raise ValueError("max_log2_num_candidates must be in [1, 62]")
        self.max_log2_num_candidates = int(max_log2_num_candidates)
        self.t = 0.0

    def __repr__(self) -> str:
        return f"DitheredQuantizationCoder(width={self.width:g})"

    def supports(self, target: Target, proposal: Proposal) -> bool:
        """A 1-D [`UniformBox`][rectools.distributions.UniformBox] of this width and a 1-D
        Gaussian proposal."""
        return (
            isinstance(target, UniformBox)
            and isinstance(proposal, DiagonalGaussian)
            and target.dim == proposal.dim == 1
            and math.isclose(target.width, self.width, rel_tol=1e-12)
        )

    def _dither_and_centre(self, proposal: Proposal, key: np.ndarray) -> tuple[float, int]:
        if not isinstance(proposal, DiagonalGaussian) or proposal.dim != 1:
            raise ValueError(
                f"dithered quantization needs a 1-D (dim 1) Gaussian proposal, got {proposal!r}"
            )
        dither = self.width * (float(self.stream.uniforms(key, 0, 1, 1)[0, 0]) - 0.5)
        centre = round((float(proposal.mean[0]) - dither) / self.width)
        return dither, centre

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
        """Quantize the target's centre with the shared dither; exact, one step.

        ``log2_num_candidates`` and ``rng`` are not used (nothing is random but the dither).

        Raises:
            ValueError: not a 1-D uniform target of this width, or an index past the range.
        """
        key = shared_key(seed, stream)
        dither, centre = self._dither_and_centre(proposal, key)
        if not self.supports(target, proposal):
            raise ValueError(
                f"dithered quantization sends 1-D UniformBox targets of width {self.width:g}, "
                f"got {target!r}"
            )
        k = round((float(target.center[0]) - dither) / self.width)
        index = _zigzag(k - centre)
        if index >= 2**self.max_log2_num_candidates:
            raise ValueError(
                f"the target is {abs(k - centre)} widths from the proposal's mean, past the "
                f"index range 2^{self.max_log2_num_candidates}"
            )
        sample = np.array([k * self.width + dither])
        return EncodeResult(
            index,
            sample,
            2**self.max_log2_num_candidates,
            _kl_or_nan(target, proposal),
            1,
            int(seed),
            int(stream),
        )

    def decode(
        self, index: int, proposal: Proposal, seed: int, num_candidates: int, *, stream: int = 0
    ) -> np.ndarray:
        """``x = K w + D`` with ``K`` the proposal's centre plus the unzigzagged index."""
        key = shared_key(seed, stream)
        check_index(index, num_candidates)
        dither, centre = self._dither_and_centre(proposal, key)
        return np.array([(centre + _unzigzag(int(index))) * self.width + dither])
