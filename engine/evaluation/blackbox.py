"""Black-box transfer robustness, DVERGE 4.3 / Fig. 4 / App. Table 4.

Adversarial examples are generated on hold-out *surrogate* ensembles -- baseline
ensembles the defender never saw (the paper: 3, 5 and 8 ResNet-20 members) -- with three
attacks, each with the cross-entropy and the CW loss, 100 iterations of step ε/5:

* ``pgd-momentum``: PGD with momentum (MI-FGSM, μ = 1) from 3 random starts;
* ``mdi2fgsm``: M-DI²-FGSM, momentum FGSM through a random resize-and-pad (p = 0.5);
* ``sgm``: SGM, PGD with the gradient through every residual branch decayed by γ = 0.2
  (skipped, with the reason recorded, on surrogates without residual blocks, e.g. LeNet-5).

Every sample then has (surrogates) x (3 + 1 + 1) x (2 losses) adversarial versions per ε
(30 in the paper) and counts as correct only if the target classifies *every* version
correctly (all-or-nothing, "a tighter upper bound of the robustness"). Clean accuracy is
on the same samples.

Surrogates come from the config (checkpoint directories). Make them with e.g.
``python -m engine train --method baseline --seed 1 --members 3 --out <zoo>/surrogate-baseline-3``
(and ``--members 5``/``8`` with other seeds); with none given, zoo entries
(:func:`engine.zoo.list_ensembles`) whose directory name starts with ``surrogate`` and
that were trained on the same data set are used.

Transfer sets do not depend on the target, so each (surrogate, attack, loss, ε) set is
generated once and stored in the result cache, keyed by the surrogate's content hash,
the attack configuration, the samples and the seed; every later target reuses it. Sets
are stored as float16 perturbations and projected back onto the ε-ball and [0, 1] when
loaded (rounding error < ε/1000).

Speed, with the same numbers (``tests/engine/evaluation/test_blackbox.py`` compares with
the straightforward path): the target is only asked about samples it still classifies
correctly under that (attack, loss) and ε -- a sample counts only if *every* version is
classified correctly (all-or-nothing), so a sample already fooled cannot change the result.
Each ε's transfer set is one attack of its own: attacking the whole ε grid as one batch
(per-row ε, shared random draws) gave the same sets with 6-9x fewer calls but ran 0.79x
as fast with 2.5x the memory on an idle 2-core CPU (bench/RESULTS.md, issue 15).

Protocols (:mod:`engine.evaluation.protocols`): ``quick`` (CPU-sized: 20 iterations) and
``paper`` (100 iterations); both use 3 random starts and step ε/5.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..attacks.pgd import STEP_RATIO, default_step_size
from ..attacks.registry import EnsembleLogProbs, enforce_budget, residual_blocks, run_attack
from ..cache import ResultCache, cache_key, default_cache
from ..checkpoint import content_hash, load_checkpoint, read_meta
from ..data import get_spec
from ..ensemble import Ensemble
from ..zoo import list_ensembles
from . import AnalysisError

#: transfer attack -> (registry attack, fixed parameters). DVERGE 4.3.
TRANSFER_ATTACKS: dict[str, tuple[str, dict]] = {
    "pgd-momentum": ("pgd-batched", dict(momentum=1.0, random_start=True)),
    "mdi2fgsm": ("mdi2fgsm", dict(momentum=1.0, probability=0.5)),
    "sgm": ("sgm", dict(gamma=0.2)),
}
LOSSES = ("ce", "cw")
TRANSFER_SET_VERSION = 1  # bump when transfer-set generation changes (its numbers, not its speed)


def default_eps(dataset: str, data_dir: str | None = None) -> list[float]:
    """The data set's ε grid (:attr:`engine.data.DataSpec.eps_grid`; CIFAR-10: the paper's
    0.01..0.07 of Table 4)."""
    return list(get_spec(dataset, data_dir).eps_grid)


def find_surrogates(dataset: str, roots=None) -> list[str]:
    """Zoo ensembles whose directory name starts with ``surrogate`` and whose data set is
    ``dataset`` (complete checkpoints only)."""
    return [e["path"] for e in list_ensembles(roots) if "error" not in e and e.get("complete", True)
            and Path(e["path"]).name.startswith("surrogate") and e.get("dataset") == dataset]


def transfer_set_key(surrogate_hash: str, *, dataset: str, attack: str, loss: str, eps: float, steps: int,
                     restarts: int, samples: int, seed: int) -> str:
    return cache_key(kind="blackbox-transfer-set", version=TRANSFER_SET_VERSION, surrogate=surrogate_hash,
                     dataset=dataset, attack=attack, params=TRANSFER_ATTACKS[attack][1], loss=loss, eps=eps,
                     steps=steps, step_size=f"eps/{STEP_RATIO}", restarts=restarts if attack == "pgd-momentum" else 1,
                     samples=samples, seed=seed)


def generate_transfer_set(surrogate: Ensemble, x: torch.Tensor, y: torch.Tensor, *, attack: str, loss: str,
                          eps: float, steps: int, restarts: int, seed: int, batch_size: int = 250,
                          device="cpu") -> np.ndarray:
    """Perturbations [R, N, C, H, W] (float16) of ``attack`` with ``loss`` on the whole
    surrogate ensemble (its log mean softmax)."""
    name, params = TRANSFER_ATTACKS[attack]
    params = dict(params, steps=steps, step_size=default_step_size(eps), loss=loss)
    if attack == "pgd-momentum":
        params["restarts"] = restarts
    model = EnsembleLogProbs(surrogate)
    generator = torch.Generator().manual_seed(seed)
    deltas = []
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start:start + batch_size].to(device), y[start:start + batch_size].to(device)
        adv = run_attack(name, model, xb, yb, eps=eps, generator=generator, **params)
        deltas.append((adv - xb).cpu().numpy().astype(np.float16))
    return np.concatenate(deltas, axis=1)


def _predict(ensemble: Ensemble, x: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([ensemble.log_probs(x[s:s + batch_size].to(device)).argmax(-1).cpu()
                          for s in range(0, x.shape[0], batch_size)])


def blackbox(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, surrogates: list[str], *, dataset: str,
             eps: list[float], steps: int, restarts: int = 3, attacks=tuple(TRANSFER_ATTACKS), losses=LOSSES,
             seed: int = 0, batch_size: int = 250, device="cpu", cache: ResultCache | None = None,
             progress=None) -> dict:
    """All-or-nothing accuracy of ``ensemble`` on (x, y) against the transfer sets of the
    surrogates, per ε, overall and per (attack, loss)."""
    cache = cache or default_cache()
    ensemble = ensemble.to(device).eval()
    n = x.shape[0]
    correct_clean = _predict(ensemble, x, batch_size, device) == y
    overall = torch.ones(len(eps), n, dtype=torch.bool)
    per_attack = {f"{a}/{l}": torch.ones(len(eps), n, dtype=torch.bool) for a in attacks for l in losses}
    used, skipped, versions = [], [], 0
    jobs = []
    for path in surrogates:
        meta = read_meta(path)
        surrogate = None
        info = {"path": str(Path(path).resolve()), "name": Path(path).name, "hash": content_hash(path),
                "method": meta.get("method"), "arch": meta["arch"], "members": meta["members"]}
        used.append(info)
        for attack in attacks:
            if attack == "sgm":
                surrogate = surrogate or load_checkpoint(path, device)[0]
                if not residual_blocks(surrogate):
                    skipped.append({"surrogate": info["name"], "attack": "sgm", "reason":
                                    f"SGM needs residual blocks; {meta['arch']} has none"})
                    continue
            jobs += [(path, info, attack, loss, i, e) for loss in losses for i, e in enumerate(eps)]
    if not jobs:
        raise AnalysisError("no transfer attack can run on these surrogates: "
                            + "; ".join(f"{s['surrogate']}: {s['reason']}" for s in skipped))
    loaded: dict[str, Ensemble] = {}
    for done, (path, info, attack, loss, i, e) in enumerate(jobs):
        key = transfer_set_key(info["hash"], dataset=dataset, attack=attack, loss=loss, eps=e, steps=steps,
                               restarts=restarts, samples=n, seed=seed)

        def make(path=path, attack=attack, loss=loss, e=e):
            if path not in loaded:
                loaded[path] = load_checkpoint(path, device)[0]
            return {"delta": generate_transfer_set(loaded[path], x, y, attack=attack, loss=loss, eps=e,
                                                   steps=steps, restarts=restarts, seed=seed,
                                                   batch_size=batch_size, device=device)}

        delta = torch.from_numpy(cache.get_or_compute(key, make)["delta"].astype(np.float32))
        if delta.shape[1:] != x.shape:
            raise AnalysisError(f"cached transfer set has shape {tuple(delta.shape)}, expected [R, {tuple(x.shape)}]")
        adv = enforce_budget("linf", x, x[None] + delta, e)
        # all-or-nothing: only samples still correct under this (attack, loss) and ε can change anything
        alive = per_attack[f"{attack}/{loss}"][i]
        for version in adv:
            index = alive.nonzero()[:, 0]
            if len(index):
                alive[index] = _predict(ensemble, version[index], batch_size, device) == y[index]
        overall[i] &= alive
        versions += len(adv) if i == 0 else 0
        if progress:
            progress(done + 1, len(jobs))
    return {"eps": list(eps), "accuracy": overall.double().mean(1).tolist(),
            "per_attack": {k: v.double().mean(1).tolist() for k, v in per_attack.items()
                           if k.split("/")[0] in {job[2] for job in jobs}},
            "clean_accuracy": float(correct_clean.double().mean()), "samples": n, "surrogates": used,
            "skipped": skipped, "versions_per_sample": versions, "steps": steps, "restarts": restarts,
            "step_size": f"eps/{STEP_RATIO}", "attacks": list(attacks), "losses": list(losses)}
