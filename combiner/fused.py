"""One posterior-fitting step as a single pure function: the loss's gradients by hand, then Adam.

[`combiner.fit`][combiner.fit]'s loss (``MSE_b + sum_k lambda_{b,k} KL_{b,k}`` per datum, the
network sampled with the local reparameterization trick) has a short closed-form backward pass:
per layer two batched products for the weights' gradients (mean and variance paths) and two
for the input's. Written out here and followed by Adam's update, one step is one function of
tensors that ``torch.compile`` turns into one graph: no autograd tape, no optimizer loop, and
the elementwise work of forward, backward and update fused. On the 2-core CPU a CIFAR step
takes 0.65 ms instead of 1.07 at batch 1 and 6.1 instead of 7.6 at batch 10 (one thread, both
compiled; ``benchmarks/fused_step.py``). ``tests/combiner/test_fused.py`` checks it against
autograd (its reference twin) and against ``torch.optim.Adam``.

Learning the prior's parameters with the posteriors (prior training) keeps autograd.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch.nn import functional

from combiner.inr import INRConfig
from combiner.priors import gaussian_kl_nats


class StepInputs(NamedTuple):
    """What one fitting step sees besides the posteriors.

    Attributes:
        features: ``(batch, points, fourier)`` embedded coordinates.
        values: ``(batch, points, out_dim)`` targets.
        noise: one ``(batch, points, fan_out)`` standard-normal tensor per layer.
        prior_mean: ``(num_params,)``.
        prior_std: ``(num_params,)`` or ``(batch, num_params)``.
        lam: ``(batch, blocks)`` per-block KL weights.
        block_of_param: ``(num_params,)`` int64 block of every weight.
        frozen_mask: ``(batch, num_params)`` bool, weights already coded.
        frozen_values: ``(batch, num_params)`` their coded values.
    """

    features: torch.Tensor
    values: torch.Tensor
    noise: list[torch.Tensor]
    prior_mean: torch.Tensor
    prior_std: torch.Tensor
    lam: torch.Tensor
    block_of_param: torch.Tensor
    frozen_mask: torch.Tensor
    frozen_values: torch.Tensor


def block_sums(kl: torch.Tensor, lam: torch.Tensor, block_of_param: torch.Tensor) -> torch.Tensor:
    """Each block's sum ``(batch, blocks)`` (the shape of ``lam``) of per-weight KLs
    ``(batch, num_params)``."""
    if lam.shape[1] == 1:
        # One block (the plain beta-ELBO of prior learning): a sum. Inductor (torch 2.13)
        # fails to compile the scatter below into a single column and would fit eagerly.
        return kl.sum(dim=1, keepdim=True)
    # Block sums by index, not by a one-hot matmul: memory O(num_params), not
    # O(params x blocks) (thousands of blocks for Kodak-sized images and speech).
    return torch.zeros_like(lam).index_add(1, block_of_param, kl)


def loss_gradients(
    config: INRConfig, mean: torch.Tensor, rho: torch.Tensor, inputs: StepInputs
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of [`combiner.fit`][combiner.fit]'s loss, by hand.

    Args:
        config: architecture.
        mean: ``(batch, num_params)`` posterior means.
        rho: ``(batch, num_params)`` posterior ``softplus^-1(std)``.
        inputs: the rest of the step.

    Returns:
        ``(d loss / d mean, d loss / d rho, mse (batch,), block KL in nats (batch, blocks))``.
    """
    noise, lam = inputs.noise, inputs.lam
    _, points, out_dim = inputs.values.shape
    free = (~inputs.frozen_mask).to(mean.dtype)
    std = functional.softplus(rho)
    var = std * std * free
    weights = torch.where(inputs.frozen_mask, inputs.frozen_values, mean)
    shapes, slices = config.layer_shapes, config.layer_slices()
    last = len(shapes) - 1
    layer_inputs, pre_activations, pre_stds = [], [], []
    h = inputs.features
    for layer, ((fan_in, fan_out), (w, b)) in enumerate(zip(shapes, slices, strict=True)):
        mu = torch.baddbmm(weights[:, b].unsqueeze(1), h, weights[:, w].view(-1, fan_in, fan_out))
        pre_var = torch.baddbmm(var[:, b].unsqueeze(1), h * h, var[:, w].view(-1, fan_in, fan_out))
        pre_std = torch.sqrt(pre_var + 1e-16)
        pre = mu + pre_std * noise[layer]
        layer_inputs.append(h)
        pre_activations.append(pre)
        pre_stds.append(pre_std)
        h = pre if layer == last else torch.sin(config.w0 * pre)
    diff = h - inputs.values
    mse = (diff * diff).mean(dim=(1, 2))

    kl = gaussian_kl_nats(mean, std, inputs.prior_mean, inputs.prior_std) * free
    block_kl = block_sums(kl, lam, inputs.block_of_param)

    # Backward, last layer first; `grad` is d loss / d (layer output).
    grad = diff * (2.0 / (points * out_dim))
    pieces: list[list[torch.Tensor]] = [[] for _ in shapes]
    for layer in range(last, -1, -1):
        (fan_in, fan_out), (w, _) = shapes[layer], slices[layer]
        if layer != last:
            grad = grad * (config.w0 * torch.cos(config.w0 * pre_activations[layer]))
        grad_var = grad * noise[layer] / (2.0 * pre_stds[layer])  # d loss / d pre_var
        h = layer_inputs[layer]
        pieces[layer] = [
            torch.bmm(h.transpose(1, 2), grad).flatten(1),  # weight means
            grad.sum(dim=1),  # bias means
            torch.bmm((h * h).transpose(1, 2), grad_var).flatten(1),  # weight variances
            grad_var.sum(dim=1),  # bias variances
        ]
        if layer:
            grad = torch.bmm(grad, weights[:, w].view(-1, fan_in, fan_out).transpose(1, 2))
            grad = grad + 2.0 * h * torch.bmm(
                grad_var, var[:, w].view(-1, fan_in, fan_out).transpose(1, 2)
            )
    grad_weights = torch.cat([p for w_mean, b_mean, _, _ in pieces for p in (w_mean, b_mean)], 1)
    grad_variance = torch.cat([p for _, _, w_var, b_var in pieces for p in (w_var, b_var)], 1)

    lam_of_param = lam[:, inputs.block_of_param] * free
    prior_var = inputs.prior_std * inputs.prior_std
    grad_mean = grad_weights * free + lam_of_param * (mean - inputs.prior_mean) / prior_var
    grad_std = grad_variance * 2.0 * std * free + lam_of_param * (std / prior_var - 1.0 / std)
    return grad_mean, grad_std * torch.sigmoid(rho), mse, block_kl


def adam_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: torch.Tensor,
    lr: torch.Tensor,
    betas: tuple[float, float],
    eps: float,
) -> None:
    """``torch.optim.Adam``'s update of ``param`` in place (no weight decay, no AMSGrad), with
    its state tensors; ``step`` counts this update already and ``lr`` is a float64 scalar
    tensor (a tensor, so a change of learning rate does not recompile the step)."""
    beta1, beta2 = betas
    exp_avg.lerp_(grad, 1.0 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
    # Bias corrections in float64, as torch takes them (in float32, 1 - 0.999^1 is 1.3e-5 off).
    t = step.double()
    denom = exp_avg_sq.sqrt() / torch.sqrt(1.0 - beta2**t) + eps
    param.sub_(lr / (1.0 - beta1**t) * exp_avg / denom)


def fused_step(
    config: INRConfig,
    mean: torch.Tensor,
    rho: torch.Tensor,
    state: tuple[torch.Tensor, ...],
    lr: torch.Tensor,
    betas: tuple[float, float],
    eps: float,
    inputs: StepInputs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One Adam step on ``mean`` and ``rho``, updated in place, as are the optimizer's state
    tensors ``state``: ``(step, exp_avg, exp_avg_sq)`` of ``mean``, then of ``rho``.

    Returns:
        ``(mse (batch,), block KL in nats (batch, blocks))`` before the step.
    """
    grad_mean, grad_rho, mse, block_kl = loss_gradients(config, mean, rho, inputs)
    for param, grad, (step, exp_avg, exp_avg_sq) in (
        (mean, grad_mean, state[:3]),
        (rho, grad_rho, state[3:]),
    ):
        step.add_(1.0)
        adam_update(param, grad, exp_avg, exp_avg_sq, step, lr, betas, eps)
    return mse, block_kl


_STATE_NAMES = ("step", "exp_avg", "exp_avg_sq")


def _initial_state(param: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(step, exp_avg, exp_avg_sq)`` of ``param`` before a first step, as
    ``torch.optim.Adam`` makes them."""
    return (
        torch.tensor(0.0),
        torch.zeros_like(param, memory_format=torch.preserve_format),
        torch.zeros_like(param, memory_format=torch.preserve_format),
    )


def adam_states(optimizer: torch.optim.Adam, params: tuple[torch.Tensor, ...]) -> tuple:
    """``optimizer``'s ``(step, exp_avg, exp_avg_sq)`` of each of ``params``, flat, as
    [`fused_step`][combiner.fused.fused_step] takes them; created as ``torch.optim.Adam``
    would where missing (so either can take the next step)."""
    out: list[torch.Tensor] = []
    for param in params:
        state = optimizer.state[param]
        if not state:
            state.update(zip(_STATE_NAMES, _initial_state(param), strict=True))
        out += [state[name] for name in _STATE_NAMES]
    return tuple(out)


@dataclass
class Adam:
    """Adam's settings and state for [`fused_step`][combiner.fused.fused_step]: what
    ``torch.optim.Adam`` would keep for ``mean`` and ``rho``, without its constructor (which
    imports ``torch._dynamo``: 1.5 s of a one-image ``combiner compress`` on 2 cores).

    Attributes:
        lr: learning rate, a float64 0-dim tensor (a new value does not recompile the step).
        state: ``(step, exp_avg, exp_avg_sq)`` of ``mean``, then of ``rho``.
        betas: as ``torch.optim.Adam``'s.
        eps: as ``torch.optim.Adam``'s.

    Example:
        >>> import torch
        >>> from combiner.fused import Adam
        >>> adam = Adam.fresh((torch.zeros(2, 5), torch.zeros(2, 5)), lr=1e-3)
        >>> float(adam.lr), len(adam.state)
        (0.001, 6)
    """

    lr: torch.Tensor
    state: tuple[torch.Tensor, ...]
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    @classmethod
    def fresh(cls, params: tuple[torch.Tensor, torch.Tensor], lr: float) -> Adam:
        """Adam before its first step on ``params`` (``mean``, ``rho``)."""
        state = tuple(tensor for param in params for tensor in _initial_state(param))
        return cls(torch.tensor(lr, dtype=torch.float64), state)
