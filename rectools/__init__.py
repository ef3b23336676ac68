"""rectools: relative entropy coding — send a sample of q in about KL(q || p) bits.

Examples:
    >>> import numpy as np, rectools
    >>> p = rectools.DiagonalGaussian(np.zeros(3), np.ones(3))
    >>> q = rectools.DiagonalGaussian(np.array([0.2, -0.1, 0.4]), np.full(3, 0.3))
    >>> coder = rectools.get_coder("astar", t=0.0)
    >>> res = coder.encode(q, p, seed=123)
    >>> x = coder.decode(res.index, p, seed=123, num_candidates=res.num_candidates)
    >>> bool(np.array_equal(x, res.sample))
    True
"""

import importlib

from rectools._jit import HAVE_NUMBA
from rectools.batch import available_workers, encode_batch
from rectools.coders import (
    MAX_LOG2_NUM_CANDIDATES,
    AStarCoder,
    BranchAndBoundGPRSCoder,
    Coder,
    DitheredQuantizationCoder,
    EncodeResult,
    GreedyCoder,
    GreedyPoissonCoder,
    MRCCoder,
    OrderedRandomCoder,
    PoissonFunctionalCoder,
    available_coders,
    get_coder,
    register_coder,
)
from rectools.distributions import (
    Categorical,
    DiagonalGaussian,
    GaussianMixture,
    Proposal,
    Target,
    UniformBox,
    UniformCategorical,
    kl_bits,
    kl_bits_monte_carlo,
    log_ratio_bound,
)
from rectools.index_models import (
    BucketIndexModel,
    EmpiricalIndexModel,
    UniformIndexModel,
    ZipfIndexModel,
    available_index_models,
    fit_index_model,
    ideal_bits_per_index,
)
from rectools.streams import (
    DEFAULT_STREAM,
    Philox32Stream,
    PhiloxStream,
    SobolStream,
    get_stream,
    shared_key,
)

__version__ = "0.1.0"

#: Submodules loaded on first use: ``rectools.diagnostics`` pulls in ``scipy.stats`` (0.7 s of
#: start-up that encoding and decoding never need).
_LAZY_SUBMODULES = ("diagnostics", "testing", "bench")


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"rectools.{name}")
    raise AttributeError(f"module 'rectools' has no attribute {name!r}")


__all__ = [
    "DEFAULT_STREAM",
    "HAVE_NUMBA",
    "MAX_LOG2_NUM_CANDIDATES",
    "AStarCoder",
    "BranchAndBoundGPRSCoder",
    "BucketIndexModel",
    "Categorical",
    "Coder",
    "DiagonalGaussian",
    "DitheredQuantizationCoder",
    "EmpiricalIndexModel",
    "EncodeResult",
    "GaussianMixture",
    "GreedyCoder",
    "GreedyPoissonCoder",
    "MRCCoder",
    "OrderedRandomCoder",
    "Philox32Stream",
    "PhiloxStream",
    "PoissonFunctionalCoder",
    "Proposal",
    "SobolStream",
    "Target",
    "UniformBox",
    "UniformCategorical",
    "UniformIndexModel",
    "ZipfIndexModel",
    "available_coders",
    "available_index_models",
    "available_workers",
    "diagnostics",
    "encode_batch",
    "fit_index_model",
    "get_coder",
    "get_stream",
    "ideal_bits_per_index",
    "kl_bits",
    "kl_bits_monte_carlo",
    "log_ratio_bound",
    "register_coder",
    "shared_key",
]
