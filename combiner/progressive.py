"""Progressive relative entropy coding of INR weights, block after block (COMBINER section 3.3).

Block k's posterior is coded with a rectools coder (shared stream ``(seed, k)``), fixed to the
decoded candidate, and the blocks not yet sent are fine-tuned for a few steps so they can make
up for the coding error. [`decode_weights`][combiner.progressive.decode_weights] is the decoder's
whole job: O(block size) per
block, no optimiser.

The order in which the encoder codes the blocks is its own choice: block k is always drawn from
stream ``(seed, k)`` and its index always sits at place k in the file, so the decoder never
learns the order. The paper codes them in partition order
([`PartitionOrder`][combiner.progressive.PartitionOrder]);
[`HardestFirst`][combiner.progressive.HardestFirst] codes first the blocks whose coding error
the blocks left can best make up for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

import rectools
from combiner.fit import BlockPenalties, Frozen, fit_posteriors
from combiner.fused import Adam
from combiner.inr import VariationalINR, fourier_features, gauss_newton_diagonal
from combiner.partition import block_ids
from combiner.progress import progress
from combiner.threads import threads_for, torch_threads


@dataclass
class CodingState:
    """Where progressive coding stands: what a [`BlockOrder`][combiner.progressive.BlockOrder]
    may look at.

    Attributes:
        net: the posteriors ``(batch, num_params)`` as fine-tuned so far.
        coords: ``(batch, points, coord_dim)`` grid coordinates.
        blocks: the partition.
        frozen: the weights coded so far and their values.
        coded: ``(batch, num_blocks)`` bool, the blocks coded so far.
    """

    net: VariationalINR
    coords: torch.Tensor
    blocks: list[np.ndarray]
    frozen: Frozen
    coded: np.ndarray


class BlockOrder(Protocol):
    """Chooses which blocks each datum codes next (an encoder-only choice)."""

    def next_blocks(self, state: CodingState, count: int) -> np.ndarray:
        """The next ``count`` blocks of each datum, in coding order: ``(batch, count)`` int64
        block numbers, none coded yet (``count`` is at most the number left)."""
        ...


class PartitionOrder:
    """The paper's order: block 0, 1, 2, ... (the next-fit partition is a random permutation).

    Examples:
        >>> coded = np.array([[True, False, False, False]])
        >>> PartitionOrder().next_blocks(CodingState(None, None, [], None, coded), 2).tolist()
        [[1, 2]]
    """

    def next_blocks(self, state: CodingState, count: int) -> np.ndarray:
        """The lowest-numbered ``count`` blocks not coded yet."""
        return np.argsort(state.coded, axis=1, kind="stable")[:, :count]


@dataclass(frozen=True)
class HardestFirst:
    """Code next the blocks whose coding would raise the squared error most.

    Coding a block replaces its posterior by (about) a sample of it. To second order that
    raises the summed squared error by ``sum over the block of var_i * h_i``, with ``h`` the
    network's Gauss-Newton diagonal ([`gauss_newton_diagonal`][combiner.inr.gauss_newton_diagonal])
    at the weights as they stand (coded ones at their coded values). Blocks coded early have
    every block left to make up for their error in fine-tuning; the last ones have none, so they
    should be those whose error matters least. Re-estimated before each group of blocks
    (``finetune_every``), after fine-tuning has moved the posteriors. On the 20 bundled CIFAR-10
    images with ``fast``: +0.3 to +1.0 dB at equal rate, more at higher rates
    (docs/results.md).

    Attributes:
        max_points: estimate the curvature on at most this many grid points (every k-th one),
            so that it costs no more than a few fitting steps on large signals.

    Examples:
        >>> from combiner.inr import INRConfig
        >>> net = VariationalINR(INRConfig(layers=2, hidden=4, fourier=4), batch=1)
        >>> blocks = [np.arange(0, 20), np.arange(20, net.config.num_params)]
        >>> frozen = Frozen.none(1, net.config.num_params)
        >>> state = CodingState(net, torch.zeros(1, 9, 2), blocks, frozen, np.zeros((1, 2), bool))
        >>> HardestFirst().next_blocks(state, 2).shape
        (1, 2)
    """

    max_points: int = 16_384

    def next_blocks(self, state: CodingState, count: int) -> np.ndarray:
        """The ``count`` uncoded blocks of largest estimated damage, largest first."""
        net, frozen = state.net, state.frozen
        stride = math.ceil(state.coords.shape[1] / self.max_points)
        features = fourier_features(state.coords[:, ::stride], net.config)
        work = features.shape[0] * features.shape[1] * net.config.units_per_point
        # As many threads as a fitting step of this size: two processes that each spin two
        # threads on two cores between their one-thread steps took 5x longer (threads.py).
        with torch.no_grad(), torch_threads(threads_for(work)):
            weights = torch.where(frozen.mask, frozen.values, net.mean)
            curvature = gauss_newton_diagonal(features, weights, net.config)
            damage_per_weight = (net.std**2 * curvature).masked_fill(frozen.mask, 0.0)
        ids = torch.from_numpy(block_ids(state.blocks, net.config.num_params)).to(weights.device)
        damage = torch.zeros(state.coded.shape, dtype=torch.float64, device=weights.device)
        damage = damage.index_add(1, ids, damage_per_weight.double()).cpu().numpy()
        damage[state.coded] = -np.inf
        return np.argsort(-damage, axis=1, kind="stable")[:, :count]


#: Block orders by name (``Preset.block_order``, ``combiner compress --block-order``).
BLOCK_ORDERS: dict[str, type[BlockOrder]] = {
    "partition": PartitionOrder,
    "hardest-first": HardestFirst,
}


def _gaussian(mean: np.ndarray, std: np.ndarray, block: np.ndarray) -> rectools.DiagonalGaussian:
    return rectools.DiagonalGaussian(mean[block], std[block])


def code_progressively(
    net: VariationalINR,
    coords: torch.Tensor,
    values: torch.Tensor,
    prior_mean: np.ndarray,
    prior_std: np.ndarray,
    blocks: list[np.ndarray],
    coder: rectools.Coder,
    log2_num_candidates: int,
    seed: int,
    fit_options: dict | None = None,
    finetune_every: int = 1,
    persistent_optimizer: bool = True,
    order: BlockOrder | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Code every block of every datum in the batch.

    Args:
        net: fitted posteriors ``(batch, num_params)``; fine-tuned in place.
        coords: ``(batch, points, coord_dim)``, as for
            [`fit_posteriors`][combiner.fit.fit_posteriors].
        values: ``(batch, points, out_dim)``.
        prior_mean: ``(num_params,)`` float64 prior means, or ``(batch, num_params)``.
        prior_std: ``(num_params,)`` float64 prior standard deviations, or
            ``(batch, num_params)`` when each datum has its own.
        blocks: the partition.
        coder: the rectools coder.
        log2_num_candidates: N = 2 ** this candidates per block.
        seed: the shared seed.
        fit_options: keyword arguments of ``fit_posteriors`` for fine-tuning between blocks
            (``prior``, ``penalties``, ``steps``, ``lr``, ``compile_loss``); ``None`` codes
            without fine-tuning.
        finetune_every: fine-tune after every this many blocks (COMBINER: 1).
        persistent_optimizer: one Adam for all fine-tuning, its moment estimates carried from
            block to block (the reference implementation); ``False`` starts a fresh Adam at
            every block, whose first steps move every free weight by about the learning rate.
        order: which blocks to code next, chosen before each group of ``finetune_every``
            blocks; ``None`` (or no fine-tuning, where the order changes nothing): partition
            order, as the paper.

    Returns:
        ``(indices (batch, num_blocks) int64, weights (batch, num_params) float64)``; index
        ``[b, k]`` is block k's, whatever the order it was coded in.
    """
    batch, n = net.mean.shape
    prior_mean = np.broadcast_to(prior_mean, (batch, n))
    prior_std = np.broadcast_to(prior_std, (batch, n))
    # Without fine-tuning every block is coded from the fitted posterior whatever the order.
    order = order if order is not None and fit_options else PartitionOrder()
    device = net.mean.device
    frozen = Frozen.none(batch, n, device)
    weights = np.zeros((batch, n))
    indices = np.zeros((batch, len(blocks)), dtype=np.int64)
    state = CodingState(net, coords, blocks, frozen, np.zeros((batch, len(blocks)), dtype=bool))
    if fit_options and persistent_optimizer:
        fit_options = {
            **fit_options,
            "optimizer": Adam.fresh((net.mean, net.rho), fit_options["lr"]),
        }
    groups = range(0, len(blocks), finetune_every)
    for start in progress(groups, "coding blocks", leave=False):
        group = order.next_blocks(state, min(finetune_every, len(blocks) - start))
        # The posteriors move only in fine-tuning, after the group.
        post_mean = net.mean.detach().double().cpu().numpy()
        post_std = net.std.detach().double().cpu().numpy()
        for chosen in group.T:
            # One block of every datum at once, on every core; identical to a loop of encodes.
            results = rectools.encode_batch(
                coder,
                [_gaussian(post_mean[b], post_std[b], blocks[k]) for b, k in enumerate(chosen)],
                [_gaussian(prior_mean[b], prior_std[b], blocks[k]) for b, k in enumerate(chosen)],
                seeds=[seed] * batch,
                streams=[int(k) for k in chosen],
                log2_num_candidates=log2_num_candidates,
            )
            for b, (k, result) in enumerate(zip(chosen, results, strict=True)):
                indices[b, k] = result.index
                weights[b, blocks[k]] = result.sample
                frozen.mask[b, blocks[k]] = True
                frozen.values[b, blocks[k]] = torch.from_numpy(result.sample).float().to(device)
                state.coded[b, k] = True
        done = start + len(group.T)
        if fit_options and done < len(blocks):
            fit_posteriors(net, coords, values, frozen=frozen, seed=seed + done, **fit_options)
    return indices, weights


def decode_weights(
    indices: np.ndarray,
    prior_mean: np.ndarray,
    prior_std: np.ndarray,
    blocks: list[np.ndarray],
    coder: rectools.Coder,
    log2_num_candidates: int,
    seed: int,
) -> np.ndarray:
    """Rebuild one datum's weights ``(num_params,)`` from its block indices."""
    weights = np.zeros(prior_mean.shape[-1])
    for k, block in enumerate(blocks):
        weights[block] = coder.decode(
            int(indices[k]),
            _gaussian(prior_mean, prior_std, block),
            seed,
            2**log2_num_candidates,
            stream=k,
        )
    return weights


def penalties_for(
    blocks: list[np.ndarray],
    batch: int,
    beta: float,
    kappa: float,
    device: torch.device | str = "cpu",
    floor: float = 0.0,
) -> BlockPenalties:
    """Algorithm 4's penalties for this partition (``floor``: see ``BlockPenalties``)."""
    ids = block_ids(blocks, sum(block.size for block in blocks))
    return BlockPenalties(torch.from_numpy(ids), batch, beta, kappa, device, floor)
