"""Within-ensemble transferability, DVERGE 4.2 / Fig. 3.

On test samples that every member classifies correctly, untargeted L∞ PGD (random start,
step ε/5) is run against each member i; entry (i, j) of the matrix is the fraction of
samples whose adversarial example from member i fools member j, counting a sample as
fooled when *any* restart fools it. The diagonal is the white-box success rate; the
extra ``ensemble`` column is the success rate against the whole ensemble.
"""
from __future__ import annotations

from typing import Callable

import torch

from ..attacks import advertorch_pgd, pgd
from ..data import ImageData
from ..ensemble import Ensemble, attack_mode
from .accuracy import clean_accuracy, member_predictions

BACKENDS = {"native": pgd, "advertorch": advertorch_pgd}


def correct_samples(ensemble: Ensemble, data: ImageData, n: int, seed: int = 0,
                    device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples (seeded random order) correctly classified by every member."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(data), generator=g)
    xs, ys, found = [], [], 0
    for start in range(0, len(order), max(4 * n, 1000)):
        idx = order[start:start + max(4 * n, 1000)]
        x, y = data.images(idx), data.y[idx]
        members, _ = member_predictions(ensemble, x, device=device)
        ok = (members == y).all(0)
        xs.append(x[ok])
        ys.append(y[ok])
        found += int(ok.sum())
        if found >= n:
            break
    return torch.cat(xs)[:n], torch.cat(ys)[:n]


def transfer_matrix(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, *, eps: float,
                    steps: int = 20, restarts: int = 1, step_size: float | None = None,
                    backend: str = "native", batch_size: int = 500, device="cpu", seed: int = 0,
                    progress: Callable[[int, int], None] | None = None) -> dict:
    """Success-rate matrix [K, K] and ensemble column [K] on (x, y), already all-correct."""
    attack = BACKENDS[backend]
    step_size = eps / 5 if step_size is None else step_size
    k, n = len(ensemble), x.shape[0]
    fooled = torch.zeros(k, k + 1, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # advertorch draws its random start from the global generator
    total = k * -(-n // batch_size)
    done = 0
    with attack_mode(ensemble):
        for i, source in enumerate(ensemble.members):
            for start in range(0, n, batch_size):
                xb, yb = x[start:start + batch_size].to(device), y[start:start + batch_size].to(device)
                kwargs = dict(eps=eps, step_size=step_size, steps=steps, restarts=restarts)
                if backend == "native":
                    kwargs["generator"] = generator
                adv = attack(source, xb, yb, **kwargs)  # [R, B, ...]
                with torch.no_grad():
                    logits = ensemble.member_logits(adv.flatten(0, 1))  # [K, R*B, C]
                    wrong = logits.argmax(-1).view(k, restarts, -1) != yb  # [K, R, B]
                    ens_wrong = logits.softmax(-1).mean(0).argmax(-1).view(restarts, -1) != yb
                fooled[i, :k] += wrong.any(1).sum(1).cpu()
                fooled[i, k] += int(ens_wrong.any(0).sum())
                done += 1
                if progress:
                    progress(done, total)
    rates = fooled.float() / max(n, 1)
    matrix = rates[:, :k]
    off = matrix[~torch.eye(k, dtype=torch.bool)]
    return {"matrix": matrix.tolist(), "ensemble": rates[:, k].tolist(),
            "off_diagonal_mean": float(off.mean()) if k > 1 else float("nan"),
            "diagonal_mean": float(matrix.diagonal().mean())}


def transferability(ensemble: Ensemble, test: ImageData, *, eps: float, samples: int = 500,
                    steps: int = 20, restarts: int = 1, step_size: float | None = None,
                    backend: str = "native", seed: int = 0, device="cpu",
                    clean_samples: int | None = None, progress=None) -> dict:
    """The full DVERGE 4.2 protocol on a test split; the JSON-ready result of
    ``python -m engine eval transferability``."""
    ensemble = ensemble.to(device)
    clean = test.subset(clean_samples, seed)
    result = clean_accuracy(ensemble, clean.images(), clean.y, device=device)
    x, y = correct_samples(ensemble, test, samples, seed, device)
    result.update(transfer_matrix(ensemble, x, y, eps=eps, steps=steps, restarts=restarts,
                                  step_size=step_size if step_size is not None else eps / 5,
                                  backend=backend, device=device, seed=seed, progress=progress))
    result.update(samples=int(x.shape[0]), eps=eps, steps=steps, restarts=restarts,
                  step_size=step_size if step_size is not None else eps / 5, backend=backend,
                  clean_samples=len(clean))
    return result
