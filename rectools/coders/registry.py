"""Coders by name: ``@register_coder("name")`` on a class, ``get_coder("name", **options)``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from rectools.coders.base import Coder
from rectools.distributions import Proposal, Target

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


def available_coders(
    target: Target | None = None, proposal: Proposal | None = None
) -> tuple[str, ...]:
    """Names of the registered coders, sorted; given a pair, only those that accept it.

    Examples:
        >>> import numpy as np, rectools
        >>> p = rectools.DiagonalGaussian(np.zeros(3), np.ones(3))
        >>> q = rectools.DiagonalGaussian(np.full(3, 0.2), np.full(3, 1.5))  # wider than p
        >>> rectools.available_coders(q, p)  # exact coders need a bounded ratio
        ('astar', 'greedy', 'mrc', 'orc')
    """
    if target is None or proposal is None:
        return tuple(sorted(_CODERS))
    return tuple(name for name in sorted(_CODERS) if get_coder(name).supports(target, proposal))


def get_coder(name: str, **options: Any) -> Coder:
    """Build the coder registered as ``name`` with keyword ``options``.

    Examples:
        >>> import rectools
        >>> rectools.get_coder("astar", t=2.0).t
        2.0

    Raises:
        ValueError: unknown name (the message lists the choices).
        TypeError: an option this coder does not take (the message lists the ones it does).
    """
    try:
        factory = _CODERS[name]
    except KeyError:
        raise ValueError(
            f"unknown coder {name!r}; available coders: {', '.join(available_coders())}"
        ) from None
    if "log2_num_candidates" in options:
        raise TypeError(
            "log2_num_candidates is an argument of encode(), not a coder option: "
            f"get_coder({name!r}).encode(q, p, seed, log2_num_candidates=...)"
        )
    accepted = _options(factory)
    unknown = [key for key in options if key not in accepted]
    if unknown:
        raise TypeError(f"coder {name!r} takes no option {unknown[0]!r}; its options: {accepted}")
    return factory(**options)


def _options(cls: type) -> list[str]:
    """Keyword options of a coder class, following ``**options`` up its base classes."""
    names: list[str] = []
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = list(inspect.signature(klass.__init__).parameters.values())[1:]
        names += [p.name for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD]
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            break
    return list(dict.fromkeys(names))
