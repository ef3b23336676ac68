"""Regenerate the version 2 golden .cmb file (only when the format or the shipped prior changes on
purpose). The version 1 file ``cifar10_00.cmb`` and the prior that made it are frozen: they show
that old files keep decoding.

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
    image = cifar10_samples()[0][1:2]
    result = codec.compress(image, load_prior(PRIOR), preset="tiny", seed=42)[0]
    (GOLDEN / "cifar10_01-v2.cmb").write_bytes(result.data)
    Image.fromarray(result.reconstruction).save(GOLDEN / "cifar10_01-v2.png")
    print(f"{len(result.data)} bytes, {result.bpp:.3f} bpp, {result.psnr_db:.2f} dB")
