"""Safe output files: written whole or not at all, never through a planted link.

[`write_atomically`][combiner.safeio.write_atomically] writes to a fresh temporary file beside
the target (an unpredictable name, created with ``O_EXCL``, so an existing file or symbolic link
there is never opened), flushes it to disk and renames it over the target in one step. On any
failure (a full disk, a directory as target, an interrupt) the temporary file is removed and
whatever was at the target stays as it was.

Examples:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_atomically(folder / "out.bin", b"whole")
    >>> (folder / "out.bin").read_bytes(), sorted(p.name for p in folder.iterdir())
    (b'whole', ['out.bin'])
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from combiner.errors import InputError


def check_output(path: Path, inputs: tuple[Path, ...] = ()) -> None:
    """Fail early (before hours of fitting) if ``path`` cannot receive an output file.

    Raises:
        InputError: the folder is missing or not writable, the target is a directory, or the
            target is one of ``inputs`` (writing it would destroy the input).
    """
    folder = path.parent
    if not folder.is_dir():
        raise InputError(f"cannot write {path}: the folder {folder} does not exist")
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {path}: the folder {folder} is not writable")
    for source in inputs:
        if path.resolve() == source.resolve() or _same_file(path, source):
            raise InputError(f"refusing to overwrite the input {source} with the output")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (see the module docstring).

    Raises:
        InputError: the target is a directory or its folder is missing.
        OSError: the write itself failed (disk full, permissions); nothing is left behind.
    """
    path = Path(path)
    check_output(path)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_folder(path.parent)


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new file beside ``path`` with a random name; ``O_EXCL`` never opens what is there."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.partial")
        try:
            # Mode 0o666 less the umask, as any other output file gets.
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file beside {path}")


def _sync_folder(folder: Path) -> None:
    # Make the rename itself durable where the platform allows opening a folder.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
