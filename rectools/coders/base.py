"""The coder interface and the importance-sampling machinery that A* and MRC share."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from rectools.distributions import Proposal, Target, kl_bits, log_ratio_bound, log_weights
from rectools.streams import (
    DEFAULT_STREAM,
    CandidateStream,
    get_stream,
    private_generator,
    shared_key,
)

#: Beyond 2**24 candidates one block takes seconds to encode and the index no longer fits the
#: entropy coder's alphabet; larger KLs must be split into blocks.
MAX_LOG2_NUM_CANDIDATES = 24


@dataclass(frozen=True)
class EncodeResult:
    """What an encoder returns.

    Attributes:
        index: the transmitted candidate number, ``0 <= index < num_candidates``.
        sample: the chosen candidate, ``(dim,)`` float64; ``decode`` returns it bit for bit.
        num_candidates: N, the number of candidates searched over.
        kl_bits: KL(q || p) in bits when known in closed form, else ``nan``.
        num_examined: candidates actually scored (``< N`` when A*'s bound stopped early).
        seed: the shared seed.
        stream: the shared sub-stream.
    """

    index: int
    sample: np.ndarray
    num_candidates: int
    kl_bits: float
    num_examined: int
    seed: int
    stream: int

    @property
    def log2_num_candidates(self) -> float:
        """``log2(N)``: what sending the index costs under a uniform index model."""
        return math.log2(self.num_candidates)


class Coder(Protocol):
    """A relative entropy coder: sends a sample of ``target`` using ``proposal`` and a seed."""

    name: ClassVar[str]
    #: Name of the index model (see [`rectools.index_models`][rectools.index_models]) suited
    #: to this coder's index.
    index_model: ClassVar[str]
    #: Whether the sent sample follows q (exactly, or approximately at finite N).
    samples_target: ClassVar[bool]

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
        """Pick a candidate of ``proposal`` approximately distributed as ``target``."""
        ...

    def decode(
        self, index: int, proposal: Proposal, seed: int, num_candidates: int, *, stream: int = 0
    ) -> np.ndarray:
        """Regenerate candidate ``index``; ``(dim,)`` float64."""
        ...

    def supports(self, target: Target, proposal: Proposal) -> bool:
        """Whether ``encode`` accepts this pair (dimension, kind, bounded ratio...)."""
        ...


class ImportanceSamplingCoder:
    """Shared part of coders that choose one of N shared candidates by importance weight.

    Args:
        t: oversampling in bits: ``N = ceil(2 ** (KL + t))`` unless the caller fixes N.
        candidates: name of the shared candidate stream: ``"philox4x32"`` (the default),
            ``"philox"`` (what ``.cmb`` files before it use) or ``"sobol"``; or a stream object
            computing one of them elsewhere (see [`get_stream`][rectools.streams.get_stream]).
        max_log2_num_candidates: refuse to search more than ``2 ** this`` candidates.
        chunk_size: candidates scored per kernel call (bounds memory, not results).
    """

    name: ClassVar[str]
    index_model: ClassVar[str]
    #: Whether the sent sample follows q exactly (else only approximately, at finite N).
    exact: ClassVar[bool] = False
    #: Whether the sent sample approaches q as N grows (a relative entropy coder); ``False``
    #: for a quantizer such as greedy selection, which sends the best candidate instead.
    samples_target: ClassVar[bool] = True

    def __init__(
        self,
        t: float = 0.0,
        candidates: str | CandidateStream = DEFAULT_STREAM,
        max_log2_num_candidates: int = MAX_LOG2_NUM_CANDIDATES,
        chunk_size: int = 1 << 16,
    ) -> None:
        if not math.isfinite(t) or t < 0.0:
            raise ValueError(f"t must be a finite number >= 0, got {t}")
        if not 1 <= max_log2_num_candidates <= MAX_LOG2_NUM_CANDIDATES:
            raise ValueError(f"max_log2_num_candidates must be in [1, {MAX_LOG2_NUM_CANDIDATES}]")
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self.t = float(t)
        self.stream = get_stream(candidates)
        if self.exact and not self.stream.independent:
            raise ValueError(
                f"{type(self).__name__} is exact only with independent candidates: use "
                f"candidates={DEFAULT_STREAM!r} (quasi-random Sobol points are not independent)"
            )
        self.max_log2_num_candidates = int(max_log2_num_candidates)
        self.chunk_size = int(chunk_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(t={self.t}, candidates={self.stream.name!r})"

    def supports(self, target: Target, proposal: Proposal) -> bool:
        """Whether ``encode`` accepts this pair: a proposal with candidates of the target's
        dimension, and for an exact coder a known bound on ``log q/p`` (it must stop)."""
        if not isinstance(proposal, Proposal) or target.dim != proposal.dim:
            return False
        return not self.exact or math.isfinite(log_ratio_bound(target, proposal))

    def num_candidates(
        self, target: Target, proposal: Proposal, log2_num_candidates: float | None = None
    ) -> tuple[int, float]:
        """``(N, KL in bits)`` for this pair; the KL is ``nan`` when it has no closed form."""
        if log2_num_candidates is None:
            try:
                kl = kl_bits(target, proposal)
            except TypeError as err:
                raise TypeError(f"{err}, and pass log2_num_candidates to the encoder") from None
            log2_n = kl + self.t
        else:
            kl = _kl_or_nan(target, proposal)
            log2_n = float(log2_num_candidates)
        if not log2_n <= self.max_log2_num_candidates:
            raise ValueError(
                f"KL(q||p) + t = {log2_n:.1f} bits would need 2^{log2_n:.1f} candidates, more "
                f"than the limit of 2^{self.max_log2_num_candidates}; split the weights into "
                "blocks of about 16 bits each and code every block separately"
            )
        return max(1, math.ceil(2.0**log2_n)), kl

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
        """Encode a sample of ``target``.

        Args:
            target: q, with ``log_prob``.
            proposal: p, with ``log_prob`` and ``candidates``; same ``dim`` as q.
            seed: shared seed, integer in ``[0, 2**64)``.
            stream: shared sub-stream (e.g. block number).
            log2_num_candidates: fix ``N = ceil(2 ** this)`` instead of using the KL.
            rng: encoder-private generator; default derived from ``(seed, stream)``.

        Returns:
            An [`EncodeResult`][rectools.coders.base.EncodeResult].
        """
        key = shared_key(seed, stream)
        if not isinstance(proposal, Proposal):
            raise TypeError(
                f"{type(proposal).__name__} cannot be a proposal: it has no candidates()"
            )
        if target.dim != proposal.dim:
            raise ValueError(f"target has dim {target.dim} but proposal has dim {proposal.dim}")
        n, kl = self.num_candidates(target, proposal, log2_num_candidates)
        if rng is None:
            rng = private_generator(seed, stream)
        index, examined = self._select(target, proposal, key, n, rng)
        sample = proposal.candidates(self.stream, key, index, 1)[0]
        return EncodeResult(index, sample, n, kl, examined, int(seed), int(stream))

    def decode(
        self, index: int, proposal: Proposal, seed: int, num_candidates: int, *, stream: int = 0
    ) -> np.ndarray:
        """Candidate ``index`` of the shared stream; ``(dim,)`` float64, O(dim) work.

        Raises:
            ValueError: ``index`` outside ``[0, num_candidates)``.
            TypeError: ``index``, ``seed`` or ``num_candidates`` not an integer.
        """
        key = shared_key(seed, stream)
        check_index(index, num_candidates)
        return proposal.candidates(self.stream, key, int(index), 1)[0]

    def _chunks(self, n: int, first_chunk: int) -> Iterator[tuple[int, int]]:
        # Doubling chunks: early stops waste little, long searches pay little call overhead.
        start, size = 0, min(first_chunk, self.chunk_size)
        while start < n:
            count = min(size, n - start)
            yield start, count
            start += count
            size = min(2 * size, self.chunk_size)

    def _log_weight_chunks(
        self, target: Target, proposal: Proposal, key: np.ndarray, n: int, first_chunk: int
    ) -> Iterator[tuple[int, np.ndarray]]:
        for start, count in self._chunks(n, first_chunk):
            yield start, log_weights(target, proposal, self.stream, key, start, count)

    def _all_log_weights(
        self, target: Target, proposal: Proposal, key: np.ndarray, n: int
    ) -> np.ndarray:
        """Log weights of all N candidates, ``(N,)``; a NaN (a density that cannot be
        evaluated) becomes ``-inf``, so it never wins, as in A*'s scan.

        Raises:
            ValueError: no candidate has positive target density.
        """
        weights = np.empty(n, dtype=np.float64)
        for start, chunk in self._log_weight_chunks(target, proposal, key, n, self.chunk_size):
            weights[start : start + chunk.shape[0]] = chunk
        weights[np.isnan(weights)] = -np.inf
        if not np.any(weights > -np.inf):
            raise ValueError("no candidate has positive target density; increase t or N")
        return weights

    def _select(
        self,
        target: Target,
        proposal: Proposal,
        key: np.ndarray,
        n: int,
        rng: np.random.Generator,
    ) -> tuple[int, int]:
        """Return ``(index, num_examined)``."""
        raise NotImplementedError


def check_index(index: int, num_candidates: int) -> None:
    """What every ``decode`` checks first.

    Raises:
        TypeError: ``index`` or ``num_candidates`` is not an integer.
        ValueError: ``index`` is outside ``[0, num_candidates)``.
    """
    for name, value in (("index", index), ("num_candidates", num_candidates)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= index < num_candidates:
        raise ValueError(f"index {index} is outside [0, {num_candidates})")


def _kl_or_nan(target: Target, proposal: Proposal) -> float:
    try:
        return kl_bits(target, proposal)
    except TypeError:
        return math.nan
