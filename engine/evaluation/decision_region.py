"""Decision-region slices around one test image, DVERGE Fig. 1 and appendix C.1 (Fig. 7).

The class predicted by every member and by the ensemble (mean softmax, DVERGE 4.1) is
evaluated on the 2-D plane

    x(a, b) = clip(x + a·d_adv + b·d_rand, 0, 1),   a, b ∈ [-extent, extent]

where the vertical axis d_adv = sign(∇ₓ CE(surrogate ensemble(x), y)) is the adversarial
(FGSM) direction of a *surrogate* ensemble and the horizontal axis d_rand is a seeded
Rademacher (±1) vector. Both have L∞ norm 1, so ``extent`` is the L∞ distance reached
along each axis (default 0.1, Fashion-MNIST's attack budget). The paper uses a separately
trained benign surrogate and the same axes for every ensemble it compares; here
``surrogate`` is a checkpoint path and, when omitted, the analysed ensemble itself (its
own white-box direction, so compared ensembles then have different vertical axes). The
result and the figure title say which was used. Pass the same ``--surrogate`` for every
ensemble to reproduce the paper's shared axes.

Adversarial vulnerability shows as the distance from the origin to the nearest boundary
along the vertical axis: ``flip_distance`` records it per model (for a > 0).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..ensemble import Ensemble, attack_mode
from . import AnalysisError

def adversarial_direction(surrogate: Ensemble, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """sign ∇ₓ CE(log mean softmax, y) of the surrogate ensemble (L∞ norm 1), [1, C, H, W]."""
    with attack_mode(surrogate):
        xg = x.detach().clone().requires_grad_(True)
        loss = F.nll_loss(surrogate.log_probs(xg), y)
        (grad,) = torch.autograd.grad(loss, xg)
    if not grad.any():
        raise AnalysisError("the surrogate's input gradient is exactly zero at this image; choose another --index")
    return grad.sign()


def rademacher_direction(shape, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, tuple(shape), generator=g).float().mul_(2).sub_(1)


def region_grid(ensemble: Ensemble, x: torch.Tensor, vertical: torch.Tensor, horizontal: torch.Tensor,
                offsets: torch.Tensor, batch_size: int = 1024, progress=None) -> np.ndarray:
    """Predicted classes [K+1, R, R] (members, then the ensemble) on the plane
    clip(x + offsets[i]·vertical + offsets[j]·horizontal) — row i, column j."""
    r = len(offsets)
    a, b = torch.meshgrid(offsets, offsets, indexing="ij")
    a, b = a.flatten(), b.flatten()
    out = torch.empty(len(ensemble) + 1, r * r, dtype=torch.int16)
    with attack_mode(ensemble), torch.no_grad():
        for start in range(0, r * r, batch_size):
            sa = a[start:start + batch_size].view(-1, *([1] * (x.dim() - 1))).to(x.device)
            sb = b[start:start + batch_size].view(-1, *([1] * (x.dim() - 1))).to(x.device)
            points = (x + sa * vertical + sb * horizontal).clamp_(0, 1)
            logits = ensemble.member_logits(points)
            out[:-1, start:start + batch_size] = logits.argmax(-1).cpu().to(torch.int16)
            out[-1, start:start + batch_size] = logits.softmax(-1).mean(0).argmax(-1).cpu().to(torch.int16)
            if progress:
                progress(min(start + batch_size, r * r), r * r)
    return out.view(-1, r, r).numpy()


def flip_distance(grid: np.ndarray, offsets: np.ndarray) -> list[Optional[float]]:
    """Per model, the smallest a > 0 on the vertical line b = 0 (the column nearest the
    origin) whose prediction differs from the one nearest the origin; None when none."""
    centre = int(np.abs(offsets).argmin())
    out = []
    for model in grid:
        column = model[:, centre]
        flipped = [offsets[i] for i in range(centre + 1, len(offsets)) if column[i] != column[centre]]
        out.append(float(flipped[0]) if flipped else None)
    return out


def crosses_boundary(model: Ensemble, x: torch.Tensor, direction: torch.Tensor, offsets: torch.Tensor) -> bool:
    """Whether the model's ensemble prediction changes along x + a·direction, a ∈ offsets
    (the vertical line of a slice through x)."""
    with attack_mode(model), torch.no_grad():
        points = (x + offsets.view(-1, *([1] * (x.dim() - 1))).to(x.device) * direction).clamp_(0, 1)
        classes = model.log_probs(points).argmax(-1)
    return bool((classes != classes[0]).any())
