"""Reading signals from files: images (Pillow), mono WAV audio and ``.npy`` arrays.

Every reader checks sizes from the file's header before decoding it and raises
[`InputError`][combiner.errors.InputError] with a one-line reason for anything it cannot read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import wavfile

from combiner.errors import InputError
from combiner.limits import check_grid

#: Which modality a file holds, by its suffix.
MODALITY_OF_SUFFIX = {
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".wav": "audio",
    ".npy": "array",
}


def read_image(path: Path, notes: list[str] | None = None) -> np.ndarray:
    """An image file as ``(H, W, 3)`` floats in [0, 1], at its real bit depth.

    8-bit images of any Pillow mode (grayscale, palette, CMYK...) are converted to RGB;
    16-bit grayscale PNGs are read at their 16-bit range (and replicated to RGB); an alpha
    channel is dropped (COMBINER codes colour, not transparency); an animation keeps its first
    frame. Each such conversion is reported in ``notes`` when a list is given.

    Raises:
        InputError: unreadable, a float image, or more than
            [`MAX_GRID_POINTS`][combiner.limits.MAX_GRID_POINTS] pixels (checked before the
            pixels are decoded).
    """
    notes = [] if notes is None else notes
    try:
        # Pillow parses untrusted bytes and may raise almost anything on a damaged file.
        with Image.open(path) as img:
            check_grid((img.height, img.width), 3, InputError)
            if getattr(img, "n_frames", 1) > 1:
                notes.append(f"{path} has {img.n_frames} frames: coding the first")
            if "A" in img.getbands() or "transparency" in img.info:
                notes.append(f"{path} has an alpha channel: dropping it (colour is coded)")
            if img.mode in ("I;16", "I;16L", "I;16B", "I"):
                pixels = np.asarray(img, dtype=np.float64)
                if pixels.min() < 0 or pixels.max() > 65535:
                    raise InputError(f"{path} holds {img.mode} values outside 16 bits")
                notes.append(f"{path} is 16-bit grayscale: coded at its 16-bit range as RGB")
                return np.repeat(pixels[..., None] / 65535.0, 3, axis=-1)
            if img.mode == "F":
                raise InputError(f"{path} is a float image: convert it to 8 or 16 bits")
            return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    except InputError:
        raise
    except Exception as err:  # a decoder error of any kind means unreadable
        raise InputError(f"cannot read image {path}: {err}") from None


def read_audio(path: Path, sample_rate: int) -> np.ndarray:
    """A mono 16-bit, 32-bit or float WAV file as ``(T,)`` floats in [-1, 1].

    Raises:
        InputError: unreadable, empty, stereo, 8-bit, float samples outside [-1, 1] or not
            finite, longer than [`MAX_GRID_POINTS`][combiner.limits.MAX_GRID_POINTS] samples,
            or not at ``sample_rate`` (no resampling is done).
    """
    try:
        # Memory-mapped, so a huge file is refused before it is read.
        rate, data = wavfile.read(path, mmap=True)
    except Exception as err:  # a parser error of any kind means unreadable
        raise InputError(f"cannot read audio {path}: {err}") from None
    if data.ndim == 2 and data.shape[1] > 1:
        raise InputError(f"{path} has {data.shape[1]} channels: mix it down to mono first")
    if data.size == 0:
        raise InputError(f"{path} holds no samples")
    if data.dtype == np.uint8:
        raise InputError(f"{path} is 8-bit audio: convert it to 16-bit PCM first")
    if rate != sample_rate:
        raise InputError(
            f"{path} is at {rate} Hz but {sample_rate} Hz was asked: resample it first "
            "or pass --sample-rate"
        )
    check_grid((data.shape[0],), 1, InputError)
    scale = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2.0**31}.get(data.dtype)
    samples = np.array(data.reshape(-1), dtype=np.float64)
    if scale is not None:
        return samples / scale
    if not np.all(np.isfinite(samples)):
        raise InputError(f"{path} holds NaN or infinite samples")
    peak = float(np.abs(samples).max())
    if peak > 1.0:
        raise InputError(
            f"{path} holds float samples up to {peak:.3g}, beyond [-1, 1]: normalise it"
        )
    return samples


def read_array(path: Path, channels_last: bool = False) -> np.ndarray:
    """A ``.npy`` array as ``(*grid, channels)`` float64; a single channel unless
    ``channels_last`` says the last axis holds channels.

    Raises:
        InputError: unreadable, not numeric, empty, not finite, or over the size limits
            (checked from the header, before the data is read).
    """
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise InputError(f"cannot read array {path}: {err}") from None
    if not isinstance(data, np.ndarray):
        raise InputError(f"{path} is not a single .npy array")
    if data.dtype.kind not in "biuf" or data.size == 0:
        raise InputError(f"{path} holds {data.dtype} data of shape {data.shape}: need numbers")
    grid, channels = (data.shape[:-1], data.shape[-1]) if channels_last else (data.shape, 1)
    check_grid(tuple(grid), channels, InputError)
    data = np.array(data, dtype=np.float64)
    return data if channels_last else data[..., None]


def modality_of(path: Path) -> str | None:
    """The modality a file holds by its suffix (``None``: unknown; Pillow may still read it)."""
    return MODALITY_OF_SUFFIX.get(path.suffix.lower())


def read_signal(
    path: Path,
    sample_rate: int = 16_000,
    channels_last: bool = False,
    notes: list[str] | None = None,
) -> tuple[np.ndarray, str]:
    """One input file as ``(signal, modality)``; unknown suffixes are tried as images (Pillow
    reads BMP, TIFF, WebP...).

    Args:
        path: the file.
        sample_rate: what a WAV file must be sampled at (Hz).
        channels_last: ``.npy`` arrays: the last axis holds channels.
        notes: where image conversions are reported (alpha dropped, 16-bit...).

    Raises:
        InputError: unreadable or out of limits.
    """
    modality = modality_of(path) or "image"
    if modality == "audio":
        return read_audio(path, sample_rate), modality
    if modality == "array":
        return read_array(path, channels_last), modality
    return read_image(path, notes), modality
