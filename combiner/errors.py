"""The errors COMBINER raises on bad input, one type per surface.

Every expected failure is a [`CombinerError`][combiner.errors.CombinerError] (a ``ValueError``,
so older ``except ValueError`` code keeps working):

- [`ContainerError`][combiner.errors.ContainerError]: a ``.cmb`` file that cannot be decoded
  (corrupt, truncated, forged, foreign, too large, or made with another prior);
- [`PriorError`][combiner.errors.PriorError]: a prior file that is not a valid COMBINER prior;
- [`InputError`][combiner.errors.InputError]: a signal or input file that cannot be compressed
  (unreadable, wrong shape or range, NaNs, too large), or an output path that cannot be written.

Anything else escaping the API is a bug. The command line prints each of these as one line and
exits with status 2; any other exception exits with status 1 (``--debug`` shows the traceback).

Examples:
    >>> from combiner.errors import CombinerError, ContainerError
    >>> issubclass(ContainerError, CombinerError) and issubclass(ContainerError, ValueError)
    True
"""

from __future__ import annotations


class CombinerError(ValueError):
    """Base of every error COMBINER raises for bad files, priors, signals or paths."""


class ContainerError(CombinerError):
    """A .cmb file that cannot be decoded: corrupt, truncated, forged, foreign, from another
    prior, or claiming a signal beyond the documented limits."""


class PriorError(CombinerError):
    """A prior file that cannot be used: unreadable, malformed, inconsistent or too large."""


class InputError(CombinerError):
    """A signal, input file or output path that cannot be used (the message says why)."""
