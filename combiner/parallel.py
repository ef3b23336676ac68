"""Compressing many signals: batches spread over worker processes on one machine.

Encoding is embarrassingly parallel: every datum has its own network, and batches share
nothing but the (read-only) prior. [`compress_many`][combiner.parallel.compress_many] cuts a
dataset into batches and runs
them in a process pool; each worker fits its batch (on its own GPU slice when the caller pins
devices per process, on the CPU otherwise). Files and reconstructions come back in input order.

Across several GPUs or machines use the same unit of work with an existing engine: e.g. launch
one process per GPU with ``torchrun --nproc_per_node=N your_script.py`` and have process
``RANK`` call ``codec.compress(images[RANK::WORLD_SIZE], prior, device=f"cuda:{LOCAL_RANK}")``,
or submit one ``codec.compress`` task per batch to Ray. No collective communication is needed.

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

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from combiner import codec


def _worker_init(threads: int) -> None:
    # Workers share the machine's cores: one torch thread pool each would oversubscribe them.
    torch.set_num_threads(threads)


def _compress_batch(args: tuple) -> list[codec.CompressResult]:
    batch, prior_file, options = args
    return codec.compress(batch, prior_file, **options)


def compress_many(
    data: np.ndarray,
    prior_file: codec.PriorFile,
    workers: int = 2,
    batch_size: int = 32,
    **options: object,
) -> list[codec.CompressResult]:
    """Compress ``data`` ``(N, *grid, C)`` in batches over ``workers`` processes.

    Args:
        data: the signals, all of one shape.
        prior_file: the shared prior (sent to each worker once per batch).
        workers: worker processes (1 runs in this process).
        batch_size: signals fitted together in one worker.
        **options: passed to [`combiner.codec.compress`][combiner.codec.compress] (``preset``,
            ``coder``, ``seed``...).

    Returns:
        One result per signal, in input order.
    """
    if workers < 1 or batch_size < 1:
        raise ValueError("workers and batch_size must be positive")
    batches = [data[i : i + batch_size] for i in range(0, len(data), batch_size)]
    jobs = [(batch, prior_file, options) for batch in batches]
    if workers == 1:
        return [r for job in jobs for r in _compress_batch(job)]
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")  # safe with torch and CUDA
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_init, initargs=(threads,)
    ) as pool:
        return [r for results in pool.map(_compress_batch, jobs) for r in results]
