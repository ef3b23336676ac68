"""The single-machine multi-process path gives the same files as one process."""

import os

import numpy as np
import torch

from combiner import codec, parallel


def test_worker_processes_match_a_single_process():
    data = np.random.default_rng(1).uniform(size=(3, 8, 8, 3))
    prior = codec.train_prior(data, preset="tiny", beta=1e-4, kappa=8)
    pooled = parallel.compress_many(data, prior, workers=2, batch_size=2, preset="tiny", seed=3)
    # Same thread count as each worker, so floating-point sums match bit for bit.
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
    try:
        inline = parallel.compress_many(data, prior, workers=1, batch_size=2, preset="tiny", seed=3)
    finally:
        torch.set_num_threads(threads)
    assert [r.data for r in pooled] == [r.data for r in inline]
    for result in pooled:
        assert np.array_equal(codec.decompress(result.data, prior), result.reconstruction)
