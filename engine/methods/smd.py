"""SMD (Bogun et al. 2022): cross-entropy plus saliency-map diversification, Eq. (1)-(3):

    s_m = ∂f_m(x)[y]/∂x,    L_SMD = log Σ_{m<l} exp(cos(s_m, s_l)),
    L = Σ_m CE_m(x, y) + λ · L_SMD,   λ = 1; Adam 1e-3, weight decay 1e-4.

f_m(x)[y] is taken as the true-class *logit*: the softmax probability's gradient is the
same map scaled by p(1-p), which vanishes for confident members and leaves the cosine
ill-conditioned, while the cosine itself is scale-free.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from ..gradients import input_gradients
from ..losses import pairwise_cosine_lse
from .base import ADAM_PAPER, Batch, Losses, Method, Params, member_list, register_method


def saliency_alignment(ensemble, x: torch.Tensor, y: torch.Tensor, create_graph: bool):
    """(L_SMD per sample [B], member CEs [K]) for the batch."""
    def true_class_logit(logits, _k):
        return logits.gather(1, y[:, None]).sum(), F.cross_entropy(logits, y)

    saliency, ces = input_gradients(ensemble, x, true_class_logit, create_graph=create_graph)
    return pairwise_cosine_lse(saliency), torch.stack(ces)


class SMDParams(Params):
    lam: float = Field(1.0, ge=0, description="λ, weight of the saliency-alignment term")


@register_method()
class SMD(Method):
    name = "smd"
    Params = SMDParams
    optimizer = ADAM_PAPER

    def loss(self, ensemble, batch: Batch) -> Losses:
        alignment, per_member = saliency_alignment(ensemble, batch.x, batch.y, create_graph=True)
        alignment = alignment.mean()
        total = per_member.sum() + self.params.lam * alignment
        return Losses(total, member_list(per_member), {"saliency_alignment": alignment.detach()})
