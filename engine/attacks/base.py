"""What an attack is, and the registry every attack registers itself in.

An attack is a function ``(model, x, y, *, eps, generator=None, **params) -> [R, B, ...]``
(R = restarts; 1 for most attacks) for images ``x`` in [0, 1] with labels ``y``, registered
with ``@register_attack(name, norm=..., backend=..., description=...)`` next to its
definition, one module per attack family:

* :mod:`.advertorch_attacks`: what advertorch provides (FGSM, PGD, BIM, MI-FGSM, C&W L2,
  EAD, JSMA, SPSA);
* :mod:`.native`: what advertorch lacks, native (batched-restart PGD with the CW loss and
  momentum, R-FGSM, M-DI²-FGSM, DVERGE feature distillation);
* :mod:`.sgm`: SGM's gradient decay on residual branches;
* :mod:`.budgets`: the ε-balls every output is held to.

:func:`engine.attacks.registry.run_attack` is the one call that runs any of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch
from torch import nn

from ..ensemble import Ensemble
from ..registry import Registry, UnknownName
from .budgets import Norm

AttackFn = Callable[..., torch.Tensor]  # (model, x, y, *, eps, generator, **params) -> [R, B, ...]


class AttackError(ValueError):
    """An attack that cannot run on this model or with these parameters."""


class UnknownAttack(UnknownName, AttackError):
    """An attack name the registry does not have (an :class:`AttackError` too)."""


@dataclass(frozen=True)
class AttackSpec:
    name: str
    norm: Norm
    backend: Literal["advertorch", "native"]
    description: str
    fn: AttackFn


#: Every attack by name; the package's modules register theirs on first lookup.
ATTACKS: Registry[AttackSpec] = Registry(
    "attack", modules=("engine.attacks.advertorch_attacks", "engine.attacks.native", "engine.attacks.sgm"),
    package="engine.attacks", error=UnknownAttack)


def register_attack(name: str, *, norm: Norm, backend: Literal["advertorch", "native"],
                    description: str) -> Callable[[AttackFn], AttackFn]:
    """Decorator: register the attack function ``fn`` as ``name`` (returns ``fn`` unchanged)."""

    def add(fn: AttackFn) -> AttackFn:
        ATTACKS.register(name, entry=AttackSpec(name, norm, backend, description, fn), module=fn.__module__)
        return fn

    return add


class EnsembleLogProbs(nn.Module):
    """An ensemble as one attackable model: ``forward`` = ``Ensemble.log_probs`` (log of
    the mean member softmax), so ensemble-level attacks differentiate the ensemble's
    actual prediction."""

    def __init__(self, ensemble: Ensemble):
        super().__init__()
        self.ensemble = ensemble

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ensemble.log_probs(x)
