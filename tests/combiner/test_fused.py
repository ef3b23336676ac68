"""The fused fitting step against its reference twins: autograd for the gradients,
``torch.optim.Adam`` for the update; on a GPU too when one is present."""

import pytest
import torch
from step_problems import CONFIG, as_double, step_problem

from combiner import fit, fused

DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("batch", "blocks", "frozen"), [(1, 1, 0.0), (3, 40, 0.3), (2, 7, 0.9)])
def test_hand_written_gradients_match_autograd(batch, blocks, frozen, device):
    mean, rho, args = step_problem(batch, blocks, frozen)
    mean64 = mean.double().to(device).requires_grad_()
    rho64 = rho.double().to(device).requires_grad_()
    args64 = as_double(args, device)
    loss, mse, block_kl = fit._loss(CONFIG, mean64, rho64, args64)
    loss.backward()
    grad_mean, grad_rho, mse_fused, block_kl_fused = fused.loss_gradients(
        CONFIG, mean64.detach(), rho64.detach(), args64
    )
    torch.testing.assert_close(grad_mean, mean64.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(grad_rho, rho64.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(mse_fused, mse.detach(), rtol=1e-12, atol=0.0)
    torch.testing.assert_close(block_kl_fused, block_kl.detach(), rtol=1e-12, atol=1e-15)
    frozen_mask = args64.frozen_mask
    assert bool((grad_mean[frozen_mask] == 0).all()) and bool((grad_rho[frozen_mask] == 0).all())


@pytest.mark.parametrize("device", DEVICES)
def test_fused_steps_follow_torch_adam(device):
    mean, rho, args = step_problem(2, 5, 0.2)
    mean, rho, args = mean.double().to(device), rho.double().to(device), as_double(args, device)
    reference = [torch.nn.Parameter(mean.clone()), torch.nn.Parameter(rho.clone())]
    optimizer = torch.optim.Adam(reference, lr=1e-3)
    ours = [torch.nn.Parameter(mean.clone()), torch.nn.Parameter(rho.clone())]
    ours_optimizer = torch.optim.Adam(ours, lr=1e-3)
    state = fused.adam_states(ours_optimizer, tuple(ours))
    for _ in range(5):
        loss = fit._loss(CONFIG, *reference, args)[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            fused.fused_step(
                CONFIG,
                *ours,
                state,
                torch.tensor(1e-3, dtype=torch.float64),
                (0.9, 0.999),
                1e-8,
                args,
            )
    for a, b in zip(ours, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    # The state is torch's own: its Adam can take the next step from ours.
    assert int(ours_optimizer.state[ours[0]]["step"]) == 5
    loss = fit._loss(CONFIG, *ours, args)[0]
    ours_optimizer.zero_grad()
    loss.backward()
    ours_optimizer.step()
    assert int(ours_optimizer.state[ours[1]]["step"]) == 6
