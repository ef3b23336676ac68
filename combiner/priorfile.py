"""The prior file: what encoder and decoder share besides a ``.cmb`` file.

A prior file (``.npz``) holds the network architecture, the weight prior, the block
partition's inputs and an optional index model, with JSON metadata.
[`PriorFile.load`][combiner.priorfile.PriorFile.load] trusts nothing in it: every array's
header is checked before its data is read, every field is type- and range-checked, and
anything wrong is a [`PriorError`][combiner.errors.PriorError].

Examples:
    >>> from combiner.shipped import load_prior
    >>> prior = load_prior("cifar-learned-beta2e-06")
    >>> prior.modality, prior.data_shape, prior.config.num_params
    ('image', (32, 32, 3), 1123)
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import rectools
from combiner.errors import PriorError
from combiner.inr import INRConfig
from combiner.limits import (
    MAX_AXES,
    MAX_BLOCKS,
    MAX_CHANNELS,
    MAX_META_BYTES,
    MAX_PARAMS,
    MAX_PRIOR_FILE_BYTES,
    check_grid,
)
from combiner.partition import next_fit_blocks
from combiner.priors import Prior, prior_class
from combiner.safeio import write_atomically
from combiner.signals import available_modalities
from rectools.index_models import bucket_table

#: Largest block budget a prior file may set (blocks of 2**24 candidates take minutes to code).
MAX_KAPPA = 24


@dataclass
class PriorFile:
    """What encoder and decoder share besides the .cmb file: architecture, prior, partition.

    Attributes:
        config: the network architecture.
        prior: the weight prior.
        beta: the rate-distortion trade-off it was trained at.
        kappa: block budget in bits; each block is coded with ``2 ** kappa`` candidates.
        kl_bits_per_weight: ``(num_params,)`` mean KL of each weight on the training data,
            the input of the partition.
        partition_seed: seed of the partition's permutation.
        init_variance: initial posterior variance for new data.
        lr: Adam learning rate for new data (unless the preset sets one).
        modality: the kind of signal it models.
        data_shape: the per-datum shape ``(*grid, channels)`` of its training data; files of
            that shape need not store it.
        index_bucket_probs: bucket probabilities of an empirical index model fitted on A*'s
            indices for training data (see
            [`attach_index_model`][combiner.codec.attach_index_model]), or ``None``: indices
            cost ``kappa`` bits each.
        blocks: the partition, derived from the fields above.
    """

    config: INRConfig
    prior: Prior
    beta: float
    kappa: int
    kl_bits_per_weight: np.ndarray
    partition_seed: int = 0
    init_variance: float = 9e-6
    lr: float = 2e-4
    modality: str = "image"
    data_shape: tuple[int, ...] | None = None
    index_bucket_probs: np.ndarray | None = None
    notes: dict[str, str] | None = None
    blocks: list[np.ndarray] = field(init=False)

    #: Mantissa bits of the shipped empirical index model's buckets (two per octave).
    INDEX_MANTISSA_BITS = 1

    def __post_init__(self) -> None:
        self.blocks = next_fit_blocks(self.kl_bits_per_weight, self.kappa, self.partition_seed)
        if self.data_shape is not None:
            self.data_shape = tuple(int(n) for n in self.data_shape)

    def index_model(self, coder: rectools.Coder) -> rectools.BucketIndexModel:
        """The model that entropy-codes ``coder``'s block indices.

        The fitted empirical model when the prior holds one and the coder's index favours
        small values (A*); otherwise uniform (``kappa`` bits per index).
        """
        n = 2**self.kappa
        if coder.index_model == "empirical" and self.index_bucket_probs is not None:
            return rectools.EmpiricalIndexModel(
                n, self.index_bucket_probs, self.INDEX_MANTISSA_BITS
            )
        return rectools.UniformIndexModel(n)

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"prior_{k}": v.numpy() for k, v in self.prior.state().items()}
        arrays["kl_bits_per_weight"] = self.kl_bits_per_weight
        if self.index_bucket_probs is not None:
            arrays["index_bucket_probs"] = self.index_bucket_probs
        return arrays

    def _meta(self) -> dict:
        meta = {
            "format": FORMAT,
            "config": self.config.to_dict(),
            "prior": self.prior.name,
            "beta": self.beta,
            "kappa": self.kappa,
            "partition_seed": self.partition_seed,
            "init_variance": self.init_variance,
            "lr": self.lr,
            "modality": self.modality,
        }
        # Later fields only when set, so older prior files keep their content hash.
        if self.data_shape is not None:
            meta["data_shape"] = list(self.data_shape)
        if self.notes:
            meta["notes"] = self.notes
        return meta

    @property
    def content_hash(self) -> bytes:
        """First 4 bytes of the SHA-256 of the metadata and arrays (files store a prefix)."""
        # Notes are for people: editing them must not orphan the files made with the prior.
        meta = {k: v for k, v in self._meta().items() if k != "notes"}
        digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
        for name, array in sorted(self._arrays().items()):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        return digest.digest()[:4]

    def save(self, path: str | Path) -> None:
        """Write the prior file (``.npz``: metadata as JSON plus arrays) to ``path``, atomically."""
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array(json.dumps(self._meta())), **self._arrays())
        write_atomically(Path(path), buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> PriorFile:
        """Read and validate a prior file.

        Only the arrays a prior needs are read, each after its header is checked (dtype,
        shape), so a hostile file costs at most its own size (<= 64 MiB) in memory; every
        metadata field is type- and range-checked.

        Raises:
            PriorError: unreadable, not a prior file, malformed, inconsistent or too large
                (the message says which field).
        """
        path = Path(path)
        try:
            if path.stat().st_size > MAX_PRIOR_FILE_BYTES:
                raise PriorError(
                    f"{path} is over {MAX_PRIOR_FILE_BYTES // 2**20} MiB: not a COMBINER prior"
                )
            raw = path.read_bytes()
        except OSError as err:
            raise PriorError(f"cannot read prior file {path}: {err.strerror or err}") from None
        try:
            return _parse(raw)
        except PriorError as err:
            raise PriorError(f"{path} is not a valid COMBINER prior file: {err}") from None


FORMAT = "combiner-prior-1"
# No array a prior needs is larger: a float64 value per weight, or the metadata's characters.
_MAX_MEMBER_BYTES = max(8 * MAX_PARAMS, 4 * MAX_META_BYTES)
_CONFIG_RANGES = {
    "coord_dim": (1, MAX_AXES),
    "out_dim": (1, MAX_CHANNELS),
    "hidden": (1, 4096),
    "layers": (2, 64),
    "fourier": (2, 4096),
}


def _member(archive: zipfile.ZipFile, name: str) -> tuple[np.dtype, tuple[int, ...], bytes]:
    """One ``.npy`` member's dtype, shape and raw bytes, reading no more than it claims."""
    try:
        with archive.open(f"{name}.npy") as fp:
            version = np.lib.format.read_magic(fp)
            readers = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }
            if version not in readers:
                raise PriorError(f"array {name!r} has .npy version {version}")
            shape, _, dtype = readers[version](fp)
            if dtype.hasobject or len(shape) > 1 or any(n > MAX_PARAMS for n in shape):
                raise PriorError(f"array {name!r} has shape {shape}, dtype {dtype}")
            size = math.prod(shape) * dtype.itemsize
            if size > _MAX_MEMBER_BYTES:
                raise PriorError(f"array {name!r} claims {size:,} bytes")
            raw = fp.read(size)
    except KeyError:
        raise PriorError(f"array {name!r} is missing") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as err:
        raise PriorError(f"array {name!r} is unreadable ({err})") from None
    if len(raw) != size:
        raise PriorError(f"array {name!r} is truncated")
    return dtype, shape, raw


def _array(archive: zipfile.ZipFile, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A finite float array of exactly ``shape``, as float64."""
    dtype, found, raw = _member(archive, name)
    if dtype.kind != "f" or found != shape:
        raise PriorError(f"array {name!r} is {dtype} of shape {found}; expected floats {shape}")
    values = np.frombuffer(raw, dtype=dtype).astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise PriorError(f"array {name!r} holds NaN or infinite values")
    return values


def _meta(archive: zipfile.ZipFile) -> dict:
    dtype, shape, raw = _member(archive, "meta")
    if dtype.kind != "U" or shape != () or len(raw) > 4 * MAX_META_BYTES:
        raise PriorError("its metadata is not a JSON string of at most 64 KiB")
    try:
        meta = json.loads(np.frombuffer(raw, dtype=dtype)[0].item())
    except (ValueError, RecursionError):
        raise PriorError("its metadata is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise PriorError(f"its metadata does not say format {FORMAT!r}")
    return meta


def _int(meta: dict, key: str, low: int, high: int) -> int:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PriorError(f"{key} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _float(meta: dict, key: str, positive: bool = True) -> float:
    value = meta.get(key)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        sign = "positive" if positive else "non-negative"
        raise PriorError(f"{key} must be a finite {sign} number, got {value!r}")
    return float(value)


def _config(meta: dict) -> INRConfig:
    fields = meta.get("config")
    if not isinstance(fields, dict) or set(fields) - set(INRConfig.__dataclass_fields__):
        raise PriorError("config must hold INRConfig fields only")
    values = {key: _int(fields, key, *bounds) for key, bounds in _CONFIG_RANGES.items()}
    values.update({key: _float(fields, key) for key in ("max_frequency", "w0")})
    try:
        config = INRConfig(**values)
    except ValueError as err:
        raise PriorError(f"config: {err}") from None
    if config.num_params > MAX_PARAMS:
        raise PriorError(f"the network has {config.num_params:,} weights (limit {MAX_PARAMS:,})")
    return config


def _data_shape(meta: dict, config: INRConfig) -> tuple[int, ...] | None:
    shape = meta.get("data_shape")
    if shape is None:
        return None
    if (
        not isinstance(shape, list)
        or len(shape) != config.coord_dim + 1
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in shape)
        or shape[-1] != config.out_dim
    ):
        raise PriorError(f"data_shape {shape!r} does not fit the network")
    check_grid(tuple(shape[:-1]), shape[-1], PriorError)
    return tuple(shape)


def _notes(meta: dict) -> dict[str, str] | None:
    notes = meta.get("notes")
    if notes is not None and not (
        isinstance(notes, dict) and all(isinstance(v, str) for v in notes.values())
    ):
        raise PriorError("notes must map names to text")
    return notes


def _parse(raw: bytes) -> PriorFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise PriorError(f"not an .npz archive ({err})") from None
    with archive:
        meta = _meta(archive)
        config = _config(meta)
        kind = meta.get("prior")
        try:
            prior_type = prior_class(kind)
        except ValueError as err:
            raise PriorError(str(err)) from None
        modality = meta.get("modality", "image")
        if modality not in available_modalities():
            raise PriorError(f"unknown modality {modality!r}")
        kappa = _int(meta, "kappa", 1, MAX_KAPPA)
        n, layers = config.num_params, len(config.layer_shapes)
        shapes = prior_type.state_shapes(n, layers)
        state = {k: torch.from_numpy(_array(archive, f"prior_{k}", s)) for k, s in shapes.items()}
        if any(k.endswith("std") and not bool(torch.all(v > 0)) for k, v in state.items()):
            raise PriorError("prior standard deviations must be positive")
        kl_bits = _array(archive, "kl_bits_per_weight", (n,))
        if np.any(kl_bits < 0):
            raise PriorError("kl_bits_per_weight must be non-negative")
        probs = None
        if "index_bucket_probs.npy" in archive.namelist():
            buckets = len(bucket_table(2**kappa, PriorFile.INDEX_MANTISSA_BITS)[0])
            probs = _array(archive, "index_bucket_probs", (buckets,))
            if np.any(probs < 0) or probs.sum() <= 0:
                raise PriorError("index_bucket_probs must be non-negative, not all zero")
        prior = prior_type.from_state(state, config.layer_of_param())
        pf = PriorFile(
            config,
            prior,
            _float(meta, "beta", positive=False),
            kappa,
            kl_bits,
            _int(meta, "partition_seed", 0, 2**63 - 1),
            _float(meta, "init_variance"),
            _float(meta, "lr"),
            modality,
            _data_shape(meta, config),
            probs,
            _notes(meta),
        )
    if len(pf.blocks) > MAX_BLOCKS:
        raise PriorError(f"its partition has {len(pf.blocks):,} blocks (limit {MAX_BLOCKS:,})")
    return pf
