"""Many encodes at once on every core, identical to a loop of single encodes.

The numba kernels release the GIL, so threads run independent encodes in parallel; each encode
derives its private noise from its own ``(seed, stream)``, so the results do not depend on the
number of workers or on scheduling. COMBINER codes block ``k`` of every datum in a batch with
one call.

Examples:
    >>> import numpy as np, rectools
    >>> p = rectools.DiagonalGaussian(np.zeros(4), np.ones(4))
    >>> targets = [rectools.DiagonalGaussian(np.full(4, m), np.full(4, 0.5)) for m in (0.1, 0.6)]
    >>> batch = rectools.encode_batch(rectools.get_coder("astar"), targets, p, seeds=[3, 3])
    >>> [r.index for r in batch] == [rectools.get_coder("astar").encode(q, p, 3).index
    ...                              for q in targets]
    True
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rectools.coders.base import Coder, EncodeResult
from rectools.distributions import Proposal, Target


def available_workers() -> int:
    """CPUs this process may run on: its affinity mask (else the machine's count), capped by
    a cgroup v2 CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    with contextlib.suppress(OSError, ValueError):
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.floor(int(quota) / int(period))))
    return cpus


def encode_batch(
    coder: Coder,
    targets: Sequence[Target],
    proposals: Proposal | Sequence[Proposal],
    seeds: Iterable[int],
    streams: Iterable[int] | None = None,
    log2_num_candidates: float | None = None,
    workers: int | None = None,
) -> list[EncodeResult]:
    """Encode ``targets[i]`` against ``proposals[i]`` (or one shared proposal) with ``seeds[i]``.

    The encodes run on ``workers`` threads (default: every CPU this process may use); the
    numba kernels release the GIL, so they run in parallel. Each encode is the same call a loop
    would make, with its private stream derived from its own ``(seed, stream)``, so the results
    are identical to ``[coder.encode(...) for ...]`` whatever the number of workers.

    Args:
        coder: any coder.
        targets: ``B`` targets.
        proposals: one proposal for all, or ``B``.
        seeds: ``B`` shared seeds.
        streams: ``B`` shared sub-streams (default all 0), e.g. block numbers.
        log2_num_candidates: passed to every encode.
        workers: threads; 1 runs the plain loop.

    Returns:
        ``B`` [`EncodeResult`][rectools.coders.base.EncodeResult]s, in order.
    """
    seeds = [int(s) for s in seeds]
    count = len(targets)
    streams = [0] * count if streams is None else [int(s) for s in streams]
    shared = not isinstance(proposals, Sequence)
    proposal_list = [proposals] * count if shared else list(proposals)
    if not count == len(seeds) == len(streams) == len(proposal_list):
        raise ValueError("targets, proposals, seeds and streams must have the same length")

    def one(i: int) -> EncodeResult:
        return coder.encode(
            targets[i],
            proposal_list[i],
            seed=seeds[i],
            stream=streams[i],
            log2_num_candidates=log2_num_candidates,
        )

    workers = available_workers() if workers is None else int(workers)
    if workers <= 1 or count <= 1:
        return [one(i) for i in range(count)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, range(count)))
