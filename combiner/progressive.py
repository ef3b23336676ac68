"""Progressive relative entropy coding of INR weights, block after block (COMBINER section 3.3).

Block k's posterior is coded with a rectools coder (shared stream ``(seed, k)``), fixed to the
decoded candidate, and the blocks not yet sent are fine-tuned for a few steps so they can make
up for the coding error. [`decode_weights`][combiner.progressive.decode_weights] is the decoder's
whole job: O(block size) per
block, no optimiser.
"""

from __future__ import annotations

import numpy as np
import torch

import rectools
from combiner.fit import BlockPenalties, Frozen, fit_posteriors
from combiner.fused import Adam
from combiner.inr import VariationalINR
from combiner.partition import block_ids
from combiner.progress import progress


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

    Returns:
        ``(indices (batch, num_blocks) int64, weights (batch, num_params) float64)``.
    """
    batch, n = net.mean.shape
    prior_mean = np.broadcast_to(prior_mean, (batch, n))
    prior_std = np.broadcast_to(prior_std, (batch, n))
    device = net.mean.device
    frozen = Frozen.none(batch, n, device)
    weights = np.zeros((batch, n))
    indices = np.zeros((batch, len(blocks)), dtype=np.int64)
    if fit_options and persistent_optimizer:
        fit_options = {
            **fit_options,
            "optimizer": Adam.fresh((net.mean, net.rho), fit_options["lr"]),
        }
    for k, block in enumerate(progress(blocks, "coding blocks", leave=False)):
        post_mean = net.mean.detach().double().cpu().numpy()
        post_std = net.std.detach().double().cpu().numpy()
        # Block k of every datum at once, on every core; identical to a loop of encodes.
        results = rectools.encode_batch(
            coder,
            [_gaussian(post_mean[b], post_std[b], block) for b in range(batch)],
            [_gaussian(prior_mean[b], prior_std[b], block) for b in range(batch)],
            seeds=[seed] * batch,
            streams=[k] * batch,
            log2_num_candidates=log2_num_candidates,
        )
        for b, result in enumerate(results):
            indices[b, k] = result.index
            weights[b, block] = result.sample
        frozen.mask[:, block] = True
        frozen.values[:, block] = torch.from_numpy(weights[:, block]).float().to(device)
        if fit_options and k + 1 < len(blocks) and (k + 1) % finetune_every == 0:
            fit_posteriors(net, coords, values, frozen=frozen, seed=seed + k + 1, **fit_options)
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
