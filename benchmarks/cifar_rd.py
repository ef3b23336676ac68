"""Rate-distortion of COMBINER on the 20 bundled CIFAR-10 test images, next to classical codecs.

A thin wrapper of ``combiner evaluate`` that keeps its log in ``benchmarks/out/cifar_rd.*``.
Arguments are passed through, e.g.::

    python benchmarks/cifar_rd.py                       # shipped priors at all rates + codecs
    python benchmarks/cifar_rd.py --priors cifar-learned-beta2e-06 --no-baselines \\
        --isotropic cifar-isotropic-beta2e-06 --mrc --no-finetune --exact-sample
"""

import sys
from pathlib import Path

from combiner import cli

if __name__ == "__main__":
    out = Path(__file__).parent / "out" / "cifar_rd"
    sys.exit(cli.main(["evaluate", "-o", str(out), *sys.argv[1:]]))
