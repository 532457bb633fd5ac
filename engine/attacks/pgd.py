"""Untargeted L∞ PGD (Madry et al. 2018) with random start and batched restarts.

Native because the engine needs all restarts of a batch in one forward pass (restart r of
sample b is row r*B+b), which advertorch's ``LinfPGDAttack`` does not offer; the
advertorch version is kept alongside (:func:`advertorch_pgd`) and the two must agree
(``tests/engine/attacks/test_pgd.py``). Steps follow advertorch exactly: ascend the
sum-reduced cross-entropy with the sign of the gradient, clip to the ε-ball, clip to
[0, 1].
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..compat import advertorch

Forward = Callable[[torch.Tensor], torch.Tensor]


def pgd(forward: Forward, x: torch.Tensor, y: torch.Tensor, *, eps: float, step_size: float,
        steps: int, restarts: int = 1, random_start: bool = True,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Adversarial examples [restarts, batch, ...] maximizing CE(forward(x'), y).

    ``forward`` returns logits or log-probabilities (cross-entropy of log-probabilities
    equals their NLL). Call it with parameters frozen (``engine.ensemble.attack_mode``).
    """
    shape = x.shape
    xr = x.detach().repeat(restarts, *([1] * (x.dim() - 1)))
    yr = y.repeat(restarts)
    if random_start:
        noise = torch.rand(xr.shape, generator=generator, device="cpu").to(xr.device)
        delta = (noise * 2 - 1) * eps
        delta = (xr + delta).clamp(0, 1) - xr
    else:
        delta = torch.zeros_like(xr)
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(forward(xr + delta), yr, reduction="sum")
        (grad,) = torch.autograd.grad(loss, delta)
        delta = (delta.detach() + step_size * grad.sign()).clamp(-eps, eps)
        delta = (xr + delta).clamp(0, 1) - xr
    return (xr + delta).detach().view(restarts, *shape)


def advertorch_pgd(forward: Forward, x: torch.Tensor, y: torch.Tensor, *, eps: float,
                   step_size: float, steps: int, restarts: int = 1, random_start: bool = True
                   ) -> torch.Tensor:
    """The same attack through advertorch's ``LinfPGDAttack``, one restart at a time
    (the reference way). Returns [restarts, batch, ...]."""
    attack = advertorch().LinfPGDAttack(
        forward, loss_fn=torch.nn.CrossEntropyLoss(reduction="sum"), eps=eps, nb_iter=steps,
        eps_iter=step_size, rand_init=random_start, clip_min=0.0, clip_max=1.0, targeted=False)
    return torch.stack([attack.perturb(x, y).detach() for _ in range(restarts)])
