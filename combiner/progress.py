"""Progress bars for long steps: drawn in a terminal, silent in notebooks, docs and logs.

``tqdm``'s ``disable=None`` turns a bar off when its stream is not a terminal, so executed
tutorials and CI logs carry no walls of bar updates while an interactive user still sees them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], desc: str | None, leave: bool = True) -> Iterable[T]:
    """``iterable`` with a progress bar labelled ``desc`` (none when ``desc`` is ``None``).

    Examples:
        >>> sum(progress(range(3), "adding"))  # no terminal here: no bar
        3
    """
    return tqdm(iterable, desc=desc, leave=leave, disable=None if desc else True)
