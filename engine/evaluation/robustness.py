"""White-box robustness of the whole ensemble (DVERGE 4.3 / Table 5): accuracy under
untargeted L∞ PGD on the ensemble's log-probabilities, a sample counting as robust only
if it survives every restart (all-or-nothing)."""
from __future__ import annotations

import torch

from ..attacks import pgd
from ..ensemble import Ensemble, attack_mode


def whitebox_accuracy(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int = 20,
                      restarts: int = 1, step_size: float | None = None, batch_size: int = 500,
                      seed: int = 0, device="cpu") -> float:
    step_size = eps / 5 if step_size is None else step_size
    generator = torch.Generator().manual_seed(seed)
    robust = 0
    with attack_mode(ensemble):
        for s in range(0, x.shape[0], batch_size):
            xb, yb = x[s:s + batch_size].to(device), y[s:s + batch_size].to(device)
            adv = pgd(ensemble.log_probs, xb, yb, eps=eps, step_size=step_size, steps=steps, restarts=restarts,
                      generator=generator)
            with torch.no_grad():
                pred = ensemble.log_probs(adv.flatten(0, 1)).argmax(-1).view(restarts, -1)
            robust += int((pred == yb).all(0).sum())
    return robust / max(x.shape[0], 1)
