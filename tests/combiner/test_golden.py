"""Golden bitstreams: .cmb files made once must keep decoding to exactly the same pixels.

``cifar10_00.cmb`` is a version 1 file (the first format): old files keep decoding.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from combiner import codec, container
from combiner.shipped import load_prior

GOLDEN = Path(__file__).parent / "golden"


def test_golden_file_decodes_to_the_same_pixels():
    data = (GOLDEN / "cifar10_00.cmb").read_bytes()
    header, _ = container.unpack(data)
    assert header.shape == (32, 32, 3) and header.coder == "astar" and header.seed == 42
    assert header.num_blocks is not None and len(header.prior_hash) == 4  # version 1
    decoded = codec.decompress(data, load_prior("cifar-learned-beta2e-05"))
    expected = np.asarray(Image.open(GOLDEN / "cifar10_00.png"))
    assert np.array_equal(decoded, expected)
