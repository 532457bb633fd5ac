"""ADP (Pang et al. 2019): ensemble cross-entropy minus the adaptive diversity promoting
regularizer, Eq. (5) and Algorithm 1:

    L = Σ_k CE(F^k(x), y) - [α·H(mean_k F^k(x)) + β·log det(M̃ᵀM̃ + δI)]

with α = 2, β = 0.5 (ADP_{2,0.5}, the paper's full method), Adam 1e-3.
"""
from __future__ import annotations

import torch.nn.functional as F
from pydantic import Field

from ..losses import adp_regularizer, ensemble_diversity_logdet, entropy
from .base import ADAM_PAPER, Batch, Losses, Method, Params, member_list, register_method


class ADPParams(Params):
    alpha: float = Field(2.0, ge=0, description="weight of the ensemble entropy H")
    beta: float = Field(0.5, ge=0, description="weight of log ensemble diversity (LED)")
    det_offset: float = Field(1e-6, gt=0, le=1e-2, description="δ added to the Gram diagonal")


@register_method()
class ADP(Method):
    name = "adp"
    Params = ADPParams
    optimizer = ADAM_PAPER

    def loss(self, ensemble, batch: Batch) -> Losses:
        p = self.params
        logits = ensemble.member_logits(batch.x)
        per_member = F.cross_entropy(logits.flatten(0, 1), batch.y.repeat(len(ensemble)),
                                     reduction="none").view(len(ensemble), -1).mean(1)
        probs = logits.softmax(-1)
        reg = adp_regularizer(probs, batch.y, p.alpha, p.beta, p.det_offset).mean()
        terms = {"adp_regularizer": reg.detach(),
                 "ensemble_entropy": entropy(probs.detach().mean(0)).mean(),
                 "log_ensemble_diversity": ensemble_diversity_logdet(probs.detach(), batch.y, p.det_offset).mean()}
        return Losses(per_member.sum() - reg, member_list(per_member), terms)
