"""The ``.cmb`` file: a compact versioned header, the entropy-coded block indices, a checksum.

A 32x32 image takes a few hundred bytes, so the header holds only what the prior cannot tell
the decoder. Version 2 (``varint`` is unsigned LEB128; ``[...]`` is present only when its flag
is set)::

    magic "CB" | version (high 4 bits) and modality (low 4 bits), 1 byte
    | flags, 1 byte: bit 0 shape, bit 1 modality params, bit 2 seed, bit 3 side information,
      bits 4-5 coder id (coder and candidate stream), bits 6-7 index model id
    | prior hash, 2 bytes
    | [ndim, 1 byte | shape, ndim varints]     (absent: the shape the prior was trained on)
    | [nparams, 1 byte | nparams varints]      (absent: none)
    | [seed varint]                            (absent: seed 0)
    | [side-information length varint | side information]
    | index payload (to the end) | CRC-16/CCITT of everything before it, 2 bytes

That is 8 bytes for a CIFAR image coded with its prior's defaults (version 1 spent about 20).
Version 3 is the same layout with a CRC-32 (4 bytes) instead: files of 1,024 bytes and more
are written so, where two more bytes cost under 0.2% and a stronger check pays. Versions 4 and
5 are versions 2 and 3 for the coders of a second table (ids 4-7, the 2-bit field plus 4:
greedy selection), so the first four coders' files keep their bytes.
The number of blocks and candidates per block come from the prior; the prior hash ties a file
to it (65,535 in 65,536 wrong priors are caught before decoding), the checksum catches
corruption and truncation. Version 1 files (4-byte hash, explicit shape, blocks and ``log2 N``)
still decode.

A checksum is no signature: whoever can write a file can recompute it, so a forged payload
decodes to some other signal of the stated shape. What a file may claim is bounded before
anything is allocated (see [`combiner.limits`][combiner.limits]): at most
[`MAX_GRID_POINTS`][combiner.limits.MAX_GRID_POINTS] grid points, no empty axis, at most 8
modality parameters below 2**32, a seed below 2**64; anything else is a
[`ContainerError`][combiner.errors.ContainerError].
"""

from __future__ import annotations

import binascii
import math
import struct
import zlib
from dataclasses import dataclass
from typing import TypeVar

from combiner.errors import ContainerError
from combiner.limits import MAX_AXES, MAX_CHANNELS, MAX_GRID_POINTS

T = TypeVar("T")

MAGIC = b"CB"
VERSION = 2
#: Version 2's layout with a CRC-32 checksum, written for files of ``CRC32_FROM_BYTES`` or more.
VERSION_CRC32 = 3
CRC32_FROM_BYTES = 1024
#: Versions 2 and 3 again, for coder ids 4-7: the flags' 2-bit coder field holds
#: ``CODER_IDS_PER_PAGE`` ids, and each further page of ids takes the next two versions.
CODER_PAGE_VERSIONS = 2
CODER_IDS_PER_PAGE = 4
#: Versions this build reads.
READABLE_VERSIONS = (1, 2, 3, 4, 5)
_CRC32_VERSIONS = (VERSION_CRC32, VERSION_CRC32 + CODER_PAGE_VERSIONS)
#: Most modality parameters a file may record, and their bound.
MAX_MODALITY_PARAMS = 8
MODALITY_PARAM_LIMIT = 2**32
SEED_LIMIT = 2**64
#: Largest .cmb file read: far above the largest a prior's blocks can fill (65,536 blocks of
#: 24-bit indices and a few kilobytes of side information).
MAX_FILE_BYTES = 1 << 20
MODALITIES = ("image", "audio", "array")
#: Stable ids: a file names its coder and index model by position in these tuples. Version 1
#: files name a coder of ``CODERS``, whose candidates all come from the "philox" stream.
CODERS = ("astar", "mrc")
#: Versions 2 and 3 name a coder and its candidate stream: ids 0 and 1 are version 1's; ids 4
#: and up are written as versions 4 and 5.
CODER_STREAMS = (
    ("astar", "philox"),
    ("mrc", "philox"),
    ("astar", "philox4x32"),
    ("mrc", "philox4x32"),
    ("greedy", "philox4x32"),
    ("greedy", "philox"),
)
INDEX_MODELS = ("uniform", "empirical", "zipf")
#: Bytes of the prior's content hash a file stores (version 1 stored 4).
PRIOR_HASH_BYTES = 2
_FLAG_SHAPE, _FLAG_PARAMS, _FLAG_SEED, _FLAG_SIDE_INFO = 1, 2, 4, 8


def register_modality(name: str) -> None:
    """Give a new modality the next id in the file format (ids are never reused or moved)."""
    global MODALITIES
    if name not in MODALITIES:
        if len(MODALITIES) >= 16:
            raise ValueError("the .cmb format has room for 16 modalities")
        MODALITIES = (*MODALITIES, name)


@dataclass(frozen=True)
class Header:
    """Everything in a .cmb file except the index payload.

    Attributes:
        modality: the signal's modality name.
        shape: the datum's shape ``(*grid, channels)``, or ``None``: the prior's data shape.
        prior_hash: the leading bytes of the prior's content hash (4 in version 1, else 2).
        coder: the rectools coder's name.
        index_model: how the indices were entropy coded (``"empirical"``: the prior's model).
        seed: the shared seed.
        side_info: per-datum bytes some priors need (isotropic layer scales).
        modality_params: integers the modality needs (audio sample rate, array range).
        log2_num_candidates: version 1 only; later versions take it from the prior.
        num_blocks: version 1 only; later versions take it from the prior.
        candidates: the coder's shared candidate stream (version 1: always ``"philox"``).
    """

    modality: str
    shape: tuple[int, ...] | None
    prior_hash: bytes
    coder: str
    index_model: str
    seed: int = 0
    side_info: bytes = b""
    modality_params: tuple[int, ...] = ()
    log2_num_candidates: int | None = None
    num_blocks: int | None = None
    candidates: str = "philox"


def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("varints are unsigned")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _id(table: tuple[T, ...], name: T, what: str) -> int:
    try:
        return table.index(name)
    except ValueError:
        raise ValueError(f"the .cmb format has no {what} {name!r}; known: {table}") from None


def pack(header: Header, payload: bytes) -> bytes:
    """Serialise a header and index payload into the bytes of a .cmb file (version 2 to 5)."""
    if len(header.prior_hash) != PRIOR_HASH_BYTES:
        raise ValueError(f"prior_hash must be {PRIOR_HASH_BYTES} bytes")
    coder = _id(CODER_STREAMS, (header.coder, header.candidates), "coder and stream")
    index_model = _id(INDEX_MODELS, header.index_model, "index model")
    if index_model > 3:
        raise ValueError("version 2 files have room for 4 index models")
    optional = [
        (
            _FLAG_SHAPE,
            header.shape is not None,
            lambda: bytes([len(header.shape)]) + b"".join(_varint(d) for d in header.shape),
        ),
        (
            _FLAG_PARAMS,
            bool(header.modality_params),
            lambda: (
                bytes([len(header.modality_params)])
                + b"".join(_varint(v) for v in header.modality_params)
            ),
        ),
        (_FLAG_SEED, header.seed != 0, lambda: _varint(header.seed)),
        (
            _FLAG_SIDE_INFO,
            bool(header.side_info),
            lambda: _varint(len(header.side_info)) + header.side_info,
        ),
    ]
    page, coder = divmod(coder, CODER_IDS_PER_PAGE)
    flags = (coder << 4) | (index_model << 6)
    fields = []
    for flag, present, encode in optional:
        if present:
            flags |= flag
            fields.append(encode())
    modality = _id(MODALITIES, header.modality, "modality")
    rest = b"".join([header.prior_hash, *fields, payload])
    # The version byte follows the file's size: header bytes, the rest, a 2-byte CRC-16.
    small = len(MAGIC) + 2 + len(rest) + 2 < CRC32_FROM_BYTES
    version = (VERSION if small else VERSION_CRC32) + CODER_PAGE_VERSIONS * page
    body = MAGIC + bytes([(version << 4) | modality, flags]) + rest
    return body + _checksum(version, body)


def _checksum(version: int, body: bytes) -> bytes:
    if version in _CRC32_VERSIONS:
        return struct.pack("<I", zlib.crc32(body))
    return struct.pack("<H", binascii.crc_hqx(body, 0))


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ContainerError("the file is truncated")
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out

    def byte(self) -> int:
        return self.take(1)[0]

    def varint(self) -> int:
        """An unsigned LEB128 integer of at most 10 bytes (values below 2**70)."""
        value = shift = 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value
            if shift >= 70:
                raise ContainerError("the file is corrupt (bad varint)")


def _lookup(table: tuple[T, ...], index: int, what: str) -> T:
    if index >= len(table):
        raise ContainerError(
            f"the file is corrupt or newer than this build (unknown {what} {index})"
        )
    return table[index]


def unpack(data: bytes) -> tuple[Header, bytes]:
    """Parse and verify a .cmb file (version 1, 2 or 3); returns the header and index payload.

    Raises:
        ContainerError: not a .cmb file, unknown version, truncated, checksum mismatch, or a
            header that claims more than the documented limits.
    """
    data = bytes(data)
    if len(data) > MAX_FILE_BYTES:
        raise ContainerError(f"the file is over {MAX_FILE_BYTES:,} bytes: not a .cmb file")
    if data[: len(MAGIC)] != MAGIC:
        raise ContainerError("not a COMBINER .cmb file (bad magic bytes)")
    if len(data) < len(MAGIC) + 3:
        raise ContainerError("the file is truncated")
    version = data[len(MAGIC)] >> 4
    if version not in READABLE_VERSIONS:
        raise ContainerError(
            f"unsupported .cmb version {version} (this build reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))})"
        )
    size = 4 if version in _CRC32_VERSIONS else 2
    body, crc = data[:-size], data[-size:]
    if len(body) < len(MAGIC) + 1 or _checksum(version, body) != crc:
        raise ContainerError("checksum mismatch: the file is corrupt or truncated")
    reader = _Reader(body)
    reader.take(len(MAGIC))
    modality = _lookup(MODALITIES, reader.byte() & 0x0F, "modality")
    if version == 1:
        header = _header_v1(reader, modality)
    else:
        page = (version - VERSION) // CODER_PAGE_VERSIONS
        header = _header_v2(reader, modality, CODER_IDS_PER_PAGE * page)
    _check_claims(header)
    return header, body[reader.pos :]


def _check_claims(header: Header) -> None:
    """Bound what a (possibly forged) header claims before anyone allocates for it."""
    if header.shape is not None:
        if not 2 <= len(header.shape) <= MAX_AXES + 1:
            raise ContainerError(f"the file claims a {len(header.shape)}-dimensional signal")
        grid, channels = header.shape[:-1], header.shape[-1]
        if min(header.shape) < 1:
            raise ContainerError(f"the file claims an empty signal of shape {header.shape}")
        if channels > MAX_CHANNELS or math.prod(grid) > MAX_GRID_POINTS:
            raise ContainerError(
                f"the file claims a signal of shape {header.shape}, over the limits of "
                f"{MAX_GRID_POINTS:,} grid points and {MAX_CHANNELS} channels"
            )
    params = header.modality_params
    if len(params) > MAX_MODALITY_PARAMS or any(v >= MODALITY_PARAM_LIMIT for v in params):
        raise ContainerError("the file is corrupt (bad modality parameters)")
    if header.seed >= SEED_LIMIT:
        raise ContainerError("the file is corrupt (its seed is not a 64-bit integer)")


def _shape(reader: _Reader) -> tuple[int, ...]:
    return tuple(reader.varint() for _ in range(reader.byte()))


def _header_v2(reader: _Reader, modality: str, first_coder: int) -> Header:
    flags = reader.byte()
    prior_hash = reader.take(PRIOR_HASH_BYTES)
    shape = _shape(reader) if flags & _FLAG_SHAPE else None
    params = _shape(reader) if flags & _FLAG_PARAMS else ()
    seed = reader.varint() if flags & _FLAG_SEED else 0
    side_info = reader.take(reader.varint()) if flags & _FLAG_SIDE_INFO else b""
    coder, candidates = _lookup(CODER_STREAMS, first_coder + ((flags >> 4) & 3), "coder")
    return Header(
        modality,
        shape,
        prior_hash,
        coder,
        _lookup(INDEX_MODELS, flags >> 6, "index model"),
        seed,
        side_info,
        params,
        candidates=candidates,
    )


def _header_v1(reader: _Reader, modality: str) -> Header:
    shape = _shape(reader)
    params = _shape(reader)
    prior_hash = reader.take(4)
    ids = reader.byte()
    coder = _lookup(CODERS, ids >> 4, "coder")
    index_model = _lookup(INDEX_MODELS, ids & 0x0F, "index model")
    log2_n = reader.byte()
    seed, num_blocks = reader.varint(), reader.varint()
    side_info = reader.take(reader.varint())
    return Header(
        modality, shape, prior_hash, coder, index_model, seed, side_info, params, log2_n, num_blocks
    )
