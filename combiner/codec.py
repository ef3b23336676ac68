"""COMBINER end to end: learn a prior, ``compress`` signals to bytes, ``decompress`` them back.

Signals of any modality in [`combiner.signals`][combiner.signals] (images, audio) go through the
same calls;
the prior file records which modality and architecture it was trained for.

Examples:
    A tiny preset, seconds on a CPU:

    >>> import numpy as np
    >>> from combiner import codec
    >>> rng = np.random.default_rng(0)
    >>> train = rng.uniform(size=(4, 8, 8, 3))
    >>> prior = codec.train_prior(train, preset="tiny", beta=1e-4)
    >>> result = codec.compress(train[:1], prior, preset="tiny")[0]
    >>> bool(np.array_equal(codec.decompress(result.data, prior), result.reconstruction))
    True
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

import rectools
from combiner import container
from combiner.engines import Engine, engine_for, threads_per_worker
from combiner.errors import CombinerError, ContainerError, InputError
from combiner.fit import BlockPenalties, fit_posteriors
from combiner.inr import INRConfig, VariationalINR, forward, fourier_features, siren_bounds
from combiner.limits import check_fit
from combiner.priorfile import PriorFile
from combiner.priors import LOG2E, PosteriorMoments, Prior, gaussian_kl_nats, initial_prior
from combiner.progress import progress
from combiner.progressive import (
    BLOCK_ORDERS,
    code_progressively,
    decode_weights,
    penalties_for,
)
from combiner.signals import Modality, coordinate_grid, get_modality
from combiner.threads import threads_for, torch_threads


@dataclass(frozen=True)
class Preset:
    """How long to train (prior learning, Algorithm 1, and a datum's posterior fitting), and
    which coder the schedule was measured with.

    Every field has a default, so a custom schedule names only what it changes, e.g.
    ``Preset(posterior_steps=400, finetune_steps=3)`` for a quick look at one datum.

    Attributes:
        prior_epochs: Algorithm 1 rounds: fit every training posterior, then update the prior.
        prior_steps: Adam steps per training posterior in each round after the first.
        prior_first_steps: Adam steps per training posterior in the first round.
        posterior_steps: Adam steps fitting a new datum's posterior before any block is coded
            (the least, when ``posterior_steps_per_block`` asks for more).
        posterior_steps_per_block: fit for this many steps per block of the prior's partition
            when that is more than ``posterior_steps``, up to ``max_posterior_steps``. High
            rates have more blocks, more KL to place and more time spent coding; Algorithm 4's
            penalties need the extra steps to bring every block to ``kappa``.
        max_posterior_steps: the most steps ``posterior_steps_per_block`` may ask for
            (``None``: no bound).
        finetune_steps: Adam steps on the blocks not yet coded after each coded block.
        compile_loss: fuse the loss with ``torch.compile`` (faster after tens of seconds of
            compilation; worth it for thousands of steps).
        posterior_lr: learning rate of posterior fitting and fine-tuning; ``None`` uses the
            prior file's.
        point_fraction: fraction of grid points seen per step (the paper: 1/4 for
            Kodak-sized images and speech).
        finetune_every: fine-tune after every this many coded blocks (the paper: 1). Large
            signals have thousands of blocks, so CPU schedules fine-tune less often.
        persistent_finetune_optimizer: keep one Adam, with its moment estimates, through all
            fine-tuning (as the reference implementation does); ``False`` restarts Adam at
            every block, whose first steps then move every free weight by about the
            learning rate.
        lr_halving_at: halve the posterior learning rate after this fraction of
            ``posterior_steps`` (the reference implementation: 0.8); ``None``: constant.
        coder: the rectools coder ``compress`` uses unless told another (the paper's A*
            for every preset but ``quick``).
        penalty_floor: Algorithm 4's per-block penalties never fall below this fraction
            of beta (0: as published; see [`BlockPenalties`][combiner.fit.BlockPenalties]).
        block_order: the order the encoder codes blocks in, a name in
            [`BLOCK_ORDERS`][combiner.progressive.BLOCK_ORDERS]: ``"hardest-first"`` (the
            blocks whose coding error matters most first, while the most blocks are left to
            make up for it; +0.3 to +1.0 dB on CIFAR-10) or ``"partition"`` (the paper's).
            Decoding is the same for both.
    """

    prior_epochs: int = 0
    prior_steps: int = 0
    prior_first_steps: int = 0
    posterior_steps: int = 0
    posterior_steps_per_block: int = 0
    max_posterior_steps: int | None = None
    finetune_steps: int = 0
    compile_loss: bool = True
    posterior_lr: float | None = None
    point_fraction: float = 1.0
    finetune_every: int = 1
    persistent_finetune_optimizer: bool = True
    lr_halving_at: float | None = None
    coder: str = "astar"
    penalty_floor: float = 0.0
    block_order: str = "hardest-first"

    def __post_init__(self) -> None:
        if self.block_order not in BLOCK_ORDERS:
            raise ValueError(
                f"unknown block order {self.block_order!r}; choose one of {sorted(BLOCK_ORDERS)}"
            )

    def fitting_steps(self, num_blocks: int) -> int:
        """Posterior steps for a prior partitioned into ``num_blocks`` blocks.

        >>> PRESETS["fast"].fitting_steps(120), PRESETS["fast"].fitting_steps(250)
        (3600, 6000)
        """
        wanted = self.posterior_steps_per_block * num_blocks
        if self.max_posterior_steps is not None:
            wanted = min(wanted, self.max_posterior_steps)
        return max(self.posterior_steps, wanted)


# COMBINER's CIFAR-10 schedule (appendix E).
_PAPER = Preset(
    prior_epochs=128,
    prior_steps=100,
    prior_first_steps=250,
    posterior_steps=25_000,
    finetune_steps=15,
)

# The paper's schedule with about 8x less posterior fitting, at a 5x larger learning rate
# (measured: +0.4 dB over 2e-4 at 3,000 steps on CIFAR-10), and 30 fine-tuning steps per block
# instead of 15 (with Adam kept through fine-tuning: +0.27 dB at beta 2e-6, 1.3x the time;
# benchmarks/cifar_ablation.py). Prior learning keeps the paper's 128 Algorithm 1 rounds:
# stopping at 32 cost 0.76 dB at equal rate on CIFAR-10, the largest loss the ablation found.
# Fitting gets as many steps as fine-tuning will (30 per block), between 3,000 and 6,000: at
# high rates 3,000 steps left blocks over their 16-bit budget (6,000 at beta 5e-7: +0.45 dB at
# equal rate; docs/results.md).
_FAST = replace(
    _PAPER,
    posterior_steps=3_000,
    posterior_steps_per_block=30,
    max_posterior_steps=6_000,
    finetune_steps=30,
    posterior_lr=1e-3,
)

PRESETS = {
    "paper": _PAPER,
    "fast": _FAST,
    # About half of fast's time: 2,000 posterior steps instead of 3,600 and 15 fine-tuning
    # steps per block instead of 30 at beta 2e-6, with each block's best candidate (greedy
    # selection) sent instead of an A* sample, which makes up for part of it. On 20 CIFAR
    # images at 2e-6 (benchmarks/cifar_ablation.py quick quick-astar hardest-first): 29.31 dB
    # at 1.967 bpp in 1.5 s per image, about 0.25 dB under fast at equal rate (29.39 dB at
    # 1.908 bpp, 3-5 s); with A*, 29.07 dB at 1.914 bpp.
    "quick": replace(
        _FAST,
        posterior_steps=2_000,
        posterior_steps_per_block=0,
        finetune_steps=15,
        coder="greedy",
    ),
    # COMBINER's Kodak and LibriSpeech schedules (appendix E): a quarter of the points per step.
    # Use with the prior's learning rate (Kodak: train with lr=1e-4).
    "kodak-paper": Preset(
        prior_epochs=96,
        prior_steps=200,
        prior_first_steps=500,
        posterior_steps=25_000,
        finetune_steps=15,
        point_fraction=0.25,
    ),
    "audio-paper": replace(_PAPER, point_fraction=0.25),
    # Large signals on a CPU in tens of minutes: short prior learning and posterior fitting at
    # a 5-10x larger learning rate, fine-tuning after every 64 blocks. Far from converged.
    # Blocks in partition order: 10 fine-tuning steps per 64 blocks leave little to make up
    # for coding errors, and coding the hardest first measured level (speech, two chunks:
    # +0.15 and -0.13 dB; kodim23 at 0.067 bpp: 26.52 against 26.60 dB).
    "large-cpu": Preset(
        prior_epochs=6,
        prior_steps=60,
        prior_first_steps=150,
        posterior_steps=1_200,
        finetune_steps=10,
        posterior_lr=1e-3,
        point_fraction=0.25,
        finetune_every=64,
        block_order="partition",
    ),
    # For tests and smoke runs only.
    "tiny": Preset(
        prior_epochs=2,
        prior_steps=10,
        prior_first_steps=20,
        posterior_steps=30,
        finetune_steps=2,
        compile_loss=False,
    ),
}
"""The named schedules: ``paper`` (COMBINER's CIFAR-10), ``fast``, ``quick`` (about half of
fast's time, with greedy selection, 0.25 dB under it), ``kodak-paper``, ``audio-paper``,
``large-cpu`` and ``tiny`` (tests only)."""


#: Signals with more grid points than this (a 141x141 image) are "large": ``fast`` fits them on
#: every point at every step and fine-tunes after every one of their thousands of blocks, hours
#: on a CPU for 3 s of speech or a 768x512 photo.
FAST_MAX_POINTS = 20_000


def default_preset(grid: tuple[int, ...]) -> str:
    """The preset for one signal on ``grid`` (e.g. ``(H, W)``, ``(samples,)``) when none is named.

    ``fast`` up to ``FAST_MAX_POINTS`` grid points, ``large-cpu`` beyond (a quarter of the
    points per step, fine-tuning after every 64 blocks: how the shipped speech and Kodak-sized
    priors were trained and measured).

    >>> default_preset((32, 32)), default_preset((48_000,)), default_preset((512, 768))
    ('fast', 'large-cpu', 'large-cpu')
    """
    points = int(np.prod(grid, dtype=np.int64))
    return "fast" if points <= FAST_MAX_POINTS else "large-cpu"


def _preset(name: str | Preset) -> Preset:
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


def psnr(reference: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR in dB of an 8-bit image reconstruction against its [0, 1] reference."""
    return get_modality("image").psnr(reference, np.asarray(decoded, dtype=np.float64))


def default_device() -> str:
    """``"cuda"`` when a GPU is available, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _batch_tensors(
    batch: np.ndarray, modality: Modality, device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    grid = modality.grid_shape(batch)
    coords = coordinate_grid(grid).expand(batch.shape[0], -1, -1).to(device)
    # A copy: engines may hand over read-only arrays (Ray's shared memory).
    values = torch.from_numpy(
        np.array(batch.reshape(batch.shape[0], -1, batch.shape[-1]), np.float32)
    )
    return coords, values.to(device)


@dataclass(frozen=True)
class _Shard:
    """A slice ``[lo, hi)`` of Algorithm 1's training data with its posteriors' state."""

    index: int
    lo: int
    hi: int
    seed: int
    mean: torch.Tensor | None = None
    rho: torch.Tensor | None = None

    def net(self, config: INRConfig, init_variance: float, device: str) -> VariationalINR:
        net = VariationalINR(config, self.hi - self.lo, init_variance, self.seed, device)
        if self.mean is not None and self.rho is not None:
            with torch.no_grad():
                net.mean.copy_(self.mean)
                net.rho.copy_(self.rho)
        return net


@dataclass(frozen=True)
class _ShardJob:
    """What every shard's fit in one epoch shares (sent once per epoch)."""

    images: np.ndarray
    config: INRConfig
    modality: str
    prior: Prior
    steps: int
    epoch: int
    beta: float
    lr: float
    init_variance: float
    schedule: Preset
    device: str
    threads: int


def _fit_shard(shard: _Shard, job: _ShardJob) -> tuple[_Shard, PosteriorMoments]:
    """One epoch of one shard: fit its posteriors against the current prior (on any engine)."""
    with torch_threads(job.threads):
        coords, values = _batch_tensors(
            job.images[shard.lo : shard.hi], get_modality(job.modality), job.device
        )
        net = shard.net(job.config, job.init_variance, job.device)
        penalties = BlockPenalties.constant(
            job.config.num_params, shard.hi - shard.lo, job.beta, job.device
        )
        fit_posteriors(
            net,
            coords,
            values,
            job.prior,
            penalties,
            job.steps,
            job.lr,
            seed=shard.seed + job.epoch,
            compile_loss=job.schedule.compile_loss,
            point_fraction=job.schedule.point_fraction,
        )
    state = replace(shard, mean=net.mean.detach().cpu(), rho=net.rho.detach().cpu())
    return state, PosteriorMoments.of(net.mean, net.std)


def _shards(count: int, shards: int, seed: int) -> list[_Shard]:
    """``shards`` contiguous slices; shard 0 keeps ``seed`` (one shard = the unsharded run),
    the others take seeds derived from ``(seed, shard)``."""
    if not 1 <= shards <= count:
        raise InputError(f"shards must be between 1 and the {count} training signals")
    edges = np.linspace(0, count, shards + 1).round().astype(int)
    seeds = [seed] + [
        int(np.random.SeedSequence([seed, s]).generate_state(1, np.uint32)[0]) << 16
        for s in range(1, shards)
    ]
    return [_Shard(s, int(edges[s]), int(edges[s + 1]), seeds[s]) for s in range(shards)]


def train_prior(
    images: np.ndarray,
    config: INRConfig | None = None,
    prior: str = "learned",
    beta: float = 2e-5,
    kappa: int = 16,
    preset: str | Preset = "fast",
    init_variance: float = 9e-6,
    lr: float = 2e-4,
    seed: int = 0,
    device: str | None = None,
    modality: str = "image",
    prior_init_scale: float | None = None,
    shards: int = 1,
    engine: str | Engine = "local",
    workers: int = 1,
    **engine_options: object,
) -> PriorFile:
    """Algorithm 1: alternate posterior fitting on training data with closed-form prior updates.

    The training data may be cut into ``shards`` fitted separately, on any engine: the update
    needs only the sums in [`PosteriorMoments`][combiner.priors.PosteriorMoments], so each
    shard's fit is a task and the update a reduction. The same shards give the same prior on
    every engine (up to the rounding of the thread counts each fit runs with); one shard is the
    whole batch at once.

    Args:
        images: ``(M, *grid, C)`` training signals of the modality (images: ``(M, H, W, C)`` in
            [0, 1]; audio: ``(M, T)`` in [-1, 1]).
        config: architecture; COMBINER's CIFAR net (with the modality's coordinate axes and
            channels) by default.
        prior: ``"learned"`` or ``"isotropic"``.
        beta: rate-distortion trade-off.
        kappa: block budget in bits (also log2 of the candidates per block).
        preset: iteration counts (see [`PRESETS`][combiner.codec.PRESETS]).
        init_variance: initial posterior variance.
        lr: Adam learning rate.
        seed: seed of initialisation, noise and the partition permutation.
        device: where to fit (default: a GPU when there is one).
        modality: the kind of signal (see [`combiner.signals`][combiner.signals]).
        prior_init_scale: the starting prior's standard deviations as this multiple of each
            weight's SIREN initialisation bound (the reference implementation: 0.5);
            ``None`` starts every weight at 0.1.
        shards: slices of the training data fitted separately (``1``: all at once).
        engine: where shards are fitted: ``"local"``, ``"ray"`` or an
            [`Engine`][combiner.engines.Engine].
        workers: worker processes (local) or CPUs of a local Ray.
        **engine_options: passed to the engine (Ray: ``address``, ``retries``).

    Returns:
        The prior file contents.
    """
    kind = get_modality(modality)
    images = kind.check(images)
    schedule = _preset(preset)
    grid = kind.grid_shape(images)
    # COMBINER's CIFAR net by default; its 32 Fourier features rounded down to a multiple of
    # 2 * axes (30 for volumes).
    axes = len(grid)
    config = config or INRConfig(
        coord_dim=axes, out_dim=images.shape[-1], fourier=32 // (2 * axes) * 2 * axes
    )
    if config.coord_dim != len(grid) or config.out_dim != images.shape[-1]:
        raise InputError(f"config expects {config.coord_dim} axes and {config.out_dim} channels")
    check_fit(config, grid, images.shape[-1], images.shape[0], schedule.point_fraction, InputError)
    device = device or default_device()
    init_std = 0.1 if prior_init_scale is None else prior_init_scale * siren_bounds(config)
    current = initial_prior(prior, config.layer_of_param(), init_std)
    states = _shards(images.shape[0], shards, seed)
    with engine_for(engine, workers, **engine_options) as runner:
        threads = threads_per_worker(runner)
        for epoch in progress(range(schedule.prior_epochs), "prior epochs"):
            steps = schedule.prior_first_steps if epoch == 0 else schedule.prior_steps
            job = _ShardJob(
                images, config, modality, current, steps, epoch, beta, lr, init_variance,
                schedule, device, threads,
            )  # fmt: skip
            fitted: dict[int, tuple[_Shard, PosteriorMoments]] = {}
            for shard, outcome in runner.map_unordered(_fit_shard, states, job):
                if isinstance(outcome, BaseException):
                    raise CombinerError(f"shard {shard.index} failed: {outcome}") from outcome
                fitted[shard.index] = outcome
            states = [fitted[s.index][0] for s in states]
            # Summed in shard order, whatever order the shards finished in.
            current.update(sum((fitted[s.index][1] for s in states[1:]), fitted[0][1]))
    kl_sum = torch.zeros(config.num_params, dtype=torch.float64)
    for shard in states:
        net = shard.net(config, init_variance, "cpu")
        mean, std = net.mean.detach().double(), net.std.detach().double()
        kl_sum += gaussian_kl_nats(mean, std, current.mean, current.std).sum(dim=0)
    kl_bits = (kl_sum * LOG2E / images.shape[0]).numpy()
    return PriorFile(
        config, current, beta, kappa, kl_bits, seed, init_variance, lr, modality, images.shape[1:]
    )


def decode_values(
    weights: np.ndarray, config: INRConfig, grid: tuple[int, ...], chunk_points: int = 1 << 16
) -> np.ndarray:
    """Evaluate the network with weights ``(num_params,)`` on a grid; ``(*grid, out_dim)`` float64.

    Runs in float64 on the CPU over ``chunk_points`` points at a time, so memory stays bounded
    for large images. The encoder reports, and the decoder rebuilds, exactly this computation
    with the default chunk size (another chunk size may differ in the last bit, as BLAS blocks
    matrix products by size).
    """
    coords = coordinate_grid(grid, torch.float64)
    w = torch.from_numpy(weights)[None]
    out = np.empty((coords.shape[0], config.out_dim))
    with torch.no_grad():
        for start in range(0, coords.shape[0], chunk_points):
            features = fourier_features(coords[None, start : start + chunk_points], config)
            out[start : start + chunk_points] = forward(features, w, None, config)[0].numpy()
    return out.reshape(*grid, config.out_dim)


@dataclass
class CompressResult:
    """One compressed datum: the file bytes and what the decoder will rebuild from them.

    Attributes:
        data: the ``.cmb`` file.
        reconstruction: the decoded signal (8-bit image, 16-bit audio), bit-identical to
            ``decompress(data, prior)``.
        bpp: bits of the whole file per grid point (per pixel for images, per sample for audio).
        rate: the same in the modality's unit (``rate_unit``: bpp, kbps).
        rate_unit: unit of ``rate``.
        psnr_db: the modality's PSNR of ``reconstruction``.
        kl_bits: KL of the fitted posterior from the prior (what an ideal coder would spend).
        fit_psnr_db: with ``report_fit``, PSNR of the fitted posterior's mean network before
            any block is coded (what fitting alone reaches).
        sample_psnr_db: with ``report_fit``, PSNR of one exact sample of the fitted posterior
            (COMBINER's "theoretically optimal" point, at a rate of ``kl_bits``).
    """

    data: bytes
    reconstruction: np.ndarray
    bpp: float
    rate: float
    rate_unit: str
    psnr_db: float
    kl_bits: float
    fit_psnr_db: float | None = None
    sample_psnr_db: float | None = None


@dataclass
class _Fitted:
    """A fitted batch: posteriors, data, fine-tuning options and the prior each datum codes with."""

    net: VariationalINR
    coords: torch.Tensor
    values: torch.Tensor
    options: dict
    prior_std: np.ndarray  # (batch, num_params) float64, exactly what the decoder rebuilds
    side_info: list[bytes]

    def posterior(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means and standard deviations, float64 on the CPU."""
        return self.net.mean.detach().double().cpu(), self.net.std.detach().double().cpu()


def _fit(
    batch_data: np.ndarray,
    pf: PriorFile,
    kind: Modality,
    schedule: Preset,
    seed: int,
    device: str | None,
) -> _Fitted:
    """Fit the batch's posteriors under the prior with Algorithm 4's per-block penalties."""
    batch = batch_data.shape[0]
    device = device or default_device()
    coords, values = _batch_tensors(batch_data, kind, device)
    net = VariationalINR(pf.config, batch, pf.init_variance, seed, device)
    start = pf.prior.initial_posterior_mean()
    if start is not None:
        with torch.no_grad():
            net.mean.copy_(start.float().to(device).expand(batch, -1))
    params = pf.prior.datum_parameters(batch)
    options = {
        "prior": pf.prior,
        "penalties": penalties_for(
            pf.blocks, batch, pf.beta, pf.kappa, device, schedule.penalty_floor
        ),
        "lr": schedule.posterior_lr or pf.lr,
        "compile_loss": schedule.compile_loss,
        "point_fraction": schedule.point_fraction,
    }
    fit_posteriors(
        net,
        coords,
        values,
        steps=schedule.fitting_steps(len(pf.blocks)),
        seed=seed,
        progress="fitting posteriors",
        prior_params=params,
        lr_halving_at=schedule.lr_halving_at,
        **options,
    )
    side_info = pf.prior.side_info(params)
    if side_info:
        # Code with the prior the decoder will see: rebuilt from the float32 side information,
        # and fine-tune under it with the per-datum parameters now fixed.
        prior_std = torch.stack([pf.prior.std_from_side_info(s) for s in side_info])
        options["prior_params"] = pf.prior.params_from_side_info(side_info).to(device)
    else:
        prior_std = pf.prior.std.expand(batch, -1)
    return _Fitted(net, coords, values, options, prior_std.numpy(), side_info)


def _kl_bits_per_weight(fitted: _Fitted, pf: PriorFile) -> np.ndarray:
    """KL of each weight's posterior from the prior it codes with, in bits; ``(batch, n)``."""
    mean, std = fitted.posterior()
    kl = gaussian_kl_nats(mean, std, pf.prior.mean, torch.from_numpy(fitted.prior_std))
    return (kl * LOG2E).numpy()


def _kl_bits(fitted: _Fitted, pf: PriorFile) -> np.ndarray:
    """KL of each datum's posterior from the prior it codes with, in bits; ``(batch,)``."""
    return _kl_bits_per_weight(fitted, pf).sum(axis=1)


def _exact_samples(fitted: _Fitted, seed: int) -> torch.Tensor:
    """One exact sample of every posterior, ``(batch, num_params)`` float64 (a private stream)."""
    mean, std = fitted.posterior()
    noise = torch.randn(
        mean.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )
    return mean + std * noise


def _psnrs(weights: torch.Tensor, pf: PriorFile, data: np.ndarray, kind: Modality) -> list[float]:
    """The modality's PSNR of each datum's network with ``weights`` ``(batch, num_params)``."""
    grid = kind.grid_shape(data)
    return [
        kind.psnr(data[b], kind.output(decode_values(weights[b].numpy(), pf.config, grid)))
        for b in range(data.shape[0])
    ]


def _checked_batch(
    batch: np.ndarray,
    pf: PriorFile,
    options: dict | None,
    schedule: Preset,
    seed: int,
) -> tuple[np.ndarray, Modality]:
    """The batch as network values, after every check that does not need fitting.

    Raises:
        InputError: wrong shape or values for the prior, over the size limits, a fit that
            would need more than the memory limit, or a seed that is not a 64-bit integer.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise InputError(f"the seed must be an integer in [0, 2**64), got {seed!r}")
    kind = get_modality(pf.modality, **(options or {}))
    batch = kind.check(batch)
    grid = kind.grid_shape(batch)
    if len(grid) != pf.config.coord_dim or batch.shape[-1] != pf.config.out_dim:
        raise InputError(
            f"the prior models {pf.config.coord_dim}-axis {pf.modality} data with "
            f"{pf.config.out_dim} channels; got shape {batch.shape[1:]}"
        )
    check_fit(pf.config, grid, batch.shape[-1], batch.shape[0], schedule.point_fraction, InputError)
    return batch, kind


def _fit_checked(
    data: np.ndarray,
    pf: PriorFile,
    preset: str | Preset,
    seed: int,
    device: str | None,
    modality_options: dict | None,
) -> tuple[_Fitted, np.ndarray, Modality]:
    """Check a batch against the prior's modality and fit its posteriors as compress does."""
    schedule = _preset(preset)
    data, kind = _checked_batch(data, pf, modality_options, schedule, seed)
    return _fit(data, pf, kind, schedule, seed, device), data, kind


def compress(
    images: np.ndarray,
    prior_file: PriorFile,
    coder: str | None = None,
    preset: str | Preset = "fast",
    seed: int = 0,
    finetune: bool = True,
    device: str | None = None,
    modality_options: dict | None = None,
    report_fit: bool = False,
) -> list[CompressResult]:
    """Compress a batch of signals with progressive relative entropy coding.

    Fits each image's posterior under the prior with Algorithm 4's per-block penalties, then
    codes block after block with the rectools ``coder``, fine-tuning the blocks not yet sent
    between two blocks (unless ``finetune`` is off).

    Args:
        images: ``(B, *grid, C)`` signals of the prior's modality (images ``(B, H, W, C)`` in
            [0, 1]; audio ``(B, T)`` in [-1, 1]).
        prior_file: the shared prior.
        coder: a rectools coder name with rectools' default candidate stream (the file
            records both): ``"astar"`` (the paper's), ``"mrc"``, or ``"greedy"``, which sends
            each block's candidate of largest ``log q/p`` instead of a sample (a quantizer;
            measured on CIFAR-10 in docs/results.md). ``None``: the preset's.
        preset: iteration counts.
        seed: the files' shared seed.
        finetune: fine-tune remaining blocks after each coded block.
        device: where to fit (default: a GPU when there is one). Coding and the reported
            reconstruction run on the CPU in float64 whatever the device.
        modality_options: options of the modality, e.g. ``{"sample_rate": 16000}`` for audio.
        report_fit: also measure, before coding, the PSNR of each posterior's mean and of
            one exact posterior sample (two more network evaluations per datum).

    Returns:
        One [`CompressResult`][combiner.codec.CompressResult] per datum; rates count every byte of
        the file.
    """
    pf = prior_file
    schedule = _preset(preset)
    images, kind = _checked_batch(images, pf, modality_options, schedule, seed)
    coder = coder or schedule.coder
    rec = rectools.get_coder(coder)
    grid = kind.grid_shape(images)
    points = int(np.prod(grid))
    # Everything on as many torch threads as a fitting step of this size: one for a small
    # signal, so that processes side by side do not spin threads at each other (threads.py).
    with torch_threads(threads_for(len(images) * points * pf.config.units_per_point)):
        fitted = _fit(images, pf, kind, schedule, seed, device)
        kl_bits = _kl_bits(fitted, pf)
        fit_psnrs: list[float | None] = [None] * len(images)
        sample_psnrs: list[float | None] = [None] * len(images)
        if report_fit:
            fit_psnrs = _psnrs(fitted.posterior()[0], pf, images, kind)
            sample_psnrs = _psnrs(_exact_samples(fitted, seed), pf, images, kind)
        finetuning = {**fitted.options, "steps": schedule.finetune_steps} if finetune else None
        indices, weights = code_progressively(
            fitted.net,
            fitted.coords,
            fitted.values,
            pf.prior.mean.numpy(),
            fitted.prior_std,
            pf.blocks,
            rec,
            pf.kappa,
            seed,
            finetuning,
            schedule.finetune_every,
            schedule.persistent_finetune_optimizer,
            BLOCK_ORDERS[schedule.block_order](),
        )
        model = pf.index_model(rec)
        results = []
        for b in range(images.shape[0]):
            header = container.Header(
                kind.name,
                None if images.shape[1:] == pf.data_shape else images.shape[1:],
                pf.content_hash[: container.PRIOR_HASH_BYTES],
                coder,
                model.name,
                seed,
                fitted.side_info[b] if fitted.side_info else b"",
                kind.params,
                candidates=rec.stream.name,
            )
            data = container.pack(header, model.compress(indices[b]))
            decoded = kind.output(decode_values(weights[b], pf.config, grid))
            results.append(
                CompressResult(
                    data,
                    decoded,
                    8 * len(data) / points,
                    kind.rate(len(data), grid),
                    kind.rate_unit,
                    kind.psnr(images[b], decoded),
                    float(kl_bits[b]),
                    fit_psnrs[b],
                    sample_psnrs[b],
                )
            )
        return results


def posterior_kl_bits(
    data: np.ndarray,
    prior_file: PriorFile,
    preset: str | Preset = "fast",
    seed: int = 0,
    device: str | None = None,
    modality_options: dict | None = None,
) -> np.ndarray:
    """KL of each weight's fitted posterior from the prior, in bits; ``(B, num_params)``.

    The posteriors are fitted as [`compress`][combiner.codec.compress] fits them (same seed, same
    penalties), but
    nothing is coded: this is where the bits would go (COMBINER's Figure 6).
    """
    fitted, _, _ = _fit_checked(data, prior_file, preset, seed, device, modality_options)
    return _kl_bits_per_weight(fitted, prior_file)


@dataclass
class ExactSampleEstimate:
    """COMBINER's "theoretical" reference: a true posterior sample at a rate of its KL.

    Not a file: the rate (KL bits per grid point ``bpp_estimate``, and the same in the
    modality's ``rate_unit``) is what no real coder reaches.
    """

    bpp_estimate: float
    rate: float
    rate_unit: str
    psnr_db: float


def estimate_exact_sample(
    images: np.ndarray,
    prior_file: PriorFile,
    preset: str | Preset = "fast",
    seed: int = 0,
    device: str | None = None,
    modality_options: dict | None = None,
) -> list[ExactSampleEstimate]:
    """Rate = KL(q || p) and distortion of one exact posterior sample, per datum (Figure 4)."""
    pf = prior_file
    fitted, images, kind = _fit_checked(images, pf, preset, seed, device, modality_options)
    side_bits = 8 * np.array([len(s) for s in fitted.side_info] or [0] * images.shape[0])
    kl_bits = _kl_bits(fitted, pf) + side_bits
    sample_psnrs = _psnrs(_exact_samples(fitted, seed), pf, images, kind)
    grid = kind.grid_shape(images)
    return [
        ExactSampleEstimate(
            float(kl_bits[b]) / np.prod(grid),
            kind.rate(kl_bits[b] / 8.0, grid),
            kind.rate_unit,
            sample_psnrs[b],
        )
        for b in range(images.shape[0])
    ]


def _read(
    data: bytes, pf: PriorFile
) -> tuple[container.Header, tuple[int, ...], np.ndarray, Modality]:
    """Check a file against the prior; its header, datum shape, block indices and modality.

    Everything a file claims is checked against the prior and the documented limits before
    anything is allocated for it.
    """
    header, payload = container.unpack(data)
    if header.prior_hash != pf.content_hash[: len(header.prior_hash)]:
        raise ContainerError("the file was made with a different prior than the one given")
    if header.num_blocks not in (None, len(pf.blocks)) or header.log2_num_candidates not in (
        None,
        pf.kappa,
    ):
        raise ContainerError("the file does not match the prior's block structure")
    shape = header.shape if header.shape is not None else pf.data_shape
    if (
        shape is None
        or header.modality != pf.modality
        or len(shape) != pf.config.coord_dim + 1
        or shape[-1] != pf.config.out_dim
    ):
        raise ContainerError(
            f"the file holds {header.modality} data of shape {shape}, "
            f"which the prior ({pf.modality}) does not model"
        )
    try:
        kind = get_modality(header.modality, *header.modality_params)
        coder = rectools.get_coder(header.coder, candidates=header.candidates)
        model = pf.index_model(coder)
        if model.name != header.index_model:
            raise ValueError(f"its indices use a {header.index_model} model the prior lacks")
        indices = model.decompress(payload, len(pf.blocks))
    except ValueError as err:
        raise ContainerError(f"the file is corrupt ({err})") from None
    return header, shape, indices, kind


def block_indices(data: bytes, prior_file: PriorFile) -> np.ndarray:
    """The coded block indices of a file, ``(num_blocks,)`` int64 (after checking it).

    Raises:
        container.ContainerError: as [`decompress`][combiner.codec.decompress].
    """
    return _read(data, prior_file)[2]


def attach_index_model(
    prior_file: PriorFile,
    data: np.ndarray,
    preset: str | Preset = "fast",
    seed: int = 0,
    device: str | None = None,
    modality_options: dict | None = None,
) -> PriorFile:
    """The prior with an empirical index model fitted on A*'s indices for ``data``.

    ``data`` (training signals, never the evaluation set) is compressed with A* under the
    prior; the bucket frequencies of the block indices become the model that codes every
    later file's indices (COMBINER, appendix A). A* favours small indices, so a block then
    costs less than ``kappa`` bits. The model is part of the prior file (and of its hash).
    """
    bare = replace(prior_file, index_bucket_probs=None)
    results = compress(
        data, bare, "astar", preset, seed, device=device, modality_options=modality_options
    )
    indices = np.concatenate([block_indices(r.data, bare) for r in results])
    model = rectools.EmpiricalIndexModel.fit(
        indices, 2**bare.kappa, mantissa_bits=PriorFile.INDEX_MANTISSA_BITS
    )
    return replace(bare, index_bucket_probs=model.bucket_probs)


def decompress(data: bytes, prior_file: PriorFile) -> np.ndarray:
    """Rebuild the signal (8-bit image ``(H, W, C)``, 16-bit audio ``(T, 1)``) from a file.

    Time and memory are bounded by the documented limits whatever the file claims (about
    1.5 s and 300 MB for the largest signal a Kodak-sized prior may decode).

    Raises:
        ContainerError: corrupt, truncated, forged or foreign file, one made with another
            prior, or one claiming more than the documented limits.
    """
    pf = prior_file
    header, shape, indices, kind = _read(data, pf)
    try:
        prior_std = pf.prior.std_from_side_info(header.side_info)
    except ValueError as err:
        raise ContainerError(f"the file is corrupt ({err})") from None
    weights = decode_weights(
        indices,
        pf.prior.mean.numpy(),
        prior_std.numpy(),
        pf.blocks,
        rectools.get_coder(header.coder, candidates=header.candidates),
        pf.kappa,
        header.seed,
    )
    return kind.output(decode_values(weights, pf.config, shape[:-1]))
