"""Each paper's own diversity measure, per member pair and for the whole ensemble, evaluated
on held-out data in eval mode (the ``diversity`` analysis and the per-epoch history).

- ``vulnerability``: DVERGE Eq. (2), the vulnerability diversity of a pair of members,

      d(f_i, f_j) = ½ E_{(x,y),(x_s,y_s),l} [ L_{f_i}(x'_{f_j^l}(x, x_s), y) + L_{f_j}(x'_{f_i^l}(x, x_s), y) ],

  L the cross-entropy, x'_{f^l}(x, x_s) the feature-distilled image of DVERGE Eq. (1)
  (:func:`engine.attacks.distill`: within ε of the source x_s, with f's layer-l features of
  x), the expectation over independent (x, y), (x_s, y_s) and a uniformly random layer l.
  The distilled image looks like x_s but carries x's features, so its CE w.r.t. y is small
  only when f_i is vulnerable to the non-robust features f_j uses (higher = more diverse).
  DVERGE 4.2 measures it on 1,000 test samples all members classify correctly, with the
  training distillation ε, and averages it over the pairs.
- ``adp_logdet``: ADP Eq. (3), log det(M̃ᵀM̃ + δI) of the members' normalized non-maximal
  predictions (higher = more diverse). It is a property of the whole ensemble; the pair
  matrix holds the 2-member value log(1 + δ - cos²) (cos of the two members' non-maximal
  predictions), so pairs can be compared on the same footing.
- ``gradient_cosine``: GAL's coherence, cosine of two members' input gradients of the CE
  (lower = less coherent); the ensemble value is GAL's log Σ_{i<j} exp(cos).
- ``saliency_cosine``: SMD Eq. (2), the same for true-class saliency maps ∂f_y/∂x (lower =
  less aligned).

Every pair metric is a symmetric [K, K] matrix averaged over samples; ``mean`` is the mean
over the K(K-1)/2 pairs (what DVERGE reports as the ensemble's diversity).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch
import torch.nn.functional as F

from ..attacks import distill
from ..ensemble import Ensemble, attack_mode, num_feature_layers
from ..gradients import input_gradients
from ..losses import ensemble_diversity_logdet, pairwise_cosine, pairwise_cosine_lse


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


# ---------------------------------------------------------------- per-pair matrices


def _off_diagonal_mean(matrix: torch.Tensor) -> float:
    k = matrix.shape[0]
    if k < 2:
        return float("nan")
    return float(matrix[~torch.eye(k, dtype=torch.bool)].mean())


def source_images(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_s, y_s): the same samples in a random order without fixed points (a random
    permutation followed by a cyclic shift), so every x is paired with another image."""
    n = x.shape[0]
    order = torch.randperm(n, generator=generator)
    partner = torch.empty_like(order)
    partner[order] = order.roll(-1) if n > 1 else order
    return x[partner], y[partner]


def vulnerability_losses(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, xs: torch.Tensor,
                         layers: torch.Tensor, *, eps: float, steps: int = 10, step_size: float | None = None,
                         momentum: float = 1.0, batch_size: int = 250,
                         progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """L[i, j] = mean over samples of CE(f_i(x'_{f_j^l}(x, x_s)), y), [K, K].

    Sample n is distilled at feature layer ``layers[n]`` (1-based) by every member j
    (DVERGE Eq. 1, toward x from the source x_s) and every member i is evaluated on the
    result. Eq. (2) is the symmetric part ½(L + Lᵀ); the diagonal is each member's loss on
    its own distilled images (DVERGE's white-box counterpart)."""
    k, n = len(ensemble), x.shape[0]
    total = torch.zeros(k, k, dtype=torch.float64)
    groups = [(layer, (layers == layer).nonzero().flatten()) for layer in layers.unique().tolist()]
    chunks = [(layer, idx[s:s + batch_size]) for layer, idx in groups for s in range(0, len(idx), batch_size)]
    device = next(ensemble.parameters()).device
    with attack_mode(ensemble):
        for done, (layer, idx) in enumerate(chunks, start=1):
            xb, yb, sb = x[idx].to(device), y[idx].to(device), xs[idx].to(device)
            for j, member in enumerate(ensemble.members):
                distilled = distill(member, layer, xb, sb, eps=eps, steps=steps, step_size=step_size,
                                    momentum=momentum)
                with torch.no_grad():
                    logits = ensemble.member_logits(distilled)  # [K, B, C]
                    ce = F.cross_entropy(logits.flatten(0, 1), yb.repeat(k), reduction="none").view(k, -1)
                total[:, j] += ce.sum(1).double().cpu()
            if progress:
                progress(done, len(chunks))
    return (total / max(n, 1)).float()


def vulnerability_diversity(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int = 10,
                            step_size: float | None = None, momentum: float = 1.0, layer: int | None = None,
                            seed: int = 0, progress=None) -> dict:
    """DVERGE Eq. (2) for every pair on (x, y): sources x_s drawn from the same samples,
    layers uniformly at random (seeded; or the fixed ``layer``). Consumes no global RNG."""
    generator = torch.Generator().manual_seed(seed)
    n_layers = num_feature_layers(ensemble.members[0])
    if layer is not None and not 1 <= layer <= n_layers:
        raise ValueError(f"layer must be in 1..{n_layers} for this architecture, got {layer}")
    xs, _ = source_images(x, y, generator)
    layers = (torch.full((x.shape[0],), layer) if layer is not None
              else torch.randint(1, n_layers + 1, (x.shape[0],), generator=generator))
    losses = vulnerability_losses(ensemble, x, y, xs, layers, eps=eps, steps=steps, step_size=step_size,
                                  momentum=momentum, progress=progress)
    matrix = 0.5 * (losses + losses.T)
    return {"matrix": matrix.tolist(), "directional": losses.tolist(), "mean": _off_diagonal_mean(matrix),
            "layers": torch.bincount(layers, minlength=n_layers + 1)[1:].tolist()}


def adp_pairs(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, det_offset: float = 1e-6) -> dict:
    """ADP Eq. (3): the ensemble's mean log det and the 2-member value of every pair."""
    k = len(ensemble)
    pair = torch.full((k, k), float("nan"))
    with attack_mode(ensemble), torch.no_grad():
        probs = torch.cat([ensemble.member_logits(x[s:s + 500]).softmax(-1) for s in range(0, x.shape[0], 500)], 1)
        whole = ensemble_diversity_logdet(probs, y, det_offset).mean()
        for i in range(k):
            for j in range(i + 1, k):
                pair[i, j] = pair[j, i] = ensemble_diversity_logdet(probs[[i, j]], y, det_offset).mean()
    return {"matrix": pair.tolist(), "mean": _off_diagonal_mean(pair), "ensemble": float(whole)}


def cosine_pairs(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, kind: str) -> dict:
    """Mean cosine of every pair's input gradients (``loss``: GAL) or saliency maps
    (``saliency``: SMD Eq. 2), and the ensemble's mean log Σ_{i<j} exp(cos)."""
    cos_sum, lse = 0.0, []
    for s in range(0, x.shape[0], 500):
        g = _gradients(ensemble, x[s:s + 500], y[s:s + 500], kind)
        cos_sum = cos_sum + pairwise_cosine(g).sum(-1)
        lse.append(pairwise_cosine_lse(g))
    matrix = cos_sum / max(x.shape[0], 1)
    return {"matrix": matrix.tolist(), "mean": _off_diagonal_mean(matrix), "ensemble": float(torch.cat(lse).mean())}


@dataclass(frozen=True)
class Metric:
    title: str
    reference: str
    higher_is_diverse: bool
    ensemble_label: str  # what the "ensemble" value (all members at once) is


METRICS: dict[str, Metric] = {
    "vulnerability": Metric("Vulnerability diversity", "DVERGE Eq. 2", True, ""),
    "adp_logdet": Metric("ADP log-det diversity", "ADP Eq. 3", True, "all members"),
    "gradient_cosine": Metric("Loss-gradient cosine", "GAL", False, "log Σexp"),
    "saliency_cosine": Metric("Saliency cosine", "SMD Eq. 2", False, "log Σexp"),
}
MetricName = Literal["vulnerability", "adp_logdet", "gradient_cosine", "saliency_cosine"]


def diversity_metrics(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, metrics=tuple(METRICS), *,
                      eps: float, steps: int = 10, layer: int | None = None, seed: int = 0,
                      progress=None) -> dict:
    """{metric: {"matrix": [K, K], "mean": pair mean, ...}} on the samples (x, y)."""
    device = next(ensemble.parameters()).device
    table = {
        "vulnerability": lambda: vulnerability_diversity(ensemble, x, y, eps=eps, steps=steps, layer=layer,
                                                         seed=seed, progress=progress),
        "adp_logdet": lambda: adp_pairs(ensemble, x.to(device), y.to(device)),
        "gradient_cosine": lambda: cosine_pairs(ensemble, x.to(device), y.to(device), "loss"),
        "saliency_cosine": lambda: cosine_pairs(ensemble, x.to(device), y.to(device), "saliency"),
    }
    return {name: table[name]() for name in metrics}
