"""Regenerate the newest golden .cmb file (only when the format or the default candidate stream
changes on purpose; a retrained prior needs no new file, the old one stays in priors/previous).
The older files are frozen: they show that old files keep decoding (``cifar10_00.cmb``,
version 1, with the prior that made it; ``cifar10_01-v2.cmb``, version 2 with the "philox"
candidate stream).

Run: ``python tests/combiner/make_golden.py``.
"""

from pathlib import Path

from PIL import Image

from combiner import codec
from combiner.data import cifar10_samples
from combiner.shipped import load_prior

GOLDEN = Path(__file__).parent / "golden"
PRIOR = "cifar-learned-beta2e-05"

if __name__ == "__main__":
    image = cifar10_samples()[0][2:3]
    result = codec.compress(image, load_prior(PRIOR), preset="tiny", seed=42)[0]
    (GOLDEN / "cifar10_02-philox4x32.cmb").write_bytes(result.data)
    Image.fromarray(result.reconstruction).save(GOLDEN / "cifar10_02-philox4x32.png")
    print(f"{len(result.data)} bytes, {result.bpp:.3f} bpp, {result.psnr_db:.2f} dB")
