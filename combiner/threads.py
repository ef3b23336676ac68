"""How many torch threads a fit should use: one for small networks, the CPUs it may use else.

A CIFAR-sized fit does so little work per step (about 85,000 point-units for one image) that
torch's intra-op threads only add synchronisation: measured on 2 cores, one image fits at the
same 413-415 steps/s with 1 or 2 threads, a batch of 20 at 37 steps/s with 1 and 53 with 2.
And two processes that each spin two OpenMP threads on two cores wait on each other: two CLI
compressions at once took 236 s against 29 s one after the other. So small fits run on one
thread (two at once then take 12.8 s, against 26.1 s in turn), large ones on the CPUs this
process may use (its affinity mask and cgroup CPU quota). ``codec.compress`` applies the same
rule to the whole encode (coding, block order and decode check too), and so does the
hardest-first block order when used on its own. ``COMBINER_THREADS`` overrides
both; an explicit lower ``torch.set_num_threads`` (as ``compress_many``'s batches set) is kept.

Examples:
    >>> from combiner.threads import threads_for
    >>> threads_for(85_000)  # one CIFAR image: one thread
    1
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

import rectools

#: Work per step (grid points seen times network units, summed over the batch) below which
#: one thread is as fast as several (measured crossover on 2 cores: a few CIFAR images).
SMALL_WORK = 250_000


def threads_for(work_per_step: float) -> int:
    """Torch threads for a fit doing ``work_per_step`` point-units per optimiser step."""
    override = os.environ.get("COMBINER_THREADS")
    if override:
        return max(1, int(override))
    return 1 if work_per_step < SMALL_WORK else rectools.available_workers()


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run with at most ``count`` torch threads (never more than already set), then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(count, before)))
    try:
        yield
    finally:
        torch.set_num_threads(before)
