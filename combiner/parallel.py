"""Compressing many signals held in memory: batches on an engine (local processes or Ray).

Encoding is embarrassingly parallel: every datum has its own network, and batches share
nothing but the (read-only) prior. [`compress_many`][combiner.parallel.compress_many] cuts an
array of signals into batches and runs them on an engine ([`combiner.engines`][combiner.engines]);
each batch fits on ``threads`` torch threads (by default the CPUs shared out among the workers).
Files and reconstructions come back in input order. For a folder of files, with a manifest and
resumption, see [`combiner.dataset`][combiner.dataset].

Several GPUs work the same way with an engine whose tasks ask for one (see the datasets
how-to), or with ``torchrun --nproc_per_node=N``: process ``RANK`` calls
``codec.compress(images[RANK::WORLD_SIZE], prior, device=f"cuda:{LOCAL_RANK}")``. No
collective communication is needed.

Examples:
    >>> import numpy as np
    >>> from combiner import codec, parallel
    >>> data = np.random.default_rng(0).uniform(size=(3, 8, 8, 3))
    >>> prior = codec.train_prior(data, preset="tiny", beta=1e-4, kappa=8)
    >>> results = parallel.compress_many(data, prior, workers=2, batch_size=2, preset="tiny")
    >>> [codec.decompress(r.data, prior).shape for r in results]
    [(8, 8, 3), (8, 8, 3), (8, 8, 3)]
"""

from __future__ import annotations

import numpy as np

from combiner import codec
from combiner.engines import Engine, engine_for, threads_per_worker
from combiner.errors import CombinerError, InputError
from combiner.threads import torch_threads


def _compress_batch(
    batch: tuple[int, np.ndarray], shared: tuple[codec.PriorFile, dict, int]
) -> list[codec.CompressResult]:
    _, data = batch
    prior_file, options, threads = shared
    with torch_threads(threads):
        return codec.compress(data, prior_file, **options)


def compress_many(
    data: np.ndarray,
    prior_file: codec.PriorFile,
    workers: int = 2,
    batch_size: int = 32,
    engine: str | Engine = "local",
    threads: int | None = None,
    **options: object,
) -> list[codec.CompressResult]:
    """Compress ``data`` ``(N, *grid, C)`` in batches of ``batch_size`` on an engine.

    Args:
        data: the signals, all of one shape.
        prior_file: the shared prior (sent to each worker once).
        workers: worker processes (``1``: this process) or CPUs of a local Ray.
        batch_size: signals fitted together (a signal's bytes depend on its batch).
        engine: ``"local"``, ``"ray"`` or an [`Engine`][combiner.engines.Engine].
        threads: torch threads per batch (default: the CPUs divided among the workers).
        **options: passed to [`combiner.codec.compress`][combiner.codec.compress] (``preset``,
            ``coder``, ``seed``...).

    Returns:
        One result per signal, in input order.

    Raises:
        InputError: bad ``workers`` or ``batch_size``.
        CombinerError: a batch failed (its error is attached).
    """
    if workers < 1 or batch_size < 1:
        raise InputError("workers and batch_size must be positive")
    batches = [(i, data[i : i + batch_size]) for i in range(0, len(data), batch_size)]
    done: dict[int, list[codec.CompressResult]] = {}
    with engine_for(engine, workers) as runner:
        threads = threads or threads_per_worker(runner)
        for (start, _), outcome in runner.map_unordered(
            _compress_batch, batches, (prior_file, options, threads)
        ):
            if isinstance(outcome, BaseException):
                if isinstance(outcome, CombinerError):
                    raise outcome
                raise CombinerError(f"the batch from signal {start} failed: {outcome}") from outcome
            done[start] = outcome
    return [r for start, _ in batches for r in done[start]]
