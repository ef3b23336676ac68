"""Figures people would rather see than read: where a network's bits go.

Examples:
    >>> import numpy as np
    >>> from combiner.inr import CIFAR_NET
    >>> fig = kl_heat_map(np.ones(CIFAR_NET.num_params), CIFAR_NET)
    >>> len(fig.axes)  # one panel and one colour bar per layer
    8
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from combiner.inr import INRConfig

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def layer_panels(values: np.ndarray, config: INRConfig) -> list[np.ndarray]:
    """Per-weight values ``(num_params,)`` as one ``(fan_out, fan_in + 1)`` matrix per layer,
    biases in the last column (COMBINER's Figure 6 layout, transposed)."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (config.num_params,):
        raise ValueError(f"expected {config.num_params} values, got shape {values.shape}")
    return [
        np.concatenate([values[w].reshape(fan_in, fan_out), values[b][None]]).T
        for (fan_in, fan_out), (w, b) in zip(
            config.layer_shapes, config.layer_slices(), strict=True
        )
    ]


def kl_heat_map(kl_bits: np.ndarray, config: INRConfig, title: str = "") -> Figure:
    """A heat map of KL bits per weight, one panel per layer (like COMBINER's Figure 6).

    Args:
        kl_bits: ``(num_params,)`` KL of each weight's posterior from the prior, in bits.
        config: the architecture the weights belong to.
        title: figure title.

    Returns:
        The figure; save it with ``fig.savefig(path)``.
    """
    import matplotlib.pyplot as plt

    panels = layer_panels(kl_bits, config)
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.0), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        image = ax.imshow(panel, aspect="auto", cmap="magma", interpolation="nearest")
        fan_out, fan_in = panel.shape[0], panel.shape[1] - 1
        ax.set_title(f"{fan_in} -> {fan_out}: {panel.sum():.0f} bits", fontsize=8)
        ax.set(xlabel="input (bias last)", ylabel="output")
        fig.colorbar(image, ax=ax)
    fig.suptitle(title or f"KL per weight, {np.sum(kl_bits):.0f} bits in all", fontsize=9)
    fig.tight_layout()
    return fig
