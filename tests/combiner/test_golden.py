"""Golden bitstreams: .cmb files made once must keep decoding to exactly the same pixels.

``cifar10_00.cmb`` is a version 1 file (the first format), decoded with the prior that made it
(frozen next to it): old files keep decoding. ``cifar10_01-v2.cmb`` is a version 2 file made
with a shipped prior and the first ("philox") candidate stream, frozen too;
``cifar10_02-philox4x32.cmb`` uses today's default stream (``make_golden.py`` rebuilds it when
the format or the stream changes on purpose). ``cifar10_03-previous-prior.cmb`` was made with a
shipped prior since retrained under the same name (kept in ``priors/previous``), as were
``cifar10_01`` and ``cifar10_02`` (the 32-epoch beta 2e-5 prior).
"""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from combiner import codec, container
from combiner.shipped import available_priors, load_prior, prior_for_file

GOLDEN = Path(__file__).parent / "golden"


def test_version_1_file_decodes_to_the_same_pixels():
    data = (GOLDEN / "cifar10_00.cmb").read_bytes()
    header, _ = container.unpack(data)
    assert header.shape == (32, 32, 3) and header.coder == "astar" and header.seed == 42
    assert header.num_blocks is not None and len(header.prior_hash) == 4  # version 1
    prior = codec.PriorFile.load(GOLDEN / "cifar-learned-beta2e-05-v1-prior.npz")
    decoded = codec.decompress(data, prior)
    expected = np.asarray(Image.open(GOLDEN / "cifar10_00.png"))
    assert np.array_equal(decoded, expected)


def test_version_2_file_decodes_to_the_same_pixels_with_the_prior_that_made_it():
    data = (GOLDEN / "cifar10_01-v2.cmb").read_bytes()
    header, _ = container.unpack(data)
    assert header.shape is None and header.seed == 42 and header.num_blocks is None
    assert header.candidates == "philox"
    prior = prior_for_file(data)  # the 32-epoch beta 2e-5 prior, now in priors/previous
    assert prior.beta == 2e-5
    decoded = codec.decompress(data, prior)
    expected = np.asarray(Image.open(GOLDEN / "cifar10_01-v2.png"))
    assert np.array_equal(decoded, expected)


def test_philox4x32_file_decodes_to_the_same_pixels():
    data = (GOLDEN / "cifar10_02-philox4x32.cmb").read_bytes()
    header, _ = container.unpack(data)
    assert (header.coder, header.candidates) == ("astar", "philox4x32")
    decoded = codec.decompress(data, prior_for_file(data))
    expected = np.asarray(Image.open(GOLDEN / "cifar10_02-philox4x32.png"))
    assert np.array_equal(decoded, expected)


def test_a_file_made_with_a_since_retrained_prior_still_decodes():
    # Made with the 32-epoch cifar-learned-beta2e-06, replaced by a 128-epoch one of the same
    # name; the package keeps the old one in priors/previous for such files.
    data = (GOLDEN / "cifar10_03-previous-prior.cmb").read_bytes()
    old, current = prior_for_file(data), load_prior("cifar-learned-beta2e-06")
    assert old is not current and old.beta == current.beta
    assert all(load_prior(name) is not old for name in available_priors())
    decoded = codec.decompress(data, old)
    assert np.array_equal(decoded, np.asarray(Image.open(GOLDEN / "cifar10_03-previous-prior.png")))
    with pytest.raises(container.ContainerError, match="different prior"):
        codec.decompress(data, current)
