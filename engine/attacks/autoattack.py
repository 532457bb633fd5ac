"""AutoAttack (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks"), standard version, from torchattacks' components.

The standard version runs four attacks one after the other and counts a sample as robust
only if it survives *all* of them (the per-sample worst case, Sec. 5 of the paper):

* **APGD-CE**: Auto-PGD (Algorithm 1: step size halved when the loss stalls, momentum 0.75)
  on the cross-entropy, 100 iterations, 1 restart;
* **APGD-T**: targeted APGD on the DLR loss (Eq. 7, targeted version), 100 iterations for
  each of the 9 most likely wrong classes;
* **FAB-T**: the targeted minimum-norm attack FAB (Croce & Hein 2020b), 100 iterations per
  target, 9 targets;
* **Square**: the score-based black-box Square Attack (Andriushchenko et al. 2020), 5,000
  queries, p_init = 0.8 -- it does not use gradients, so it catches gradient masking.

Each component runs only on the samples still robust after the previous ones (the
official evaluation does the same; it changes the cost, not the result). torchattacks
provides the components; its own ``AutoAttack`` wrapper is not used because it leaves APGD
at torchattacks' default of 10 iterations instead of the paper's 100 (and FAB at 10).

Every adversarial example a component returns is projected into the ε-ball and [0, 1]
(:func:`engine.attacks.registry.enforce_budget`; a no-op up to float rounding) and
re-classified here: a sample is counted as broken only by an input we checked ourselves.

``quick`` is a cheaper variant for interactive use (20 iterations, 3 targets, 500 queries);
it under-estimates the attack and results say so (``version: quick``).

torchattacks' components call ``torch.manual_seed`` on the global generator; they run
inside ``torch.random.fork_rng`` here, so the caller's random state is left untouched and
every run with the same seed is reproducible.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Literal

import torch
from torch import nn

from ..ensemble import attack_mode
from .registry import enforce_budget

Norm = Literal["linf", "l2"]
Version = Literal["standard", "quick"]
Progress = Callable[[int, int, str], None]

#: component order of the standard version (the order matters only for cost).
COMPONENTS = ("apgd-ce", "apgd-t", "fab-t", "square")

#: AutoAttack version -> component -> parameters. ``standard`` is the official standard version
#: (Croce & Hein 2020, Sec. 5 and the reference implementation's ``version='standard'``).
#: Named VERSIONS, not protocols: the attack-strength protocols of the evaluations are
#: ``engine.evaluation.protocols.PROTOCOLS``.
VERSIONS: dict[str, dict[str, dict]] = {
    "standard": {
        "apgd-ce": {"steps": 100, "restarts": 1, "rho": 0.75},
        "apgd-t": {"steps": 100, "restarts": 1, "targets": 9, "rho": 0.75},
        "fab-t": {"steps": 100, "restarts": 1, "targets": 9, "alpha_max": 0.1, "eta": 1.05, "beta": 0.9},
        "square": {"queries": 5000, "restarts": 1, "p_init": 0.8},
    },
    "quick": {
        "apgd-ce": {"steps": 20, "restarts": 1, "rho": 0.75},
        "apgd-t": {"steps": 20, "restarts": 1, "targets": 3, "rho": 0.75},
        "fab-t": {"steps": 20, "restarts": 1, "targets": 3, "alpha_max": 0.1, "eta": 1.05, "beta": 0.9},
        "square": {"queries": 500, "restarts": 1, "p_init": 0.8},
    },
}

_TA_NORM = {"linf": "Linf", "l2": "L2"}


def torchattacks():
    """The torchattacks package (installed ``--no-deps`` from requirements-nodeps.txt)."""
    try:
        import torchattacks as ta
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError("AutoAttack needs torchattacks: pip install --no-deps -r requirements-nodeps.txt") from exc
    return ta


def library_version() -> str:
    """torchattacks' installed version, without importing it (its import pulls in scipy:
    slow, and cache-key computation must stay cheap)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"torchattacks {version('torchattacks')}"
    except PackageNotFoundError:  # pragma: no cover - depends on the installation
        return "torchattacks missing"


def build_component(name: str, model: nn.Module, *, norm: Norm, eps: float, seed: int, num_classes: int,
                    params: dict):
    """One configured torchattacks attack. ``targets`` is capped at ``num_classes - 1``
    (torchattacks targets the 2nd..(n+1)-th most likely classes for ``n_classes = n + 1``)."""
    ta = torchattacks()
    tnorm = _TA_NORM[norm]
    if name == "apgd-ce":
        return ta.APGD(model, norm=tnorm, eps=eps, steps=params["steps"], n_restarts=params["restarts"],
                       seed=seed, loss="ce", rho=params["rho"])
    targets = min(params.get("targets", 0), num_classes - 1)
    if name == "apgd-t":
        return ta.APGDT(model, norm=tnorm, eps=eps, steps=params["steps"], n_restarts=params["restarts"],
                        seed=seed, rho=params["rho"], n_classes=targets + 1)
    if name == "fab-t":
        return ta.FAB(model, norm=tnorm, eps=eps, steps=params["steps"], n_restarts=params["restarts"],
                      alpha_max=params["alpha_max"], eta=params["eta"], beta=params["beta"], seed=seed,
                      multi_targeted=True, n_classes=targets + 1)
    if name == "square":
        return ta.Square(model, norm=tnorm, eps=eps, n_queries=params["queries"], n_restarts=params["restarts"],
                         p_init=params["p_init"], loss="margin", seed=seed)
    raise ValueError(f"unknown AutoAttack component {name!r}; choose from {', '.join(COMPONENTS)}")


def protocol(version: Version, overrides: dict[str, dict] | None = None) -> dict[str, dict]:
    """The component parameters of ``version`` with per-component ``overrides`` applied."""
    if version not in VERSIONS:
        raise ValueError(f"unknown AutoAttack version {version!r}; choose from {', '.join(VERSIONS)}")
    params = {name: dict(p) for name, p in VERSIONS[version].items()}
    for name, extra in (overrides or {}).items():
        if name not in params:
            raise ValueError(f"unknown AutoAttack component {name!r}; choose from {', '.join(COMPONENTS)}")
        params[name].update(extra)
    return params


@dataclass
class AutoAttackResult:
    """Per-sample outcome of one AutoAttack run on N samples."""

    clean: torch.Tensor  # [N] bool: classified correctly before any attack
    robust: torch.Tensor  # [N] bool: survived every component (the per-sample worst case)
    broken_by: list[str]  # [N] component that first broke the sample ("" clean-wrong or robust)
    adversarial: torch.Tensor  # [N, ...] the breaking input (the clean image where none)
    components: list[dict] = field(default_factory=list)  # per component: attacked, broken, seconds

    @property
    def robust_accuracy(self) -> float:
        return float(self.robust.float().mean()) if self.robust.numel() else 0.0

    @property
    def clean_accuracy(self) -> float:
        return float(self.clean.float().mean()) if self.clean.numel() else 0.0


@torch.no_grad()
def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return model(x).argmax(-1) == y


def _rng_devices(device: torch.device) -> list:
    return [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []


def run_component(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, norm: Norm, eps: float,
                  seed: int, params: dict) -> torch.Tensor:
    """Adversarial candidates of one component for (x, y), projected into the ε-ball and
    [0, 1]. Runs in a forked RNG state seeded with ``seed``."""
    with torch.no_grad():
        num_classes = int(model(x[:1]).shape[-1])
    attack = build_component(name, model, norm=norm, eps=eps, seed=seed, num_classes=num_classes, params=params)
    with torch.random.fork_rng(devices=_rng_devices(x.device)):
        torch.manual_seed(seed)
        adv = attack(x, y).detach()
    return enforce_budget(norm, x, adv, eps)


def autoattack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, norm: Norm = "linf",
               version: Version = "standard", seed: int = 0, batch_size: int = 500,
               components: tuple[str, ...] = COMPONENTS, overrides: dict[str, dict] | None = None,
               progress: Progress | None = None) -> AutoAttackResult:
    """AutoAttack on ``model`` (logits or log-probabilities; an ensemble goes in as
    :class:`engine.attacks.registry.EnsembleLogProbs`) for images ``x`` in [0, 1].

    Components run in order, each only on the samples every previous one left robust, in
    batches of ``batch_size``; a sample is robust only if it is classified correctly on
    every candidate (per-sample worst case). Tensors come back on the CPU.
    """
    if norm not in _TA_NORM:
        raise ValueError(f"AutoAttack supports norms {', '.join(_TA_NORM)}, not {norm!r}")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    params = protocol(version, overrides)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x, y = x.detach().cpu(), y.detach().cpu()
    n = x.shape[0]
    with attack_mode(model):
        clean = torch.cat([_correct(model, x[s:s + batch_size].to(device), y[s:s + batch_size].to(device)).cpu()
                           for s in range(0, n, batch_size)]) if n else torch.zeros(0, dtype=torch.bool)
        robust = clean.clone()
        broken_by = [""] * n
        adversarial = x.clone()
        records = []
        for c, name in enumerate(components):
            if name not in params:
                raise ValueError(f"unknown AutoAttack component {name!r}; choose from {', '.join(COMPONENTS)}")
            todo = robust.nonzero().flatten()
            start, broken = time.perf_counter(), 0
            if eps > 0:
                for b in range(0, len(todo), batch_size):
                    idx = todo[b:b + batch_size]
                    xb, yb = x[idx].to(device), y[idx].to(device)
                    adv = run_component(name, model, xb, yb, norm=norm, eps=eps,
                                        seed=seed * 1_000_003 + c * 10_007 + b, params=params[name])
                    fooled = (~_correct(model, adv, yb)).cpu()
                    hit = idx[fooled]
                    robust[hit] = False
                    adversarial[hit] = adv.cpu()[fooled]
                    for i in hit.tolist():
                        broken_by[i] = name
                    broken += int(fooled.sum())
                    if progress:
                        progress(min(b + batch_size, len(todo)), len(todo), f"AutoAttack {name}")
            records.append({"component": name, "attacked": int(len(todo)), "broken": broken,
                            "robust_accuracy_after": float(robust.float().mean()) if n else 0.0,
                            "seconds": time.perf_counter() - start, "params": params[name]})
    return AutoAttackResult(clean=clean, robust=robust, broken_by=broken_by, adversarial=adversarial,
                            components=records)


__all__ = ["COMPONENTS", "VERSIONS", "AutoAttackResult", "autoattack", "build_component", "library_version", "protocol",
           "run_component"]
