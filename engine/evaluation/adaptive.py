"""Adaptive attacks on the ensemble and the gradient-masking checklist.

The white-box number of an ensemble defence is only as good as the attack that produced
it. This analysis attacks the ensemble through its averaged softmax (what is deployed),
its averaged logits and its members' summed losses, with PGD and APGD (plus EOT when the
ensemble is randomised), and reports the per-sample worst case
(:mod:`engine.attacks.adaptive`). It then runs the usual checklist for obfuscated gradients
(Athalye et al. 2018 Sec. 3.1; Carlini et al. 2019 "On evaluating adversarial robustness";
DVERGE appendix C.3), each as a check that passes or is flagged:

* accuracy falls monotonically with ε (the PGD surrogates on an ε grid);
* it reaches ~0 at a large ε (0.5: every image can be turned into mid-grey);
* an unbounded attack (ε = 1, the whole image box) succeeds on every sample;
* a black-box attack does not beat the white-box one: Square (score-based, gradient-free,
  Andriushchenko et al. 2020) breaks no sample that every white-box attack left robust;
* the deployed softmax is not harder to attack than the averaged logits (a saturated
  softmax hides the members' gradients);
* the ensemble is not more robust than its best member attacked alone through its own
  logits by more than noise (possible with real diversity, but the first thing to check).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..attacks import pgd
from ..attacks import adaptive as attacks
from ..attacks.adaptive import AdaptiveAttack, adaptive_attack
from ..attacks.autoattack import VERSIONS, run_component
from ..attacks.registry import EnsembleLogProbs
from ..ensemble import Ensemble, attack_mode
from ..models import inference_copy

GRID_FACTORS = (0.25, 0.5, 2.0)  # ε grid of the monotonicity check, in multiples of ε
LARGE_EPS = 0.5  # L∞ 0.5 can turn every image in [0, 1] into the same mid-grey one
UNBOUNDED_EPS = 1.0  # the whole box: any image is reachable


def noise_margin(p: float, n: int) -> float:
    """Two binomial standard errors (at least one sample): what two accuracies measured on
    the same n samples may differ by without meaning anything."""
    return max(2 * math.sqrt(max(p * (1 - p), 0.0) / max(n, 1)), 1 / max(n, 1))


def pgd_surrogates(ensemble: Ensemble, x, y, *, eps: float, steps: int, restarts: int, seed: int, progress=None):
    """Worst case of the three PGD surrogates (the grid's cheaper attack)."""
    attacks = [AdaptiveAttack("pgd", s) for s in ("softmax", "logits", "members")]
    return adaptive_attack(ensemble, x, y, eps=eps, steps=steps, restarts=restarts, seed=seed, attacks=attacks,
                           progress=progress)


def member_accuracies(ensemble: Ensemble, x, y, *, eps: float, steps: int, seed: int) -> list[float]:
    """White-box PGD accuracy of every member attacked alone through its own logits."""
    out = []
    with attack_mode(ensemble):
        for k, member in enumerate(ensemble.members):
            adv = pgd(member, x, y, eps=eps, step_size=eps / attacks.PGD_STEP_DIVISOR, steps=steps,
                      generator=torch.Generator().manual_seed(seed + k))[0]
            with torch.no_grad():
                out.append(float((member(adv).argmax(-1) == y).float().mean()))
    return out


def checklist(*, eps: float, n: int, worst: float, attacks: dict[str, float], grid_eps: list[float],
              grid_acc: list[float], square_only: int, square_accuracy: float,
              members: list[float]) -> list[dict]:
    """The gradient-masking checks as ``{check, passed, detail}`` rows."""
    rows = []
    tol = 1 / max(n, 1)
    rises = [(a, b, ea, eb) for ea, eb, a, b in zip(grid_eps, grid_eps[1:], grid_acc, grid_acc[1:]) if b > a + tol]
    rows.append({"check": "monotone in ε", "passed": not rises,
                 "detail": "accuracy never rises with ε" if not rises else "; ".join(
                     f"rises from {100 * a:.1f}% at ε={ea:g} to {100 * b:.1f}% at ε={eb:g}" for a, b, ea, eb in rises)})
    large = dict(zip(grid_eps, grid_acc)).get(LARGE_EPS)
    if large is not None:
        rows.append({"check": f"~0 at large ε ({LARGE_EPS:g})", "passed": large <= 0.02,
                     "detail": f"{100 * large:.1f}% accuracy at ε={LARGE_EPS:g}"})
    unbounded = dict(zip(grid_eps, grid_acc)).get(UNBOUNDED_EPS)
    if unbounded is not None:
        rows.append({"check": "unbounded attack reaches 100%", "passed": unbounded == 0.0,
                     "detail": f"{100 * (1 - unbounded):.1f}% of samples fooled at ε={UNBOUNDED_EPS:g} "
                               "(of all samples, clean mistakes included)"})
    rows.append({"check": "black-box does not beat white-box", "passed": square_only == 0,
                 "detail": f"Square {100 * square_accuracy:.1f}% vs white-box worst case {100 * worst:.1f}%; "
                           f"{square_only} sample(s) broken only by Square"})
    soft = min((v for k, v in attacks.items() if "-softmax" in k), default=None)
    logit = min((v for k, v in attacks.items() if "-logits" in k), default=None)
    if soft is not None and logit is not None:
        margin = noise_margin(logit, n)
        rows.append({"check": "softmax attack not weaker than logits attack", "passed": soft <= logit + margin,
                     "detail": f"best softmax attack {100 * soft:.1f}% vs best logits attack {100 * logit:.1f}% "
                               f"(noise {100 * margin:.1f}%)"})
    if members:
        best = max(members)
        margin = noise_margin(best, n)
        rows.append({"check": "ensemble not stronger than its best member", "passed": worst <= best + margin,
                     "detail": f"ensemble worst case {100 * worst:.1f}% vs best member alone (PGD on its logits) "
                               f"{100 * best:.1f}% (noise {100 * margin:.1f}%)"})
    return rows


def adaptive_evaluation(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, *, eps: float, attack_eps: float,
                        steps: int, restarts: int, eot: int, square_queries: int, checks: bool, seed: int,
                        device="cpu", progress=None) -> dict:
    """Worst case of the adaptive attacks on (x, y) at ``eps`` and, with ``checks``, the
    gradient-masking checklist (ε grid, Square, members alone); the result of the
    ``adaptive`` analysis."""
    def report(done: int, total: int, what: str = "") -> None:
        if progress is not None:
            progress(done, total, what)

    n = len(y)
    ensemble = Ensemble(inference_copy(m) for m in ensemble.members).to(device)
    main = adaptive_attack(ensemble, x, y, eps=eps, steps=steps, restarts=restarts, eot=eot,
                           seed=seed, progress=report)
    result = {"eps": eps, "samples": n, "steps": steps, "restarts": restarts,
              "randomised": main.randomised, "eot": eot if main.randomised else 1,
              "clean_accuracy": float(main.clean.float().mean()), "worst_case_accuracy": main.robust_accuracy,
              "attacks": main.accuracy, "robust": main.robust.numpy(), "attack_eps": attack_eps,
              "protocol": (f"adaptive: PGD (step ε/4, {restarts} start(s)) and APGD, {steps} it. each, "
                           f"on the averaged softmax, averaged logits and summed member losses"
                           + (f", APGD-EOT over {eot} draws" if main.randomised else "")
                           + f"; L∞ ε={eps:g}; robust = survives all")}
    if not checks:
        result["checks"] = []
        return result
    grid = sorted({round(eps * f, 6) for f in GRID_FACTORS} | {LARGE_EPS, UNBOUNDED_EPS})
    grid = [e for e in grid if 0 < e <= 1 and not math.isclose(e, eps)]
    accs = {eps: min(v for k, v in main.accuracy.items() if k.startswith("pgd-"))
            if any(k.startswith("pgd-") for k in main.accuracy) else main.robust_accuracy}
    for i, e in enumerate(grid):
        accs[e] = pgd_surrogates(ensemble, x, y, eps=e, steps=steps, restarts=restarts,
                                 seed=seed).robust_accuracy
        report(i + 1, len(grid), "gradient-masking checks: ε grid")
    grid_eps = sorted(accs)
    grid_acc = [accs[e] for e in grid_eps]
    # PGD on a grid point uses the worst case of the three PGD surrogates; at ε itself the
    # same three from the main run (the ε curve compares like with like).
    with attack_mode(ensemble):
        clean_idx = main.clean.nonzero().flatten()
        square_robust = main.clean.clone()
        if len(clean_idx) and eps > 0:
            params = dict(VERSIONS["standard"]["square"], queries=square_queries)
            xb, yb = x[clean_idx].to(device), y[clean_idx].to(device)
            adv = run_component("square", EnsembleLogProbs(ensemble), xb, yb, norm="linf", eps=eps,
                                seed=seed, params=params)
            with torch.no_grad():
                square_robust[clean_idx] = (ensemble.log_probs(adv).argmax(-1) == yb).cpu()
    report(1, 1, "gradient-masking checks: Square")
    members = member_accuracies(ensemble, x.to(device), y.to(device), eps=eps, steps=steps,
                                seed=seed) if eps > 0 else []
    square_only = int((main.robust & ~square_robust).sum())
    square_accuracy = float(square_robust.float().mean())
    checks = checklist(eps=eps, n=n, worst=main.robust_accuracy, attacks=main.accuracy, grid_eps=grid_eps,
                       grid_acc=grid_acc, square_only=square_only, square_accuracy=square_accuracy, members=members)
    result.update(grid={"eps": grid_eps, "accuracy": grid_acc}, square_accuracy=square_accuracy,
                  square_queries=square_queries, members_accuracy=members, checks=checks,
                  flags=[f"{c['check']}: {c['detail']}" for c in checks if not c["passed"]],
                  square_robust=square_robust.numpy().astype(np.bool_))
    # the worst case over everything run at ε includes the black-box check
    result["worst_case_accuracy"] = float((main.robust & square_robust).float().mean())
    return result
