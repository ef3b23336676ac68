"""One posterior-fitting step: the fused step against autograd with ``torch.optim.Adam``.

Three kinds: autograd and ``torch.optim.Adam`` (``torch.compile`` of the loss), the fused step
through ``torch.compile``, and the fused step compiled ahead of time (``combiner.aot``, what
fitting on a CPU uses), on the CIFAR network, 1,024 points per datum, 120 blocks,
a third of the weights frozen, fresh private noise every step; one torch thread. They are
timed in alternation (``--rounds`` rounds of ``--steps`` steps) and the best and median round
are printed per batch size, with the ratios of the best rounds to autograd's. Run:
``python benchmarks/fused_step.py`` (about 3 minutes on 2 cores; ``--batches`` changes the
sizes).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from combiner import aot, fit, fused, inr

CONFIG = inr.CIFAR_NET


def _inputs(batch: int, noise: inr.PrivateNoise, g: torch.Generator) -> fused.StepInputs:
    n, points, blocks = CONFIG.num_params, 1024, 120
    coords = torch.rand(batch, points, 2, generator=g) * 2.0 - 1.0
    return fused.StepInputs(
        inr.fourier_features(coords, CONFIG),
        torch.rand(batch, points, 3, generator=g),
        noise.draw(CONFIG, batch, points),
        torch.randn(n, generator=g) * 0.01,
        torch.rand(n, generator=g) * 0.05 + 0.01,
        torch.full((batch, blocks), 2e-6),
        torch.randint(0, blocks, (n,), generator=g),
        torch.rand(batch, n, generator=g) < 0.3,
        torch.randn(batch, n, generator=g) * 0.05,
    )


def _stepper(kind: str, batch: int):
    """A function running ``steps`` optimiser steps of one kind on fresh posteriors."""
    g = torch.Generator().manual_seed(0)
    noise = inr.PrivateNoise(0)
    inputs = _inputs(batch, noise, g)
    params = [
        torch.nn.Parameter(torch.randn(batch, CONFIG.num_params, generator=g) * 0.05),
        torch.nn.Parameter(torch.full((batch, CONFIG.num_params), -5.0)),
    ]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    if kind == "autograd":
        loss = fit._Compiled(fit._loss)

        def run(steps: int) -> None:
            for _ in range(steps):
                step_inputs = inputs._replace(noise=noise.draw(CONFIG, batch, 1024))
                value = loss(CONFIG, *params, step_inputs)[0]
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                optimizer.step()

        return run
    step = fit._Compiled(fused.fused_step)
    if kind == "ahead of time":
        step = aot.AheadOfTimeStep(step)
    state = fused.adam_states(optimizer, tuple(params))
    lr = torch.tensor(1e-3, dtype=torch.float64)

    def run(steps: int) -> None:
        with torch.no_grad():
            for _ in range(steps):
                step_inputs = inputs._replace(noise=noise.draw(CONFIG, batch, 1024))
                step(CONFIG, *params, state, lr, (0.9, 0.999), 1e-8, step_inputs)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 10, 20])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for batch in args.batches:
        runs = {kind: _stepper(kind, batch) for kind in ("autograd", "fused", "ahead of time")}
        for run in runs.values():
            run(5)  # compile
        times: dict[str, list[float]] = {kind: [] for kind in runs}
        for _ in range(args.rounds):
            for kind, run in runs.items():
                start = time.perf_counter()
                run(args.steps)
                times[kind].append(1e3 * (time.perf_counter() - start) / args.steps)
        best = {kind: min(t) for kind, t in times.items()}
        median = {kind: statistics.median(t) for kind, t in times.items()}
        print(f"batch {batch:>3}:", end="")
        for kind in runs:
            ratio = best["autograd"] / best[kind]
            print(
                f"  {kind} {best[kind]:.2f} ms/step (median {median[kind]:.2f}, {ratio:.2f}x)",
                end="",
            )
        print()


if __name__ == "__main__":
    main()
