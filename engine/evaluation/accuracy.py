"""Clean accuracy of members and ensemble, evaluated in eval mode without gradients."""
from __future__ import annotations

import torch

from ..ensemble import Ensemble


@torch.no_grad()
def member_predictions(ensemble: Ensemble, x: torch.Tensor, batch_size: int = 1000,
                       device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(member predictions [K, N], ensemble predictions [N]) on ``x`` (CPU tensors)."""
    was_training = ensemble.training
    ensemble.eval()
    members, ens = [], []
    try:
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size].to(device)
            logits = ensemble.member_logits(xb)
            members.append(logits.argmax(-1).cpu())
            ens.append(logits.softmax(-1).mean(0).argmax(-1).cpu())
    finally:
        ensemble.train(was_training)
    return torch.cat(members, 1), torch.cat(ens)


def clean_accuracy(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, **kw) -> dict:
    members, ens = member_predictions(ensemble, x, **kw)
    return {"member_clean_accuracy": [float(v) for v in (members == y).float().mean(1)],
            "ensemble_clean_accuracy": float((ens == y).float().mean())}
