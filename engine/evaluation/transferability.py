"""Within-ensemble transferability, DVERGE 4.2 / Fig. 3.

On test samples that every member classifies correctly, untargeted L∞ PGD (random start,
step ε/5) is run against each member i; entry (i, j) of the matrix is the fraction of
samples whose adversarial example from member i fools member j, counting a sample as
fooled when *any* restart fools it. The diagonal is the white-box success rate; the
extra ``ensemble`` column is the success rate against the whole ensemble.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..attacks.pgd import PGD_BACKENDS, default_step_size
from ..data import ImageData
from ..ensemble import Ensemble, attack_mode
from ..models import inference_copy
from ..parallel import cpu_workers, run_tasks as _run_tasks
from .accuracy import clean_accuracy, member_predictions


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
                    progress: Callable[[int, int], None] | None = None, examples: int = 0,
                    workers: int | None = None, random_start: bool = True,
                    batch_members: bool | None = None) -> dict:
    """Success-rate matrix [K, K] and ensemble column [K] on (x, y), already all-correct.

    Restarts run one after the other, each only on the samples some target (or the
    ensemble) still classifies correctly: the "fooled by any restart" counts are the same
    as attacking every sample R times, for less work. Attacks run on
    :func:`engine.models.inference_copy` members (frozen: no weight gradients; BatchNorm
    folded into the convolutions), and one adversarial batch serves every target. The
    (source member, sample chunk) tasks are independent and run on ``workers`` threads
    (default :func:`cpu_workers`); every sample's random starts are seeded by (seed,
    source, restart), so the result does not depend on chunking or scheduling.
    ``python -m engine bench eval-transferability`` measures all of this against the
    reference way.

    ``random_start=False`` starts every PGD at the clean image (deterministic; what the
    benchmark's exact agreement check with the reference way uses).

    On CUDA (``batch_members``: default there, and only for the native backend) the
    thread fan-out is replaced by one attack per sample chunk over *all* source members at
    once: their samples are concatenated and each member's forward runs on its own slice,
    so one PGD loop (one backward per step) serves the K attacks and the device is fed
    large batches with no host round trip between members. The summed loss makes each
    slice's gradient that of its own member, so the result is the same as attacking
    member by member (tested on CPU).

    With ``examples`` > 0 the result also holds the first ``examples`` samples' clean
    images, their adversarial versions from every source member (first restart) and every
    target's prediction on them (what a click on a heatmap cell shows)."""
    attack = PGD_BACKENDS.get(backend)
    step_size = default_step_size(eps, step_size)
    k, n = len(ensemble), x.shape[0]
    workers = cpu_workers(device) if workers is None else max(1, workers)
    if backend != "native":
        workers = 1  # advertorch's random start uses the global generator: keep it sequential
    if batch_members is None:
        batch_members = torch.device(device).type == "cuda"
    batch_members = batch_members and backend == "native"
    # enough chunks per member to keep every worker busy, none larger than batch_size
    chunk = max(1, min(batch_size, -(-n // workers) if k % workers else n))
    if batch_members:
        workers, chunk = 1, max(1, min(batch_size, n))
    tasks = [(i, start) for i in range(k) for start in range(0, n, chunk)]
    ensemble = Ensemble(inference_copy(m) for m in ensemble.members)  # frozen, BatchNorm folded

    def attack_source(task: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, tuple | None]:
        i, start = task
        xb, yb = x[start:start + chunk].to(device), y[start:start + chunk].to(device)
        kwargs = dict(eps=eps, step_size=step_size, steps=steps, restarts=1, random_start=random_start)
        if backend != "native":  # advertorch draws its random start from the global generator
            torch.manual_seed(seed * 1_000_003 + i * 10_007 + start)
        wrong = torch.zeros(k, xb.shape[0], dtype=torch.bool, device=xb.device)
        ens_wrong = torch.zeros(xb.shape[0], dtype=torch.bool, device=xb.device)
        example = None
        for r in range(restarts):
            # Restarts only matter for samples that some target (or the ensemble) still
            # classifies correctly: a sample fooling them all keeps every "fooled by any
            # restart" flag, so the result is exact without it.
            todo = (~(wrong.all(0) & ens_wrong)).nonzero()[:, 0]
            if todo.numel() == 0:
                break
            if backend == "native" and random_start:  # each sample's start depends on (seed, source, restart) only
                g = torch.Generator().manual_seed(seed * 1_000_003 + i * 10_007 + r)
                kwargs["noise"] = torch.rand(x.shape, generator=g)[start:start + chunk][todo.cpu()]
            adv = attack(ensemble.members[i], xb[todo], yb[todo], **kwargs)[0]  # [b, ...]
            with torch.no_grad():
                logits = ensemble.member_logits(adv)  # [K, b, C]
                member_pred = logits.argmax(-1)
                ens_pred = logits.softmax(-1).mean(0).argmax(-1)
            wrong[:, todo] |= member_pred != yb[todo]
            ens_wrong[todo] |= ens_pred != yb[todo]
            if r == 0 and start == 0 and examples:  # restart 0 covers every sample
                m = min(examples, xb.shape[0])
                example = (adv[:m].cpu().numpy().astype("float16"),
                           torch.cat([member_pred[:, :m], ens_pred[None, :m]]).cpu().numpy())
        return wrong.sum(1).cpu(), ens_wrong.sum().cpu(), example

    def attack_all_sources(start: int) -> list[tuple[torch.Tensor, torch.Tensor, tuple | None]]:
        """Every source member's attack on one chunk in a single PGD loop (see above)."""
        xb, yb = x[start:start + chunk].to(device), y[start:start + chunk].to(device)
        b = xb.shape[0]
        wrong = torch.zeros(k, k, b, dtype=torch.bool, device=xb.device)  # [source, target, sample]
        ens_wrong = torch.zeros(k, b, dtype=torch.bool, device=xb.device)
        examples_out: list[tuple | None] = [None] * k
        for r in range(restarts):
            todo = [(~(wrong[i].all(0) & ens_wrong[i])).nonzero()[:, 0] for i in range(k)]
            sizes = [int(t.numel()) for t in todo]  # one host read per restart, not per step
            if sum(sizes) == 0:
                break
            noise = torch.cat([torch.rand(x.shape, generator=torch.Generator().manual_seed(
                seed * 1_000_003 + i * 10_007 + r))[start:start + chunk][todo[i].cpu()] for i in range(k)]
                              ) if random_start else None

            def forward(z: torch.Tensor) -> torch.Tensor:
                return torch.cat([ensemble.members[i](part) for i, part in enumerate(z.split(sizes)) if part.numel()])

            adv = attack(forward, torch.cat([xb[t] for t in todo]), torch.cat([yb[t] for t in todo]),
                         eps=eps, step_size=step_size, steps=steps, restarts=1, noise=noise,
                         random_start=random_start)[0]
            with torch.no_grad():
                logits = ensemble.member_logits(adv)  # [K targets, sum(sizes), C]
                member_pred = logits.argmax(-1)
                ens_pred = logits.softmax(-1).mean(0).argmax(-1)
            for i, (t, lo) in enumerate(zip(todo, [sum(sizes[:i]) for i in range(k)])):
                hi = lo + sizes[i]
                wrong[i][:, t] |= member_pred[:, lo:hi] != yb[t]
                ens_wrong[i][t] |= ens_pred[lo:hi] != yb[t]
                if r == 0 and start == 0 and examples:
                    m = min(examples, b)
                    examples_out[i] = (adv[lo:lo + m].cpu().numpy().astype("float16"),
                                       torch.cat([member_pred[:, lo:lo + m], ens_pred[None, lo:lo + m]]).cpu().numpy())
        return [(wrong[i].sum(1).cpu(), ens_wrong[i].sum().cpu(), examples_out[i]) for i in range(k)]

    def run_all() -> Iterator:
        if not batch_members:
            yield from _run_tasks(attack_source, tasks, workers)
            return
        by_task = {}
        for start in range(0, n, chunk):
            for i, out in enumerate(attack_all_sources(start)):
                by_task[(i, start)] = out
        yield from (by_task[t] for t in tasks)

    fooled = torch.zeros(k, k + 1, dtype=torch.long)
    example_adv, example_pred = [], []
    with attack_mode(ensemble):
        for done, ((i, _), (wrong, ens_wrong, example)) in enumerate(zip(tasks, run_all()), 1):
            fooled[i, :k] += wrong
            fooled[i, k] += ens_wrong
            if example is not None:
                example_adv.append(example[0])
                example_pred.append(example[1])
            if progress:
                progress(done, len(tasks))
    rates = fooled.float() / max(n, 1)
    matrix = rates[:, :k]
    off = matrix[~torch.eye(k, dtype=torch.bool)]
    result = {"matrix": matrix.tolist(), "ensemble": rates[:, k].tolist(),
              "off_diagonal_mean": float(off.mean()) if k > 1 else float("nan"),
              "diagonal_mean": float(matrix.diagonal().mean())}
    if example_adv:
        m = example_adv[0].shape[0]
        result["examples"] = {"clean": x[:m].numpy().astype("float16"), "label": y[:m].numpy(),
                              "adversarial": np.stack(example_adv),  # [source, n, C, H, W]
                              "prediction": np.stack(example_pred)}  # [source, target (+ensemble), n]
    return result


def transferability(ensemble: Ensemble, test: ImageData, *, eps: float, samples: int = 500,
                    steps: int = 20, restarts: int = 1, step_size: float | None = None,
                    backend: str = "native", seed: int = 0, device="cpu",
                    clean_samples: int | None = None, progress=None, examples: int = 0) -> dict:
    """The full DVERGE 4.2 protocol on a test split; the JSON-ready result of
    ``python -m engine eval transferability``."""
    ensemble = ensemble.to(device)
    clean = test.subset(clean_samples, seed)
    result = clean_accuracy(ensemble, clean.images(), clean.y, device=device)
    x, y = correct_samples(ensemble, test, samples, seed, device)
    if len(y) == 0:  # a 0.0 here would read as perfect diversity
        raise ValueError("no test sample is classified correctly by every member, so transferability is "
                         "undefined; check that the data set matches the ensemble's (classes, image format)")
    result.update(transfer_matrix(ensemble, x, y, eps=eps, steps=steps, restarts=restarts,
                                  step_size=default_step_size(eps, step_size),
                                  backend=backend, device=device, seed=seed, progress=progress,
                                  examples=examples))
    result.update(samples=int(x.shape[0]), eps=eps, steps=steps, restarts=restarts,
                  step_size=default_step_size(eps, step_size), backend=backend,
                  clean_samples=len(clean))
    return result
