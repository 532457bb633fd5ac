"""GAL (Kariyappa & Qureshi 2019): cross-entropy plus the coherence of the members'
input gradients,

    L = Σ_k CE_k(x, y) + λ · log Σ_{i<j} exp(cos(∇ₓCE_i, ∇ₓCE_j)),   λ = 0.5,

differentiated through the gradients (double backprop). Members use leaky ReLU
(slope 0.1) so input gradients do not vanish (DVERGE appendix A); Adam 1e-3.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from ..losses import pairwise_cosine_lse
from ..gradients import input_gradients
from .base import ADAM_PAPER, Batch, Losses, Method, Params, member_list, register_method


class GALParams(Params):
    lam: float = Field(0.5, ge=0, description="λ, weight of the gradient-coherence term")


@register_method()
class GAL(Method):
    name = "gal"
    Params = GALParams
    optimizer = ADAM_PAPER
    leaky_relu = True

    def loss(self, ensemble, batch: Batch) -> Losses:
        def ce(logits, _k):
            value = F.cross_entropy(logits, batch.y)
            return value, value

        grads, ces = input_gradients(ensemble, batch.x, ce, create_graph=True)
        per_member = torch.stack(ces)
        coherence = pairwise_cosine_lse(grads).mean()
        total = per_member.sum() + self.params.lam * coherence
        return Losses(total, member_list(per_member), {"gradient_coherence": coherence.detach()})
