"""The attack registry: every attack the lab runs, behind one call.

``run_attack(name, model, x, y, eps=..., generator=..., **params)`` returns adversarial
examples ``[R, B, ...]`` (R = restarts; 1 for most attacks) for images ``x`` in [0, 1]
with labels ``y``. ``model`` is an ``nn.Module`` returning logits or log-probabilities:
a member (member-level attack) or :class:`EnsembleLogProbs` around an ensemble
(ensemble-level attack: the log of the mean member softmax, DVERGE 4.1).

The call runs inside :func:`engine.ensemble.attack_mode` (eval mode, frozen parameters:
parameters never accumulate gradients) and ends by enforcing the budget of the attack's
norm with :func:`enforce_budget`: a no-op (up to float rounding) for the projected L∞
attacks, and the way the *minimal-perturbation* attacks (C&W L2, EAD, JSMA), which have
no budget of their own, are held to ε -- their δ is rescaled (L2, L1) or truncated to
its ε·D largest entries (L0). Outputs are therefore always inside the ε-ball of the norm
and inside [0, 1].

The attacks themselves live one family per module (:mod:`engine.attacks.base` lists
them): advertorch provides what it has (``backend="advertorch"``); the rest is native
because advertorch lacks it.
"""
from __future__ import annotations

import torch
from torch import nn

from ..ensemble import attack_mode
from .base import ATTACKS, AttackError, AttackSpec, EnsembleLogProbs, UnknownAttack, register_attack
from .budgets import enforce_budget, perturbation_size
from .native import input_diversity
from .pgd import cw_margin
from .sgm import residual_blocks, skip_gradient

#: ``get_attack(name)``: the :class:`AttackSpec`, or :class:`UnknownAttack` listing the choices.
get_attack = ATTACKS.get


def raw_attack(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float,
               generator: torch.Generator | None = None, **params) -> torch.Tensor:
    """What attack ``name`` itself returns, ``[R, B, ...]``, before :func:`run_attack`
    enforces the budget (the projected attacks must already be inside it)."""
    spec = get_attack(name)
    if eps < 0:
        raise AttackError(f"eps must be >= 0, got {eps}")
    x, y = x.detach(), y.detach()
    try:
        with attack_mode(model):
            return spec.fn(model, x, y, eps=eps, generator=generator, **params).detach()
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise AttackError(f"{name}: {exc}") from None
        raise


def run_attack(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float,
               generator: torch.Generator | None = None, **params) -> torch.Tensor:
    """Adversarial examples ``[R, B, ...]`` of attack ``name`` against ``model`` (eval mode,
    frozen parameters), inside the ε-ball of the attack's norm and inside [0, 1]."""
    adv = raw_attack(name, model, x, y, eps=eps, generator=generator, **params)
    return enforce_budget(get_attack(name).norm, x.detach(), adv, eps)


__all__ = ["ATTACKS", "AttackError", "AttackSpec", "EnsembleLogProbs", "UnknownAttack", "cw_margin", "enforce_budget",
           "get_attack", "input_diversity", "perturbation_size", "raw_attack", "register_attack", "residual_blocks",
           "run_attack", "skip_gradient"]
