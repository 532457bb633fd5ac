"""AdvT (Madry et al. 2018 as run in DVERGE appendix A): every step, PGD adversarial
examples against the *whole ensemble* (10 steps, ε = 8/255, step 2/255 on CIFAR-10, random
start) replace the clean batch: L = Σ_k CE(f_k(x_adv), y)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from ..attacks import pgd
from ..ensemble import attack_mode
from .base import Batch, Losses, Method, Params, member_list, register_method
from .dverge import advt_budget


class AdvTParams(Params):
    advt_eps: float | None = Field(None, gt=0, le=1, description="PGD ε (default: the data set's)")
    advt_step: float | None = Field(None, gt=0, description="PGD step (default: the data set's)")
    advt_steps: int = Field(10, ge=1, le=1000)


@register_method()
class AdvT(Method):
    name = "advt"
    Params = AdvTParams

    def loss(self, ensemble, batch: Batch) -> Losses:
        with attack_mode(ensemble):
            x_adv = pgd(ensemble.log_probs, batch.x, batch.y, **advt_budget(self.params, self.spec))[0]
        per_member = torch.stack([F.cross_entropy(m(x_adv), batch.y) for m in ensemble.members])
        return Losses(per_member.sum(), member_list(per_member))
