"""DVERGE distilled images, Eq. (1) of Yang et al. 2020, for one (target, source) pair:

    x'_{f_i^l}(x, x_s) = argmin_z || f_i^l(z) - f_i^l(x) ||_2^2   s.t. ||z - x_s||_∞ <= ε

x is the *target* image whose layer-l features of member f_i are imitated, x_s the
*source* image the distilled image stays ε-close to (it keeps looking like x_s). For every
chosen member and feature layer the distilled image is computed exactly as DVERGE training
does (``engine.attacks.distill``: PGD with momentum, 10 steps of ε/10 by default, ε the
data set's ``distill_eps``), and reported with

- the feature distance of appendix B, Table 2, ``|| f_i^l(x') - f_i^l(x) ||_2`` (plain
  Euclidean norm of the flattened layer output, no normalisation), next to the same
  distance at the start of the optimisation, ``|| f_i^l(x_s) - f_i^l(x) ||_2``, and their
  ratio (comparable across layers of different sizes);
- every member's and the ensemble's prediction on x', and every member's cross-entropy
  ``L_{f_j}(x', y_s)`` (the quantity DVERGE's Eq. 5 trains on, Table 2's "diversity
  loss" for j ≠ i): a distilled image from member i that member j still classifies as
  the source class means j does not share i's non-robust features.

The defaults depend only on the test split and the seed, so ensembles compared side by
side are shown the same target and source images.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..attacks.distill import distill
from ..ensemble import Ensemble, attack_mode, layer_output

def default_layers(n_layers: int, count: int = 3) -> list[int]:
    """``count`` layers spread evenly over 1..n_layers (first and last included)."""
    return sorted({int(round(v)) for v in np.linspace(1, n_layers, min(count, n_layers))})


def feature_distance(model, layer: int, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|| f^l(a) - f^l(b) ||_2 per sample (appendix Table 2), [B]."""
    with torch.no_grad():
        return (layer_output(model, layer, a) - layer_output(model, layer, b)).flatten(1).norm(dim=1)


def distilled_gallery(ensemble: Ensemble, target: torch.Tensor, source: torch.Tensor, source_label: int, *,
                      members: list[int], layers: list[int], eps: float, steps: int,
                      step_size: float | None, momentum: float, progress=None) -> dict:
    """Distilled images and their statistics for every (member, layer); ``target`` and
    ``source`` are [1, C, H, W] in [0, 1]."""
    k = len(ensemble)
    ys = torch.tensor([source_label], device=source.device)
    images, before, after, linf, predictions, source_ce = [], [], [], [], [], []
    total, done = len(members) * len(layers), 0
    with attack_mode(ensemble):
        for m in members:
            model = ensemble.members[m]
            rows = [[] for _ in range(6)]
            for layer in layers:
                x_prime = distill(model, layer, target, source, eps=eps, steps=steps, step_size=step_size,
                                  momentum=momentum)
                with torch.no_grad():
                    logits = ensemble.member_logits(x_prime)  # [K, 1, C]
                    ensemble_pred = logits.softmax(-1).mean(0).argmax(-1)
                    ce = torch.stack([F.cross_entropy(logits[j], ys) for j in range(k)])
                rows[0].append(x_prime[0].cpu().numpy().astype(np.float16))
                rows[1].append(float(feature_distance(model, layer, source, target)[0]))
                rows[2].append(float(feature_distance(model, layer, x_prime, target)[0]))
                rows[3].append(float((x_prime - source).abs().max()))
                rows[4].append(torch.cat([logits.argmax(-1)[:, 0], ensemble_pred]).cpu().tolist())
                rows[5].append(ce.cpu().tolist())
                done += 1
                if progress:
                    progress(done, total)
            for store, row in zip((images, before, after, linf, predictions, source_ce), rows):
                store.append(row)
    before_a, after_a = np.array(before), np.array(after)
    return {"distilled": np.stack([np.stack(r) for r in images]),  # [M, L, C, H, W] float16
            "distance_before": before, "distance_after": after,  # [M][L]
            "distance_ratio": (after_a / np.maximum(before_a, 1e-12)).tolist(),
            "linf_to_source": linf, "prediction": predictions,  # [M][L][K+1] (members, ensemble)
            "source_cross_entropy": source_ce}  # [M][L][K]: L_{f_j}(x', y_s)
