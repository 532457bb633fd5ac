"""Baseline: every member trained independently with cross-entropy (DVERGE appendix A:
SGD 0.1, momentum 0.9, weight decay 1e-4, lr ÷10 at 50% and 75% of training)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Batch, Losses, Method, member_list, register_method


def member_cross_entropy(ensemble, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """CE of every member on (x, y), [K]."""
    return torch.stack([F.cross_entropy(m(x), y) for m in ensemble.members])


@register_method()
class Baseline(Method):
    name = "baseline"

    def loss(self, ensemble, batch: Batch) -> Losses:
        per_member = member_cross_entropy(ensemble, batch.x, batch.y)
        return Losses(per_member.sum(), member_list(per_member))
