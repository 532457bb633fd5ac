"""AutoAttack robustness of the whole ensemble (Croce & Hein 2020), the number a reviewer
asks for beside PGD.

The ensemble is attacked as what it deploys: its prediction is the mean member softmax
(DVERGE 4.1), and the attacks see its logarithm (:class:`EnsembleLogProbs`) as their
logits; CE, DLR and the Square margin are unchanged by the constant shift between the two.
A sample counts as robust only if it survives APGD-CE, APGD-T, FAB-T and Square (see
:mod:`engine.attacks.autoattack`). Members are attacked as frozen inference copies
(BatchNorm folded): the same function, cheaper gradients.

``--quick`` runs the cheaper variant (APGD 20 iterations, 3 targets, Square 500 queries);
its results carry ``version: quick`` everywhere they are shown.

:func:`pgd_vs_apgd` is the cross-check of the library against the lab's own attack: on one
real checkpoint, batched PGD-100 with restarts must not break (many) samples APGD-CE
leaves robust (``python -m engine bench autoattack`` prints it).
"""
from __future__ import annotations

import numpy as np
import torch

from ..attacks import pgd
from ..attacks.autoattack import VERSIONS, run_component
from ..attacks.registry import EnsembleLogProbs
from ..data import get_spec
from ..ensemble import Ensemble, attack_mode
from ..models import inference_copy

#: Default L2 budgets by image size (the data-set spec holds only the L∞ one): 0.5 is
#: RobustBench's CIFAR-10 L2 budget, 1.5 a common MNIST-sized one.
DEFAULT_L2_EPS = {28: 1.5, 32: 0.5}


def default_eps(dataset: str, norm: str, data_dir: str | None = None) -> float:
    spec = get_spec(dataset, data_dir)
    if norm == "linf":
        return spec.attack_eps
    return DEFAULT_L2_EPS.get(spec.size, 0.5)


def attackable(ensemble: Ensemble) -> EnsembleLogProbs:
    """The ensemble on frozen inference copies of its members, as one log-prob model."""
    return EnsembleLogProbs(Ensemble(inference_copy(m) for m in ensemble.members))


def describe(version: str, norm: str, eps: float) -> str:
    """The protocol in words (what a paper's table caption would say)."""
    p = VERSIONS[version]
    return (f"AutoAttack {version} (Croce & Hein 2020) via torchattacks: APGD-CE {p['apgd-ce']['steps']} it., "
            f"APGD-T {p['apgd-t']['targets']} targets x {p['apgd-t']['steps']} it., FAB-T {p['fab-t']['targets']} "
            f"targets x {p['fab-t']['steps']} it., Square {p['square']['queries']} queries; "
            f"{'L∞' if norm == 'linf' else 'L2'} ε={eps:g}; robust = survives all four")


def pgd_vs_apgd(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int = 100,
                restarts: int = 5, seed: int = 0, device="cpu") -> dict:
    """The lab's batched L∞ PGD (``steps`` iterations, step ε/4, ``restarts`` random
    starts) against torchattacks' APGD-CE (100 iterations, 1 restart) on the same samples:
    accuracies and the per-sample disagreement. APGD-CE is the stronger attack in Croce &
    Hein's experiments (Sec. 4), so ``pgd_only`` (samples PGD breaks but APGD-CE leaves
    robust) should be within noise; many would mean the library attack is misconfigured.
    ``noise`` is one binomial standard error of the APGD-CE accuracy.
    """
    model = attackable(ensemble).to(device)
    x, y = x.to(device), y.to(device)
    generator = torch.Generator().manual_seed(seed)
    with attack_mode(model):
        with torch.no_grad():
            clean = model(x).argmax(-1) == y
        adv = pgd(model, x, y, eps=eps, step_size=eps / 4, steps=steps, restarts=restarts, generator=generator)
        with torch.no_grad():
            pgd_robust = clean & (model(adv.flatten(0, 1)).argmax(-1).view(restarts, -1) == y).all(0)
        apgd = run_component("apgd-ce", model, x, y, norm="linf", eps=eps, seed=seed,
                             params=VERSIONS["standard"]["apgd-ce"])
        with torch.no_grad():
            apgd_robust = clean & (model(apgd).argmax(-1) == y)
    n = len(y)
    return {"eps": eps, "samples": n, "clean_accuracy": float(clean.float().mean()),
            "pgd": f"PGD-{steps} x {restarts} restarts, step ε/4", "pgd_accuracy": float(pgd_robust.float().mean()),
            "apgd_ce": "APGD-CE 100 it., 1 restart", "apgd_ce_accuracy": float(apgd_robust.float().mean()),
            "pgd_only": int((apgd_robust & ~pgd_robust).sum()), "apgd_only": int((pgd_robust & ~apgd_robust).sum()),
            "noise": float(np.sqrt(float(apgd_robust.float().mean()) * (1 - float(apgd_robust.float().mean()))
                                   / max(n, 1)))}
