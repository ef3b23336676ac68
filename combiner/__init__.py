"""combiner: COMBINER compression with Bayesian implicit neural representations, on rectools."""

from combiner.codec import (
    PRESETS,
    CompressResult,
    PriorFile,
    compress,
    decompress,
    psnr,
    train_prior,
)
from combiner.container import ContainerError
from combiner.inr import INRConfig, VariationalINR
from combiner.priors import IsotropicPrior, LearnedPrior, Prior

__all__ = [
    "PRESETS",
    "CompressResult",
    "ContainerError",
    "INRConfig",
    "IsotropicPrior",
    "LearnedPrior",
    "Prior",
    "PriorFile",
    "VariationalINR",
    "compress",
    "decompress",
    "psnr",
    "train_prior",
]
