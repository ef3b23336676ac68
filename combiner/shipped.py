"""Priors shipped inside the package: by name, chosen for a signal, or found for a file.

A retrained prior replaces its predecessor under the same name; the predecessor moves to
``priors/previous/``, where no name, listing or automatic choice sees it, but
[`prior_for_file`][combiner.shipped.prior_for_file] still finds it: files made with it keep
decoding.

Examples:
    >>> from combiner.shipped import available_priors, default_prior_name
    >>> "cifar-learned-beta2e-06" in available_priors()
    True
    >>> default_prior_name("image", (32, 32, 3))
    'cifar-learned-beta2e-06'
"""

from __future__ import annotations

import itertools
from functools import cache
from importlib import resources

from combiner import container
from combiner.errors import InputError, PriorError
from combiner.priorfile import PriorFile

DEFAULT_PRIOR = "cifar-learned-beta2e-06"
#: The prior chosen when none is given: by modality, then by size (see `default_prior_name`).
DEFAULT_PRIORS = {
    "image-small": DEFAULT_PRIOR,
    "image-large": "kodak-learned-beta1e-08",
    "audio": "speech-learned-beta1e-07",
}
#: Images with more pixels than this get the Kodak-sized prior. A prior spends a fixed number of
#: 16-bit blocks whatever the image size, so the one trained nearer in size (on a log scale)
#: fits the budget better: this is about the geometric mean of 32x32 and 768x512.
SMALL_IMAGE_PIXELS = 20_000


def _names(folder: str) -> tuple[str, ...]:
    root = resources.files("combiner").joinpath(*folder.split("/"))
    if not root.is_dir():
        return ()
    return tuple(sorted(p.name[: -len(".npz")] for p in root.iterdir() if p.name.endswith(".npz")))


def available_priors() -> tuple[str, ...]:
    """Names of the shipped priors (file names without ``.npz``), sorted."""
    return _names("priors")


def _load(folder: str, name: str) -> PriorFile:
    where = resources.files("combiner").joinpath(*folder.split("/"), f"{name}.npz")
    with resources.as_file(where) as path:
        return PriorFile.load(path)


@cache
def _shipped(name: str) -> PriorFile:
    return _load("priors", name)


@cache
def _previous(name: str) -> PriorFile:
    return _load("priors/previous", name)


def load_prior(name_or_path: str) -> PriorFile:
    """A shipped prior by name, or a prior file by path.

    Raises:
        PriorError: neither a shipped name nor a valid prior file (lists the names).
    """
    if name_or_path in available_priors():
        return _shipped(name_or_path)
    if name_or_path.endswith(".npz") or "/" in name_or_path:
        return PriorFile.load(name_or_path)
    names = ", ".join(available_priors())
    raise PriorError(f"unknown prior {name_or_path!r}: give a prior file or one of {names}")


def default_prior_name(modality: str, shape: tuple[int, ...]) -> str:
    """The shipped prior for a datum of ``modality`` and ``shape`` ``(*grid, channels)``.

    Images up to 20,000 pixels (about 141x141) get the CIFAR prior, larger ones the
    Kodak-sized one; audio the speech prior.

    Raises:
        InputError: no shipped prior models this kind of signal (train one).
    """
    if modality == "image":
        pixels = shape[0] * shape[1]
        key = "image-small" if pixels <= SMALL_IMAGE_PIXELS else "image-large"
    else:
        key = modality
    name = DEFAULT_PRIORS.get(key)
    if name is None or name not in available_priors():
        raise InputError(
            f"no shipped prior models {modality} data: train one with `combiner train-prior`"
        )
    return name


def prior_for_file(data: bytes) -> PriorFile:
    """The shipped prior a ``.cmb`` file was made with, found by its prior hash.

    Raises:
        container.ContainerError: the file is damaged, or no shipped prior made it (give the
            prior it was made with).
    """
    header, _ = container.unpack(data)
    current = (_shipped(name) for name in available_priors())
    previous = (_previous(name) for name in _names("priors/previous"))
    for prior in itertools.chain(current, previous):
        if prior.modality == header.modality and prior.content_hash.startswith(header.prior_hash):
            return prior
    raise container.ContainerError(
        "no shipped prior made this file: give the prior it was made with (--prior)"
    )
