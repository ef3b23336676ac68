"""Shared candidate streams and the encoder's private noise.

Two random streams, never one:

* the *shared* stream: candidate ``i`` is a pure function of the public values
  ``(seed, stream, i)``, so the decoder regenerates exactly the candidate the encoder chose,
  in O(dim) time, from the seed and index alone;
* the *private* noise (Gumbels, MRC's categorical draw) comes from a ``numpy.random.Generator``
  that the encoder owns and never sends.

Examples:
    >>> import numpy as np
    >>> from rectools.streams import PhiloxStream, shared_key
    >>> key = shared_key(seed=123, stream=0)
    >>> z = PhiloxStream().standard_normals(key, start=5, count=1, dim=3)
    >>> bool(np.array_equal(z, PhiloxStream().standard_normals(key, 0, 6, 3)[5:]))
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Protocol

import numpy as np

from rectools import ops

_UINT64_LIMIT = 2**64
# Domain tag that separates the default private generator from the shared stream.
_PRIVATE_TAG = 0x5EC2E7
# Domain tag of the Sobol scrambling (shared, but distinct from both other streams).
_SOBOL_TAG = 0x50B01


def _check_uint64(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer in [0, 2**64), got {type(value).__name__}")
    value = int(value)
    if not 0 <= value < _UINT64_LIMIT:
        raise ValueError(f"{name} must be in [0, 2**64), got {value}")
    return value


def shared_key(seed: int, stream: int = 0) -> np.ndarray:
    """The Philox key of the shared stream for ``(seed, stream)``.

    Args:
        seed: public seed shared by encoder and decoder, an integer in ``[0, 2**64)``.
        stream: sub-stream number (e.g. a block index), an integer in ``[0, 2**64)``.

    Returns:
        ``uint64[2]``.

    Raises:
        TypeError: ``seed`` or ``stream`` is not an integer.
        ValueError: out of range.
    """
    return np.array([_check_uint64(seed, "seed"), _check_uint64(stream, "stream")], dtype=np.uint64)


def private_generator(seed: int, stream: int = 0) -> np.random.Generator:
    """A default encoder-private generator, domain-separated from the shared stream.

    Encoding is reproducible by default; pass your own ``rng`` to an encoder to draw fresh
    private noise instead.
    """
    entropy = [_check_uint64(seed, "seed"), _check_uint64(stream, "stream"), _PRIVATE_TAG]
    return np.random.Generator(np.random.Philox(np.random.SeedSequence(entropy)))


def private_key(rng: np.random.Generator) -> np.ndarray:
    """Draw a Philox key for private noise kernels from the encoder's generator; ``uint64[2]``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng.integers(0, _UINT64_LIMIT, size=2, dtype=np.uint64)


class CandidateStream(Protocol):
    """Where proposal candidates come from: the base randomness, by candidate number."""

    name: str
    #: Whether candidates are independent draws (exact coders need them; quasi-random
    #: points are not).
    independent: bool

    def standard_normals(self, key: np.ndarray, start: int, count: int, dim: int) -> np.ndarray:
        """Candidates ``start ... start + count - 1`` as standard normals, ``(count, dim)``."""
        ...

    def uniforms(self, key: np.ndarray, start: int, count: int, dim: int) -> np.ndarray:
        """The same candidates as uniforms on ``(0, 1)^dim``, ``(count, dim)``."""
        ...

    def gaussian_log_weights(
        self,
        key: np.ndarray,
        start: int,
        count: int,
        scale: np.ndarray,
        shift: np.ndarray,
        offset: float,
    ) -> np.ndarray:
        """Gaussian log weights (nats) of the candidates, as ``kernels.normal_log_weights``."""
        ...


class _KernelStream:
    """A stream whose three methods are kernels of [`rectools.ops`][rectools.ops]."""

    name: str
    independent = True
    _normals: Callable[..., np.ndarray]
    _uniforms: Callable[..., np.ndarray]
    _log_weights: Callable[..., np.ndarray]

    def standard_normals(self, key: np.ndarray, start: int, count: int, dim: int) -> np.ndarray:
        """Standard normals of candidates ``start .. start + count - 1``; ``(count, dim)``."""
        return self._normals(key, start, count, dim)

    def uniforms(self, key: np.ndarray, start: int, count: int, dim: int) -> np.ndarray:
        """Uniforms on ``(0, 1)`` of candidates ``start .. start + count - 1``; ``(count, dim)``."""
        return self._uniforms(key, start, count, dim)

    def gaussian_log_weights(
        self,
        key: np.ndarray,
        start: int,
        count: int,
        scale: np.ndarray,
        shift: np.ndarray,
        offset: float,
    ) -> np.ndarray:
        """``log q/p`` of candidates ``start .. start + count - 1`` of the Gaussian ``p``, never
        storing them all; ``(count,)``.
        """
        return self._log_weights(key, start, count, scale, shift, offset)


class PhiloxStream(_KernelStream):
    """Pseudo-random candidates from counter-based Philox4x64-10 (bit-compatible with NumPy's)
    and Box-Muller normals: the first stream, which every ``.cmb`` file before the
    "philox4x32" stream uses.

    Decoding candidate ``i`` costs O(dim) whatever ``i`` is.
    """

    name = "philox"
    _normals = staticmethod(ops.philox_normals)
    _uniforms = staticmethod(ops.philox_uniforms)
    _log_weights = staticmethod(ops.gaussian_log_weights)


class Philox32Stream(_KernelStream):
    """Pseudo-random candidates from Philox4x32-10 (Random123's) and ziggurat normals: the
    default stream, about five times faster to score than
    [`PhiloxStream`][rectools.streams.PhiloxStream].

    Philox4x32 needs only 32x32-bit products, which vector units do natively, and two
    normals take one block; the ziggurat (256 layers) turns 64 bits into a normal with a
    table lookup, a compare and a multiply 99% of the time, exactly in distribution (the rest
    take wedge, tail or retry draws from their own blocks). The layout is in
    [`rectools.kernels`][rectools.kernels]. Decoding candidate ``i`` costs O(dim) (expected)
    whatever ``i`` is.
    """

    name = "philox4x32"
    _normals = staticmethod(ops.philox32_normals)
    _uniforms = staticmethod(ops.philox32_uniforms)
    _log_weights = staticmethod(ops.philox32_gaussian_log_weights)


class SobolStream:
    """Scrambled Sobol quasi-random candidates (COMBINER's footnote 2), scrambled by the seed.

    Normals are the inverse normal CDF of the Sobol points. Decoding candidate ``i`` fast-forwards
    the sequence, so it costs more than with [`PhiloxStream`][rectools.streams.PhiloxStream]
    (milliseconds at ``i ~ 2**20``).
    """

    name = "sobol"
    independent = False

    def uniforms(self, key: np.ndarray, start: int, count: int, dim: int) -> np.ndarray:
        """Scrambled Sobol points ``start .. start + count - 1`` on ``(0, 1)^dim``; ``(count,
        dim)``.
        """
        from scipy.stats import qmc  # imported on first use: scipy.stats takes 0.4 s to load

        seeds = np.random.SeedSequence([int(key[0]), int(key[1]), _SOBOL_TAG])
        scramble = np.random.Generator(np.random.Philox(seeds))
        engine = qmc.Sobol(d=dim, scramble=True, rng=scramble)
        if start:
            engine.fast_forward(start)
        with warnings.catch_warnings():
            # Balance properties need powers of two; candidates need arbitrary counts.
            warnings.simplefilter("ignore", UserWarning)
            u = engine.random(count)
        tiny = np.finfo(np.float64).tiny
        return np.clip(u, tiny, 1.0 - np.finfo(np.float64).epsneg)

    def standard_normals(self, key: np.ndarray, start: int, count: int, dim: int) -> np.ndarray:
        """Sobol points mapped through the normal quantile; ``(count, dim)`` float64."""
        from scipy import special

        return special.ndtri(self.uniforms(key, start, count, dim))

    def gaussian_log_weights(
        self,
        key: np.ndarray,
        start: int,
        count: int,
        scale: np.ndarray,
        shift: np.ndarray,
        offset: float,
    ) -> np.ndarray:
        """``log q/p`` of candidates ``start .. start + count - 1`` of the Gaussian ``p``;
        ``(count,)``.
        """
        z = self.standard_normals(key, start, count, scale.shape[0])
        return ops.normal_log_weights(z, scale, shift, offset)


#: The stream coders use unless told otherwise.
DEFAULT_STREAM = Philox32Stream.name

_STREAMS: dict[str, Callable[[], CandidateStream]] = {
    Philox32Stream.name: Philox32Stream,
    PhiloxStream.name: PhiloxStream,
    SobolStream.name: SobolStream,
}


def get_stream(name: str | CandidateStream) -> CandidateStream:
    """The candidate stream registered as ``name`` (``"philox4x32"``, ``"philox"`` or
    ``"sobol"``), or ``name`` itself when it is a stream object already (one computing a
    registered stream elsewhere, e.g. ``combiner.torch_stream.TorchPhilox32Stream`` on a GPU).

    Raises:
        ValueError: an unknown name, or an object whose ``name`` no stream is registered under.
    """
    if not isinstance(name, str):
        registered = getattr(name, "name", None)
        if registered not in _STREAMS or not hasattr(name, "gaussian_log_weights"):
            raise ValueError(
                f"{name!r} is not a candidate stream: it must be named as one of {sorted(_STREAMS)}"
                " and compute the same candidates"
            )
        return name
    try:
        return _STREAMS[name]()
    except KeyError:
        raise ValueError(
            f"unknown candidate stream {name!r}; choose one of {sorted(_STREAMS)}"
        ) from None
