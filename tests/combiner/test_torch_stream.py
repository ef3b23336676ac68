"""The torch twin of the "philox4x32" stream: bit-identical candidates on every device, so a
GPU encoder and a CPU decoder agree (CUDA cases run where a GPU is present)."""

import numpy as np
import pytest
import torch

import rectools
from combiner.torch_stream import TorchPhilox32Stream

DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
KEY = rectools.shared_key(seed=77, stream=5)


@pytest.fixture(params=DEVICES)
def twin(request):
    # Small passes, so the tests cross pass boundaries.
    return TorchPhilox32Stream(request.param, values_per_pass=3000)


@pytest.mark.parametrize(("start", "count", "dim"), [(0, 4000, 7), (2**31 + 3, 300, 16), (9, 1, 1)])
def test_candidates_and_weights_are_bit_identical_to_rectools(twin, start, count, dim):
    # 28,000 normals: a few hundred leave the ziggurat's fast path, so both paths are covered.
    cpu = rectools.Philox32Stream()
    assert np.array_equal(
        twin.standard_normals(KEY, start, count, dim), cpu.standard_normals(KEY, start, count, dim)
    )
    assert np.array_equal(
        twin.uniforms(KEY, start, count, dim), cpu.uniforms(KEY, start, count, dim)
    )
    rng = np.random.default_rng(dim)
    scale, shift = rng.uniform(0.5, 2.0, dim), rng.normal(size=dim)
    assert np.array_equal(
        twin.gaussian_log_weights(KEY, start, count, scale, shift, 0.7),
        cpu.gaussian_log_weights(KEY, start, count, scale, shift, 0.7),
    )


def test_an_encoder_on_the_twin_sends_what_a_cpu_decoder_rebuilds(twin):
    p = rectools.DiagonalGaussian(np.zeros(16), np.ones(16))
    q = rectools.DiagonalGaussian(np.full(16, 0.4), np.full(16, 0.6))
    encoder = rectools.get_coder("astar", candidates=twin)
    decoder = rectools.get_coder("astar")
    for seed in range(5):
        sent = encoder.encode(q, p, seed=seed, log2_num_candidates=12)
        assert sent.index == decoder.encode(q, p, seed=seed, log2_num_candidates=12).index
        rebuilt = decoder.decode(sent.index, p, seed, sent.num_candidates)
        assert np.array_equal(rebuilt, sent.sample)


def test_a_stream_object_must_name_a_registered_stream():
    class Impostor:
        name = "mine"

        def gaussian_log_weights(self, *args):
            return None

    with pytest.raises(ValueError, match="not a candidate stream"):
        rectools.get_coder("astar", candidates=Impostor())
