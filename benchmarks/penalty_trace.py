"""How Algorithm 4's per-block penalties and KLs move during one posterior fit.

Fits the 20 bundled CIFAR-10 images under a shipped prior, as ``compress`` does (nothing is
coded), and prints, about every 500 steps, the blocks' mean KL against the budget ``kappa``,
the fraction of blocks over it, the largest block and the median penalty in units of beta.
This is the trace behind "Blocks over budget" in docs/results.md::

    python benchmarks/penalty_trace.py --beta 5e-7 --steps 3000
    python benchmarks/penalty_trace.py --beta 5e-7 --steps 3000 --floor 0.25
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from combiner import codec
from combiner.data import cifar10_samples
from combiner.fit import PENALTY_EVERY, BlockPenalties
from combiner.shipped import load_prior


def trace(beta: str, steps: int, floor: float, every: int = 500) -> list[dict[str, float]]:
    """One row per ``every`` steps (at the first penalty update past each multiple)."""
    rows: list[dict[str, float]] = []
    original = BlockPenalties.adjust
    calls = {"n": 0}

    def recording(self: BlockPenalties, block_kl_bits: torch.Tensor) -> None:
        step = PENALTY_EVERY * calls["n"]
        calls["n"] += 1
        original(self, block_kl_bits)
        if step // every > (step - PENALTY_EVERY) // every or step + PENALTY_EVERY >= steps:
            rows.append(
                {
                    "step": step,
                    "mean_kl_bits": float(block_kl_bits.mean()),
                    "over_kappa": float((block_kl_bits > self.kappa).float().mean()),
                    "max_kl_bits": float(block_kl_bits.max()),
                    "median_penalty_per_beta": float(self.lam.median()) / float(beta),
                }
            )

    prior = load_prior(f"cifar-learned-beta{beta}")
    preset = replace(
        codec.PRESETS["fast"],
        posterior_steps=steps,
        posterior_steps_per_block=0,
        penalty_floor=floor,
    )
    BlockPenalties.adjust = recording
    try:
        codec.posterior_kl_bits(cifar10_samples()[0], prior, preset=preset)
    finally:
        BlockPenalties.adjust = original
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beta", default="5e-07", help="shipped prior's beta, e.g. 5e-07")
    parser.add_argument("--steps", type=int, default=3_000)
    parser.add_argument("--floor", type=float, default=0.0, help="penalty floor (x beta)")
    args = parser.parse_args()
    beta = f"{float(args.beta):.0e}"
    print(
        f"{'step':>6} {'mean KL bits':>13} {'over kappa':>11} {'max bits':>9} {'penalty/beta':>13}"
    )
    for r in trace(beta, args.steps, args.floor):
        print(
            f"{r['step']:6d} {r['mean_kl_bits']:13.2f} {r['over_kappa']:11.3f} "
            f"{r['max_kl_bits']:9.1f} {r['median_penalty_per_beta']:13.2f}"
        )


if __name__ == "__main__":
    main()
