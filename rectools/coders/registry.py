"""Coders by name: ``@register_coder("name")`` on a class, ``get_coder("name", **options)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rectools.coders.base import Coder

_CODERS: dict[str, Callable[..., Coder]] = {}
T = TypeVar("T")


def register_coder(name: str) -> Callable[[T], T]:
    """Class decorator registering a coder under ``name`` (its ``name`` attribute is set too)."""

    def decorate(cls: T) -> T:
        if name in _CODERS:
            raise ValueError(f"a coder named {name!r} is already registered")
        cls.name = name  # type: ignore[attr-defined]
        _CODERS[name] = cls  # type: ignore[assignment]
        return cls

    return decorate


def available_coders() -> tuple[str, ...]:
    """Names of the registered coders, sorted."""
    return tuple(sorted(_CODERS))


def get_coder(name: str, **options: Any) -> Coder:
    """Build the coder registered as ``name`` with keyword ``options``.

    Examples:
        >>> import rectools
        >>> rectools.get_coder("astar", t=2.0).t
        2.0

    Raises:
        ValueError: unknown name (the message lists the choices).
    """
    try:
        factory = _CODERS[name]
    except KeyError:
        raise ValueError(
            f"unknown coder {name!r}; available coders: {', '.join(available_coders())}"
        ) from None
    return factory(**options)
