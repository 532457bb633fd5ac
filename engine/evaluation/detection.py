"""Detecting adversarial inputs from the ensemble's own predictions: ROC curves and AUC
(ADP 4.5 / Fig. 4; CCE "Adversarial Detectability", Figs. 3-4).

Benign test images (negatives) and their adversarial versions (positives, from PGD or
FGSM on the whole ensemble, ε by default the data set's standard budget) are scored by
two statistics of the member predictions, and each score is thresholded at every value
to trace a ROC curve:

* ``entropy`` — Shannon entropy H(F) of the ensemble's mean prediction F (ADP Eq. 4;
  CCE's detector). Adversarial inputs get *higher* entropy (CCE: the members give
  uncertain, disagreeing predictions on them), so the detection score is +H.
* ``diversity`` — ADP's log ensemble diversity, log det(M̃ᵀ_{\\y} M̃_{\\y}) of the members'
  normalized non-maximal predictions (ADP Eq. 3, :func:`engine.losses.ensemble_diversity_logdet`).
  The definition removes the prediction on the *true* label y, which a detector does not
  know; as in ADP 4.5, the ensemble's *predicted* label argmax F takes its place (on a
  benign input the two coincide whenever the ensemble is right; on a successful
  adversarial input the predicted label is the adversary's wrong class, and the removed
  coordinate is the one the members now agree on). ADP-trained members keep orthogonal
  non-maximal predictions on benign inputs and lose that diversity on adversarial ones,
  so *lower* diversity means adversarial and the detection score is -log ED.

The direction is fixed in advance (that is what a deployed detector must do); an AUC
below 0.5 therefore means the rule is inverted for that ensemble (e.g. an undiversified
baseline, whose diversity rises on adversarial inputs) — it is reported as is.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import torch

from ..attacks.pgd import default_step_size, pgd
from ..ensemble import Ensemble, attack_mode
from ..losses import ensemble_diversity_logdet, entropy
from ..registry import Registry

MAX_ROC_POINTS = 200


# --------------------------------------------------------------------------- scores

class Score(NamedTuple):
    """A detection score: ``statistic`` of member probabilities [K, B, C] -> [B], the
    ``sign`` making ``sign * statistic`` larger on adversarial inputs, what that means."""

    statistic: Callable[[torch.Tensor], torch.Tensor]
    sign: float
    meaning: str


#: Detection scores by name, each registered next to its statistic.
SCORES: Registry[Score] = Registry("detection score")


def register_score(name: str, *, sign: float, meaning: str):
    """Decorator: register ``statistic`` as detection score ``name`` (returned unchanged)."""

    def add(statistic: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        SCORES.register(name, entry=Score(statistic, sign, meaning), module=statistic.__module__)
        return statistic

    return add


@register_score("entropy", sign=+1.0, meaning="higher ensemble entropy = adversarial")
def _entropy(member_probs: torch.Tensor) -> torch.Tensor:
    return entropy(member_probs.mean(0))


@register_score("diversity", sign=-1.0, meaning="lower ADP ensemble diversity (log-det) = adversarial")
def _log_diversity(member_probs: torch.Tensor) -> torch.Tensor:
    predicted = member_probs.mean(0).argmax(-1)  # the detector does not know y (ADP 4.5)
    return ensemble_diversity_logdet(member_probs, predicted)


@torch.no_grad()
def statistics(ensemble: Ensemble, x: torch.Tensor, batch_size: int = 500, device="cpu") -> dict:
    """{score name: np.ndarray [N]} of every statistic (entropy, log ED) on ``x``."""
    out = {name: [] for name in SCORES.names()}
    for s in range(0, x.shape[0], batch_size):
        probs = ensemble.member_logits(x[s:s + batch_size].to(device)).softmax(-1)
        for name, (fn, _, _) in SCORES.items():
            out[name].append(fn(probs).cpu().double())
    return {name: torch.cat(v).numpy() for name, v in out.items()}


# --------------------------------------------------------------------------- ROC / AUC
# Own numpy implementation rather than scikit-learn: the lab needs exactly two small
# functions (roc_curve, roc_auc_score), and a heavy dependency is not worth it for them.

def roc_curve(benign: np.ndarray, adversarial: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) of the detector "adversarial if score ≥ t" over every threshold t,
    from (0, 0) to (1, 1); tied scores move both rates at once (a diagonal step)."""
    benign, adversarial = np.asarray(benign, float), np.asarray(adversarial, float)
    if len(benign) == 0 or len(adversarial) == 0:
        raise ValueError("a ROC curve needs benign and adversarial scores")
    scores = np.concatenate([benign, adversarial])
    positive = np.concatenate([np.zeros(len(benign)), np.ones(len(adversarial))])
    order = np.argsort(-scores, kind="stable")
    scores, positive = scores[order], positive[order]
    last_of_tie = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
    tp = np.cumsum(positive)[last_of_tie]
    fp = np.cumsum(1 - positive)[last_of_tie]
    return np.r_[0.0, fp / len(benign)], np.r_[0.0, tp / len(adversarial)]


def auc(benign: np.ndarray, adversarial: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney U statistic: the probability that a
    random adversarial input scores higher than a random benign one, ties counting ½.
    Computed from mid-ranks (ties get their average rank), O(n log n)."""
    benign, adversarial = np.asarray(benign, float), np.asarray(adversarial, float)
    n_neg, n_pos = len(benign), len(adversarial)
    if n_neg == 0 or n_pos == 0:
        raise ValueError("AUC needs benign and adversarial scores")
    _, inverse, counts = np.unique(np.concatenate([benign, adversarial]), return_inverse=True,
                                   return_counts=True)
    mid_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based average rank of each distinct value
    rank_sum = mid_rank[inverse][n_neg:].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def downsample(fpr: np.ndarray, tpr: np.ndarray, max_points: int = MAX_ROC_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points of the curve, evenly spaced in index, ends kept (for
    plotting and caching only; the AUC is computed from all samples)."""
    if len(fpr) <= max_points:
        return fpr, tpr
    idx = np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(int))
    return fpr[idx], tpr[idx]


# --------------------------------------------------------------------------- attacks

def _pgd(ensemble, x, y, *, eps, steps, step_size, generator):
    return pgd(ensemble.log_probs, x, y, eps=eps, step_size=step_size, steps=steps, generator=generator)[0]


def _fgsm(ensemble, x, y, *, eps, generator, **_):
    # FGSM (Goodfellow et al. 2015) is one signed-gradient step of size ε from x itself.
    return pgd(ensemble.log_probs, x, y, eps=eps, step_size=eps, steps=1, random_start=False)[0]


#: attack name -> f(ensemble, x, y, eps=, steps=, step_size=, generator=) -> adversarial x
ATTACKS = {"pgd": _pgd, "fgsm": _fgsm}


def adversarial_examples(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, attack: str, *, eps: float,
                         steps: int, step_size: float, generator: torch.Generator, batch_size: int = 500,
                         device="cpu") -> torch.Tensor:
    out = []
    with attack_mode(ensemble):
        for s in range(0, x.shape[0], batch_size):
            xb, yb = x[s:s + batch_size].to(device), y[s:s + batch_size].to(device)
            out.append(ATTACKS[attack](ensemble, xb, yb, eps=eps, steps=steps, step_size=step_size,
                                       generator=generator).cpu())
    return torch.cat(out)


def detection(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, *, eps: float, attacks: list[str],
              steps: int = 20, step_size: float | None = None, seed: int = 0, device="cpu", progress=None) -> dict:
    """ROC curve and AUC of every score against every attack on benign (x, y)."""
    step_size = default_step_size(eps, step_size)
    generator = torch.Generator().manual_seed(seed)
    benign = statistics(ensemble, x, device=device)
    with torch.no_grad():
        clean_pred = ensemble.log_probs(x.to(device)).argmax(-1).cpu()
    result = {"clean_accuracy": float((clean_pred == y).double().mean()), "attacks": {}}
    for i, attack in enumerate(attacks):
        adv = adversarial_examples(ensemble, x, y, attack, eps=eps, steps=steps, step_size=step_size,
                                   generator=generator, device=device)
        adversarial = statistics(ensemble, adv, device=device)
        with torch.no_grad():
            adv_pred = ensemble.log_probs(adv.to(device)).argmax(-1).cpu()
        per_score = {}
        for name, (_, sign, _) in SCORES.items():
            neg, pos = sign * benign[name], sign * adversarial[name]  # detection scores
            fpr, tpr = downsample(*roc_curve(neg, pos))
            per_score[name] = {"fpr": fpr, "tpr": tpr, "auc": auc(neg, pos),
                               "benign_mean": float(benign[name].mean()),
                               "adversarial_mean": float(adversarial[name].mean())}
        result["attacks"][attack] = {"adversarial_accuracy": float((adv_pred == y).double().mean()),
                                     "scores": per_score}
        if progress:
            progress(i + 1, len(attacks), f"detection: {attack}")
    result["directions"] = {name: what for name, (_, _, what) in SCORES.items()}
    result["step_size"] = step_size
    return result
