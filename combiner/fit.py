"""Posterior fitting with the beta-ELBO, optionally with COMBINER's per-block penalties.

The loss of datum ``b`` is ``MSE_b + sum_k lambda_{b,k} KL_{b,k}`` (KL in nats, MSE the mean
over all values, as in the reference implementation). Without a partition every weight sits in
one block with ``lambda = beta``. With one, Algorithm 4 adapts each ``lambda_{b,k}`` every 15
steps: times 1.05 while block k's KL exceeds ``kappa`` bits, divided by 1.05 while it is below
``kappa - 0.4`` bits, optionally never below a floor (a fraction of ``beta``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional
from tqdm import tqdm

from combiner.aot import AheadOfTimeStep
from combiner.fused import Adam, StepInputs, block_sums, fused_step
from combiner.inr import INRConfig, PrivateNoise, VariationalINR, forward, fourier_features
from combiner.priors import LOG2E, Prior, gaussian_kl_nats
from combiner.progress import progress as show_progress
from combiner.threads import threads_for, torch_threads


@dataclass
class Frozen:
    """Weights already sent: ``mask`` ``(batch, num_params)`` bool and their ``values``."""

    mask: torch.Tensor
    values: torch.Tensor

    @classmethod
    def none(cls, batch: int, num_params: int, device: torch.device | str = "cpu") -> Frozen:
        """Nothing frozen yet: an all-False mask for ``batch`` data of ``num_params`` weights."""
        mask = torch.zeros(batch, num_params, dtype=torch.bool, device=device)
        return cls(mask, torch.zeros(batch, num_params, device=device))


#: Algorithm 4 updates the penalties every this many optimiser steps (the paper: 15).
PENALTY_EVERY = 15


class BlockPenalties:
    """Algorithm 4's dynamic per-block KL weights ``lambda``, shape ``(batch, num_blocks)``.

    Args:
        block_of_param: ``(num_params,)`` block index of every weight.
        batch: data fitted together.
        beta: every ``lambda``'s starting value.
        kappa: block budget in bits; ``None`` never adapts.
        device: where the penalties live.
        floor: ``lambda`` never falls below ``floor * beta`` (0: Algorithm 4 as published).
            While a short fit's KL is still rising towards ``kappa``, Algorithm 4 divides
            every ``lambda`` by 1.05 at each update; in 3,000 steps it falls to about 1% of
            ``beta`` and cannot climb back before coding starts, leaving blocks over budget
            (docs/results.md).
    """

    def __init__(
        self,
        block_of_param: torch.Tensor,
        batch: int,
        beta: float,
        kappa: float | None,
        device: torch.device | str = "cpu",
        floor: float = 0.0,
    ) -> None:
        self.block_of_param = block_of_param.to(device)
        self.num_blocks = int(block_of_param.max()) + 1
        self.lam = torch.full((batch, self.num_blocks), float(beta), device=device)
        self.kappa = kappa
        self.min_lam = floor * float(beta)

    @classmethod
    def constant(
        cls, num_params: int, batch: int, beta: float, device: torch.device | str = "cpu"
    ) -> BlockPenalties:
        """A single block with ``lambda = beta`` that never adapts: the plain beta-ELBO."""
        return cls(torch.zeros(num_params, dtype=torch.int64), batch, beta, None, device)

    def adjust(self, block_kl_bits: torch.Tensor) -> None:
        """Algorithm 4's update from each block's current KL ``(batch, blocks)`` in bits."""
        if self.kappa is None:
            return
        self.lam = torch.where(block_kl_bits > self.kappa, self.lam * 1.05, self.lam)
        self.lam = torch.where(block_kl_bits < self.kappa - 0.4, self.lam / 1.05, self.lam)
        self.lam = self.lam.clamp(min=self.min_lam)


def _loss(
    config: INRConfig, mean: torch.Tensor, rho: torch.Tensor, inputs: StepInputs
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(loss, mse (batch,), block KL in nats (batch, blocks))``: a pure tensor function."""
    std = functional.softplus(rho)
    free = (~inputs.frozen_mask).to(mean.dtype)
    kl = gaussian_kl_nats(mean, std, inputs.prior_mean, inputs.prior_std) * free
    weights = torch.where(inputs.frozen_mask, inputs.frozen_values, mean)
    out = forward(inputs.features, weights, std * std * free, config, inputs.noise)
    mse = ((out - inputs.values) ** 2).mean(dim=(1, 2))
    block_kl = block_sums(kl, inputs.lam, inputs.block_of_param)
    return (mse + (inputs.lam * block_kl).sum(dim=1)).sum(), mse, block_kl


class _Compiled:
    """``torch.compile`` of ``function``, falling back to eager mode if compilation fails.

    Compilation needs a working toolchain (a C++ compiler on CPUs, Triton on GPUs); without one
    fitting still works, only slower, and says so once.
    """

    def __init__(self, function: Callable[..., tuple[torch.Tensor, ...]]) -> None:
        self.function = function
        self.compiled: Callable[..., tuple[torch.Tensor, ...]] | None = None
        self.failed = False

    def __call__(self, *args: object) -> tuple[torch.Tensor, ...]:
        if not self.failed:
            try:
                # On first use, not before: torch.compile imports 1.3 s of modules, which a
                # step compiled ahead of time (combiner.aot) never needs.
                self.compiled = self.compiled or torch.compile(self.function)
                return self.compiled(*args)
            except Exception as err:  # any compiler failure means "run eager"
                message = f"combiner: torch.compile failed ({type(err).__name__}); fitting eagerly"
                tqdm.write(message, file=sys.stderr)
                self.failed = True
        return self.function(*args)


_COMPILED: dict[Callable[..., tuple[torch.Tensor, ...]], _Compiled] = {}


def _maybe_compiled(
    function: Callable[..., tuple[torch.Tensor, ...]], compile_loss: bool
) -> Callable[..., tuple[torch.Tensor, ...]]:
    if not compile_loss:
        return function
    if function not in _COMPILED:
        _COMPILED[function] = _Compiled(function)
    return _COMPILED[function]


def fit_posteriors(
    net: VariationalINR,
    coords: torch.Tensor,
    values: torch.Tensor,
    prior: Prior,
    penalties: BlockPenalties,
    steps: int,
    lr: float = 2e-4,
    frozen: Frozen | None = None,
    seed: int = 0,
    progress: str | None = None,
    compile_loss: bool = False,
    prior_params: torch.Tensor | None = None,
    point_fraction: float = 1.0,
    optimizer: Adam | torch.optim.Optimizer | None = None,
    lr_halving_at: float | None = None,
) -> dict[str, float]:
    """Minimise the (block-weighted) beta-ELBO of every datum in the batch with Adam.

    Args:
        net: posteriors ``(batch, num_params)`` to fit in place.
        coords: ``(batch, points, coord_dim)`` in [-1, 1].
        values: ``(batch, points, out_dim)`` targets.
        prior: the weight prior.
        penalties: per-block ``lambda``
            ([`BlockPenalties.constant`][combiner.fit.BlockPenalties.constant] for a plain beta).
        steps: optimisation steps.
        lr: Adam learning rate.
        frozen: weights already coded, held fixed and costing nothing more.
        seed: seed of the encoder-private noise of the local reparameterization trick.
        progress: a tqdm description, or ``None`` for no bar.
        compile_loss: fuse the loss with ``torch.compile`` (about 1.3x faster on a CPU, after
            tens of seconds of compilation).
        prior_params: per-datum prior parameters (``prior.datum_parameters``); learned with
            the posterior when they require gradients, held fixed otherwise.
        point_fraction: fraction of the grid points each step sees, drawn afresh every step
            (COMBINER trains on a quarter of a Kodak image's pixels per step).
        optimizer: Adam to continue (its moment estimates carry over between calls, as in
            progressive fine-tuning): a [`fused.Adam`][combiner.fused.Adam] for the fused step,
            or a ``torch.optim`` optimizer over ``net``'s parameters, which steps through
            autograd; ``None`` starts a fresh one.
        lr_halving_at: halve the learning rate after this fraction of ``steps`` (the
            reference implementation: 0.8); ``None`` keeps it constant.

    Returns:
        Final mean ``mse`` and ``kl_bits`` per datum.
    """
    if not 0.0 < point_fraction <= 1.0:
        raise ValueError("point_fraction must be in (0, 1]")
    batch, points = values.shape[0], values.shape[1]
    subset = max(1, math.ceil(point_fraction * points))
    config = net.config
    features = fourier_features(coords, config)
    device = values.device
    frozen = frozen or Frozen.none(batch, config.num_params, device)
    prior_mean = prior.mean.float().to(device)
    learn_prior = prior_params is not None and prior_params.requires_grad
    halving_step = steps if lr_halving_at is None else int(lr_halving_at * steps)
    generator = torch.Generator(device=device).manual_seed(seed)
    private_noise = PrivateNoise(seed, device)
    # Autograd only where the fused step cannot do the same: learning the prior, or continuing
    # a torch optimizer.
    fused = not learn_prior and not isinstance(optimizer, torch.optim.Optimizer)
    if fused:
        adam = optimizer or Adam.fresh((net.mean, net.rho), lr)
        step_function = _maybe_compiled(fused_step, compile_loss)
        if compile_loss:  # CPUs load the step compiled ahead of time; the rest fall back
            step_function = AheadOfTimeStep(step_function)
    elif isinstance(optimizer, Adam):
        raise ValueError("learning the prior steps through autograd: pass a torch optimizer")
    else:
        trainable = [*net.parameters(), *([prior_params] if learn_prior else [])]
        optimizer = optimizer or torch.optim.Adam(trainable, lr=lr)
        loss_function = _maybe_compiled(_loss, compile_loss)
    mse = block_kl = torch.zeros(1, 1, device=device)
    # Small fits run fastest on one thread, and then many can run side by side (threads.py).
    with torch_threads(threads_for(batch * subset * config.units_per_point)):
        for step in show_progress(range(steps), progress, leave=False):
            noise = private_noise.draw(config, batch, subset)
            if step == 0 or learn_prior:  # fixed unless learned along with the posteriors
                prior_std = prior.datum_std(prior_params).float().to(device)
            step_features, step_values = features, values
            if subset < points:
                chosen = torch.randperm(points, generator=generator, device=device)[:subset]
                step_features, step_values = features[:, chosen], values[:, chosen]
            if step == halving_step:
                if fused:
                    adam.lr.div_(2.0)
                else:
                    for group in optimizer.param_groups:
                        group["lr"] /= 2.0
            inputs = StepInputs(
                step_features,
                step_values,
                noise,
                prior_mean,
                prior_std,
                penalties.lam,
                penalties.block_of_param,
                frozen.mask,
                frozen.values,
            )
            if fused:
                with torch.no_grad():
                    mse, block_kl = step_function(
                        config, net.mean, net.rho, adam.state, adam.lr, adam.betas, adam.eps, inputs
                    )
            else:
                loss, mse, block_kl = loss_function(config, net.mean, net.rho, inputs)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            if step % PENALTY_EVERY == 0:
                penalties.adjust(block_kl.detach() * LOG2E)
    kl_bits = block_kl.detach().sum(dim=1) * LOG2E
    return {"mse": float(mse.detach().mean()), "kl_bits": float(kl_bits.mean())}
