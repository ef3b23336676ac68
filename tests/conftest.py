"""Test-wide settings and shared fixtures.

Hypothesis runs derandomized so CI results do not depend on luck. The combiner fixtures live
here too: a second ``conftest.py`` under ``tests/combiner`` would clash with this one when
``--doctest-modules`` imports both by the same module name.
"""

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=40)
settings.load_profile("ci")


@pytest.fixture(scope="module")
def images():
    """Four smooth synthetic 8x8 RGB images ``(4, 8, 8, 3)``: an INR fits them in a few steps."""
    y, x = np.mgrid[0:8, 0:8] / 7.0
    base = np.stack([x, y, 0.5 * (x + y)], axis=-1)
    return np.clip(np.stack([base, base[::-1], base[:, ::-1], 1 - base]), 0, 1)


@pytest.fixture(scope="module")
def prior_file(images):
    """A tiny prior trained on ``images`` (imports combiner here: rectools tests need no torch)."""
    from combiner import codec

    return codec.train_prior(images, preset="tiny", beta=1e-4, kappa=8)
