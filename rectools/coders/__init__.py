"""Relative entropy coders behind one interface, registered by name."""

from rectools.coders.astar import AStarCoder, OrderedRandomCoder, PoissonFunctionalCoder
from rectools.coders.base import (
    MAX_LOG2_NUM_CANDIDATES,
    Coder,
    EncodeResult,
    ImportanceSamplingCoder,
)
from rectools.coders.dithered import DitheredQuantizationCoder
from rectools.coders.gprs import BranchAndBoundGPRSCoder, GreedyPoissonCoder
from rectools.coders.greedy import GreedyCoder
from rectools.coders.mrc import MRCCoder
from rectools.coders.registry import available_coders, get_coder, register_coder

__all__ = [
    "MAX_LOG2_NUM_CANDIDATES",
    "AStarCoder",
    "BranchAndBoundGPRSCoder",
    "Coder",
    "DitheredQuantizationCoder",
    "EncodeResult",
    "GreedyCoder",
    "GreedyPoissonCoder",
    "ImportanceSamplingCoder",
    "MRCCoder",
    "OrderedRandomCoder",
    "PoissonFunctionalCoder",
    "available_coders",
    "get_coder",
    "register_coder",
]
