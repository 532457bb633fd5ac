"""Each paper's own diversity measure, evaluated on held-out data (eval mode).

- ADP Eq. (3): mean log ensemble diversity log det(M̃ᵀM̃ + δI) of non-maximal predictions
  (higher = more diverse).
- GAL: mean log Σ_{i<j} exp(cos(∇ₓCE_i, ∇ₓCE_j)) of input gradients (lower = less coherent),
  plus the plain mean pairwise cosine.
- SMD Eq. (2): the same of true-class saliency maps (lower = less aligned).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..ensemble import Ensemble, attack_mode
from ..losses import ensemble_diversity_logdet, pairwise_cosine, pairwise_cosine_lse
from ..gradients import input_gradients


def _batched(fn, x, y, batch_size=500):
    values = [fn(x[s:s + batch_size], y[s:s + batch_size]) for s in range(0, x.shape[0], batch_size)]
    return torch.cat(values)


def adp_log_diversity(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor) -> float:
    with attack_mode(ensemble), torch.no_grad():
        return float(_batched(lambda xb, yb: ensemble_diversity_logdet(ensemble.member_logits(xb).softmax(-1), yb),
                              x, y).mean())


def _gradients(ensemble, x, y, kind: str) -> torch.Tensor:
    def score(logits, _k):
        if kind == "saliency":
            return logits.gather(1, y[:, None]).sum(), None
        return F.cross_entropy(logits, y, reduction="sum"), None

    with attack_mode(ensemble):
        grads, _ = input_gradients(ensemble, x, score, create_graph=False)
    return grads


def _pairwise_mean_cosine(grads: torch.Tensor) -> torch.Tensor:
    k = grads.shape[0]
    cos = pairwise_cosine(grads)
    i, j = torch.triu_indices(k, k, offset=1)
    return cos[i, j].mean(0)


def gradient_alignment(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, kind: str = "loss") -> dict:
    """``kind="loss"``: GAL's input gradients of CE; ``kind="saliency"``: SMD's true-class
    saliency. Returns the log-sum-exp measure and the mean pairwise cosine."""
    grads_lse, grads_cos = [], []
    for s in range(0, x.shape[0], 500):
        g = _gradients(ensemble, x[s:s + 500], y[s:s + 500], kind)
        grads_lse.append(pairwise_cosine_lse(g))
        grads_cos.append(_pairwise_mean_cosine(g))
    return {"lse": float(torch.cat(grads_lse).mean()), "mean_cosine": float(torch.cat(grads_cos).mean())}
