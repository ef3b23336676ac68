"""Seeded arguments of one fitting step on the CIFAR network, for the tests of the fused step
and of its ahead-of-time compiled library."""

import torch

from combiner import fused, inr

CONFIG = inr.CIFAR_NET


def step_problem(
    batch: int, blocks: int, frozen_fraction: float, points: int = 64, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, fused.StepInputs]:
    """``(mean, rho, inputs)`` in float32: ``batch`` posteriors, ``points`` grid points,
    ``blocks`` blocks, about ``frozen_fraction`` of the weights already coded."""
    n = CONFIG.num_params
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(batch, n, generator=g) * 0.05
    rho = torch.randn(batch, n, generator=g) * 0.3 - 4.0
    coords = torch.rand(batch, points, 2, generator=g) * 2.0 - 1.0
    inputs = fused.StepInputs(
        inr.fourier_features(coords, CONFIG),
        torch.rand(batch, points, 3, generator=g),
        inr.PrivateNoise(seed).draw(CONFIG, batch, points),
        torch.randn(n, generator=g) * 0.01,
        torch.rand(n, generator=g) * 0.05 + 0.01,
        torch.rand(batch, blocks, generator=g) * 1e-3,
        torch.randint(0, blocks, (n,), generator=g),
        torch.rand(batch, n, generator=g) < frozen_fraction,
        torch.randn(batch, n, generator=g) * 0.05,
    )
    return mean, rho, inputs


def as_double(inputs: fused.StepInputs, device: str = "cpu") -> fused.StepInputs:
    """``inputs`` in float64 on ``device``: twins must then agree to rounding."""
    return fused.StepInputs(
        *(
            [a.double().to(device) for a in x]
            if isinstance(x, list)
            else (x.double() if x.is_floating_point() else x).to(device)
            for x in inputs
        )
    )
