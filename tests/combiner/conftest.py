"""Fixtures shared by the combiner tests: small smooth images and a tiny prior trained on them."""

import numpy as np
import pytest

from combiner import codec


@pytest.fixture(scope="module")
def images():
    # Smooth synthetic images: an INR can fit them in a few steps.
    y, x = np.mgrid[0:8, 0:8] / 7.0
    base = np.stack([x, y, 0.5 * (x + y)], axis=-1)
    return np.clip(np.stack([base, base[::-1], base[:, ::-1], 1 - base]), 0, 1)


@pytest.fixture(scope="module")
def prior_file(images):
    return codec.train_prior(images, preset="tiny", beta=1e-4, kappa=8)
