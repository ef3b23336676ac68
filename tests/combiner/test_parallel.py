"""The single-machine multi-process path gives the same files as one process."""

import numpy as np
import torch

from combiner import codec, parallel


def test_worker_processes_match_a_single_process():
    data = np.random.default_rng(1).uniform(size=(3, 8, 8, 3))
    prior = codec.train_prior(data, preset="tiny", beta=1e-4, kappa=8)
    options = {"batch_size": 2, "preset": "tiny", "seed": 3, "threads": 1}
    pooled = parallel.compress_many(data, prior, workers=2, **options)
    # The same thread count in this process and in each worker: sums match bit for bit.
    threads = torch.get_num_threads()
    inline = parallel.compress_many(data, prior, workers=1, **options)
    assert torch.get_num_threads() == threads  # restored
    assert [r.data for r in pooled] == [r.data for r in inline]
    for result in pooled:
        assert np.array_equal(codec.decompress(result.data, prior), result.reconstruction)
