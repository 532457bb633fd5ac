"""What a training method is: validated hyperparameters, an optimizer recipe and a loss.

One training loop (``engine.train``) drives every method: it draws the batch (and, for
methods that need it, an independent source batch), asks the method for its loss, and
takes one optimizer step over all members. Members have disjoint parameters, so one step
on the sum of per-member losses equals DVERGE's round-robin per-member updates.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from pydantic import BaseModel, ConfigDict

from ..data import DataSpec
from ..ensemble import Ensemble
from ..registry import Registry


class Params(BaseModel):
    """Base of every method's hyperparameters; unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class Batch:
    x: torch.Tensor
    y: torch.Tensor
    xs: torch.Tensor | None = None  # independent source batch (DVERGE family)
    ys: torch.Tensor | None = None


@dataclass
class Losses:
    """``total`` is what is minimized; ``members`` and ``terms`` are for the progress
    display and history: detached tensors (or plain numbers), which the training loop sums
    on the device and reads only when it reports, so a step never waits for the GPU."""

    total: torch.Tensor
    members: torch.Tensor | list[float]
    terms: dict[str, torch.Tensor | float] = field(default_factory=dict)


@dataclass(frozen=True)
class OptimizerRecipe:
    name: str  # "sgd" or "adam"
    lr: float
    weight_decay: float = 1e-4
    momentum: float = 0.9  # SGD only


SGD_PAPER = OptimizerRecipe("sgd", 0.1)  # DVERGE appendix A: lr ÷10 at 50% and 75%
ADAM_PAPER = OptimizerRecipe("adam", 1e-3)


class Method:
    """A training method. Subclasses set the class attributes and implement ``loss``."""

    name: ClassVar[str]
    Params: ClassVar[type[Params]] = Params
    optimizer: ClassVar[OptimizerRecipe] = SGD_PAPER
    leaky_relu: ClassVar[bool] = False
    needs_source_batch: ClassVar[bool] = False
    starts_from_baseline: ClassVar[bool] = False  # DVERGE Algorithm 1, lines 1-4

    def __init__(self, params: Params, spec: DataSpec):
        self.params = params
        self.spec = spec
        #: the run's number of epochs, set by the training loop (for schedules over training,
        #: e.g. TRS's growing δ); None outside training.
        self.epochs: int | None = None

    def check(self, member: torch.nn.Module) -> None:
        """Raise ValueError if the hyperparameters cannot work with this architecture
        (``member`` is a fresh model of it). Called once before any training, so a bad
        ``--param`` fails at once rather than after pre-training or a first epoch."""

    def begin_epoch(self, epoch: int, ensemble: Ensemble, rng: random.Random) -> dict:
        """Per-epoch choices (e.g. DVERGE's random layer); returned for the history."""
        return {}

    def loss(self, ensemble: Ensemble, batch: Batch) -> Losses:
        raise NotImplementedError


#: Every training method by name; each registers itself with ``@register_method`` next to
#: its class. The package's modules are imported on first lookup (this order first, so
#: forms and ``--method`` list the papers' methods in their usual order), then any other
#: module of the package: a new method is one new file.
_PAPER_ORDER = ("baseline", "adp", "gal", "dverge", "advt", "smd", "cce", "trs", "igat")
METHODS: Registry[type[Method]] = Registry("method", modules=tuple(f"engine.methods.{m}" for m in _PAPER_ORDER),
                                           package="engine.methods")
register_method = METHODS.register


def member_list(per_member: torch.Tensor) -> torch.Tensor:
    """Per-member losses for the display, detached and left on the device (no host sync)."""
    return per_member.detach()
