"""Documented resource limits: what a file, a prior or an input may claim, checked before any
allocation so hostile or careless input fails fast, in bounded time and memory.

The numbers are chosen to admit every signal the shipped priors model (a Kodak image is 393,216
pixels, a LibriSpeech chunk 48,000 samples) with room to spare:

- [`MAX_GRID_POINTS`][combiner.limits.MAX_GRID_POINTS] = 2**19 = 524,288 grid points per
  signal: a 724x724 image, 32.8 s of 16 kHz audio (decoding that many with the Kodak net takes
  about 1.5 s on 2 cores);
- [`MAX_CHANNELS`][combiner.limits.MAX_CHANNELS] = 64 values per grid point;
- [`MAX_FIT_BYTES`][combiner.limits.MAX_FIT_BYTES] = 4 GiB of estimated memory for one fitting
  step (refused above, with what to do);
- [`MAX_PRIOR_FILE_BYTES`][combiner.limits.MAX_PRIOR_FILE_BYTES] = 64 MiB per prior file (the
  shipped ones are 12-310 KB), [`MAX_META_BYTES`][combiner.limits.MAX_META_BYTES] = 64 KiB of
  its JSON metadata;
- [`MAX_PARAMS`][combiner.limits.MAX_PARAMS] = 2**18 = 262,144 weights per network (the
  paper's largest has 21,563), [`MAX_BLOCKS`][combiner.limits.MAX_BLOCKS] = 65,536 blocks.

Examples:
    >>> from combiner.inr import CIFAR_NET
    >>> from combiner.limits import fit_memory_bytes
    >>> round(fit_memory_bytes(CIFAR_NET, points_per_step=1024, batch=1) / 2**20, 2)  # MiB
    1.62
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from combiner.inr import INRConfig

#: Most grid points (pixels, samples) a file may hold or ``compress`` accepts per datum.
MAX_GRID_POINTS = 2**19
#: Most values per grid point.
MAX_CHANNELS = 64
#: Most coordinate axes of a grid.
MAX_AXES = 3
#: Most estimated memory of one fitting step, in bytes.
MAX_FIT_BYTES = 4 * 2**30
#: Largest prior file read, in bytes.
MAX_PRIOR_FILE_BYTES = 64 * 2**20
#: Largest JSON metadata of a prior file, in bytes (characters).
MAX_META_BYTES = 64 * 2**10
#: Most weights of one network a prior file may describe.
MAX_PARAMS = 2**18
#: Most blocks a prior's partition may hold (each costs a few bytes per file and one REC call).
MAX_BLOCKS = 2**16
#: Highest audio sample rate a file may record, in Hz.
MAX_SAMPLE_RATE = 1_000_000

# Bytes a fitting step keeps per grid point and per network unit (embedding width plus every
# layer's outputs): activations, pre-activation variances, noise and their gradients, in
# float32. Measured: 5.7 KB per point for the Kodak net (307 units), 1.7 KB for CIFAR's (83).
_BYTES_PER_POINT_UNIT = 20


def fit_memory_bytes(config: INRConfig, points_per_step: int, batch: int) -> int:
    """Estimated peak memory of one fitting step, in bytes.

    Args:
        config: the network.
        points_per_step: grid points seen per step per datum.
        batch: data fitted at once.
    """
    return _BYTES_PER_POINT_UNIT * config.units_per_point * points_per_step * batch


def check_grid(grid: tuple[int, ...], channels: int, error: type[Exception]) -> None:
    """Raise ``error`` unless a grid and channel count lie within the documented limits."""
    if not 1 <= len(grid) <= MAX_AXES:
        raise error(f"a signal has 1 to {MAX_AXES} grid axes, not {len(grid)}")
    if min(grid) < 1 or channels < 1:
        raise error(f"empty signal: grid {grid}, {channels} channels")
    if channels > MAX_CHANNELS:
        raise error(f"{channels} channels is more than the limit of {MAX_CHANNELS}")
    points = math.prod(grid)
    if points > MAX_GRID_POINTS:
        raise error(
            f"a signal of {points:,} grid points ({'x'.join(map(str, grid))}) is over the "
            f"limit of {MAX_GRID_POINTS:,}: crop or downscale it, or cut audio into chunks"
        )


def check_fit(
    config: INRConfig,
    grid: tuple[int, ...],
    channels: int,
    batch: int,
    point_fraction: float,
    error: type[Exception],
) -> None:
    """Raise ``error`` (saying what to do) unless a batch of signals on ``grid`` lies within the
    grid limits and fitting it would need at most ``MAX_FIT_BYTES``."""
    check_grid(grid, channels, error)
    points = math.prod(grid)
    per_step = max(1, round(points * point_fraction))
    need = fit_memory_bytes(config, per_step, batch)
    if need > MAX_FIT_BYTES:
        raise error(
            f"fitting {batch} signal(s) of {points:,} points, {per_step:,} per step, needs "
            f"about {need / 2**30:.1f} GiB (limit {MAX_FIT_BYTES / 2**30:.0f} GiB): use a "
            "preset that samples fewer points per step (--preset large-cpu or kodak-paper), "
            "a smaller batch, or a smaller signal"
        )
