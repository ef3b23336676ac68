"""Weight priors: learned (COMBINER's Algorithm 1) or layer-wise isotropic, behind one Protocol.

A prior is a diagonal Gaussian over the flat weight vector. Both kinds compute the KL of
posteriors against it, update themselves from fitted posteriors, and serialise to plain arrays.

Examples:
    >>> import torch
    >>> from combiner.priors import LearnedPrior, PosteriorMoments
    >>> prior = LearnedPrior(torch.zeros(3), torch.ones(3))
    >>> posterior_means = torch.tensor([[1.0, 0, 0], [3.0, 0, 0]])
    >>> prior.update(PosteriorMoments.of(posterior_means, torch.ones(2, 3)))
    >>> prior.mean.tolist(), round(prior.std[0].item() ** 2, 9)
    ([2.0, 0.0, 0.0], 2.0)
"""

from __future__ import annotations

import math
from typing import ClassVar, Protocol

import numpy as np
import torch

LOG2E = 1.0 / math.log(2.0)


def gaussian_kl_nats(
    q_mean: torch.Tensor, q_std: torch.Tensor, p_mean: torch.Tensor, p_std: torch.Tensor
) -> torch.Tensor:
    """Elementwise KL(N(q_mean, q_std^2) || N(p_mean, p_std^2)) in nats."""
    ratio = q_std / p_std
    diff = (q_mean - p_mean) / p_std
    return 0.5 * (ratio**2 + diff**2 - 1.0) - torch.log(ratio)


class PosteriorMoments:
    """What Algorithm 1's closed-form update needs of the training posteriors: their count and
    per-weight sums of means and of second moments ``var + mean^2`` (float64).

    Shards of the training data each compute theirs; ``+`` reduces them, so the update of a
    distributed run equals one process's up to the order of additions.

    Examples:
        >>> import torch
        >>> a = PosteriorMoments.of(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 0.5]]))
        >>> b = PosteriorMoments.of(torch.tensor([[3.0, 2.0]]), torch.tensor([[1.0, 0.5]]))
        >>> total = a + b
        >>> total.count, total.sum_mean.tolist(), total.sum_second.tolist()
        (2, [4.0, 4.0], [12.0, 8.5])
    """

    def __init__(self, count: int, sum_mean: torch.Tensor, sum_second: torch.Tensor) -> None:
        self.count = int(count)
        self.sum_mean = sum_mean
        self.sum_second = sum_second

    @classmethod
    def of(cls, post_mean: torch.Tensor, post_std: torch.Tensor) -> PosteriorMoments:
        """The moments of posteriors ``(num_data, num_params)``."""
        mean, std = post_mean.detach().double().cpu(), post_std.detach().double().cpu()
        return cls(mean.shape[0], mean.sum(dim=0), (std**2 + mean**2).sum(dim=0))

    def __add__(self, other: PosteriorMoments) -> PosteriorMoments:
        return PosteriorMoments(
            self.count + other.count,
            self.sum_mean + other.sum_mean,
            self.sum_second + other.sum_second,
        )


class Prior(Protocol):
    """A diagonal Gaussian prior over the flat weights of an INR."""

    name: ClassVar[str]

    @property
    def mean(self) -> torch.Tensor:
        """``(num_params,)`` prior means."""
        ...

    @property
    def std(self) -> torch.Tensor:
        """``(num_params,)`` prior standard deviations."""
        ...

    def update(self, moments: PosteriorMoments) -> None:
        """Refit the prior to the [`PosteriorMoments`][combiner.priors.PosteriorMoments] of the
        training data's posteriors."""
        ...

    def state(self) -> dict[str, torch.Tensor]:
        """Arrays that define the prior (saved in the prior file)."""
        ...

    def datum_parameters(self, batch: int) -> torch.Tensor | None:
        """Per-datum prior parameters learned with each posterior, or ``None``."""
        ...

    def initial_posterior_mean(self) -> torch.Tensor | None:
        """Where a new datum's posterior means start, ``(num_params,)``; ``None``: SIREN init."""
        ...

    def datum_std(self, params: torch.Tensor | None) -> torch.Tensor:
        """Prior standard deviations, ``(num_params,)`` or ``(batch, num_params)`` per datum."""
        ...

    def side_info(self, params: torch.Tensor | None) -> list[bytes]:
        """Per-datum bytes the decoder needs (the file's side information)."""
        ...

    def std_from_side_info(self, data: bytes) -> torch.Tensor:
        """The ``(num_params,)`` standard deviations a file's side information implies."""
        ...

    def params_from_side_info(self, data: list[bytes]) -> torch.Tensor | None:
        """Fixed per-datum parameters ``(batch, ...)`` matching each datum's side information."""
        ...

    @classmethod
    def state_shapes(cls, num_params: int, layers: int) -> dict[str, tuple[int, ...]]:
        """The shape of every array in [`state`][combiner.priors.Prior.state] (what a prior
        file must hold)."""
        ...

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor], layer_of_param: torch.Tensor) -> Prior:
        """Rebuild from the arrays of [`state`][combiner.priors.Prior.state]."""
        ...


class _SharedPrior:
    """Mixin for priors with nothing per datum: no parameters, no side information."""

    std: torch.Tensor

    def datum_parameters(self, batch: int) -> None:
        return None

    def initial_posterior_mean(self) -> torch.Tensor | None:
        # The prior mean is the average fitted network of the training data: a far better
        # starting point than a random initialisation.
        return self.mean

    def datum_std(self, params: torch.Tensor | None) -> torch.Tensor:
        return self.std

    def side_info(self, params: torch.Tensor | None) -> list[bytes]:
        return []

    def std_from_side_info(self, data: bytes) -> torch.Tensor:
        if data:
            raise ValueError("this prior takes no side information")
        return self.std

    def params_from_side_info(self, data: list[bytes]) -> None:
        return None


class LearnedPrior(_SharedPrior):
    """Per-weight prior learned by coordinate descent (Algorithm 1's closed-form update)."""

    name: ClassVar[str] = "learned"

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self._mean = mean.detach().double()
        self._std = std.detach().double()

    @property
    def mean(self) -> torch.Tensor:
        """``(num_params,)`` prior means (float64)."""
        return self._mean

    @property
    def std(self) -> torch.Tensor:
        """``(num_params,)`` prior standard deviations (float64)."""
        return self._std

    def update(self, moments: PosteriorMoments) -> None:
        """Closed form: ``mu_p = mean(mu_q)``, ``var_p = mean(var_q + (mu_q - mu_p)^2)``
        ``= mean(var_q + mu_q^2) - mu_p^2``."""
        self._mean = moments.sum_mean / moments.count
        # Clamped: rounding can push a variance that is ~0 a hair below 0.
        variance = moments.sum_second / moments.count - self._mean**2
        self._std = torch.sqrt(torch.clamp(variance, min=0.0))

    def state(self) -> dict[str, torch.Tensor]:
        """``mean`` and ``std``: all that defines this prior."""
        return {"mean": self._mean, "std": self._std}

    @classmethod
    def state_shapes(cls, num_params: int, layers: int) -> dict[str, tuple[int, ...]]:
        """``mean`` and ``std``, one value per weight."""
        return {"mean": (num_params,), "std": (num_params,)}

    @classmethod
    def from_state(
        cls, state: dict[str, torch.Tensor], layer_of_param: torch.Tensor
    ) -> LearnedPrior:
        """Rebuild from the arrays of ``state``."""
        return cls(state["mean"], state["std"])


class IsotropicPrior:
    """Zero-mean prior with one standard deviation per layer (the paper's ablation).

    Each datum learns its own per-layer scales together with its posterior; they travel in the
    file as float32 side information (32 bits per layer). The trained ``layer_std`` (fitted in
    closed form to the training posteriors, pooled per layer) is only their starting point.
    """

    name: ClassVar[str] = "isotropic"

    def __init__(self, layer_std: torch.Tensor, layer_of_param: torch.Tensor) -> None:
        self.layer_std = layer_std.detach().double()
        self.layer_of_param = layer_of_param

    @property
    def mean(self) -> torch.Tensor:
        """Zeros, ``(num_params,)``."""
        return torch.zeros(self.layer_of_param.shape, dtype=torch.float64)

    @property
    def std(self) -> torch.Tensor:
        """Each weight's layer scale, ``(num_params,)``."""
        return self.layer_std[self.layer_of_param]

    def update(self, moments: PosteriorMoments) -> None:
        """Closed form per layer: the root mean second moment of the posteriors' weights."""
        second_moment = moments.sum_second / moments.count
        layers = int(self.layer_std.numel())
        total = torch.zeros(layers, dtype=torch.float64).index_add_(
            0, self.layer_of_param, second_moment
        )
        count = torch.bincount(self.layer_of_param, minlength=layers).double()
        self.layer_std = torch.sqrt(total / count)

    def state(self) -> dict[str, torch.Tensor]:
        """``layer_std``: one trained scale per layer."""
        return {"layer_std": self.layer_std}

    @classmethod
    def state_shapes(cls, num_params: int, layers: int) -> dict[str, tuple[int, ...]]:
        """``layer_std``, one value per layer."""
        return {"layer_std": (layers,)}

    def initial_posterior_mean(self) -> None:
        """``None``: new posteriors start from the SIREN initialisation."""
        return None  # a zero-mean prior says nothing about where weights should start

    def datum_parameters(self, batch: int) -> torch.Tensor:
        """Log per-layer scales ``(batch, layers)``, starting from the trained ones."""
        start = torch.log(self.layer_std).float().expand(batch, -1).clone()
        return start.requires_grad_(True)

    def datum_std(self, params: torch.Tensor | None) -> torch.Tensor:
        """Per-weight standard deviations of each datum's layer scales ``(batch, num_params)``."""
        if params is None:
            return self.std
        return torch.exp(params)[:, self.layer_of_param.to(params.device)]

    def side_info(self, params: torch.Tensor | None) -> list[bytes]:
        """Each datum's layer scales as little-endian float32 bytes."""
        if params is None:
            raise ValueError("the isotropic prior needs its per-datum scales")
        scales = torch.exp(params.detach()).cpu().numpy().astype("<f4")
        return [row.tobytes() for row in scales]

    def std_from_side_info(self, data: bytes) -> torch.Tensor:
        """Per-weight standard deviations from a file's layer scales; ``ValueError`` if corrupt."""
        layers = int(self.layer_std.numel())
        if len(data) != 4 * layers:
            raise ValueError(f"expected {layers} float32 layer scales, got {len(data)} bytes")
        scales = torch.from_numpy(np.frombuffer(data, dtype="<f4").astype(np.float64))
        if not torch.all(torch.isfinite(scales) & (scales > 0)):
            raise ValueError("corrupt layer scales")
        return scales[self.layer_of_param]

    def params_from_side_info(self, data: list[bytes]) -> torch.Tensor:
        """Log layer scales ``(batch, layers)`` as the decoder will see them."""
        scales = np.stack([np.frombuffer(d, dtype="<f4") for d in data]).astype(np.float64)
        return torch.log(torch.from_numpy(scales)).float()

    @classmethod
    def from_state(
        cls, state: dict[str, torch.Tensor], layer_of_param: torch.Tensor
    ) -> IsotropicPrior:
        """Rebuild from the arrays of ``state``."""
        return cls(state["layer_std"], layer_of_param)


#: The prior kinds by name: each a class with ``from_state`` and ``state_shapes``.
PRIORS: dict[str, type[Prior]] = {
    LearnedPrior.name: LearnedPrior,
    IsotropicPrior.name: IsotropicPrior,
}


def prior_class(name: str) -> type[Prior]:
    """The prior kind registered as ``name``; ``ValueError`` listing the kinds otherwise."""
    try:
        return PRIORS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown prior {name!r}; choose one of {sorted(PRIORS)}") from None


def initial_prior(
    name: str, layer_of_param: torch.Tensor, init_std: float | torch.Tensor = 0.1
) -> Prior:
    """A starting prior of kind ``name`` before any training.

    Args:
        name: a registered prior.
        layer_of_param: ``(num_params,)`` layer number of every parameter.
        init_std: the prior's starting standard deviation, one number or ``(num_params,)``
            (an isotropic prior takes each layer's largest).
    """
    std = torch.as_tensor(init_std, dtype=torch.float64).expand(layer_of_param.shape)
    layers = int(layer_of_param.max()) + 1
    layer_std = torch.zeros(layers, dtype=torch.float64).scatter_reduce(
        0, layer_of_param, std, "amax", include_self=False
    )
    states = {
        LearnedPrior.name: {
            "mean": torch.zeros(layer_of_param.shape, dtype=torch.float64),
            "std": std.clone(),
        },
        IsotropicPrior.name: {"layer_std": layer_std},
    }
    return prior_from_state(name, states.get(name, {}), layer_of_param)


def prior_from_state(
    name: str, state: dict[str, torch.Tensor], layer_of_param: torch.Tensor
) -> Prior:
    """Rebuild the prior registered as ``name`` from its arrays."""
    return prior_class(name).from_state(state, layer_of_param)
