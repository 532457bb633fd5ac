"""The ε-balls attacks are held to: projection of adversarial examples into the ball of
their norm (and into [0, 1]) and the size of a perturbation in that norm."""
from __future__ import annotations

import math
from typing import Literal

import torch

Norm = Literal["linf", "l2", "l1", "l0"]


def _per_sample(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def enforce_budget(norm: Norm, x: torch.Tensor, adv: torch.Tensor, eps: float) -> torch.Tensor:
    """``adv`` ([R, B, ...] or [B, ...]) moved into the ε-ball of ``norm`` around ``x`` and
    into [0, 1].

    * ``linf``: δ clipped to [-ε, ε] (the projection PGD uses);
    * ``l2`` / ``l1``: δ scaled by ``min(1, ε / ||δ||)``. ``x + tδ`` for t in [0, 1] is a
      convex combination of two images in [0, 1], so the box is kept too;
    * ``l0``: ε is the largest *fraction* of input values (C·H·W of them) that may change;
      only the ``floor(ε·D)`` entries of δ largest in magnitude are kept.
    """
    x = x.expand_as(adv) if adv.dim() == x.dim() else x.unsqueeze(0).expand_as(adv)
    flat_x, flat_adv = x.reshape(-1, *x.shape[-3:]), adv.reshape(-1, *adv.shape[-3:])
    delta = flat_adv - flat_x
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    elif norm in ("l2", "l1"):
        p = 2 if norm == "l2" else 1
        size = delta.flatten(1).norm(p=p, dim=1)
        delta = delta * _per_sample((eps / size.clamp_min(1e-12)).clamp(max=1.0), delta)
    elif norm == "l0":
        d = delta[0].numel()
        k = int(math.floor(eps * d + 1e-9))
        flat = delta.flatten(1)
        if k < d:
            keep = torch.zeros_like(flat, dtype=torch.bool)
            if k > 0:
                keep.scatter_(1, flat.abs().topk(k, dim=1).indices, True)
            flat = torch.where(keep, flat, torch.zeros_like(flat))
        delta = flat.view_as(delta)
    else:
        raise ValueError(f"unknown norm {norm!r}; choose from: linf, l2, l1, l0")
    return (flat_x + delta).clamp(0, 1).view_as(adv)


def perturbation_size(norm: Norm, x: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    """Per-example size of ``adv - x`` in ``norm`` (L0: fraction of changed values)."""
    delta = (adv - x).flatten(-3)  # [..., D]
    if norm == "linf":
        return delta.abs().amax(-1)
    if norm == "l2":
        return delta.norm(p=2, dim=-1)
    if norm == "l1":
        return delta.abs().sum(-1)
    return (delta != 0).float().mean(-1)
