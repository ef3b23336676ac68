"""combiner: COMBINER compression with Bayesian implicit neural representations, on rectools."""

from combiner.codec import (
    PRESETS,
    CompressResult,
    PriorFile,
    compress,
    decompress,
    posterior_kl_bits,
    psnr,
    train_prior,
)
from combiner.errors import CombinerError, ContainerError, InputError, PriorError
from combiner.inr import NAMED_NETS, INRConfig, VariationalINR
from combiner.priors import IsotropicPrior, LearnedPrior, Prior
from combiner.signals import Modality, available_modalities, get_modality, register_modality

__all__ = [
    "NAMED_NETS",
    "PRESETS",
    "CombinerError",
    "CompressResult",
    "ContainerError",
    "INRConfig",
    "InputError",
    "IsotropicPrior",
    "LearnedPrior",
    "Modality",
    "Prior",
    "PriorError",
    "PriorFile",
    "VariationalINR",
    "available_modalities",
    "compress",
    "decompress",
    "get_modality",
    "posterior_kl_bits",
    "psnr",
    "register_modality",
    "train_prior",
]
