"""Compressing a folder of signals: resumable, fault-tolerant, on one machine or a Ray cluster.

[`compress_dataset`][combiner.dataset.compress_dataset] lists the input folder (images, WAV,
``.npy``; sub-folders too), cuts the sorted list into batches of ``batch_size`` files, and runs
every batch not yet done on an engine ([`combiner.engines`][combiner.engines]: this process,
local processes, or Ray). A batch's files are fitted together, so a file's bytes depend on the
batch it is in, never on the engine, the worker or the order batches finish in: with the same
settings every engine writes byte-identical files (each batch runs on ``threads`` torch threads,
one by default, so thread counts cannot change the arithmetic either).

Only the driver writes. Each output is written atomically (a killed job never leaves a
half-written file) and then recorded in ``OUT_DIR/manifest.jsonl``, one JSON line per file:
its checksum (SHA-256), size, rate, PSNR, the prior's content hash and the settings. A rerun
skips every file whose line matches the settings and whose output still has that checksum, and
redoes the batches of the rest (missing, corrupt, made with other settings, or lost with a
worker that died more often than the engine retries); a file that failed on its own
(unreadable, out of limits) is recorded with its error and not retried until it changes.

Examples:
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> from combiner.dataset import compress_dataset
    >>> folder = Path(tempfile.mkdtemp())
    >>> for i in range(2):
    ...     pixels = np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    ...     Image.fromarray(pixels).save(folder / f"{i}.png")
    >>> summary = compress_dataset(folder, folder / "out", preset="tiny", progress=False)
    >>> summary.done, summary.failed
    (2, 0)
    >>> compress_dataset(folder, folder / "out", preset="tiny", progress=False).skipped
    2
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from combiner import codec, container
from combiner.engines import Engine, engine_for
from combiner.errors import CombinerError, InputError
from combiner.inputs import MODALITY_OF_SUFFIX, read_signal
from combiner.priorfile import PriorFile
from combiner.safeio import write_atomically
from combiner.shipped import default_prior_name, load_prior
from combiner.threads import torch_threads

MANIFEST = "manifest.jsonl"
#: Suffixes listed as inputs besides ``.png``, ``.jpg``, ``.wav`` and ``.npy`` (Pillow reads
#: them).
EXTRA_IMAGE_SUFFIXES = (".bmp", ".tif", ".tiff", ".webp", ".gif")


@dataclass(frozen=True)
class Settings:
    """Everything a batch's bytes depend on besides its files (recorded with each file)."""

    prior: str | None = None
    preset: str = "fast"
    seed: int = 0
    coder: str = "astar"
    batch_size: int = 8
    threads: int = 1
    sample_rate: int = 16_000
    channels_last: bool = False


@dataclass(frozen=True)
class Batch:
    """Files coded together: their paths relative to the input folder, and the folder."""

    index: int
    root: str
    inputs: tuple[str, ...]


@dataclass
class FileResult:
    """One file's outcome as a worker reports it (``data`` is ``None`` when it failed)."""

    input: str
    data: bytes | None = None
    error: str | None = None
    prior: str | None = None
    prior_hash: str | None = None
    rate: float = float("nan")
    rate_unit: str = ""
    bpp: float = float("nan")
    psnr_db: float = float("nan")


@dataclass
class DatasetSummary:
    """What a run did: counts, bytes, mean rate and PSNR of the files it coded, throughput.

    Attributes:
        files: inputs listed.
        done: files coded by this run.
        skipped: files coded by an earlier run (checksum verified).
        failed: files that could not be coded (this run or earlier); see ``failures``.
        bytes: total size of the files coded by this run.
        mean_bpp: mean bits per grid point of the files coded by this run.
        mean_psnr_db: their mean PSNR.
        seconds: wall time of this run.
        files_per_second: ``done / seconds``.
        failures: ``input -> error`` for every failed file.
        engine: the engine's name and its workers.
    """

    files: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    mean_bpp: float = float("nan")
    mean_psnr_db: float = float("nan")
    seconds: float = 0.0
    files_per_second: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)
    engine: str = ""

    def __str__(self) -> str:
        counts = (
            f"{self.files} files: {self.done} coded, {self.skipped} already done, "
            f"{self.failed} failed"
        )
        if not self.done:
            return f"{counts} ({self.engine})"
        return (
            f"{counts}; {self.bytes} bytes, mean {self.mean_bpp:.3f} bpp, "
            f"{self.mean_psnr_db:.2f} dB; {self.seconds:.1f} s, "
            f"{self.files_per_second:.2f} files/s on {self.engine}"
        )


def list_inputs(root: Path, exclude: Path | None = None) -> list[str]:
    """The signal files under ``root`` (recursively, sorted), relative to it; files under
    ``exclude`` (the output folder) are left out."""
    suffixes = set(MODALITY_OF_SUFFIX) | set(EXTRA_IMAGE_SUFFIXES)
    found = []
    for path in sorted(root.rglob("*")):
        if exclude is not None and path.is_relative_to(exclude):
            continue
        if path.is_file() and path.suffix.lower() in suffixes:
            found.append(path.relative_to(root).as_posix())
    return found


def output_name(input_name: str) -> str:
    """Where an input's file goes, relative to the output folder (``a/b.png -> a/b.png.cmb``:
    inputs differing only in suffix never collide)."""
    return input_name + ".cmb"


def compress_batch(batch: Batch, shared: tuple[Settings, PriorFile | None]) -> list[FileResult]:
    """Code one batch (the unit of work every engine runs): read its files, group them by
    modality and shape, compress each group together. A file that cannot be read or coded
    fails alone, with its error; the others are unaffected.
    """
    settings, prior_file = shared
    with torch_threads(settings.threads):
        return _compress_files(batch, settings, prior_file)


def _compress_files(
    batch: Batch, settings: Settings, prior_file: PriorFile | None
) -> list[FileResult]:
    results = {name: FileResult(name) for name in batch.inputs}
    groups: dict[tuple[str, tuple[int, ...]], list[tuple[str, np.ndarray]]] = {}
    for name in batch.inputs:
        try:
            signal, modality = read_signal(
                Path(batch.root) / name, settings.sample_rate, settings.channels_last
            )
        except (CombinerError, OSError) as err:
            results[name].error = str(err)
            continue
        groups.setdefault((modality, signal.shape), []).append((name, signal))
    for (modality, shape), members in groups.items():
        names = [name for name, _ in members]
        try:
            prior_name = settings.prior or default_prior_name(modality, shape)
            prior = prior_file or load_prior(prior_name)
            if prior.modality != modality:
                raise InputError(f"the prior models {prior.modality} data, not {modality}")
            coded = codec.compress(
                np.stack([signal for _, signal in members]),
                prior,
                coder=settings.coder,
                preset=settings.preset,
                seed=settings.seed,
                modality_options={"sample_rate": settings.sample_rate}
                if modality == "audio"
                else None,
            )
        except CombinerError as err:
            for name in names:
                results[name].error = str(err)
            continue
        for name, result in zip(names, coded, strict=True):
            results[name] = FileResult(
                name,
                result.data,
                None,
                prior_name,
                prior.content_hash.hex(),
                result.rate,
                result.rate_unit,
                result.bpp,
                result.psnr_db,
            )
    return [results[name] for name in batch.inputs]


class Manifest:
    """``manifest.jsonl`` of an output folder: one JSON line per finished file, appended.

    A line is written (and flushed to disk) only after its output file is in place; a torn last
    line from a killed run is ignored. Later lines win.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / MANIFEST
        self.entries: dict[str, dict] = {}
        if self.path.is_symlink() or (self.path.exists() and not self.path.is_file()):
            # Appending through a planted link would write into whatever it points at.
            raise InputError(f"{self.path} is not a regular file: remove it or pick another folder")
        if self.path.exists():
            for line in self.path.read_text(errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill
                if isinstance(entry, dict) and isinstance(entry.get("input"), str):
                    self.entries[entry["input"]] = entry

    def finished(self, name: str, settings: Settings, root: Path, out: Path) -> bool:
        """Whether ``name`` needs no more work: coded with these settings and its output
        intact, or failed with these settings and unchanged since."""
        entry = self.entries.get(name)
        if entry is None or entry.get("settings") != asdict(settings):
            return False
        if entry.get("status") == "failed":
            return entry.get("input_stamp") == _stamp(root / name)
        output = out / output_name(name)
        return output.is_file() and _sha256(output.read_bytes()) == entry.get("sha256")

    def append(self, entry: dict) -> None:
        """Record one file, durably."""
        self.entries[entry["input"]] = entry
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        with open(os.open(self.path, flags, 0o666), "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stamp(path: Path) -> list[int] | None:
    with contextlib.suppress(OSError):
        stat = path.stat()
        return [stat.st_size, stat.st_mtime_ns]
    return None


def _batches(names: list[str], root: Path, size: int) -> list[Batch]:
    return [
        Batch(i // size, str(root), tuple(names[i : i + size])) for i in range(0, len(names), size)
    ]


def compress_dataset(
    in_dir: str | Path,
    out_dir: str | Path,
    prior: str | None = None,
    preset: str = "fast",
    seed: int = 0,
    coder: str | None = None,
    batch_size: int = 8,
    engine: str | Engine = "local",
    workers: int = 1,
    threads: int = 1,
    sample_rate: int = 16_000,
    channels_last: bool = False,
    progress: bool = True,
    task: Callable[[Batch, tuple], list[FileResult]] = compress_batch,
    **engine_options: object,
) -> DatasetSummary:
    """Compress every signal under ``in_dir`` into ``out_dir``, resuming an earlier run.

    Args:
        in_dir: the input folder (searched recursively).
        out_dir: where ``.cmb`` files and ``manifest.jsonl`` go (created if missing; may lie
            inside ``in_dir``).
        prior: a shipped prior's name or a prior file; ``None`` picks the shipped prior for
            each file's kind and size.
        preset: a named schedule (see [`PRESETS`][combiner.codec.PRESETS]).
        seed: the files' shared seed.
        coder: ``"astar"``, ``"mrc"`` or ``"greedy"``; ``None``: the preset's.
        batch_size: files fitted together (a file's bytes depend on its batch).
        engine: ``"local"``, ``"ray"``, or an [`Engine`][combiner.engines.Engine].
        workers: worker processes (local) or CPUs of a local Ray.
        threads: torch threads per batch.
        sample_rate: what WAV inputs must be sampled at (Hz).
        channels_last: ``.npy`` inputs: the last axis holds channels.
        progress: one progress bar over all files.
        task: the function run per batch (wrap ``compress_batch`` to log or inject faults).
        **engine_options: passed to the engine (Ray: ``address``, ``retries``).

    Returns:
        A [`DatasetSummary`][combiner.dataset.DatasetSummary].

    Raises:
        InputError: the input folder is missing or holds no signal file, bad settings, or Ray
            asked for and not installed.
    """
    root, out = Path(in_dir).resolve(), Path(out_dir).resolve()
    if not root.is_dir():
        raise InputError(f"{in_dir} is not a folder")
    if batch_size < 1 or threads < 1:
        raise InputError("batch_size and threads must be at least 1")
    names = list_inputs(root, exclude=out)
    if not names:
        raise InputError(f"no image, WAV or .npy file under {in_dir}")
    # Fail now, not in every worker.
    if preset not in codec.PRESETS:
        raise InputError(f"unknown preset {preset!r}; choose one of {sorted(codec.PRESETS)}")
    coder = coder or codec.PRESETS[preset].coder
    coders = sorted({name for name, _ in container.CODER_STREAMS})
    if coder not in coders:
        raise InputError(f"the .cmb format has no coder {coder!r}; choose one of {coders}")
    settings = Settings(prior, preset, seed, coder, batch_size, threads, sample_rate, channels_last)
    prior_file = load_prior(prior) if prior else None
    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(out)
    todo = [
        b
        for b in _batches(names, root, batch_size)
        if not all(manifest.finished(n, settings, root, out) for n in b.inputs)
    ]
    redo = {name for batch in todo for name in batch.inputs}
    skipped = sum(1 for n in names if n not in redo and manifest.entries[n].get("status") == "ok")
    summary = DatasetSummary(files=len(names), skipped=skipped)
    with (
        engine_for(engine, workers, **engine_options) as runner,
        tqdm(
            total=len(names),
            initial=len(names) - len(redo),
            desc="files",
            disable=None if progress else True,
        ) as bar,
    ):
        summary.engine = f"{runner.name} ({runner.workers} workers)"
        start = time.perf_counter()
        coded: list[FileResult] = []
        for batch, outcome in runner.map_unordered(task, todo, (settings, prior_file)):
            for result, lost in _results_of(batch, outcome):
                entry = _record(result, settings, root, out, lost)
                manifest.append(entry)
                if result.data is not None:
                    coded.append(result)
            bar.update(len(batch.inputs))
    summary.seconds = time.perf_counter() - start
    summary.done = len(coded)
    listed = set(names)
    summary.failures = {
        name: e.get("error", "")
        for name, e in manifest.entries.items()
        if name in listed and e.get("status") in ("failed", "lost")
    }
    summary.failed = len(summary.failures)
    if coded:
        summary.bytes = sum(len(r.data or b"") for r in coded)
        summary.mean_bpp = float(np.mean([r.bpp for r in coded]))
        summary.mean_psnr_db = float(np.mean([r.psnr_db for r in coded]))
        summary.files_per_second = summary.done / summary.seconds
    return summary


def _results_of(
    batch: Batch, outcome: list[FileResult] | BaseException
) -> Iterator[tuple[FileResult, bool]]:
    """``(result, lost)`` per file; ``lost``: the whole batch died with its worker (more often
    than the retries allow), which a rerun retries, unlike a file's own failure."""
    if isinstance(outcome, BaseException):
        message = f"its batch was lost: {type(outcome).__name__}: {outcome}"
        yield from ((FileResult(name, error=message), True) for name in batch.inputs)
    else:
        yield from ((result, False) for result in outcome)


def _record(result: FileResult, settings: Settings, root: Path, out: Path, lost: bool) -> dict:
    """Write one result's file (if any) and return its manifest entry."""
    entry = {"input": result.input, "settings": asdict(settings)}
    if result.data is None:
        return {
            **entry,
            "status": "lost" if lost else "failed",
            "error": result.error,
            "input_stamp": _stamp(root / result.input),
        }
    target = out / output_name(result.input)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, result.data)
    return {
        **entry,
        "status": "ok",
        "output": output_name(result.input),
        "sha256": _sha256(result.data),
        "bytes": len(result.data),
        "rate": result.rate,
        "rate_unit": result.rate_unit,
        "bpp": result.bpp,
        "psnr_db": result.psnr_db,
        "prior": result.prior,
        "prior_hash": result.prior_hash,
    }
