"""A batched variational Fourier-feature SIREN: one small network per datum, all at once.

Weights live in one flat vector per datum (shape ``(batch, num_params)``), so priors,
partitions and relative entropy coding all see a plain vector. Training uses the local
reparameterization trick: each layer samples its pre-activations, not its weights.

Examples:
    >>> import torch
    >>> from combiner.inr import INRConfig, VariationalINR
    >>> net = VariationalINR(INRConfig(), batch=2)
    >>> net.config.num_params
    1123
    >>> coords = torch.zeros(2, 5, 2)
    >>> net(coords).shape
    torch.Size([2, 5, 3])
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional

from rectools import ops


@dataclass(frozen=True)
class INRConfig:
    """Architecture of the implicit neural representation.

    Attributes:
        coord_dim: coordinate axes (2 for images, 1 for audio).
        out_dim: values per coordinate (3 for RGB).
        hidden: hidden units per layer.
        layers: number of linear layers (COMBINER's CIFAR net: 4).
        fourier: embedding width; must be a multiple of ``2 * coord_dim``.
        max_frequency: highest embedding frequency (cycles over [-1, 1]); log-spaced from 1.
        w0: SIREN frequency of hidden activations ``sin(w0 * x)``.
    """

    coord_dim: int = 2
    out_dim: int = 3
    hidden: int = 16
    layers: int = 4
    fourier: int = 32
    max_frequency: float = 16.0
    w0: float = 30.0

    def __post_init__(self) -> None:
        if self.fourier % (2 * self.coord_dim):
            raise ValueError("fourier must be a multiple of 2 * coord_dim")
        if self.layers < 2:
            raise ValueError("an INR needs at least 2 layers")

    @property
    def layer_shapes(self) -> list[tuple[int, int]]:
        """``(fan_in, fan_out)`` of every linear layer."""
        widths = [self.fourier] + [self.hidden] * (self.layers - 1) + [self.out_dim]
        return list(itertools.pairwise(widths))

    @property
    def units_per_point(self) -> int:
        """Activations one grid point carries through the network: the embedding width plus
        every layer's outputs (what a fitting step's memory and work grow with)."""
        return self.fourier + sum(fan_out for _, fan_out in self.layer_shapes)

    @property
    def num_params(self) -> int:
        """Number of weights and biases of one network."""
        return sum(i * o + o for i, o in self.layer_shapes)

    def layer_slices(self) -> list[tuple[slice, slice]]:
        """Where each layer's weight matrix and bias sit in the flat parameter vector."""
        out, start = [], 0
        for fan_in, fan_out in self.layer_shapes:
            weight = slice(start, start + fan_in * fan_out)
            bias = slice(weight.stop, weight.stop + fan_out)
            out.append((weight, bias))
            start = bias.stop
        return out

    def layer_of_param(self) -> torch.Tensor:
        """Layer number of every parameter; ``(num_params,)`` int64."""
        ids = torch.empty(self.num_params, dtype=torch.int64)
        for layer, (weight, bias) in enumerate(self.layer_slices()):
            ids[weight.start : bias.stop] = layer
        return ids

    def to_dict(self) -> dict:
        """The fields as a plain dict (what prior files store)."""
        return asdict(self)


#: COMBINER's networks (appendix E, Table 3); parameter counts 1,123, 12,675 and 21,563.
CIFAR_NET = INRConfig(layers=4, hidden=16, fourier=32, max_frequency=16.0)
KODAK_SMALL_NET = INRConfig(layers=6, hidden=48, fourier=64, max_frequency=256.0)
KODAK_LARGE_NET = INRConfig(layers=7, hidden=56, fourier=96, max_frequency=256.0)
AUDIO_NET = INRConfig(coord_dim=1, out_dim=1, layers=6, hidden=48, fourier=64, max_frequency=4096.0)
#: The same by name, for command lines and configuration files.
NAMED_NETS = {
    "cifar": CIFAR_NET,
    "kodak-small": KODAK_SMALL_NET,
    "kodak-large": KODAK_LARGE_NET,
    "audio": AUDIO_NET,
}


def fourier_features(coords: torch.Tensor, config: INRConfig) -> torch.Tensor:
    """Embed coordinates ``(..., coord_dim)`` in [-1, 1] as ``(..., fourier)`` sines and cosines."""
    per_axis = config.fourier // (2 * config.coord_dim)
    freqs = torch.logspace(
        0.0, math.log10(config.max_frequency), per_axis, dtype=coords.dtype, device=coords.device
    )
    angles = math.pi * coords[..., :, None] * freqs  # (..., coord_dim, per_axis)
    angles = angles.flatten(-2)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


def siren_bounds(config: INRConfig) -> torch.Tensor:
    """SIREN's initialisation bound of every parameter; ``(num_params,)`` float64.

    Weights of the first layer: ``1 / fan_in``; of later layers: ``sqrt(6 / fan_in) / w0``.
    A layer's biases share its weights' bound (the reference implementation's prior scale).
    """
    bounds = torch.empty(config.num_params, dtype=torch.float64)
    for layer, ((fan_in, _), (weight, bias)) in enumerate(
        zip(config.layer_shapes, config.layer_slices(), strict=True)
    ):
        bounds[weight.start : bias.stop] = (
            1.0 / fan_in if layer == 0 else math.sqrt(6.0 / fan_in) / config.w0
        )
    return bounds


def init_means(config: INRConfig, batch: int, generator: torch.Generator) -> torch.Tensor:
    """SIREN initialisation of the posterior means (biases at zero); ``(batch, num_params)``."""
    bounds = siren_bounds(config)
    means = torch.zeros(batch, config.num_params)
    for weight, _bias in config.layer_slices():
        size = (batch, weight.stop - weight.start)
        means[:, weight] = (torch.rand(size, generator=generator) * 2.0 - 1.0) * float(
            bounds[weight.start]
        )
    return means


def forward(
    features: torch.Tensor,
    mean: torch.Tensor,
    var: torch.Tensor | None,
    config: INRConfig,
    noise: list[torch.Tensor] | None = None,
    record: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> torch.Tensor:
    """Run the batched network.

    Args:
        features: ``(batch, points, fourier)`` embedded coordinates.
        mean: ``(batch, num_params)`` weights (or posterior means).
        var: ``(batch, num_params)`` posterior variances for the local reparameterization
            trick, or ``None`` to evaluate the deterministic network at ``mean``.
        config: architecture.
        noise: with ``var``, one standard-normal tensor ``(batch, points, fan_out)`` per layer
            (see [`PrivateNoise`][combiner.inr.PrivateNoise]): the encoder's private pre-activation
            noise.
        record: a list to which each layer appends ``(input, pre-activation)``, for a
            backward pass by hand.

    Returns:
        ``(batch, points, out_dim)``.
    """
    h = features
    last = len(config.layer_shapes) - 1
    for layer, ((fan_in, fan_out), (weight, bias)) in enumerate(
        zip(config.layer_shapes, config.layer_slices(), strict=True)
    ):
        w_mean = mean[:, weight].reshape(-1, fan_in, fan_out)
        pre = torch.baddbmm(mean[:, bias].unsqueeze(1), h, w_mean)
        if var is not None and noise is not None:
            w_var = var[:, weight].reshape(-1, fan_in, fan_out)
            pre_var = torch.baddbmm(var[:, bias].unsqueeze(1), h * h, w_var)
            pre = pre + torch.sqrt(pre_var + 1e-16) * noise[layer]
        if record is not None:
            record.append((h, pre))
        h = pre if layer == last else torch.sin(config.w0 * pre)
    return h


def gauss_newton_diagonal(
    features: torch.Tensor, weights: torch.Tensor, config: INRConfig
) -> torch.Tensor:
    """How sharply the summed squared error rises along each weight: the Gauss-Newton diagonal.

    For the network ``f`` at ``weights``, entry ``i`` is the sum over points ``p`` and outputs
    ``o`` of ``(d f_po / d w_i)^2``. Moving weight ``i`` by ``s_i * eps`` (``eps`` standard
    normal, independent across weights) raises the summed squared error by ``sum s_i^2`` times
    these entries on average, to second order (the residuals' own curvature left out).

    Args:
        features: ``(batch, points, fourier)`` embedded coordinates.
        weights: ``(batch, num_params)``.
        config: architecture.

    Returns:
        ``(batch, num_params)``, ``weights``' dtype: one backward pass by hand, for every
        output at once.

    Examples:
        >>> import torch
        >>> config = INRConfig()
        >>> features = fourier_features(torch.rand(1, 8, 2) * 2 - 1, config)
        >>> weights = init_means(config, 1, torch.Generator().manual_seed(0))
        >>> curvature = gauss_newton_diagonal(features, weights, config)
        >>> curvature.shape, bool((curvature >= 0).all())
        (torch.Size([1, 1123]), True)
    """
    layers: list[tuple[torch.Tensor, torch.Tensor]] = []
    forward(features, weights, None, config, record=layers)
    shapes, slices = config.layer_shapes, config.layer_slices()
    last = len(shapes) - 1
    batch, points, _ = features.shape
    curvature = torch.zeros_like(weights)
    # d f_o / d (layer output) at every point, for every output o at once: (out, batch,
    # points, fan_out). Points never mix, so one pass gives every point's own gradient.
    eye = torch.eye(config.out_dim, dtype=weights.dtype, device=weights.device)
    grad = eye[:, None, None, :].expand(-1, batch, points, -1)
    for layer in range(last, -1, -1):
        (fan_in, fan_out), (w, b) = shapes[layer], slices[layer]
        inputs, pre = layers[layer]
        if layer != last:
            grad = grad * (config.w0 * torch.cos(config.w0 * pre))
        square = (grad * grad).sum(dim=0)  # summed over outputs before the weight's input
        curvature[:, w] += torch.bmm((inputs * inputs).transpose(1, 2), square).flatten(1)
        curvature[:, b] += square.sum(dim=1)
        if layer:
            grad = grad @ weights[:, w].view(-1, fan_in, fan_out).transpose(1, 2)
    return curvature


class PrivateNoise:
    """The encoder's private standard normals for [`forward`][combiner.inr.forward]'s local
    reparameterization trick: a stream that each draw continues, a function of ``seed`` alone.

    On a CPU they come from rectools' counter-based float32 ziggurat
    ([`splitmix_normals32`][rectools.kernels.splitmix_normals32]), which takes about half the
    time of ``torch.randn`` (the noise is a quarter of a CIFAR fitting step's time with it);
    on other devices from a torch generator there, so nothing crosses the bus.

    Args:
        seed: the stream (any integer; taken modulo 2^63).
        device: where the noise is used.

    Example:
        >>> from combiner.inr import CIFAR_NET, PrivateNoise
        >>> noise = PrivateNoise(seed=0).draw(CIFAR_NET, batch=2, points=5)
        >>> [tuple(n.shape) for n in noise]
        [(2, 5, 16), (2, 5, 16), (2, 5, 16), (2, 5, 3)]
    """

    def __init__(self, seed: int, device: torch.device | str = "cpu") -> None:
        self.seed = seed % 2**63
        self.device = torch.device(device)
        self.drawn = 0
        self.generator = (
            None
            if self.device.type == "cpu"
            else torch.Generator(device=self.device).manual_seed(self.seed)
        )

    def draw(self, config: INRConfig, batch: int, points: int) -> list[torch.Tensor]:
        """The next ``(batch, points, fan_out)`` normals of every layer (contiguous views of
        one buffer)."""
        sizes = [batch * points * fan_out for _, fan_out in config.layer_shapes]
        total = sum(sizes)
        if self.generator is None:
            flat = torch.from_numpy(ops.splitmix_normals32(self.seed, self.drawn, total))
            self.drawn += total
        else:
            flat = torch.randn(total, generator=self.generator, device=self.device)
        return [
            chunk.view(batch, points, fan_out)
            for chunk, (_, fan_out) in zip(flat.split(sizes), config.layer_shapes, strict=True)
        ]


class VariationalINR(nn.Module):
    """Mean-field Gaussian posteriors over the weights of ``batch`` networks.

    Args:
        config: architecture.
        batch: number of data fitted at once.
        init_variance: initial posterior variance (COMBINER's CIFAR setting: 9e-6).
        seed: initialisation seed (a private stream of the encoder).
    """

    def __init__(
        self,
        config: INRConfig,
        batch: int,
        init_variance: float = 9e-6,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__()
        self.config = config
        # Initialised on the CPU so a seed gives the same network on every device.
        generator = torch.Generator().manual_seed(seed)
        self.mean = nn.Parameter(init_means(config, batch, generator).to(device))
        # softplus(rho) = std  =>  rho = log(expm1(std)).
        rho = math.log(math.expm1(math.sqrt(init_variance)))
        self.rho = nn.Parameter(torch.full((batch, config.num_params), rho, device=device))

    @property
    def std(self) -> torch.Tensor:
        """Posterior standard deviations ``softplus(rho)``; ``(batch, num_params)``."""
        return functional.softplus(self.rho)

    def forward(self, coords: torch.Tensor, noise: PrivateNoise | None = None) -> torch.Tensor:
        """Outputs sampled with the local reparameterization trick at ``coords``.

        Args:
            coords: ``(batch, points, coord_dim)`` in [-1, 1].
            noise: source of the encoder-private noise (default: stream 0).
        """
        features = fourier_features(coords, self.config)
        noise = noise or PrivateNoise(0, coords.device)
        drawn = noise.draw(self.config, coords.shape[0], coords.shape[1])
        return forward(features, self.mean, self.std**2, self.config, drawn)
