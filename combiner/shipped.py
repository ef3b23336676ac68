"""Priors shipped inside the package, by name.

Examples:
    >>> from combiner.shipped import available_priors
    >>> "cifar-learned-beta2e-06" in available_priors()
    True
"""

from __future__ import annotations

from importlib import resources

from combiner.codec import PriorFile

DEFAULT_PRIOR = "cifar-learned-beta2e-06"


def available_priors() -> tuple[str, ...]:
    """Names of the shipped priors (file names without ``.npz``), sorted."""
    root = resources.files("combiner") / "priors"
    return tuple(sorted(p.name[: -len(".npz")] for p in root.iterdir() if p.name.endswith(".npz")))


def load_prior(name_or_path: str) -> PriorFile:
    """A shipped prior by name, or a prior file by path.

    Raises:
        ValueError: neither a shipped name nor a readable prior file (lists the names).
    """
    if name_or_path in available_priors():
        with resources.as_file(
            resources.files("combiner") / "priors" / f"{name_or_path}.npz"
        ) as path:
            return PriorFile.load(path)
    if name_or_path.endswith(".npz") or "/" in name_or_path:
        return PriorFile.load(name_or_path)
    names = ", ".join(available_priors())
    raise ValueError(f"unknown prior {name_or_path!r}: give a prior file or one of {names}")
