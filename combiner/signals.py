"""Signals as coordinate grids: every modality maps data to ``(coordinates, values)`` and back.

Three modalities are built in: ``image`` (``(H, W, 1 or 3)`` in [0, 1]), ``audio`` (mono
waveforms in [-1, 1]) and ``array`` (any float field on a grid of 1 to 3 axes, e.g. a climate
field or a volume, scaled to [-1, 1] by a value range the file records).

A modality says how to validate its data, which coordinate grid it lives on (``k`` axes in
``[-1, 1]``), how values are scaled for the network, how decoded values become output data, and
how distortion and rate are measured. COMBINER itself never looks further than the grid.

Examples:
    >>> import numpy as np
    >>> from combiner.signals import get_modality
    >>> image = get_modality("image")
    >>> batch = image.check(np.zeros((2, 4, 6, 3)))
    >>> image.grid_shape(batch), image.rate_unit
    ((4, 6), 'bpp')
"""

from __future__ import annotations

import math
import struct
from typing import ClassVar, Protocol

import numpy as np
import torch

from combiner.errors import InputError
from combiner.limits import MAX_SAMPLE_RATE


def coordinate_grid(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Sample positions of a grid in ``[-1, 1]^k``, row-major; ``(prod(shape), k)``."""
    axes = [torch.linspace(-1.0, 1.0, n, dtype=dtype) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(shape))


def _finite(data: np.ndarray, what: str) -> np.ndarray:
    data = np.asarray(data, dtype=np.float64)
    if not np.all(np.isfinite(data)):
        raise InputError(f"{what} contain NaN or infinite values")
    return data


class Modality(Protocol):
    """How one kind of signal becomes a coordinate grid and back."""

    name: ClassVar[str]
    rate_unit: ClassVar[str]
    """Unit of [`rate`][combiner.signals.Modality.rate]: ``"bpp"``, ``"kbps"``..."""

    def check(self, batch: np.ndarray) -> np.ndarray:
        """Validate a batch ``(B, *grid, channels)``; return it as float64 network values."""
        ...

    def grid_shape(self, batch: np.ndarray) -> tuple[int, ...]:
        """The coordinate axes of a checked batch."""
        ...

    def output(self, values: np.ndarray) -> np.ndarray:
        """Decoded network values ``(*grid, channels)`` as this modality's output data."""
        ...

    def psnr(self, reference: np.ndarray, decoded: np.ndarray) -> float:
        """Distortion in dB between checked values and [`output`][combiner.signals.Modality.output]
        data."""
        ...

    def rate(self, num_bytes: float, grid: tuple[int, ...]) -> float:
        """Rate of a file of ``num_bytes`` for one datum, in
        [`rate_unit`][combiner.signals.Modality.rate_unit]."""
        ...

    @property
    def params(self) -> tuple[int, ...]:
        """Integer options a file records so the decoder can rebuild this modality."""
        ...


def _psnr(mse: float, peak_to_peak: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(peak_to_peak**2 / mse)


class ImageModality:
    """Images ``(H, W, 1 or 3)`` with values in [0, 1]; 8-bit output, PSNR on [0, 1], bpp."""

    name: ClassVar[str] = "image"
    rate_unit: ClassVar[str] = "bpp"

    def check(self, batch: np.ndarray) -> np.ndarray:
        """``(B, H, W, C)`` images in [0, 1] as float64; ``ValueError`` otherwise."""
        batch = _finite(batch, "images")
        if batch.ndim != 4 or batch.shape[-1] not in (1, 3):
            raise InputError(f"expected images of shape (batch, H, W, 1 or 3), got {batch.shape}")
        if batch.min() < 0.0 or batch.max() > 1.0:
            raise InputError("image values must lie in [0, 1]")
        return batch

    def grid_shape(self, batch: np.ndarray) -> tuple[int, ...]:
        """``(H, W)``."""
        return tuple(batch.shape[1:3])

    def output(self, values: np.ndarray) -> np.ndarray:
        """Network outputs rounded to 8-bit pixels."""
        return np.round(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)

    def psnr(self, reference: np.ndarray, decoded: np.ndarray) -> float:
        """PSNR in dB of 8-bit ``decoded`` against a [0, 1] reference."""
        return _psnr(float(np.mean((decoded / 255.0 - reference) ** 2)), 1.0)

    def rate(self, num_bytes: float, grid: tuple[int, ...]) -> float:
        """Bits per pixel of a file of ``num_bytes``."""
        return 8.0 * num_bytes / math.prod(grid)

    @property
    def params(self) -> tuple[int, ...]:
        """Empty: images need no parameters in the file."""
        return ()

    def __repr__(self) -> str:
        return "image"


class AudioModality:
    """Mono waveforms ``(T, 1)`` in [-1, 1]; 16-bit PCM output, PSNR on [-1, 1], kbps.

    Args:
        sample_rate: samples per second (for the rate in kbps).
    """

    name: ClassVar[str] = "audio"
    rate_unit: ClassVar[str] = "kbps"

    def __init__(self, sample_rate: int = 16_000) -> None:
        if not 0 < sample_rate <= MAX_SAMPLE_RATE:
            raise InputError(f"sample_rate must lie in [1, {MAX_SAMPLE_RATE:,}] Hz")
        self.sample_rate = int(sample_rate)

    def check(self, batch: np.ndarray) -> np.ndarray:
        """``(B, T)`` or ``(B, T, 1)`` mono clips in [-1, 1] as ``(B, T, 1)`` float64."""
        batch = _finite(batch, "audio samples")
        if batch.ndim == 2:
            batch = batch[..., None]
        if batch.ndim != 3 or batch.shape[-1] != 1:
            raise InputError(
                f"expected mono audio of shape (batch, T) or (batch, T, 1), got {batch.shape}"
            )
        if np.abs(batch).max() > 1.0:
            raise InputError("audio samples must lie in [-1, 1]")
        return batch

    def grid_shape(self, batch: np.ndarray) -> tuple[int, ...]:
        """``(T,)``."""
        return (batch.shape[1],)

    def output(self, values: np.ndarray) -> np.ndarray:
        """Network outputs rounded to 16-bit samples, ``(T, 1)`` int16."""
        return np.round(np.clip(values, -1.0, 1.0) * 32767.0).astype(np.int16)

    def psnr(self, reference: np.ndarray, decoded: np.ndarray) -> float:
        """PSNR in dB over the [-1, 1] range of 16-bit ``decoded`` against the reference."""
        return _psnr(float(np.mean((decoded / 32767.0 - reference) ** 2)), 2.0)

    def rate(self, num_bytes: float, grid: tuple[int, ...]) -> float:
        """Kilobits per second of a file of ``num_bytes``."""
        return 8.0 * num_bytes / (grid[0] / self.sample_rate) / 1000.0

    @property
    def params(self) -> tuple[int, ...]:
        """The sample rate, which the file records."""
        return (self.sample_rate,)

    def __repr__(self) -> str:
        return f"audio at {self.sample_rate} Hz"


def _float32_bits(value: float) -> int:
    return struct.unpack("<I", struct.pack("<f", value))[0]


def _bits_float32(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits))[0]


class ArrayModality:
    """Float arrays ``(*grid, channels)`` on 1 to 3 coordinate axes; PSNR over the value range.

    The network sees values mapped linearly from ``[low, high]`` to ``[-1, 1]``. Unless given,
    the range is taken (rounded outward to float32) from the first batch
    [`check`][combiner.signals.ArrayModality.check] sees, and
    every file of that batch records it, so the decoder rebuilds the same scale. Distortion is
    PSNR with the range as peak; the rate is in bits per value (grid points times channels).

    Args:
        axes: coordinate axes (1 to 3); ``None`` takes them from the data.
        channels: values per grid point; ``None`` takes them from the data.
        low: lower end of the value range; ``None`` (with ``high``) takes it from the data.
        high: upper end of the value range; ``None`` (with ``low``) takes it from the data.

    Examples:
        >>> import numpy as np
        >>> field = ArrayModality()
        >>> values = field.check(np.linspace(-5.0, 3.0, 12).reshape(1, 3, 4, 1))
        >>> float(values.min()), float(values.max()), field.rate_unit
        (-1.0, 1.0, 'bits per value')
        >>> field.output(values[0])[0, 0, 0]
        np.float32(-5.0)
    """

    name: ClassVar[str] = "array"
    rate_unit: ClassVar[str] = "bits per value"
    max_axes: ClassVar[int] = 3

    def __init__(
        self,
        axes: int | None = None,
        channels: int | None = None,
        low: float | None = None,
        high: float | None = None,
    ) -> None:
        if axes is not None and not 1 <= axes <= self.max_axes:
            raise InputError(f"arrays have 1 to {self.max_axes} coordinate axes, not {axes}")
        if channels is not None and channels < 1:
            raise InputError(f"arrays have at least one channel, not {channels}")
        if (low is None) != (high is None) or (
            low is not None and not (math.isfinite(low) and math.isfinite(high) and low < high)
        ):
            raise InputError("give both low < high (finite), or neither")
        self.axes, self.channels, self.low, self.high = axes, channels, low, high

    @classmethod
    def from_params(cls, axes: int, channels: int, low_bits: int, high_bits: int) -> ArrayModality:
        """Rebuild from a file's ``params``."""
        return cls(axes, channels, _bits_float32(low_bits), _bits_float32(high_bits))

    def check(self, batch: np.ndarray) -> np.ndarray:
        """``(B, *grid, C)`` finite arrays on 1-3 axes as float64; fixes an unset value range."""
        batch = _finite(batch, "array values")
        axes = batch.ndim - 2
        if not 1 <= axes <= self.max_axes:
            raise InputError(
                f"expected arrays of shape (batch, *grid, channels) with 1 to {self.max_axes} "
                f"grid axes, got {batch.shape} ({axes} axes)"
            )
        if self.axes not in (None, axes) or self.channels not in (None, batch.shape[-1]):
            raise InputError(
                f"expected {self.axes} axes and {self.channels} channels, got {batch.shape[1:]}"
            )
        self.axes, self.channels = axes, batch.shape[-1]
        if self.low is None:
            # The range as float32 (what a file stores), rounded outward so the data stay inside.
            low, high = np.float32(batch.min()), np.float32(batch.max())
            low = np.nextafter(low, np.float32(-np.inf)) if low > batch.min() else low
            high = np.nextafter(high, np.float32(np.inf)) if high < batch.max() else high
            high = max(high, np.nextafter(low, np.float32(np.inf)))  # a constant array
            self.low, self.high = float(low), float(high)
        elif batch.min() < self.low or batch.max() > self.high:
            raise InputError(f"array values must lie in [{self.low}, {self.high}]")
        return self._to_network(batch)

    def grid_shape(self, batch: np.ndarray) -> tuple[int, ...]:
        """The grid axes ``batch.shape[1:-1]``."""
        return tuple(batch.shape[1:-1])

    def _range(self) -> tuple[float, float]:
        if self.low is None or self.high is None:
            raise InputError("the value range is unknown: check a batch first")
        return self.low, self.high

    def _to_network(self, values: np.ndarray) -> np.ndarray:
        low, high = self._range()
        return (np.asarray(values, np.float64) - low) / (high - low) * 2.0 - 1.0

    def output(self, values: np.ndarray) -> np.ndarray:
        """Network outputs mapped back to the value range, float32."""
        low, high = self._range()
        return (low + (np.clip(values, -1.0, 1.0) + 1.0) / 2.0 * (high - low)).astype(np.float32)

    def psnr(self, reference: np.ndarray, decoded: np.ndarray) -> float:
        """PSNR in dB with the value range as peak."""
        return _psnr(float(np.mean((self._to_network(decoded) - reference) ** 2)), 2.0)

    def rate(self, num_bytes: float, grid: tuple[int, ...]) -> float:
        """Bits per value (grid points times channels) of a file of ``num_bytes``."""
        return 8.0 * num_bytes / (math.prod(grid) * (self.channels or 1))

    @property
    def params(self) -> tuple[int, ...]:
        """Axes, channels and the value range (float32 bit patterns), which the file records."""
        low, high = self._range()
        if self.axes is None or self.channels is None:
            raise InputError("the grid is unknown: check a batch first")
        return (self.axes, self.channels, _float32_bits(low), _float32_bits(high))

    def __repr__(self) -> str:
        values = f"values in [{self.low:.6g}, {self.high:.6g}]"
        return f"array on {self.axes} axes, {self.channels} channels, {values}"


_MODALITIES: dict[str, type] = {m.name: m for m in (ImageModality, AudioModality, ArrayModality)}


def register_modality(cls: type) -> type:
    """Register a [`Modality`][combiner.signals.Modality] class under its ``name`` (usable as a
    decorator)."""
    if cls.name in _MODALITIES:
        raise InputError(f"a modality named {cls.name!r} is already registered")
    _MODALITIES[cls.name] = cls
    return cls


def available_modalities() -> tuple[str, ...]:
    """Names of the registered modalities, sorted."""
    return tuple(sorted(_MODALITIES))


def get_modality(name: str, *params: int, **options: object) -> Modality:
    """The modality registered as ``name`` (``"image"``, ``"audio"``, ``"array"``...).

    Args:
        name: registry name.
        *params: the modality's ``params``, as a file records them (passed to the class's
            ``from_params`` when it has one, else to its constructor).
        **options: constructor options (e.g. ``sample_rate`` for audio).
    """
    try:
        cls = _MODALITIES[name]
    except KeyError:
        raise InputError(
            f"unknown modality {name!r}; choose one of {available_modalities()}"
        ) from None
    try:
        if params:
            return getattr(cls, "from_params", cls)(*params, **options)
        return cls(**options)
    except TypeError:
        raise InputError(f"bad parameters {params or options} for modality {name!r}") from None
