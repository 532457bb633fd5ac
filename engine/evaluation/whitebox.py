"""White-box robustness of the whole ensemble vs the attack budget ε (DVERGE 4.3,
Fig. 4 right, appendix C.3 Table 5).

The attacker knows everything: untargeted L∞ PGD ascends the cross-entropy of the
ensemble's prediction, i.e. of the log of the mean member softmax (DVERGE 4.1), from a
random start with step ε/5. A sample counts as robust only if it is still classified
correctly after *every* restart (all-or-nothing, as in the paper). Accuracy at ε = 0 is
the clean accuracy of the same samples.

Protocols: ``paper`` is DVERGE's evaluation (50 steps, 5 random starts, step ε/5, 1,000
random test samples); ``quick`` (20 steps, 1 start) is for interactive use and
under-estimates the attack slightly. Explicit ``steps`` / ``restarts`` override either.
"""
from __future__ import annotations

import torch

from ..attacks.pgd import default_step_size, pgd
from ..ensemble import Ensemble, attack_mode
from .protocols import PROTOCOLS


def robust_mask(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int = 20,
                restarts: int = 1, step_size: float | None = None, batch_size: int = 500,
                generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
    """[N] bool: sample still classified correctly by the ensemble after every PGD
    restart (ε = 0: plain clean correctness, no attack)."""
    step_size = default_step_size(eps, step_size)
    masks = []
    with attack_mode(ensemble):
        for s in range(0, x.shape[0], batch_size):
            xb, yb = x[s:s + batch_size].to(device), y[s:s + batch_size].to(device)
            if eps > 0:
                adv = pgd(ensemble.log_probs, xb, yb, eps=eps, step_size=step_size, steps=steps,
                          restarts=restarts, generator=generator).flatten(0, 1)
                r = restarts
            else:
                adv, r = xb, 1
            with torch.no_grad():
                pred = ensemble.log_probs(adv).argmax(-1).view(r, -1)
            masks.append((pred == yb).all(0).cpu())
    return torch.cat(masks) if masks else torch.zeros(0, dtype=torch.bool)


def whitebox_accuracy(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int = 20,
                      restarts: int = 1, step_size: float | None = None, batch_size: int = 500,
                      seed: int = 0, device="cpu") -> float:
    """Fraction of (x, y) robust to white-box PGD at budget ε (all-or-nothing)."""
    generator = torch.Generator().manual_seed(seed)
    mask = robust_mask(ensemble, x, y, eps=eps, steps=steps, restarts=restarts, step_size=step_size,
                       batch_size=batch_size, generator=generator, device=device)
    return int(mask.sum()) / mask.numel() if mask.numel() else 0.0


def accuracy_vs_eps(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, eps: list[float], *, steps: int,
                    restarts: int, seed: int = 0, device="cpu", progress=None) -> list[float]:
    """White-box accuracy at every ε of the grid (one seeded generator per ε, so a
    point does not depend on which other points were requested).

    One attack per ε on purpose: attacking the whole grid as one batch (per-row ε) gave the
    same numbers with 6-9x fewer calls but ran 0.71x as fast and took 1.4x the memory on
    an idle 2-core CPU (bench/RESULTS.md, issue 15): LeNet-5 PGD is compute-bound here."""
    accuracies = []
    for i, e in enumerate(eps):
        accuracies.append(whitebox_accuracy(ensemble, x, y, eps=e, steps=steps, restarts=restarts,
                                            seed=seed, device=device))
        if progress:
            progress(i + 1, len(eps), f"white-box PGD, ε={e:g}")
    return accuracies


def resolve_protocol(protocol: str, steps: int | None, restarts: int | None) -> tuple[int, int]:
    chosen = PROTOCOLS[protocol]
    return (steps or chosen.pgd_steps), (restarts or chosen.pgd_restarts)
