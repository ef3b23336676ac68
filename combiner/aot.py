"""The fused fitting step compiled ahead of time (AOTInductor) and kept on disk.

``torch.compile`` traces the step anew in every process: on the 2-core CPU its first call
takes about 4.5 s even when inductor's caches are warm (dynamo's tracing, inductor's imports,
a compiler probe per kernel), a third of a one-image ``combiner compress``. Here the step of
[`combiner.fused`][combiner.fused] is exported once with ``torch.export`` (batch, grid points
and blocks left dynamic), compiled by AOTInductor into a shared library and stored under the
user's cache directory; a later process loads it in about a millisecond and calls it with no
Python-side tracing or guards (about 0.5 ms per CIFAR step at batch 1 on one thread, against
0.65-0.75 ms through ``torch.compile``). Building one takes about as long as a cold
``torch.compile`` (15-30 s), once per architecture, torch version and CPU. Used for fits
on one torch thread (one small signal, ``compress_many``'s workers); others go through
``torch.compile``.

A library is named by a digest of everything it depends on: torch's version, the CPU (model
and instruction-set flags: inductor compiles with ``-march=native``), the network and Adam's
constants, the input dtypes, and the source of the modules that define the step; changing
any of them builds a new one. Processes that need the same library at once let one build it (a file
lock); it is written under a temporary name, then renamed, and its name carries a digest of
its bytes, checked before it is loaded. CPUs only: on a GPU the step goes through
``torch.compile``.

``COMBINER_CACHE_DIR`` chooses the directory (default ``$XDG_CACHE_HOME/combiner``, else
``~/.cache/combiner``).
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import torch
from filelock import FileLock
from tqdm import tqdm

from combiner.fused import StepInputs, fused_step
from combiner.inr import INRConfig

#: The modules whose source defines the exported step.
_SOURCES = ("aot.py", "fused.py", "inr.py", "priors.py")
#: Example sizes for the export: distinct primes above 1 (torch.export fixes a dimension of size
#: 0 or 1 to that size), unlikely to equal a fixed size of a network (if one does and the export
#: confuses them, the build fails and fitting falls back to torch.compile).
_EXAMPLE_BATCH, _EXAMPLE_POINTS, _EXAMPLE_BLOCKS = 13, 17, 19


def cache_dir() -> Path:
    """Where compiled steps are kept (``COMBINER_CACHE_DIR``, else the user's cache)."""
    chosen = os.environ.get("COMBINER_CACHE_DIR")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "combiner"


class _Step(torch.nn.Module):
    """[`fused_step`][combiner.fused.fused_step] as a function that returns what it updates
    (an exported program's outputs), its inputs flat."""

    def __init__(self, config: INRConfig, betas: tuple[float, float], eps: float) -> None:
        super().__init__()
        self.config, self.betas, self.eps = config, betas, eps

    def forward(
        self,
        mean: torch.Tensor,
        rho: torch.Tensor,
        state: tuple[torch.Tensor, ...],
        lr: torch.Tensor,
        inputs: list[torch.Tensor],
    ) -> tuple[torch.Tensor, ...]:
        mean, rho = mean.clone(), rho.clone()
        state = tuple(tensor.clone() for tensor in state)
        mse, block_kl = fused_step(
            self.config, mean, rho, state, lr, self.betas, self.eps, _unflatten(self.config, inputs)
        )
        return (mean, rho, *state, mse, block_kl)


def _flatten(inputs: StepInputs) -> list[torch.Tensor]:
    return [inputs.features, inputs.values, *inputs.noise, *inputs[3:]]


def _unflatten(config: INRConfig, flat: list[torch.Tensor]) -> StepInputs:
    layers = len(config.layer_shapes)
    return StepInputs(flat[0], flat[1], list(flat[2 : 2 + layers]), *flat[2 + layers :])


def _example(
    config: INRConfig, mean: torch.Tensor, state: tuple, lr: torch.Tensor, inputs: StepInputs
) -> tuple:
    """Export arguments shaped like the real ones, with the example batch, points, blocks."""
    batch, points, blocks = _EXAMPLE_BATCH, _EXAMPLE_POINTS, _EXAMPLE_BLOCKS
    n = config.num_params
    params = torch.zeros(batch, n, dtype=mean.dtype)
    flat = [
        torch.zeros(batch, points, inputs.features.shape[2], dtype=inputs.features.dtype),
        torch.zeros(batch, points, inputs.values.shape[2], dtype=inputs.values.dtype),
        *(torch.ones(batch, points, noise.shape[2], dtype=noise.dtype) for noise in inputs.noise),
        torch.zeros(n, dtype=inputs.prior_mean.dtype),
        torch.ones(
            (n,) if inputs.prior_std.dim() == 1 else (batch, n), dtype=inputs.prior_std.dtype
        ),
        torch.ones(batch, blocks, dtype=inputs.lam.dtype),
        torch.zeros(n, dtype=inputs.block_of_param.dtype),
        torch.zeros(batch, n, dtype=torch.bool),
        torch.zeros(batch, n, dtype=inputs.frozen_values.dtype),
    ]
    state = tuple(
        tensor.new_zeros(()) if tensor.dim() == 0 else torch.zeros_like(params) for tensor in state
    )
    return (params, params.clone(), state, lr.new_zeros(()), flat)


def _dynamic_shapes(config: INRConfig, example: tuple) -> tuple:
    """Batch (dimension 0 of every per-datum tensor), points and blocks left free."""
    from torch.export import Dim

    batch, points, blocks = Dim("batch"), Dim("points"), Dim("blocks")
    per_datum = {0: batch}
    per_point = {0: batch, 1: points}
    layers = len(config.layer_shapes)
    prior_std = example[4][-5]
    inputs = [
        per_point,
        per_point,
        *([per_point] * layers),
        None,
        per_datum if prior_std.dim() == 2 else None,
        {0: batch, 1: blocks},
        None,
        per_datum,
        per_datum,
    ]
    state = tuple(None if tensor.dim() == 0 else per_datum for tensor in example[2])
    return (per_datum, per_datum, state, None, inputs)


def _build(config: INRConfig, betas: tuple[float, float], eps: float, example: tuple) -> bytes:
    """Export and compile the step for ``example``'s kind of inputs: the library's bytes."""
    from torch.export import export

    with (
        warnings.catch_warnings(),  # torch's deprecation notices are not the user's concern
        tempfile.TemporaryDirectory(prefix="combiner-aot-") as folder,
    ):
        warnings.simplefilter("ignore")
        program = export(
            _Step(config, betas, eps), example, dynamic_shapes=_dynamic_shapes(config, example)
        )
        package = torch._inductor.aoti_compile_and_package(
            program, package_path=os.path.join(folder, "step.pt2")
        )
        with zipfile.ZipFile(package) as archive:
            [library] = [name for name in archive.namelist() if name.endswith(".so")]
            return archive.read(library)


def _source_digest() -> str:
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def _cpu_identity() -> str:
    """The CPU's model and instruction-set flags: inductor compiles with ``-march=native``, so
    a library from another CPU (a home directory shared between machines) may not run here."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            lines = [line for line in info.read(1 << 20).splitlines() if ":" in line]
    except OSError:
        return platform.processor()
    fields = {}
    for line in lines:
        key, value = line.split(":", 1)
        fields.setdefault(key.strip(), value.strip())  # the first processor's
    return f"{fields.get('model name')}|{fields.get('flags') or fields.get('Features')}"


def _library_stem(kind: tuple) -> Path:
    identity = (
        torch.__version__,
        platform.machine(),
        torch.backends.cpu.get_cpu_capability(),
        _cpu_identity(),
        sys.version_info[:2],
        _source_digest(),
        kind,
    )
    name = hashlib.sha256(repr(identity).encode()).hexdigest()[:32]
    return cache_dir() / "aot-step" / name


def _content_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _private_folder(folder: Path) -> None:
    """Create ``folder`` for this user only, and refuse one that others may write to: a
    library planted there would run as this user."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o022):
        raise PermissionError(f"{folder} is writable by other users; set COMBINER_CACHE_DIR")


def _load_or_build(stem: Path, build: Callable[[], bytes]) -> object:
    """The library cached as ``{stem}-{digest of its bytes}.so``, built and stored first if
    there is none whose bytes match its name (a truncated or altered file is replaced: a
    damaged library may load and then crash).

    Processes that need the same library at once wait for one to build it (a file lock), and
    it is written under a temporary name, then renamed, so none loads a half-written file.
    """
    _private_folder(stem.parent)
    with FileLock(f"{stem}.lock"):
        intact = None
        for path in stem.parent.glob(f"{stem.name}-*.so"):
            if path.name == f"{stem.name}-{_content_digest(path.read_bytes())}.so":
                intact = path
            else:
                path.unlink(missing_ok=True)
        if intact is None:
            tqdm.write("combiner: compiling the fitting step for this CPU (once)", file=sys.stderr)
            data = build()
            intact = stem.parent / f"{stem.name}-{_content_digest(data)}.so"
            with tempfile.NamedTemporaryFile(dir=stem.parent, suffix=".part", delete=False) as part:
                part.write(data)
            os.replace(part.name, intact)
        return torch._C._aoti.AOTIModelContainerRunnerCpu(str(intact), 1)


class AheadOfTimeStep:
    """[`fused_step`][combiner.fused.fused_step] through an AOTInductor library, built on
    first use and cached on disk; ``fallback`` (e.g. the ``torch.compile`` of the step) runs
    whatever it does not take: other devices, several torch threads, one block, a failed build.

    Args:
        fallback: called with the same arguments when the library cannot be used.

    Example:
        >>> from combiner.aot import AheadOfTimeStep
        >>> from combiner.fused import fused_step
        >>> step = AheadOfTimeStep(fused_step)  # call it as fused_step
    """

    #: Loaded libraries (``None``: could not be built or loaded) by kind of input.
    _runners: ClassVar[dict[tuple, object]] = {}

    def __init__(self, fallback: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.fallback = fallback

    def _runner(self, kind: tuple, build: Callable[[], bytes]) -> object:
        if kind not in self._runners:
            runner = None
            try:
                runner = _load_or_build(_library_stem(kind), build)
            except Exception as err:  # no compiler, unwritable cache, unloadable library
                message = f"combiner: ahead-of-time compilation failed ({type(err).__name__})"
                tqdm.write(f"{message}; using torch.compile", file=sys.stderr)
            self._runners[kind] = runner
        return self._runners[kind]

    def __call__(
        self,
        config: INRConfig,
        mean: torch.Tensor,
        rho: torch.Tensor,
        state: tuple[torch.Tensor, ...],
        lr: torch.Tensor,
        betas: tuple[float, float],
        eps: float,
        inputs: StepInputs,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step, as [`fused_step`][combiner.fused.fused_step]: updates ``mean``, ``rho``
        and ``state`` in place and returns ``(mse, block KL in nats)``."""
        runner = None
        # One-thread fits only (one small signal, compress_many's workers): there it is faster
        # (a batch of 10, fresh processes: 8.16 s per image against 8.76). On two threads a
        # batch of 10 took 5.69 s per image against torch.compile's 4.58 (fitting 2.53 against
        # 1.72 s), though the step alone is about as fast (fused_step.py): not yet explained.
        if mean.device.type == "cpu" and inputs.lam.shape[1] > 1 and torch.get_num_threads() == 1:
            tensors = [mean, rho, *state, lr, *_flatten(inputs)]
            dtypes = tuple(tensor.dtype for tensor in tensors)
            kind = (config, tuple(betas), eps, dtypes, inputs.prior_std.dim())
            runner = self._runner(
                kind,
                lambda: _build(config, betas, eps, _example(config, mean, state, lr, inputs)),
            )
        if runner is None:
            return self.fallback(config, mean, rho, state, lr, betas, eps, inputs)
        outputs = runner.run([tensor.contiguous() for tensor in tensors])
        for target, value in zip((mean, rho, *state), outputs, strict=False):
            target.copy_(value)
        return outputs[-2], outputs[-1]
