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

Protocols: ``quick`` (CPU-sized: 20 iterations) and ``paper`` (100 iterations); both use
3 random starts and step ε/5.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch
from pydantic import Field, field_validator

from ..analysis import Analysis, AnalysisConfig, AnalysisError, Context
from ..attacks.registry import EnsembleLogProbs, enforce_budget, residual_blocks, run_attack
from ..cache import ResultCache, cache_key, default_cache
from ..data import SPECS
from ..ensemble import Ensemble
from ..figures import blackbox as figures

#: transfer attack -> (registry attack, fixed parameters). DVERGE 4.3.
TRANSFER_ATTACKS: dict[str, tuple[str, dict]] = {
    "pgd-momentum": ("pgd-batched", dict(momentum=1.0, random_start=True)),
    "mdi2fgsm": ("mdi2fgsm", dict(momentum=1.0, probability=0.5)),
    "sgm": ("sgm", dict(gamma=0.2)),
}
LOSSES = ("ce", "cw")
PROTOCOL_STEPS = {"quick": 20, "paper": 100}
PAPER_EPS = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07]  # CIFAR-10, Table 4
TRANSFER_SET_VERSION = 1  # bump when transfer-set generation changes


class Config(AnalysisConfig):
    surrogates: list[str] = Field(default_factory=list, description=(
        "hold-out surrogate checkpoints (default: zoo entries named surrogate*; make one with "
        "python -m engine train --method baseline --seed 1 --members 3 --out DIR)"))
    eps: Optional[list[float]] = Field(None, description="ε grid (default: the data set's; CIFAR-10: 0.01..0.07)")
    protocol: Literal["quick", "paper"] = Field("quick", description="quick: 20 iterations; paper: 100")
    steps: Optional[int] = Field(None, ge=1, le=1000, description="attack iterations (default: the protocol's)")
    restarts: int = Field(3, ge=1, le=20, description="random starts of PGD with momentum (paper: 3)")
    attacks: list[str] = Field(default_factory=lambda: list(TRANSFER_ATTACKS),
                               description=f"subset of {','.join(TRANSFER_ATTACKS)}")
    losses: list[str] = Field(default_factory=lambda: list(LOSSES), description="subset of ce,cw")
    batch_size: int = Field(250, ge=1, le=5000, description="attack batch size")

    @field_validator("eps")
    @classmethod
    def _eps(cls, v):
        if v is not None and (not v or any(not 0 < e <= 1 for e in v)):
            raise ValueError("eps must be a non-empty list of budgets in (0, 1]")
        return sorted(v) if v is not None else v

    @field_validator("attacks")
    @classmethod
    def _attacks(cls, v):
        bad = [a for a in v if a not in TRANSFER_ATTACKS]
        if bad or not v:
            raise ValueError(f"attacks must be a non-empty subset of {', '.join(TRANSFER_ATTACKS)}; got {v}")
        return v

    @field_validator("losses")
    @classmethod
    def _losses(cls, v):
        if not v or any(l not in LOSSES for l in v):
            raise ValueError(f"losses must be a non-empty subset of {', '.join(LOSSES)}; got {v}")
        return v


def default_eps(dataset: str) -> list[float]:
    """The ε grid: the paper's for CIFAR-10, else multiples of the data set's attack ε."""
    if dataset == "cifar10":
        return list(PAPER_EPS)
    base = SPECS[dataset].attack_eps if dataset in SPECS else 0.03
    return [round(base * f, 4) for f in (0.25, 0.5, 1.0, 1.5, 2.0)]


def find_surrogates(dataset: str, roots=None) -> list[str]:
    """Zoo ensembles whose directory name starts with ``surrogate`` and whose data set is
    ``dataset`` (complete checkpoints only)."""
    from ..zoo import list_ensembles

    return [e["path"] for e in list_ensembles(roots) if "error" not in e and e.get("complete", True)
            and Path(e["path"]).name.startswith("surrogate") and e.get("dataset") == dataset]


def surrogate_hashes(config: Config, dataset: str) -> dict:
    """The surrogates a request would use, by content hash (part of its cache key, so a
    surrogate added to, replaced in or removed from the zoo is never served stale)."""
    from ..checkpoint import CheckpointError, content_hash

    hashes = []
    for path in list(config.surrogates) or find_surrogates(dataset):
        try:
            hashes.append(content_hash(path))
        except (CheckpointError, OSError, KeyError, ValueError):
            hashes.append(f"unreadable:{path}")  # compute() reports it clearly
    return {"surrogates": sorted(hashes)}


def resolve_surrogates(config: Config, dataset: str, target_hash: str | None = None) -> list[str]:
    from ..checkpoint import content_hash, read_meta

    paths = list(config.surrogates) or find_surrogates(dataset)
    if not paths:
        raise AnalysisError(
            f"black-box evaluation needs hold-out surrogate ensembles trained on {dataset} and none were given "
            "or found. Train one (a baseline with another seed), e.g.\n"
            f"  python -m engine train --method baseline --dataset {dataset} --seed 1 --members 3 "
            "--out ~/.local/share/robust-ensembles/ensembles/surrogate-baseline-3\n"
            "(DVERGE uses three: --members 3, 5 and 8) and pass them with --surrogates DIR1,DIR2 or name their "
            "directories surrogate* in the zoo.")
    for path in paths:
        meta = read_meta(path)
        if meta["dataset"] != dataset:
            raise AnalysisError(f"surrogate {path} was trained on {meta['dataset']}, the target on {dataset}")
        if target_hash is not None and content_hash(path) == target_hash:
            raise AnalysisError(f"surrogate {path} is the evaluated ensemble itself: that is a white-box attack, "
                                "not a transfer attack; use a hold-out ensemble")
    return paths


def transfer_set_key(surrogate_hash: str, *, dataset: str, attack: str, loss: str, eps: float, steps: int,
                     restarts: int, samples: int, seed: int) -> str:
    return cache_key(kind="blackbox-transfer-set", version=TRANSFER_SET_VERSION, surrogate=surrogate_hash,
                     dataset=dataset, attack=attack, params=TRANSFER_ATTACKS[attack][1], loss=loss, eps=eps,
                     steps=steps, step_size="eps/5", restarts=restarts if attack == "pgd-momentum" else 1,
                     samples=samples, seed=seed)


def generate_transfer_set(surrogate: Ensemble, x: torch.Tensor, y: torch.Tensor, *, attack: str, loss: str,
                          eps: float, steps: int, restarts: int, seed: int, batch_size: int = 250,
                          device="cpu") -> np.ndarray:
    """Perturbations [R, N, C, H, W] (float16) of ``attack`` with ``loss`` on the whole
    surrogate ensemble (its log mean softmax)."""
    name, params = TRANSFER_ATTACKS[attack]
    params = dict(params, steps=steps, step_size=eps / 5, loss=loss)
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
    from ..checkpoint import content_hash, load_checkpoint, read_meta

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
        for version in adv:
            ok = _predict(ensemble, version, batch_size, device) == y
            overall[i] &= ok
            per_attack[f"{attack}/{loss}"][i] &= ok
            versions += 1 if i == 0 else 0
        if progress:
            progress(done + 1, len(jobs))
    return {"eps": list(eps), "accuracy": overall.float().mean(1).tolist(),
            "per_attack": {k: v.float().mean(1).tolist() for k, v in per_attack.items()
                           if k.split("/")[0] in {job[2] for job in jobs}},
            "clean_accuracy": float(correct_clean.float().mean()), "samples": n, "surrogates": used,
            "skipped": skipped, "versions_per_sample": versions, "steps": steps, "restarts": restarts,
            "step_size": "eps/5", "attacks": list(attacks), "losses": list(losses)}


def compute(ctx: Context, config: Config) -> dict:
    from ..checkpoint import content_hash

    surrogates = resolve_surrogates(config, ctx.dataset, content_hash(ctx.checkpoint))
    data = ctx.test.subset(config.samples, config.seed)
    steps = config.steps or PROTOCOL_STEPS[config.protocol]
    result = blackbox(ctx.ensemble, data.images(), data.y, surrogates, dataset=ctx.dataset,
                      eps=config.eps or default_eps(ctx.dataset), steps=steps, restarts=config.restarts,
                      attacks=config.attacks, losses=config.losses, seed=config.seed,
                      batch_size=config.batch_size, device=ctx.device, cache=ctx.cache,
                      progress=lambda done, total: ctx.report(done, total, "black-box transfer"))
    result["protocol"] = config.protocol
    return result


ANALYSIS = Analysis(name="blackbox", title="Black-box transfer robustness", config=Config, compute=compute,
                    figure=figures.blackbox_figure, table=figures.blackbox_table,
                    reference="DVERGE 4.3, Fig. 4, App. Table 4", depends_on=surrogate_hashes)
