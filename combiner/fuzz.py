"""Hostile inputs on demand: mutated and forged ``.cmb`` files, malformed prior files.

A seeded generator gives the same cases on every machine, so a failure found once is found
again. *Mutated* files are damaged valid files (bit flips, cuts, splices), which the checksum
mostly catches; *forged* files are built field by field with the checksum recomputed, so the
decoder's own checks must catch them: shapes of every size and dimension, absurd modality
parameters, 70-bit seeds, side information longer than the file, unknown coder and index-model
ids, random payloads. [`run_cases`][combiner.fuzz.run_cases] decodes each and records what
happened; the project's tests run a few hundred cases, ``benchmarks/fuzz_files.py`` ten
thousand.

Examples:
    >>> import numpy as np
    >>> from combiner import codec, container
    >>> from combiner.fuzz import FILE_ERRORS, forged_files, run_cases
    >>> from combiner.shipped import load_prior
    >>> prior = load_prior("cifar-learned-beta2e-05")
    >>> header = container.Header("image", None, prior.content_hash[:2], "astar", "empirical")
    >>> valid = [container.pack(header, bytes(40))]
    >>> cases = forged_files(valid, np.random.default_rng(0), 20)
    >>> outcomes = run_cases(cases, lambda data: codec.decompress(data, prior), FILE_ERRORS)
    >>> outcomes.cases, outcomes.failures
    (20, [])
"""

from __future__ import annotations

import io
import json
import resource
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

import rectools
from combiner import container
from combiner.container import _checksum, _varint
from combiner.errors import ContainerError, PriorError
from combiner.priorfile import PriorFile

Case = tuple[str, bytes]
#: The documented errors of decoding a file and of loading a prior file.
FILE_ERRORS = (ContainerError,)
PRIOR_ERRORS = (PriorError,)


def _bytes(rng: np.random.Generator, size: int) -> bytes:
    return rng.integers(0, 256, size, dtype=np.uint8).tobytes()


def _size(rng: np.random.Generator) -> int:
    """A dimension: mostly plausible, sometimes zero, one or astronomically large."""
    choice = rng.integers(6)
    if choice == 0:
        return int(rng.choice([0, 1, 2, 3]))
    if choice == 1:
        return 2 ** int(rng.integers(10, 70))
    if choice == 2:
        return int(rng.integers(1, 2**22))
    return int(rng.integers(1, 1100))


def valid_files(prior: PriorFile, rng: np.random.Generator, count: int) -> list[bytes]:
    """Files ``prior`` decodes: random block indices, coded as an encoder would code them.

    They stand in for real encodes (minutes each for large signals) as the seeds of mutation
    and forgery: same header, same index model, same payload sizes.
    """
    model = prior.index_model(rectools.get_coder("astar"))
    hash_prefix = prior.content_hash[: container.PRIOR_HASH_BYTES]
    files, high = [], 2**prior.kappa
    # Draw indices as A* would send them when the prior has its index model (small ones),
    # else uniformly.
    favours_small = getattr(model, "bucket_probs", None) is not None
    for _ in range(count):
        if favours_small:
            scale = 2 ** rng.uniform(0, prior.kappa, len(prior.blocks))
            indices = np.minimum(scale, high - 1).astype(np.int64)
        else:
            indices = rng.integers(0, high, len(prior.blocks))
        header = container.Header(
            prior.modality,
            None,
            hash_prefix,
            "astar",
            model.name,
            int(rng.integers(2**32)),
            modality_params=(16_000,) if prior.modality == "audio" else (),
        )
        files.append(container.pack(header, model.compress(indices)))
    return files


def mutated_files(valid: list[bytes], rng: np.random.Generator, count: int) -> Iterator[Case]:
    """Damaged copies of valid files: ``(kind, bytes)`` for ``count`` cases."""
    for _ in range(count):
        data = bytearray(valid[rng.integers(len(valid))])
        kind = str(rng.choice(["flip", "truncate", "extend", "splice", "random"]))
        if kind == "flip":
            for _ in range(rng.integers(1, 9)):
                data[rng.integers(len(data))] ^= 1 << int(rng.integers(8))
        elif kind == "truncate":
            data = data[: rng.integers(len(data))]
        elif kind == "extend":
            data += _bytes(rng, int(rng.integers(1, 64)))
        elif kind == "splice":
            at = int(rng.integers(len(data)))
            data[at:at] = _bytes(rng, int(rng.integers(1, 32)))
        else:
            data = bytearray(container.MAGIC + _bytes(rng, int(rng.integers(0, 400))))
        yield kind, bytes(data)


def _seal(version: int, body: bytes) -> bytes:
    return body + _checksum(version, body)


def forged_files(valid: list[bytes], rng: np.random.Generator, count: int) -> Iterator[Case]:
    """Files built field by field, checksum recomputed: ``(kind, bytes)`` for ``count`` cases.

    Each case takes a valid file's header and payload (when it parses) and replaces one or
    more fields with hostile values, then re-seals it with a correct checksum.
    """
    headers = []
    for data in valid:
        try:
            headers.append(container.unpack(data))
        except ContainerError:
            continue
    kinds = ["shape", "params", "seed", "side_info", "ids", "payload", "flags", "everything"]
    for _ in range(count):
        kind = str(rng.choice(kinds))
        header, payload = headers[rng.integers(len(headers))] if headers else (None, b"")
        modality = container.MODALITIES.index(header.modality) if header else 0
        version = (
            int(rng.choice(container.READABLE_VERSIONS)) if kind in ("ids", "everything") else 2
        )
        flags, fields = 0, []
        prior_hash = header.prior_hash[:2] if header else _bytes(rng, 2)
        shape = header.shape if header else None
        if kind in ("shape", "everything") or shape is not None:
            ndim = int(rng.choice([0, 1, 2, 3, 4, 5, 255])) if kind != "params" else 3
            if kind in ("shape", "everything"):
                shape = tuple(_size(rng) for _ in range(ndim))
                if header and header.shape is None and rng.integers(3) == 0:
                    # A plausible shape of any size: decodes when under the limits.
                    shape = (int(rng.integers(1, 1024)), int(rng.integers(1, 1024)), 3)
            flags |= 1
            fields.append(bytes([len(shape) % 256]) + b"".join(_varint(d) for d in shape))
        params = header.modality_params if header else ()
        if kind in ("params", "everything"):
            params = tuple(_size(rng) for _ in range(int(rng.choice([0, 1, 2, 4, 9, 255]))))
            if rng.integers(2):  # float32 bit patterns an array range might hold: inf, NaN
                params = (*params[:2], 0x7F800000, 0xFF800000, 0x7FC00000)[: len(params) + 3]
        if params:
            flags |= 2
            fields.append(bytes([len(params) % 256]) + b"".join(_varint(v) for v in params))
        seed = header.seed if header else 0
        if kind in ("seed", "everything"):
            seed = int(rng.choice([2**63, 2**64 - 1, 2**64, 2**69 + 5, int(rng.integers(2**62))]))
        if seed:
            flags |= 4
            fields.append(_varint(seed))
        side_info = header.side_info if header else b""
        if kind in ("side_info", "everything"):
            side_info = _bytes(rng, int(rng.integers(0, 64)))
            claimed = int(rng.choice([len(side_info), len(side_info) + 1, 2**40]))
            flags |= 8
            fields.append(_varint(claimed) + side_info)
        elif side_info:
            flags |= 8
            fields.append(_varint(len(side_info)) + side_info)
        coder = container.CODERS.index(header.coder) if header else 0
        index_model = container.INDEX_MODELS.index(header.index_model) if header else 0
        if kind in ("ids", "everything"):
            coder, index_model = int(rng.integers(4)), int(rng.integers(4))
            modality = int(rng.integers(16))
        flags |= (coder << 4) | (index_model << 6)
        if kind == "flags":
            flags = int(rng.integers(256))
        if kind in ("payload", "everything"):
            payload = _bytes(rng, int(rng.choice([0, 1, rng.integers(2, 600)])))
        if version == 1:
            body = container.MAGIC + bytes([16 | modality]) + _bytes(rng, int(rng.integers(40)))
        else:
            head = container.MAGIC + bytes([(version << 4) | modality, flags]) + prior_hash
            body = head + b"".join(fields) + payload
        yield kind, _seal(version, body)


@dataclass
class Outcomes:
    """What a run of cases did.

    Attributes:
        counts: ``(kind, outcome)`` -> cases; outcomes are ``"refused"`` (the documented
            error), ``"decoded"`` (a forged file that is a valid file) and ``"FAILED"``.
        failures: ``(kind, exception repr)`` of every case that raised anything else.
        slowest_s: the longest single case, in seconds.
        peak_rss_growth_bytes: growth of the process's peak resident memory over the run.
    """

    counts: Counter = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)
    slowest_s: float = 0.0
    peak_rss_growth_bytes: int = 0

    @property
    def cases(self) -> int:
        """Number of cases run."""
        return sum(self.counts.values())

    def table(self) -> str:
        """A Markdown table of outcomes by kind."""
        kinds = sorted({k for k, _ in self.counts})
        outcomes = ("refused", "decoded", "FAILED")
        lines = ["| kind | " + " | ".join(outcomes) + " |", "|---" * 4 + "|"]
        for kind in kinds:
            cells = " | ".join(str(self.counts[kind, o]) for o in outcomes)
            lines.append(f"| {kind} | {cells} |")
        return "\n".join(lines)


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def run_cases(
    cases: Iterator[Case],
    target: Callable[[bytes], object],
    expected: type[Exception] | tuple[type[Exception], ...],
) -> Outcomes:
    """Feed every case to ``target``; an ``expected`` error is a refusal, anything else a failure.

    Args:
        cases: ``(kind, bytes)`` pairs.
        target: what is attacked, e.g. ``lambda data: codec.decompress(data, prior)``.
        expected: the documented error type(s).
    """
    out = Outcomes()
    start_rss = _peak_rss_bytes()
    for kind, data in cases:
        start = time.perf_counter()
        try:
            target(data)
            outcome = "decoded"
        except expected:
            outcome = "refused"
        except Exception as err:  # anything undocumented is what the fuzzer looks for
            outcome = "FAILED"
            out.failures.append((kind, repr(err)[:300]))
        out.slowest_s = max(out.slowest_s, time.perf_counter() - start)
        out.counts[kind, outcome] += 1
    out.peak_rss_growth_bytes = _peak_rss_bytes() - start_rss
    return out


def _npz(meta: object, arrays: dict[str, np.ndarray], raw_meta: str | None = None) -> bytes:
    buffer = io.BytesIO()
    text = raw_meta if raw_meta is not None else json.dumps(meta)
    np.savez(buffer, meta=np.array(text), **arrays)
    return buffer.getvalue()


def _npy_header_claiming(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + bytes(64)


def malformed_priors(valid: bytes, rng: np.random.Generator, count: int) -> Iterator[Case]:
    """Broken variants of a valid prior file: ``(kind, bytes)`` for ``count`` cases."""
    with np.load(io.BytesIO(valid), allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        arrays = {k: npz[k] for k in npz.files if k != "meta"}

    def edited(path: tuple[str, ...], value: object) -> bytes:
        copy = json.loads(json.dumps(meta))
        node = copy
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return _npz(copy, arrays)

    def without(name: str) -> bytes:
        return _npz(meta, {k: v for k, v in arrays.items() if k != name})

    def replaced(name: str, value: np.ndarray) -> bytes:
        return _npz(meta, {**arrays, name: value})

    def claiming(name: str, shape: tuple[int, ...]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("meta.npy", _npz_member(np.array(json.dumps(meta))))
            for key, value in arrays.items():
                data = _npy_header_claiming(shape) if key == name else _npz_member(value)
                archive.writestr(f"{key}.npy", data)
        return buffer.getvalue()

    def bomb(size: int) -> bytes:
        # A deflated member of zeros: a small file that would expand to ``size`` bytes.
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("meta.npy", _npz_member(np.array(json.dumps(meta))))
            for key, value in arrays.items():
                archive.writestr(f"{key}.npy", _npz_member(value))
            with archive.open("unused.npy", "w", force_zip64=True) as member:
                member.write(_npy_header_claiming((size // 8,))[:-64])
                chunk = bytes(1 << 20)
                for _ in range(size >> 20):
                    member.write(chunk)
        return buffer.getvalue()

    first = next(iter(arrays))
    std = next(k for k in arrays if k.endswith("std"))
    config_keys = list(meta["config"])
    builders: list[tuple[str, Callable[[], bytes]]] = [
        ("empty", lambda: b""),
        ("random", lambda: _bytes(rng, int(rng.integers(1, 5000)))),
        ("truncated", lambda: valid[: int(rng.integers(1, len(valid)))]),
        ("flipped", lambda: _flip(valid, rng)),
        ("missing array", lambda: without(str(rng.choice(list(arrays))))),
        ("missing meta", lambda: _npz_without_meta(arrays)),
        ("meta not json", lambda: _npz(None, arrays, raw_meta="{not json")),
        ("meta a list", lambda: _npz([1, 2, 3], arrays)),
        ("meta a number", lambda: _npz(7, arrays)),
        ("deep json", lambda: _npz(None, arrays, raw_meta="[" * 60_000 + "]" * 60_000)),
        ("huge meta", lambda: _npz(None, arrays, raw_meta='"' + "x" * 300_000 + '"')),
        ("wrong format", lambda: edited(("format",), "other-1")),
        ("kappa", lambda: edited(("kappa",), _hostile_value(rng))),
        ("beta", lambda: edited(("beta",), _hostile_value(rng))),
        ("lr", lambda: edited(("lr",), _hostile_value(rng))),
        ("init_variance", lambda: edited(("init_variance",), _hostile_value(rng))),
        ("partition_seed", lambda: edited(("partition_seed",), _hostile_value(rng))),
        ("prior kind", lambda: edited(("prior",), _hostile_value(rng))),
        ("modality", lambda: edited(("modality",), _hostile_value(rng))),
        ("data_shape", lambda: edited(("data_shape",), _hostile_value(rng))),
        ("notes", lambda: edited(("notes",), _hostile_value(rng))),
        ("config", lambda: edited(("config",), _hostile_value(rng))),
        (
            "config field",
            lambda: edited(("config", str(rng.choice(config_keys))), _hostile_value(rng)),
        ),
        ("config extra", lambda: edited(("config", "extra"), 1)),
        ("reshaped array", lambda: replaced(first, arrays[first].reshape(-1, 1))),
        ("short array", lambda: replaced(first, arrays[first][:-1])),
        ("int array", lambda: replaced(first, arrays[first].astype(np.int64))),
        ("text array", lambda: replaced(first, arrays[first].astype(str))),
        ("complex array", lambda: replaced(first, arrays[first].astype(np.complex128))),
        ("nan array", lambda: replaced(first, np.full_like(arrays[first], np.nan))),
        ("negative std", lambda: replaced(std, -np.abs(arrays[std]))),
        ("claims 2**40 values", lambda: claiming(first, (2**40,))),
        ("claims 2-d", lambda: claiming(first, (2**20, 2**20))),
        ("huge unused array", lambda: replaced("unused", np.zeros(1 << 17))),
        ("zip bomb", lambda: bomb(256 << 20)),
    ]
    for i in range(count):
        kind, build = (
            builders[i % len(builders)]
            if i < len(builders)
            else builders[rng.integers(len(builders))]
        )
        yield kind, build()


def _npz_member(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _npz_without_meta(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _flip(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for _ in range(rng.integers(1, 17)):
        out[rng.integers(len(out))] ^= 1 << int(rng.integers(8))
    return bytes(out)


def _hostile_value(rng: np.random.Generator) -> object:
    """A JSON value of the wrong type or range."""
    choices: list[object] = [
        -1,
        0,
        True,
        2**70,
        1e308,
        float("nan"),
        float("inf"),
        "16",
        None,
        [],
        [16],
        {"a": 1},
        [0, 0, 3],
        [2**40, 2**40, 3],
        3.5,
        "image",
    ]
    return choices[rng.integers(len(choices))]


__all__ = [
    "FILE_ERRORS",
    "PRIOR_ERRORS",
    "Outcomes",
    "forged_files",
    "malformed_priors",
    "mutated_files",
    "run_cases",
    "valid_files",
]
