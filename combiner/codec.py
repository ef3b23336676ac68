"""COMBINER end to end: learn a prior, ``compress`` images to bytes, ``decompress`` them back.

Example (a tiny preset, seconds on a CPU):
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

import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import rectools
from combiner import container
from combiner.fit import BlockPenalties, fit_posteriors
from combiner.inr import INRConfig, VariationalINR, forward, fourier_features
from combiner.partition import next_fit_blocks
from combiner.priors import LOG2E, Prior, gaussian_kl_nats, initial_prior, prior_from_state
from combiner.progressive import code_progressively, decode_weights, penalties_for


@dataclass(frozen=True)
class Preset:
    """Iteration counts: prior learning and posterior fitting."""

    prior_epochs: int
    prior_steps: int
    prior_first_steps: int
    posterior_steps: int
    finetune_steps: int
    compile_loss: bool = True
    #: Learning rate of posterior fitting and fine-tuning; ``None`` uses the prior file's.
    posterior_lr: float | None = None


PRESETS = {
    # COMBINER's CIFAR-10 schedule (appendix E).
    "paper": Preset(128, 100, 250, 25_000, 15),
    # About 8x less posterior fitting, at a 5x larger learning rate (measured: +0.4 dB over
    # 2e-4 at 3,000 steps on CIFAR-10).
    "fast": Preset(32, 100, 250, 3_000, 15, posterior_lr=1e-3),
    # For tests and smoke runs only.
    "tiny": Preset(2, 10, 20, 30, 2, compile_loss=False),
}


def _preset(name: str | Preset) -> Preset:
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


def image_grid(shape: tuple[int, int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Pixel-centre coordinates of an ``H x W`` image in [-1, 1]^2, row-major; ``(H*W, 2)``."""
    h, w = shape
    rows = torch.linspace(-1.0, 1.0, h, dtype=dtype)
    cols = torch.linspace(-1.0, 1.0, w, dtype=dtype)
    return torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=-1).reshape(-1, 2)


def check_images(images: np.ndarray) -> np.ndarray:
    """Validate a batch of images ``(B, H, W, C)`` with values in [0, 1]; returns float64."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected images of shape (batch, H, W, 1 or 3), got {images.shape}")
    if not np.all(np.isfinite(images)) or images.min() < 0.0 or images.max() > 1.0:
        raise ValueError("image values must be finite and lie in [0, 1]")
    return images


@dataclass
class PriorFile:
    """What encoder and decoder share besides the .cmb file: architecture, prior, partition."""

    config: INRConfig
    prior: Prior
    beta: float
    kappa: int
    kl_bits_per_weight: np.ndarray
    partition_seed: int = 0
    init_variance: float = 9e-6
    lr: float = 2e-4
    blocks: list[np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        self.blocks = next_fit_blocks(self.kl_bits_per_weight, self.kappa, self.partition_seed)

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"prior_{k}": v.numpy() for k, v in self.prior.state().items()}
        arrays["kl_bits_per_weight"] = self.kl_bits_per_weight
        return arrays

    def _meta(self) -> dict:
        return {
            "format": "combiner-prior-1",
            "config": self.config.to_dict(),
            "prior": self.prior.name,
            "beta": self.beta,
            "kappa": self.kappa,
            "partition_seed": self.partition_seed,
            "init_variance": self.init_variance,
            "lr": self.lr,
        }

    @property
    def content_hash(self) -> bytes:
        """First 4 bytes of the SHA-256 of the metadata and arrays (what files refer to)."""
        digest = hashlib.sha256(json.dumps(self._meta(), sort_keys=True).encode())
        for name, array in sorted(self._arrays().items()):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        return digest.digest()[: container.PRIOR_HASH_BYTES]

    def save(self, path: str | Path) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array(json.dumps(self._meta())), **self._arrays())
        Path(path).write_bytes(buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> PriorFile:
        """Read a prior file; ``ValueError`` with a clear message if it is not one."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {k: data[k] for k in data.files if k != "meta"}
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(f"{path} is not a readable COMBINER prior file ({err})") from None
        if meta.get("format") != "combiner-prior-1":
            raise ValueError(f"{path} is not a COMBINER prior file")
        config = INRConfig(**meta["config"])
        state = {
            k[len("prior_") :]: torch.from_numpy(v)
            for k, v in arrays.items()
            if k.startswith("prior_")
        }
        prior = prior_from_state(meta["prior"], state, config.layer_of_param())
        return cls(
            config,
            prior,
            meta["beta"],
            meta["kappa"],
            arrays["kl_bits_per_weight"],
            meta["partition_seed"],
            meta["init_variance"],
            meta["lr"],
        )


def default_device() -> str:
    """``"cuda"`` when a GPU is available, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _batch_tensors(images: np.ndarray, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    b, h, w, c = images.shape
    coords = image_grid((h, w)).expand(b, -1, -1).to(device)
    values = torch.from_numpy(images.reshape(b, h * w, c)).float().to(device)
    return coords, values


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
) -> PriorFile:
    """Algorithm 1: alternate posterior fitting on training images with closed-form prior updates.

    Args:
        images: ``(M, H, W, C)`` training images in [0, 1].
        config: architecture; COMBINER's CIFAR net by default.
        prior: ``"learned"`` or ``"isotropic"``.
        beta: rate-distortion trade-off.
        kappa: block budget in bits (also log2 of the candidates per block).
        preset: iteration counts (see :data:`PRESETS`).
        init_variance: initial posterior variance.
        lr: Adam learning rate.
        seed: seed of initialisation, noise and the partition permutation.
        device: where to fit (default: a GPU when there is one).

    Returns:
        The prior file contents.
    """
    images = check_images(images)
    schedule = _preset(preset)
    config = config or INRConfig(out_dim=images.shape[-1])
    device = device or default_device()
    coords, values = _batch_tensors(images, device)
    current = initial_prior(prior, config.layer_of_param())
    net = VariationalINR(config, images.shape[0], init_variance, seed, device)
    for epoch in tqdm(range(schedule.prior_epochs), desc="prior epochs"):
        steps = schedule.prior_first_steps if epoch == 0 else schedule.prior_steps
        penalties = BlockPenalties.constant(config.num_params, images.shape[0], beta, device)
        fit_posteriors(
            net,
            coords,
            values,
            current,
            penalties,
            steps,
            lr,
            seed=seed + epoch,
            compile_loss=schedule.compile_loss,
        )
        current.update(net.mean, net.std)
    mean, std = net.mean.detach().double().cpu(), net.std.detach().double().cpu()
    kl = gaussian_kl_nats(mean, std, current.mean, current.std)
    kl_bits = (kl * LOG2E).mean(dim=0).detach().numpy()
    return PriorFile(config, current, beta, kappa, kl_bits, seed, init_variance, lr)


def reconstruct(weights: np.ndarray, config: INRConfig, shape: tuple[int, int, int]) -> np.ndarray:
    """Decode weights ``(num_params,)`` into an 8-bit image ``(H, W, C)``.

    Runs in float64 on the CPU, so encoder and decoder agree bit for bit on any machine.
    """
    h, w, c = shape
    features = fourier_features(image_grid((h, w), torch.float64)[None], config)
    with torch.no_grad():
        out = forward(features, torch.from_numpy(weights)[None], None, config)
    pixels = np.clip(out[0].numpy().reshape(h, w, c), 0.0, 1.0)
    return np.round(pixels * 255.0).astype(np.uint8)


def psnr(reference: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR in dB of an 8-bit reconstruction against a [0, 1] reference."""
    mse = float(np.mean((np.asarray(decoded, dtype=np.float64) / 255.0 - reference) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


@dataclass
class CompressResult:
    """One compressed image: the file bytes and what the decoder will rebuild from them."""

    data: bytes
    reconstruction: np.ndarray
    bpp: float
    psnr_db: float
    kl_bits: float


@dataclass
class _Fitted:
    """A fitted batch: posteriors, data, fine-tuning options and the prior each datum codes with."""

    net: VariationalINR
    coords: torch.Tensor
    values: torch.Tensor
    options: dict
    prior_std: np.ndarray  # (batch, num_params) float64, exactly what the decoder rebuilds
    side_info: list[bytes]


def _fit(
    images: np.ndarray, pf: PriorFile, schedule: Preset, seed: int, device: str | None
) -> _Fitted:
    """Fit the batch's posteriors under the prior with Algorithm 4's per-block penalties."""
    batch = images.shape[0]
    device = device or default_device()
    coords, values = _batch_tensors(images, device)
    net = VariationalINR(pf.config, batch, pf.init_variance, seed, device)
    start = pf.prior.initial_posterior_mean()
    if start is not None:
        with torch.no_grad():
            net.mean.copy_(start.float().to(device).expand(batch, -1))
    params = pf.prior.datum_parameters(batch)
    options = {
        "prior": pf.prior,
        "penalties": penalties_for(pf.blocks, batch, pf.beta, pf.kappa, device),
        "lr": schedule.posterior_lr or pf.lr,
        "compile_loss": schedule.compile_loss,
    }
    fit_posteriors(
        net,
        coords,
        values,
        steps=schedule.posterior_steps,
        seed=seed,
        progress="fitting posteriors",
        prior_params=params,
        **options,
    )
    side_info = pf.prior.side_info(params)
    if side_info:
        # Code with the prior the decoder will see: rebuilt from the float32 side information.
        prior_std = torch.stack([pf.prior.std_from_side_info(s) for s in side_info])
        scales = prior_std[:, _first_of_each_layer(pf)]
        options["prior_params"] = torch.log(scales).float().to(device)
    else:
        prior_std = pf.prior.std.expand(batch, -1)
    return _Fitted(net, coords, values, options, prior_std.numpy(), side_info)


def _kl_bits(fitted: _Fitted, pf: PriorFile) -> np.ndarray:
    """KL of each datum's posterior from the prior it codes with, in bits; ``(batch,)``."""
    mean = fitted.net.mean.detach().double().cpu()
    std = fitted.net.std.detach().double().cpu()
    kl = gaussian_kl_nats(mean, std, pf.prior.mean, torch.from_numpy(fitted.prior_std))
    return (kl * LOG2E).sum(dim=1).numpy()


def _first_of_each_layer(pf: PriorFile) -> torch.Tensor:
    return torch.tensor([weight.start for weight, _ in pf.config.layer_slices()])


def _checked_batch(images: np.ndarray, pf: PriorFile) -> np.ndarray:
    images = check_images(images)
    if images.shape[-1] != pf.config.out_dim:
        raise ValueError(
            f"the prior models {pf.config.out_dim} channels, the images have {images.shape[-1]}"
        )
    return images


def compress(
    images: np.ndarray,
    prior_file: PriorFile,
    coder: str = "astar",
    preset: str | Preset = "fast",
    seed: int = 0,
    finetune: bool = True,
    device: str | None = None,
) -> list[CompressResult]:
    """Compress a batch of images with progressive relative entropy coding.

    Fits each image's posterior under the prior with Algorithm 4's per-block penalties, then
    codes block after block with the rectools ``coder``, fine-tuning the blocks not yet sent
    between two blocks (unless ``finetune`` is off).

    Args:
        images: ``(B, H, W, C)`` in [0, 1].
        prior_file: the shared prior.
        coder: a rectools coder name.
        preset: iteration counts.
        seed: the files' shared seed.
        finetune: fine-tune remaining blocks after each coded block.
        device: where to fit (default: a GPU when there is one). Coding and the reported
            reconstruction run on the CPU in float64 whatever the device.

    Returns:
        One :class:`CompressResult` per image; ``bpp`` counts every byte of the file.
    """
    pf = prior_file
    images = _checked_batch(images, pf)
    schedule = _preset(preset)
    rec = rectools.get_coder(coder)
    fitted = _fit(images, pf, schedule, seed, device)
    kl_bits = _kl_bits(fitted, pf)
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
    )
    model = rectools.UniformIndexModel(2**pf.kappa)
    results = []
    for b in range(images.shape[0]):
        header = container.Header(
            "image",
            images.shape[1:],
            pf.content_hash,
            coder,
            model.name,
            pf.kappa,
            seed,
            len(pf.blocks),
            fitted.side_info[b] if fitted.side_info else b"",
        )
        data = container.pack(header, model.compress(indices[b]))
        picture = reconstruct(weights[b], pf.config, images.shape[1:])
        pixels = images.shape[1] * images.shape[2]
        results.append(
            CompressResult(
                data, picture, 8 * len(data) / pixels, psnr(images[b], picture), float(kl_bits[b])
            )
        )
    return results


@dataclass
class ExactSampleEstimate:
    """COMBINER's "theoretical" reference: a true posterior sample at a rate of its KL.

    Not a file: ``bpp`` is an estimate (KL bits per pixel) that no real coder reaches.
    """

    bpp_estimate: float
    psnr_db: float


def estimate_exact_sample(
    images: np.ndarray,
    prior_file: PriorFile,
    preset: str | Preset = "fast",
    seed: int = 0,
    device: str | None = None,
) -> list[ExactSampleEstimate]:
    """Rate = KL(q || p) and distortion of one exact posterior sample, per image (Figure 4)."""
    pf = prior_file
    images = _checked_batch(images, pf)
    fitted = _fit(images, pf, _preset(preset), seed, device)
    mean = fitted.net.mean.detach().double().cpu()
    std = fitted.net.std.detach().double().cpu()
    side_bits = 8 * np.array([len(s) for s in fitted.side_info] or [0] * images.shape[0])
    kl_bits = _kl_bits(fitted, pf) + side_bits
    noise = torch.randn(
        mean.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )
    samples = (mean + std * noise).numpy()
    pixels = images.shape[1] * images.shape[2]
    return [
        ExactSampleEstimate(
            float(kl_bits[b]) / pixels,
            psnr(images[b], reconstruct(samples[b], pf.config, images.shape[1:])),
        )
        for b in range(images.shape[0])
    ]


def decompress(data: bytes, prior_file: PriorFile) -> np.ndarray:
    """Rebuild the 8-bit image ``(H, W, C)`` from a .cmb file and its prior.

    Raises:
        container.ContainerError: corrupt, truncated or foreign file, or one made with
            another prior.
    """
    header, payload = container.unpack(data)
    pf = prior_file
    if header.prior_hash != pf.content_hash:
        raise container.ContainerError(
            "the file was made with a different prior than the one given"
        )
    if header.num_blocks != len(pf.blocks) or header.log2_num_candidates != pf.kappa:
        raise container.ContainerError("the file does not match the prior's block structure")
    if len(header.shape) != 3 or header.shape[-1] != pf.config.out_dim:
        raise container.ContainerError(f"the file's shape {header.shape} does not fit the prior")
    try:
        indices = rectools.UniformIndexModel(2**header.log2_num_candidates).decompress(
            payload, header.num_blocks
        )
    except ValueError as err:
        raise container.ContainerError(f"the file is corrupt ({err})") from None
    try:
        prior_std = pf.prior.std_from_side_info(header.side_info)
    except ValueError as err:
        raise container.ContainerError(f"the file is corrupt ({err})") from None
    weights = decode_weights(
        indices,
        pf.prior.mean.numpy(),
        prior_std.numpy(),
        pf.blocks,
        rectools.get_coder(header.coder),
        header.log2_num_candidates,
        header.seed,
    )
    return reconstruct(weights, pf.config, header.shape)
