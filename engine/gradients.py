"""Input gradients of every ensemble member, kept separate, in one backward pass.

GAL differentiates each member's cross-entropy, SMD each member's true-class score, and
the diversity metrics re-use both; each member sees its own leaf copy of the input, so one
``autograd.grad`` call returns the per-member gradients.
"""
from __future__ import annotations

import torch


def input_gradients(ensemble, x: torch.Tensor, score_fn, create_graph: bool) -> tuple[torch.Tensor, list]:
    """(∂score_k/∂x for every member k as [K, B, ...], extras). ``score_fn(logits, k)``
    returns (the scalar to differentiate, any extra value to hand back, e.g. the CE)."""
    copies = [x.detach().clone().requires_grad_(True) for _ in ensemble.members]
    scores, extras = [], []
    for k, (member, xk) in enumerate(zip(ensemble.members, copies)):
        score, extra = score_fn(member(xk), k)
        scores.append(score)
        extras.append(extra)
    grads = torch.autograd.grad(torch.stack(scores).sum(), copies, create_graph=create_graph)
    return torch.stack(grads), extras
