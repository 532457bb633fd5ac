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

import time

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


def binomial_se(p: float, n: int) -> float:
    """One binomial standard error ``sqrt(p (1 - p) / n)`` of an accuracy ``p`` on ``n`` samples."""
    return float(np.sqrt(p * (1 - p) / max(n, 1)))


def pgd_vs_apgd(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int = 100,
                restarts: int = 5, seed: int = 0, device="cpu", autoattack_version: str | None = None) -> dict:
    """The lab's batched L∞ PGD (``steps`` iterations, step ε/4, ``restarts`` random
    starts) against torchattacks' APGD-CE (100 iterations, 1 restart) on the same samples:
    accuracies and the per-sample disagreement. APGD-CE is the stronger attack in Croce &
    Hein's experiments (Sec. 4), so ``pgd_only`` (samples PGD breaks but APGD-CE leaves
    robust) should be within noise; many would mean the library attack is misconfigured.
    ``noise`` is one binomial standard error of the APGD-CE accuracy; ``pgd_stronger_beyond_noise``
    says PGD's accuracy is more than two of them below APGD-CE's.

    With ``autoattack_version`` ("standard" or "quick") the whole AutoAttack runs on the same
    samples, APGD-CE (always 100 iterations here) being its first component, so the APGD-CE
    numbers are those of that run; ``autoattack_accuracy`` is the per-sample worst case over
    all four components, and ``pgd_only_vs_autoattack`` the samples PGD breaks but AutoAttack
    does not (it should be ~0: AutoAttack is meant to be the stronger evaluation).
    """
    from ..attacks.autoattack import autoattack

    model = attackable(ensemble).to(device)
    x, y = x.to(device), y.to(device)
    generator = torch.Generator().manual_seed(seed)
    timings = {}
    with attack_mode(model):
        with torch.no_grad():
            clean = model(x).argmax(-1) == y
        start = time.perf_counter()
        adv = pgd(model, x, y, eps=eps, step_size=eps / 4, steps=steps, restarts=restarts, generator=generator)
        with torch.no_grad():
            pgd_robust = clean & (model(adv.flatten(0, 1)).argmax(-1).view(restarts, -1) == y).all(0)
        timings["pgd_seconds"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        aa = None
        if autoattack_version is None:
            apgd = run_component("apgd-ce", model, x, y, norm="linf", eps=eps, seed=seed,
                                 params=VERSIONS["standard"]["apgd-ce"])
            with torch.no_grad():
                apgd_robust = clean & (model(apgd).argmax(-1) == y)
            timings["apgd_ce_seconds"] = round(time.perf_counter() - start, 2)
        else:
            aa = autoattack(model, x, y, eps=eps, version=autoattack_version, seed=seed,
                            overrides={"apgd-ce": VERSIONS["standard"]["apgd-ce"]})
            apgd_robust = aa.clean.to(clean.device) & torch.tensor([b != "apgd-ce" for b in aa.broken_by],
                                                                    dtype=torch.bool, device=clean.device)
            timings["apgd_ce_seconds"] = round(aa.components[0]["seconds"], 2)
            timings["autoattack_seconds"] = round(time.perf_counter() - start, 2)
    n = len(y)
    pgd_acc, apgd_acc = float(pgd_robust.float().mean()), float(apgd_robust.float().mean())
    noise = binomial_se(apgd_acc, n)
    out = {"eps": eps, "samples": n, "clean_accuracy": float(clean.float().mean()),
           "pgd": f"PGD-{steps} x {restarts} restarts, step ε/4", "pgd_accuracy": pgd_acc,
           "apgd_ce": "APGD-CE 100 it., 1 restart", "apgd_ce_accuracy": apgd_acc,
           "pgd_only": int((apgd_robust & ~pgd_robust).sum()), "apgd_only": int((pgd_robust & ~apgd_robust).sum()),
           "noise": noise, "pgd_se": binomial_se(pgd_acc, n),
           "pgd_stronger_beyond_noise": bool(apgd_acc - pgd_acc > 2 * noise), **timings}
    if aa is not None:
        aa_robust = aa.robust.to(clean.device)
        out.update(autoattack=describe(autoattack_version, "linf", eps).replace(
            f"APGD-CE {VERSIONS[autoattack_version]['apgd-ce']['steps']} it.", "APGD-CE 100 it."),
            autoattack_accuracy=aa.robust_accuracy, autoattack_se=binomial_se(aa.robust_accuracy, n),
            pgd_only_vs_autoattack=int((aa_robust & ~pgd_robust).sum()),
            broken_by={c["component"]: c["broken"] for c in aa.components})
    return out
