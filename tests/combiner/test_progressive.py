"""Block orders: which block the encoder codes next is its own choice, invisible to the decoder."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from combiner import codec
from combiner.fit import Frozen
from combiner.inr import (
    INRConfig,
    VariationalINR,
    forward,
    fourier_features,
    gauss_newton_diagonal,
    init_means,
)
from combiner.progressive import BLOCK_ORDERS, CodingState, HardestFirst, PartitionOrder

SMALL = INRConfig(layers=3, hidden=5, fourier=8)


def _problem(batch: int = 2, points: int = 7, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    coords = torch.rand(batch, points, 2, generator=generator, dtype=torch.float64) * 2 - 1
    weights = init_means(SMALL, batch, generator).double()
    weights += 0.1 * torch.randn(weights.shape, generator=generator, dtype=torch.float64)
    return fourier_features(coords, SMALL), weights


def test_gauss_newton_diagonal_matches_the_squared_jacobian():
    features, weights = _problem()
    curvature = gauss_newton_diagonal(features, weights, SMALL)
    for b in range(weights.shape[0]):
        jacobian = torch.func.jacrev(
            lambda w, b=b: forward(features[b : b + 1], w[None], None, SMALL)[0]
        )(weights[b])  # (points, outputs, params)
        assert torch.allclose(curvature[b], (jacobian**2).sum(dim=(0, 1)), rtol=1e-10)


def test_gauss_newton_diagonal_predicts_the_error_small_noise_adds():
    # With the targets equal to the network's own outputs, noise of std s on the weights adds
    # sum s^2 * curvature to the summed squared error on average, up to O(s^4) terms.
    features, weights = _problem(batch=1, points=50)
    targets = forward(features, weights, None, SMALL)
    scale = 1e-3 * torch.rand(weights.shape, generator=torch.Generator().manual_seed(2))
    predicted = float((scale**2 * gauss_newton_diagonal(features, weights, SMALL)).sum())
    samples = 20_000
    noise = torch.randn(
        samples, weights.shape[1], generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )
    noisy = forward(features.expand(samples, -1, -1), weights + scale * noise, None, SMALL)
    added = ((noisy - targets) ** 2).sum(dim=(1, 2))
    # The mean of 20,000 draws of a weighted sum of squared normals is within 4 of its own
    # standard errors of the truth but for a chance of about 6e-5 (fixed seeds: never).
    standard_error = float(added.std()) / samples**0.5
    assert abs(float(added.mean()) - predicted) < 4 * standard_error + 1e-3 * predicted


def _net_with_one_loud_block(loud: list[int], blocks: list[np.ndarray]) -> VariationalINR:
    """A network whose datum b has wide posteriors on block ``loud[b]`` only."""
    net = VariationalINR(SMALL, batch=len(loud), seed=0)
    with torch.no_grad():
        net.rho.fill_(-20.0)  # std ~ 2e-9
        for b, k in enumerate(loud):
            net.rho[b, blocks[k]] = 0.0
    return net


def test_hardest_first_codes_the_block_whose_coding_costs_most_first():
    blocks = np.array_split(np.random.default_rng(0).permutation(SMALL.num_params), 6)
    net = _net_with_one_loud_block([4, 1], blocks)
    coords = torch.rand(2, 30, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    frozen = Frozen.none(2, SMALL.num_params)
    coded = np.zeros((2, len(blocks)), dtype=bool)
    state = CodingState(net, coords, blocks, frozen, coded)
    assert HardestFirst().next_blocks(state, 1).tolist() == [[4], [1]]
    coded[0, 4] = True
    chosen = HardestFirst().next_blocks(state, 5)
    assert sorted(chosen[0]) == [0, 1, 2, 3, 5]  # every block left, the coded one never
    assert chosen[1, 0] == 1 and len(set(chosen[1])) == 5


def test_hardest_first_on_a_subset_of_points_still_finds_the_loud_block():
    blocks = np.array_split(np.arange(SMALL.num_params), 4)
    net = _net_with_one_loud_block([2], blocks)
    coords = torch.rand(1, 1000, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    frozen = Frozen.none(1, SMALL.num_params)
    coded = np.zeros((1, 4), dtype=bool)
    state = CodingState(net, coords, blocks, frozen, coded)
    order = HardestFirst(max_points=64)  # every 16th point
    assert order.next_blocks(state, 1).tolist() == [[2]]


def test_hardest_first_estimates_on_as_many_threads_as_a_fit_of_its_size(monkeypatch):
    # Two processes that each spun two threads for the estimate, between one-thread fitting
    # steps, took 5x longer side by side on two cores: small estimates run on one thread.
    seen = []

    def recording(*args):
        seen.append(torch.get_num_threads())
        return gauss_newton_diagonal(*args)

    monkeypatch.setattr("combiner.progressive.gauss_newton_diagonal", recording)
    monkeypatch.delenv("COMBINER_THREADS", raising=False)
    blocks = np.array_split(np.arange(SMALL.num_params), 4)
    net = _net_with_one_loud_block([2], blocks)
    coords = torch.rand(1, 30, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    coded = np.zeros((1, 4), dtype=bool)
    state = CodingState(net, coords, blocks, Frozen.none(1, SMALL.num_params), coded)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        HardestFirst().next_blocks(state, 1)
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert seen == [1] and after == 2  # one thread for the estimate, then restored


def test_partition_order_is_the_papers():
    coded = np.array([[False, True, False, False], [True, True, False, True]])
    state = CodingState(None, None, [], None, coded)
    assert PartitionOrder().next_blocks(state, 1).tolist() == [[0], [2]]


@pytest.mark.parametrize("name", sorted(BLOCK_ORDERS))
def test_files_decode_whatever_order_the_encoder_chose(images, prior_file, name):
    preset = replace(codec.PRESETS["tiny"], block_order=name)
    for result in codec.compress(images[:2], prior_file, preset=preset, seed=3):
        assert np.array_equal(codec.decompress(result.data, prior_file), result.reconstruction)


def test_the_order_changes_what_is_coded_not_how_it_is_read(images, prior_file):
    # Same fit, same seed: the two orders code different samples (fine-tuning between blocks
    # moves the posteriors differently); that each file decodes is the test above.
    results = {
        name: codec.compress(
            images[:1], prior_file, preset=replace(codec.PRESETS["tiny"], block_order=name)
        )[0]
        for name in BLOCK_ORDERS
    }
    assert results["partition"].data != results["hardest-first"].data


def test_an_unknown_block_order_is_refused():
    with pytest.raises(ValueError, match="unknown block order 'backwards'"):
        codec.Preset(block_order="backwards")
