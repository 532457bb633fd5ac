"""Training methods, by name. Each is a small class in its own module (see ``base``)."""
from __future__ import annotations

from .adp import ADP
from .advt import AdvT
from .base import Batch, Losses, Method, OptimizerRecipe, Params
from .baseline import Baseline
from .cce import CCE
from .dverge import DVERGE, DVERGEAdvT, SMDPlus
from .gal import GAL
from .igat import IGATADP, IGATDVERGE
from .smd import SMD
from .trs import TRS

METHODS: dict[str, type[Method]] = {
    cls.name: cls for cls in (Baseline, ADP, GAL, DVERGE, DVERGEAdvT, AdvT, SMD, SMDPlus, CCE, TRS, IGATADP,
                               IGATDVERGE)
}


def get_method(name: str) -> type[Method]:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"Unknown method '{name}'. Choose one of: {', '.join(METHODS)}") from None


__all__ = ["METHODS", "Batch", "Losses", "Method", "OptimizerRecipe", "Params", "get_method"]
