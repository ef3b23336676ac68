"""The ``.cmb`` file: a compact versioned header, the entropy-coded block indices, a checksum.

Small images are only a few hundred bytes, so every header field is as short as it can be
(``varint`` is unsigned LEB128)::

    magic "CB" | version (high 4 bits) and modality (low 4 bits), 1 byte
    | ndim, 1 byte | shape, ndim varints | nparams, 1 byte | modality params, nparams varints
    | prior hash, 4 bytes
    | coder id (high 4 bits) and index model id (low 4 bits), 1 byte | log2 N, 1 byte
    | seed varint | num_blocks varint | side-information length varint | side information
    | index payload (to the end) | CRC-16/CCITT of everything before it, 2 bytes

The prior hash ties a file to the prior it was made with; the checksum catches corruption and
truncation. Side information holds per-datum floats some priors need (isotropic scales).
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass

MAGIC = b"CB"
VERSION = 1
MODALITIES = ("image", "audio", "array")
#: Stable ids: a file names its coder and index model by position in these tuples.
CODERS = ("astar", "mrc")
INDEX_MODELS = ("uniform", "empirical", "zipf")
PRIOR_HASH_BYTES = 4


def register_modality(name: str) -> None:
    """Give a new modality the next id in the file format (ids are never reused or moved)."""
    global MODALITIES
    if name not in MODALITIES:
        if len(MODALITIES) >= 16:
            raise ValueError("the .cmb format has room for 16 modalities")
        MODALITIES = (*MODALITIES, name)


class ContainerError(ValueError):
    """A .cmb file that cannot be decoded: corrupt, truncated, foreign or from another prior."""


@dataclass(frozen=True)
class Header:
    """Everything in a .cmb file except the index payload."""

    modality: str
    shape: tuple[int, ...]
    prior_hash: bytes
    coder: str
    index_model: str
    log2_num_candidates: int
    seed: int
    num_blocks: int
    side_info: bytes = b""
    modality_params: tuple[int, ...] = ()


def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("varints are unsigned")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _id(table: tuple[str, ...], name: str, what: str) -> int:
    try:
        return table.index(name)
    except ValueError:
        raise ValueError(f"the .cmb format has no {what} {name!r}; known: {table}") from None


def pack(header: Header, payload: bytes) -> bytes:
    """Serialise a header and index payload into the bytes of a .cmb file."""
    if len(header.prior_hash) != PRIOR_HASH_BYTES:
        raise ValueError(f"prior_hash must be {PRIOR_HASH_BYTES} bytes")
    ids = (_id(CODERS, header.coder, "coder") << 4) | _id(
        INDEX_MODELS, header.index_model, "index model"
    )
    body = b"".join(
        [
            MAGIC,
            bytes(
                [(VERSION << 4) | _id(MODALITIES, header.modality, "modality"), len(header.shape)]
            ),
            b"".join(_varint(d) for d in header.shape),
            bytes([len(header.modality_params)]),
            b"".join(_varint(v) for v in header.modality_params),
            header.prior_hash,
            bytes([ids, header.log2_num_candidates]),
            _varint(header.seed),
            _varint(header.num_blocks),
            _varint(len(header.side_info)),
            header.side_info,
            payload,
        ]
    )
    return body + struct.pack("<H", binascii.crc_hqx(body, 0))


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
        value = shift = 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value
            if shift > 63:
                raise ContainerError("the file is corrupt (bad varint)")


def _lookup(table: tuple[str, ...], index: int, what: str) -> str:
    if index >= len(table):
        raise ContainerError(
            f"the file is corrupt or newer than this build (unknown {what} {index})"
        )
    return table[index]


def unpack(data: bytes) -> tuple[Header, bytes]:
    """Parse and verify a .cmb file; returns the header and the index payload.

    Raises:
        ContainerError: not a .cmb file, unknown version, truncated, or checksum mismatch.
    """
    if data[: len(MAGIC)] != MAGIC:
        raise ContainerError("not a COMBINER .cmb file (bad magic bytes)")
    if len(data) < len(MAGIC) + 3:
        raise ContainerError("the file is truncated")
    version = data[len(MAGIC)] >> 4
    if version != VERSION:
        raise ContainerError(f"unsupported .cmb version {version} (this build reads {VERSION})")
    body, (crc,) = data[:-2], struct.unpack("<H", data[-2:])
    if binascii.crc_hqx(body, 0) != crc:
        raise ContainerError("checksum mismatch: the file is corrupt or truncated")
    reader = _Reader(body)
    reader.take(len(MAGIC))
    modality = _lookup(MODALITIES, reader.byte() & 0x0F, "modality")
    shape = tuple(reader.varint() for _ in range(reader.byte()))
    modality_params = tuple(reader.varint() for _ in range(reader.byte()))
    prior_hash = reader.take(PRIOR_HASH_BYTES)
    ids = reader.byte()
    coder = _lookup(CODERS, ids >> 4, "coder")
    index_model = _lookup(INDEX_MODELS, ids & 0x0F, "index model")
    log2_n = reader.byte()
    seed, num_blocks = reader.varint(), reader.varint()
    side_info = reader.take(reader.varint())
    header = Header(
        modality,
        shape,
        prior_hash,
        coder,
        index_model,
        log2_n,
        seed,
        num_blocks,
        side_info,
        modality_params,
    )
    return header, body[reader.pos :]
