"""The ``.cmb`` file: a versioned header, entropy-coded block indices and a CRC-32.

Layout (little-endian)::

    magic "CMB1" | version u8 | modality u8 | ndim u8 | shape u32 * ndim
    | prior hash 16 bytes | coder name (u8 length + ASCII) | log2 N u8 | seed u64
    | num_blocks u32 | index model (u8 length + ASCII) | payload length u32 | payload
    | CRC-32 of everything before it, u32
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"CMB1"
VERSION = 1
MODALITIES = {"image": 1}
_MODALITY_NAMES = {v: k for k, v in MODALITIES.items()}


class ContainerError(ValueError):
    """A .cmb file that cannot be decoded: corrupt, truncated, foreign or from another prior."""


@dataclass(frozen=True)
class Header:
    """Everything in a .cmb file except the index payload."""

    modality: str
    shape: tuple[int, ...]
    prior_hash: bytes
    coder: str
    log2_num_candidates: int
    seed: int
    num_blocks: int
    index_model: str


def _short_string(text: str) -> bytes:
    raw = text.encode("ascii")
    if len(raw) > 255:
        raise ValueError(f"name too long for the container: {text!r}")
    return struct.pack("<B", len(raw)) + raw


def pack(header: Header, payload: bytes) -> bytes:
    """Serialise a header and index payload into the bytes of a .cmb file."""
    if len(header.prior_hash) != 16:
        raise ValueError("prior_hash must be 16 bytes")
    body = b"".join(
        [
            MAGIC,
            struct.pack("<BBB", VERSION, MODALITIES[header.modality], len(header.shape)),
            struct.pack(f"<{len(header.shape)}I", *header.shape),
            header.prior_hash,
            _short_string(header.coder),
            struct.pack("<BQI", header.log2_num_candidates, header.seed, header.num_blocks),
            _short_string(header.index_model),
            struct.pack("<I", len(payload)),
            payload,
        ]
    )
    return body + struct.pack("<I", zlib.crc32(body))


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ContainerError("the file is truncated")
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def short_string(self) -> str:
        (length,) = self.unpack("<B")
        try:
            return self.take(length).decode("ascii")
        except UnicodeDecodeError:
            raise ContainerError("the file is corrupt (bad name field)") from None


def unpack(data: bytes) -> tuple[Header, bytes]:
    """Parse and verify a .cmb file.

    Raises:
        ContainerError: not a .cmb file, unknown version, truncated, or checksum mismatch.
    """
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise ContainerError("not a COMBINER .cmb file (bad magic bytes)")
    if len(data) < 8:
        raise ContainerError("the file is truncated")
    body, (crc,) = data[:-4], struct.unpack("<I", data[-4:])
    reader = _Reader(body)
    reader.take(len(MAGIC))
    version, modality, ndim = reader.unpack("<BBB")
    if version != VERSION:
        raise ContainerError(f"unsupported .cmb version {version} (this build reads {VERSION})")
    if zlib.crc32(body) != crc:
        raise ContainerError("checksum mismatch: the file is corrupt or truncated")
    if modality not in _MODALITY_NAMES:
        raise ContainerError(f"unknown modality code {modality}")
    shape = reader.unpack(f"<{ndim}I")
    prior_hash = reader.take(16)
    coder = reader.short_string()
    log2_n, seed, num_blocks = reader.unpack("<BQI")
    index_model = reader.short_string()
    (length,) = reader.unpack("<I")
    payload = reader.take(length)
    if reader.pos != len(body):
        raise ContainerError("the file is corrupt (trailing bytes)")
    header = Header(
        _MODALITY_NAMES[modality],
        tuple(shape),
        prior_hash,
        coder,
        log2_n,
        seed,
        num_blocks,
        index_model,
    )
    return header, payload
