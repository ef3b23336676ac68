"""Posterior fitting with the beta-ELBO, optionally with COMBINER's per-block penalties.

The loss of datum ``b`` is ``MSE_b + sum_k lambda_{b,k} KL_{b,k}`` (KL in nats, MSE the mean
over all values, as in the reference implementation). Without a partition every
``lambda = beta``. With one, Algorithm 4 adapts each ``lambda_{b,k}`` every 15 steps:
times 1.05 while block k's KL exceeds ``kappa`` bits, divided by 1.05 while it is below
``kappa - 0.4`` bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm import tqdm

from combiner.inr import VariationalINR, forward, fourier_features
from combiner.priors import LOG2E, Prior, gaussian_kl_nats


@dataclass
class Frozen:
    """Weights already sent: ``mask`` ``(batch, num_params)`` bool and their ``values``."""

    mask: torch.Tensor
    values: torch.Tensor


class BlockPenalties:
    """Algorithm 4's dynamic per-block KL weights ``lambda``, shape ``(batch, num_blocks)``."""

    def __init__(self, block_of_param: torch.Tensor, batch: int, beta: float, kappa: float) -> None:
        self.block_of_param = block_of_param
        self.num_blocks = int(block_of_param.max()) + 1
        self.lam = torch.full((batch, self.num_blocks), float(beta))
        self.kappa = float(kappa)

    def block_kl_nats(self, kl: torch.Tensor) -> torch.Tensor:
        """Sum per-weight KL ``(batch, num_params)`` into blocks ``(batch, num_blocks)``."""
        out = torch.zeros(kl.shape[0], self.num_blocks, dtype=kl.dtype)
        return out.index_add(1, self.block_of_param, kl)

    def adjust(self, block_kl_bits: torch.Tensor) -> None:
        self.lam = torch.where(block_kl_bits > self.kappa, self.lam * 1.05, self.lam)
        self.lam = torch.where(block_kl_bits < self.kappa - 0.4, self.lam / 1.05, self.lam)


def fit_posteriors(
    net: VariationalINR,
    coords: torch.Tensor,
    values: torch.Tensor,
    prior: Prior,
    beta: float,
    steps: int,
    lr: float = 2e-4,
    penalties: BlockPenalties | None = None,
    frozen: Frozen | None = None,
    seed: int = 0,
    progress: str | None = None,
) -> dict[str, float]:
    """Minimise the beta-ELBO of every datum in the batch for ``steps`` Adam steps.

    Args:
        net: posteriors ``(batch, num_params)`` to fit in place.
        coords: ``(batch, points, coord_dim)`` in [-1, 1].
        values: ``(batch, points, out_dim)`` targets.
        prior: the weight prior.
        beta: rate-distortion trade-off (loss scale of the reference implementation).
        steps: optimisation steps.
        lr: Adam learning rate.
        penalties: per-block ``lambda`` (Algorithm 4); ``None`` uses ``beta`` everywhere.
        frozen: weights already coded, held fixed and costing nothing more.
        seed: seed of the encoder-private noise of the local reparameterization trick.
        progress: a tqdm description, or ``None`` for no bar.

    Returns:
        Final mean ``mse`` and ``kl_bits`` per datum.
    """
    features = fourier_features(coords, net.config)
    prior_mean = prior.mean.float()
    prior_std = prior.std.float()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    free = None if frozen is None else (~frozen.mask).float()
    mse = kl_bits = torch.zeros(())
    for step in tqdm(range(steps), desc=progress, disable=progress is None, leave=False):
        std = net.std
        mean, var = net.mean, std**2
        kl = gaussian_kl_nats(net.mean, std, prior_mean, prior_std)
        if frozen is not None:
            mean = torch.where(frozen.mask, frozen.values, mean)
            var = var * free
            kl = kl * free
        out = forward(features, mean, var, net.config, generator)
        mse = ((out - values) ** 2).mean(dim=(1, 2))
        if penalties is None:
            rate = beta * kl.sum(dim=1)
        else:
            block_kl = penalties.block_kl_nats(kl)
            rate = (penalties.lam * block_kl).sum(dim=1)
            if step % 15 == 0:
                penalties.adjust(block_kl.detach() * LOG2E)
        loss = (mse + rate).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        kl_bits = kl.detach().sum(dim=1) * LOG2E
    return {"mse": float(mse.detach().mean()), "kl_bits": float(kl_bits.mean())}
