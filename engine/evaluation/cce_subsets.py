"""Where adversarial examples of the ensemble land for each pair of members: CCE's
secure/insecure subsets and transferability metrics (CCE "Transferability among Ensemble
Members", Table 6).

For members f^i, f^j and an adversarial example x_a, the subsets of CCE Table 1 are
S_ab with a = 1 iff f^i(x_a) = y (x_a in f^i's secure set) and b = 1 iff f^j(x_a) = y:
S11 (both correct), S10 (only f^i), S01 (only f^j), S00 (both fooled: the transferable
space). |S| is the fraction of test images whose adversarial example lies in S; the
adversarial examples are those of a white-box PGD on the whole ensemble (the paper's
Table 6 uses PGD k = 20, ε = 8/255, η = 2/255 on CIFAR-10, i.e. step ε/4; the sets add up
to 100 % and nT, a_single are defined from a^(en,en), the ensemble's accuracy under that
same attack). The metrics (CCE Table 6):

* T = a^(i,j) - a^(i,i) + a^(j,i) - a^(j,j), where a^(i,j) is the accuracy of f^j on
  PGD examples of f^i alone: the accuracy lost by the attacked member that the other
  member does not lose. *Smaller T = more transferable.*
* nT = 100 % - a^(en,en) - |S00|: adversarial examples that fool the ensemble without
  fooling both members (successful but not transferred).
* a_single = a^(en,en) - |S11|: examples the ensemble still gets right although only one
  of the two members does.

The paper studies two-member ensembles, where every member is in the pair. With K > 2
members the pair's S11 no longer implies a correct ensemble (a third member can outvote
it), so the two formulas can differ from what they describe; the directly counted
``nT_counted`` (ensemble fooled, pair not both fooled) and ``a_single_counted`` (ensemble
right, exactly one of the pair right) are reported alongside. For K = 2 they coincide.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import torch

from ..attacks import pgd
from ..ensemble import Ensemble, attack_mode

STEP_RATIO = 4  # CCE Table 6: η = 2/255 for ε = 8/255


def subset_fractions(correct_i, correct_j, ensemble_correct) -> dict:
    """|S11|, |S10|, |S01|, |S00| (fractions and counts), a^(en,en), nT and a_single for
    one member pair, from boolean arrays [N]: member i / member j / the ensemble classify
    the adversarial example of sample n correctly."""
    ci, cj, ce = (np.asarray(a, dtype=bool) for a in (correct_i, correct_j, ensemble_correct))
    if not ci.shape == cj.shape == ce.shape or ci.ndim != 1 or len(ci) == 0:
        raise ValueError("subset_fractions needs three non-empty boolean arrays of the same length [N]")
    n = len(ci)
    counts = {"S11": int((ci & cj).sum()), "S10": int((ci & ~cj).sum()), "S01": int((~ci & cj).sum()),
              "S00": int((~ci & ~cj).sum())}
    frac = {k.lower(): v / n for k, v in counts.items()}
    a_en = float(ce.mean())
    return {**frac, "counts": counts, "a_en": a_en,
            "nT": 1.0 - a_en - frac["s00"], "a_single": a_en - frac["s11"],
            "nT_counted": float((~ce & ~(~ci & ~cj)).mean()), "a_single_counted": float((ce & (ci ^ cj)).mean())}


def transferability_t(cross, i: int, j: int) -> float:
    """CCE's T for the pair (i, j): a^(i,j) - a^(i,i) + a^(j,i) - a^(j,j), with
    ``cross[s][t]`` the accuracy of member t on member s's adversarial examples."""
    return float(cross[i][j] - cross[i][i] + cross[j][i] - cross[j][j])


def _attack_predictions(forward, ensemble: Ensemble, x, y, *, eps, steps, step_size, generator, batch_size,
                        device) -> tuple[torch.Tensor, torch.Tensor]:
    """(member predictions [K, N], ensemble predictions [N]) on PGD examples of ``forward``."""
    members, ens = [], []
    for s in range(0, x.shape[0], batch_size):
        xb, yb = x[s:s + batch_size].to(device), y[s:s + batch_size].to(device)
        adv = pgd(forward, xb, yb, eps=eps, step_size=step_size, steps=steps, generator=generator)[0]
        with torch.no_grad():
            logits = ensemble.member_logits(adv)
        members.append(logits.argmax(-1).cpu())
        ens.append(logits.softmax(-1).mean(0).argmax(-1).cpu())
    return torch.cat(members, 1), torch.cat(ens)


def cce_subsets(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int = 20,
                step_size: float | None = None, seed: int = 0, batch_size: int = 500, device="cpu",
                progress=None) -> dict:
    """CCE Table 6 for every member pair: one PGD on the ensemble (the subsets, a^(en,en))
    and one PGD per member (the cross accuracies a^(i,j) behind T)."""
    step_size = eps / STEP_RATIO if step_size is None else step_size
    generator = torch.Generator().manual_seed(seed)
    k = len(ensemble)
    kwargs = dict(eps=eps, steps=steps, step_size=step_size, generator=generator, batch_size=batch_size,
                  device=device)
    with attack_mode(ensemble):
        members_on_en, ens_on_en = _attack_predictions(ensemble.log_probs, ensemble, x, y, **kwargs)
        if progress:
            progress(1, k + 1, "PGD on the ensemble")
        cross = []
        for i, member in enumerate(ensemble.members):
            members_on_i, _ = _attack_predictions(member, ensemble, x, y, **kwargs)
            cross.append([float(v) for v in (members_on_i == y).double().mean(1)])
            if progress:
                progress(i + 2, k + 1, f"PGD on member {i}")
    correct = (members_on_en == y).numpy()
    ens_correct = (ens_on_en == y).numpy()
    pairs = []
    for i, j in combinations(range(k), 2):
        pairs.append({"i": i, "j": j, **subset_fractions(correct[i], correct[j], ens_correct),
                      "T": transferability_t(cross, i, j)})
    return {"a_en": float(ens_correct.mean()), "member_accuracy": [float(v) for v in correct.mean(1)],
            "cross": cross, "pairs": pairs, "step_size": step_size}
