"""Index entropy models: what sending a coder's index really costs, as bytes.

Every model here is a distribution over ``{0, ..., N-1}`` built from *log-linear buckets* of
``v = index + 1``: values below ``2 ** (mantissa_bits + 1)`` get a bucket each, larger values
share a bucket with the others that have the same exponent and leading ``mantissa_bits`` bits
(like a float). A model assigns each bucket a probability and is uniform inside it, so it
needs a table of a few hundred entries even for N = 2**24, and a model is defined entirely by
its bucket probabilities. Buckets are entropy coded with ``constriction``'s range coder
(categorical model), offsets inside a bucket with its uniform model.

Three models share that machinery:

* [`UniformIndexModel`][rectools.index_models.UniformIndexModel] — ``log2 N`` bits for every index
  (what MRC needs);
* [`EmpiricalIndexModel`][rectools.index_models.EmpiricalIndexModel] — bucket frequencies fitted on
  training indices
  (COMBINER's appendix A);
* [`ZipfIndexModel`][rectools.index_models.ZipfIndexModel] — ``p(i) ∝ (i + 1) ** -s``, a universal
  code for A*'s
  small-index-heavy distribution; ``s = 1 + 1 / (KL + 1)`` by default, or fitted.

Examples:
    >>> import numpy as np
    >>> from rectools.index_models import ZipfIndexModel
    >>> model = ZipfIndexModel.for_kl_bits(8.0, num_candidates=256)
    >>> data = model.compress([3, 100, 17])
    >>> model.decompress(data, count=3).tolist()
    [3, 100, 17]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import ClassVar

import constriction
import numpy as np
from scipy import optimize, special

from rectools.coders.base import MAX_LOG2_NUM_CANDIDATES

DEFAULT_MANTISSA_BITS = 3


def _check_num_candidates(num_candidates: int) -> int:
    n = int(num_candidates)
    if not 1 <= n <= 2**MAX_LOG2_NUM_CANDIDATES:
        raise ValueError(f"num_candidates must be in [1, 2**{MAX_LOG2_NUM_CANDIDATES}], got {n}")
    return n


def bucket_of(indices: np.ndarray, mantissa_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-linear bucket and offset inside it of each index; two int64 arrays."""
    v = np.asarray(indices, dtype=np.int64) + 1
    exponent = np.frexp(v.astype(np.float64))[1].astype(np.int64) - 1
    shift = np.maximum(exponent - mantissa_bits, 0)
    top = v >> shift
    small = (1 << (mantissa_bits + 1)) - 1
    symbol = np.where(
        shift == 0, v - 1, small + (shift - 1) * (1 << mantissa_bits) + top - (1 << mantissa_bits)
    )
    return symbol, v - (top << shift)


def bucket_table(num_candidates: int, mantissa_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lowest value, size)`` of every bucket that holds an index ``< num_candidates``.

    Values are ``index + 1``; the last bucket is cut at ``num_candidates``.
    """
    num_buckets = int(bucket_of(np.array([num_candidates - 1]), mantissa_bits)[0][0]) + 1
    small = (1 << (mantissa_bits + 1)) - 1
    symbols = np.arange(num_buckets, dtype=np.int64)
    shift = np.where(symbols < small, 0, (symbols - small) // (1 << mantissa_bits) + 1)
    mantissa = np.where(symbols < small, 0, (symbols - small) % (1 << mantissa_bits))
    low = np.where(symbols < small, symbols + 1, ((1 << mantissa_bits) + mantissa) << shift)
    size = np.minimum(np.int64(1) << shift, num_candidates + 1 - low)
    return low, size


class BucketIndexModel:
    """An index model given by probabilities of log-linear buckets; uniform inside each bucket.

    Args:
        num_candidates: N; indices lie in ``[0, N)``.
        bucket_probs: one non-negative weight per bucket of
            [`bucket_table`][rectools.index_models.bucket_table] (normalised here).
        mantissa_bits: resolution of the buckets.
    """

    name: ClassVar[str] = "buckets"

    def __init__(
        self,
        num_candidates: int,
        bucket_probs: np.ndarray,
        mantissa_bits: int = DEFAULT_MANTISSA_BITS,
    ) -> None:
        self.num_candidates = _check_num_candidates(num_candidates)
        self.mantissa_bits = int(mantissa_bits)
        self.bucket_low, self.bucket_size = bucket_table(self.num_candidates, self.mantissa_bits)
        probs = np.asarray(bucket_probs, dtype=np.float64)
        if probs.shape != self.bucket_low.shape or np.any(probs < 0) or not probs.sum() > 0:
            raise ValueError(
                f"bucket_probs must hold {self.bucket_low.size} non-negative weights, not all zero"
            )
        self.bucket_probs = probs / probs.sum()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_candidates={self.num_candidates})"

    def _checked(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        array = np.asarray(indices)
        if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
            raise ValueError("indices must be a 1-D sequence of integers")
        array = array.astype(np.int64)
        if np.any(array < 0) or np.any(array >= self.num_candidates):
            raise ValueError(f"indices must lie in [0, {self.num_candidates})")
        return array

    def bits(self, index: int | np.ndarray) -> float | np.ndarray:
        """Ideal code length of ``index`` in bits (scalar or array, like the input)."""
        scalar = np.ndim(index) == 0
        array = self._checked(np.atleast_1d(index))
        symbol, _ = bucket_of(array, self.mantissa_bits)
        with np.errstate(divide="ignore"):
            length = np.log2(self.bucket_size[symbol]) - np.log2(self.bucket_probs[symbol])
        return float(length[0]) if scalar else length

    def expected_bits(self) -> float:
        """Mean code length under the model itself (its entropy), in bits."""
        p = self.bucket_probs[self.bucket_probs > 0]
        size = self.bucket_size[self.bucket_probs > 0]
        return float(np.sum(p * (np.log2(size) - np.log2(p))))

    def _bucket_model(self) -> constriction.stream.model.Categorical | None:
        # constriction cannot model a certain outcome; a lone bucket costs nothing anyway.
        if self.bucket_probs.size == 1:
            return None
        return constriction.stream.model.Categorical(self.bucket_probs, perfect=False)

    def compress(self, indices: Sequence[int] | np.ndarray) -> bytes:
        """Entropy-code a sequence of indices into bytes.

        The range coder emits 32-bit words; trailing zero bytes are dropped (``decompress``
        pads them back), so the length is not always a multiple of 4.
        """
        array = self._checked(indices)
        symbols, offsets = bucket_of(array, self.mantissa_bits)
        if np.any(self.bucket_probs[symbols] == 0.0):
            raise ValueError("an index falls in a bucket this model gives probability zero")
        encoder = constriction.stream.queue.RangeEncoder()
        bucket_model = self._bucket_model()
        for symbol, offset in zip(symbols.tolist(), offsets.tolist(), strict=True):
            if bucket_model is not None:
                encoder.encode(symbol, bucket_model)
            size = int(self.bucket_size[symbol])
            if size > 1:
                encoder.encode(offset, constriction.stream.model.Uniform(size))
        return encoder.get_compressed().astype("<u4").tobytes().rstrip(b"\0")

    def decompress(self, data: bytes, count: int) -> np.ndarray:
        """Decode ``count`` indices from ``compress``'s bytes; int64 array.

        Raises:
            ValueError: the bytes decode to indices outside the model's range.
        """
        padded = bytes(data) + b"\0" * (-len(data) % 4)
        words = np.frombuffer(padded, dtype="<u4").astype(np.uint32)
        decoder = constriction.stream.queue.RangeDecoder(words)
        bucket_model = self._bucket_model()
        out = np.empty(int(count), dtype=np.int64)
        try:
            for k in range(out.size):
                symbol = int(decoder.decode(bucket_model)) if bucket_model is not None else 0
                size = int(self.bucket_size[symbol])
                offset = (
                    int(decoder.decode(constriction.stream.model.Uniform(size))) if size > 1 else 0
                )
                out[k] = int(self.bucket_low[symbol]) + offset - 1
        except (AssertionError, IndexError, ValueError):
            # constriction asserts on data that no encoder could have produced.
            raise ValueError("corrupt index data") from None
        if np.any(out >= self.num_candidates):
            raise ValueError("corrupt index data")
        return out

    @classmethod
    def fit(cls, indices: Sequence[int] | np.ndarray, num_candidates: int) -> BucketIndexModel:
        """Build the model from training indices (some models ignore them)."""
        raise NotImplementedError


class UniformIndexModel(BucketIndexModel):
    """Every index costs ``log2 N`` bits."""

    name: ClassVar[str] = "uniform"

    def __init__(self, num_candidates: int, mantissa_bits: int = DEFAULT_MANTISSA_BITS) -> None:
        _low, size = bucket_table(_check_num_candidates(num_candidates), mantissa_bits)
        super().__init__(num_candidates, size.astype(np.float64), mantissa_bits)

    @classmethod
    def fit(cls, indices: Sequence[int] | np.ndarray, num_candidates: int) -> UniformIndexModel:
        return cls(num_candidates)


class EmpiricalIndexModel(BucketIndexModel):
    """Bucket frequencies of training indices plus ``pseudo_count`` in every bucket.

    Buckets are coarser than the other models' (two per octave by default) so that a few
    hundred training indices, as COMBINER's training set gives, fill them.
    """

    name: ClassVar[str] = "empirical"

    @classmethod
    def fit(
        cls,
        indices: Sequence[int] | np.ndarray,
        num_candidates: int,
        pseudo_count: float = 0.5,
        mantissa_bits: int = 1,
    ) -> EmpiricalIndexModel:
        """Fit bucket probabilities to ``indices`` (all in ``[0, num_candidates)``)."""
        if not pseudo_count > 0:
            raise ValueError("pseudo_count must be positive")
        shell = UniformIndexModel(num_candidates, mantissa_bits)
        symbols, _ = bucket_of(shell._checked(indices), mantissa_bits)
        counts = np.bincount(symbols, minlength=shell.bucket_size.size).astype(np.float64)
        return cls(num_candidates, counts + pseudo_count, mantissa_bits)


def _zipf_bucket_masses(exponent: float, low: np.ndarray, size: np.ndarray) -> np.ndarray:
    # Sum of v ** -s over each bucket's values, by differences of Hurwitz zeta functions.
    return special.zeta(exponent, low) - special.zeta(exponent, low + size)


class ZipfIndexModel(BucketIndexModel):
    """``p(i) ∝ (i + 1) ** -exponent`` on ``[0, N)`` (uniform inside each fine bucket).

    Args:
        num_candidates: N.
        exponent: ``s > 1``.
    """

    name: ClassVar[str] = "zipf"

    def __init__(
        self,
        num_candidates: int,
        exponent: float,
        mantissa_bits: int = DEFAULT_MANTISSA_BITS,
    ) -> None:
        if not exponent > 1.0:
            raise ValueError(f"exponent must exceed 1, got {exponent}")
        low, size = bucket_table(_check_num_candidates(num_candidates), mantissa_bits)
        super().__init__(num_candidates, _zipf_bucket_masses(exponent, low, size), mantissa_bits)
        self.exponent = float(exponent)

    @classmethod
    def for_kl_bits(cls, kl_bits: float, num_candidates: int) -> ZipfIndexModel:
        """The universal choice ``s = 1 + 1 / (KL + 1)``: about ``KL + log2(KL + 1) + 1`` bits."""
        return cls(num_candidates, 1.0 + 1.0 / (max(kl_bits, 0.0) + 1.0))

    @classmethod
    def fit(cls, indices: Sequence[int] | np.ndarray, num_candidates: int) -> ZipfIndexModel:
        """Maximum-likelihood exponent for ``indices``."""
        shell = UniformIndexModel(num_candidates)
        symbols, _ = bucket_of(shell._checked(indices), shell.mantissa_bits)
        counts = np.bincount(symbols, minlength=shell.bucket_size.size)
        log_size = np.log(shell.bucket_size)

        def negative_log_likelihood(exponent: float) -> float:
            masses = _zipf_bucket_masses(exponent, shell.bucket_low, shell.bucket_size)
            log_p = np.log(masses / masses.sum()) - log_size
            return -float(np.sum(counts * log_p))

        best = optimize.minimize_scalar(
            negative_log_likelihood, bounds=(1.0 + 1e-4, 4.0), method="bounded"
        )
        return cls(num_candidates, float(best.x))


_INDEX_MODELS: dict[str, Callable[..., BucketIndexModel]] = {
    model.name: model.fit for model in (UniformIndexModel, EmpiricalIndexModel, ZipfIndexModel)
}


def available_index_models() -> tuple[str, ...]:
    """Names accepted by [`fit_index_model`][rectools.index_models.fit_index_model]."""
    return tuple(sorted(_INDEX_MODELS))


def fit_index_model(
    name: str, indices: Sequence[int] | np.ndarray, num_candidates: int
) -> BucketIndexModel:
    """Fit the index model registered as ``name`` on training ``indices``.

    Raises:
        ValueError: unknown name (the message lists the choices).
    """
    try:
        fit = _INDEX_MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown index model {name!r}; choose one of {', '.join(available_index_models())}"
        ) from None
    return fit(indices, num_candidates)


def ideal_bits_per_index(kl_bits: float) -> float:
    """The A* coding benchmark ``KL + log2(KL + 1) + 1`` bits (Flamich et al., 2022)."""
    return kl_bits + math.log2(kl_bits + 1.0) + 1.0
