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


#: at most this many rows (samples x restarts x ε) in one batched PGD of the ε grid
MAX_ROWS = 8192


def accuracy_vs_eps(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, eps: list[float], *, steps: int,
                    restarts: int, seed: int = 0, device="cpu", progress=None, batch_size: int = 500,
                    max_rows: int = MAX_ROWS) -> list[float]:
    """White-box accuracy at every ε of the grid (one seeded generator per ε, so a
    point does not depend on which other points were requested).

    The same numbers as :func:`whitebox_accuracy` per ε (up to float rounding: the batch
    is larger), computed with the positive ε values of a sample batch attacked as one
    PGD batch (per-row ε and step ε/5, in groups of at most ``max_rows`` rows): every ε's
    own generator would draw the same uniform random starts for that batch (they are
    scaled by ε afterwards), so the draws are made once and shared."""
    attacked = [i for i, e in enumerate(eps) if e > 0]
    correct = [[] for _ in eps]
    generator = torch.Generator().manual_seed(seed)
    done = 0
    with attack_mode(ensemble):
        for s in range(0, x.shape[0], batch_size):
            xb, yb = x[s:s + batch_size].to(device), y[s:s + batch_size].to(device)
            b, shape = xb.shape[0], tuple(xb.shape[1:])
            with torch.no_grad():
                clean = (ensemble.log_probs(xb).argmax(-1) == yb).cpu()
            last = s + batch_size >= x.shape[0]
            for i, e in enumerate(eps):
                if e <= 0:
                    correct[i].append(clean)
                    if progress and last:
                        done += 1
                        progress(done, len(eps), f"clean, ε={e:g}")
            if not attacked:
                continue
            draws = torch.rand((restarts * b, *shape), generator=generator, device="cpu")
            per_group = max(1, max_rows // (restarts * b))
            for first in range(0, len(attacked), per_group):
                group = attacked[first:first + per_group]
                g = len(group)
                rows = (g * b,) + (1,) * len(shape)
                eps_rows = torch.tensor([eps[i] for i in group]).repeat_interleave(b).view(rows).to(device)
                step_rows = torch.tensor([default_step_size(eps[i]) for i in group]).repeat_interleave(b).view(rows)
                noise = draws.view(restarts, 1, b, *shape).expand(restarts, g, b, *shape).reshape(-1, *shape)
                adv = pgd(ensemble.log_probs, xb.repeat(g, *([1] * len(shape))), yb.repeat(g), eps=eps_rows,
                          step_size=step_rows.to(device), steps=steps, restarts=restarts, noise=noise)
                with torch.no_grad():
                    pred = ensemble.log_probs(adv.flatten(0, 1)).argmax(-1).view(restarts, g, b)
                ok = (pred == yb).all(0).cpu()
                for j, i in enumerate(group):
                    correct[i].append(ok[j])
                if progress and last:  # per ε of the grid, as each group finishes its last batch
                    done += g
                    progress(done, len(eps), f"white-box PGD, ε={eps[group[-1]]:g}")
    masks = [torch.cat(c) if c else torch.zeros(0, dtype=torch.bool) for c in correct]
    return [int(m.sum()) / m.numel() if m.numel() else 0.0 for m in masks]


def resolve_protocol(protocol: str, steps: int | None, restarts: int | None) -> tuple[int, int]:
    chosen = PROTOCOLS[protocol]
    return (steps or chosen.pgd_steps), (restarts or chosen.pgd_restarts)
