"""Optional numba: ``njit`` compiles when numba is installed and is a no-op otherwise.

rectools depends on numba, but every kernel must also run (slower) without it, so kernels
are written in the subset of Python that both numba and CPython execute identically.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:  # pragma: no cover - exercised by which environment runs the tests
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    numba = None
    HAVE_NUMBA = False


def njit(func: Callable[..., Any]) -> Callable[..., Any]:
    """Compile ``func`` with ``numba.njit(cache=True)`` when numba is available."""
    if HAVE_NUMBA:
        return numba.njit(cache=True, nogil=True)(func)
    return func
