"""DVERGE feature distillation, Eq. (1) of Yang et al. 2020:

    x'_{f_i^l}(x, x_s) = argmin_z || f_i^l(z) - f_i^l(x) ||_2^2   s.t. ||z - x_s||_∞ <= ε

solved with PGD with momentum (Dong et al. 2018; DVERGE 4.1): the gradient is
L1-normalized per sample, accumulated with momentum μ and followed by its sign; 10 steps
of ε/10 from the source image. The target features are computed once (they do not depend
on z) and only the input gradient is computed (parameters frozen), and the forward pass
stops at layer l.
"""
from __future__ import annotations

import torch

from ..ensemble import attack_mode, layer_output
from ..models import Classifier


def distill(model: Classifier, layer: int, target: torch.Tensor, source: torch.Tensor, *,
            eps: float, steps: int = 10, step_size: float | None = None,
            momentum: float = 1.0) -> torch.Tensor:
    """Images within ε of ``source`` whose layer-``layer`` features match ``target``'s."""
    step_size = eps / steps if step_size is None else step_size
    with attack_mode(model):
        with torch.no_grad():
            goal = layer_output(model, layer, target)
        z = source.detach().clone()
        velocity = torch.zeros_like(z)
        for _ in range(steps):
            z.requires_grad_(True)
            loss = (layer_output(model, layer, z) - goal).pow(2).sum()
            (grad,) = torch.autograd.grad(loss, z)
            norm = grad.abs().flatten(1).sum(1).clamp_min(1e-12).view(-1, *([1] * (z.dim() - 1)))
            velocity = momentum * velocity + grad / norm
            z = z.detach() - step_size * velocity.sign()
            z = torch.min(torch.max(z, source - eps), source + eps).clamp(0, 1)
    return z.detach()
