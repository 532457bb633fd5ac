"""Adaptive white-box attacks on an ensemble (Tramèr et al. 2020, "On adaptive attacks to
adversarial example defenses"): attack the ensemble through every differentiable view of
its averaging and count a sample as robust only if it survives all of them.

Ensemble defences have repeatedly been shown to overstate robustness under attacks that
only differentiate the deployed averaged softmax (e.g. Mora et al.'s "MORA" ensemble
attacks): the softmax saturates, its gradients vanish for confidently classified samples,
and the attack stalls although the members are individually easy to fool. The surrogates:

* ``softmax``: cross-entropy of the mean member softmax -- the deployed prediction
  (DVERGE 4.1), ``log mean_k softmax(z_k)``;
* ``logits``: cross-entropy of the averaged logits ``mean_k z_k`` (no softmax saturation);
* ``members``: the members' summed losses ``Σ_k CE(z_k, y)``, which ignores the averaging
  altogether (each member is pushed towards a mistake).

Each surrogate is attacked with PGD (the lab's batched L∞ PGD, :func:`engine.attacks.pgd.pgd`)
and with APGD (torchattacks; for the summed-member loss through its per-sample loss hook);
APGD on a surrogate keeps its highest-loss iterate. An EOT variant (Athalye et al. 2018:
gradients averaged over ``eot`` random draws, APGD's ``eot_iter``) is added when the
ensemble is randomised, i.e. two forward passes on one input differ. Every candidate is
re-classified by the deployed ensemble.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Literal

import torch
from torch import nn

from ..ensemble import Ensemble, attack_mode
from .pgd import pgd
from .registry import enforce_budget

Surrogate = Literal["softmax", "logits", "members"]
SURROGATES: tuple[str, ...] = ("softmax", "logits", "members")
#: surrogate -> the loss (engine.attacks.pgd.LOSSES) ascended on its output
SURROGATE_LOSS = {"softmax": "ce", "logits": "ce", "members": "nll"}
ATTACKERS: tuple[str, ...] = ("pgd", "apgd")
#: PGD step = ε / PGD_STEP_DIVISOR (the ensemble PGD and the members-alone check)
PGD_STEP_DIVISOR = 4
#: APGD's checkpoint momentum/step-halving threshold ρ (Croce & Hein 2020, Algorithm 1)
APGD_RHO = 0.75
Progress = Callable[[int, int, str], None]


class SurrogateModel(nn.Module):
    """One differentiable view of an ensemble, returning [B, C]:

    * ``softmax``: ``log mean_k softmax(z_k)`` (the deployed prediction's log);
    * ``logits``: ``mean_k z_k``;
    * ``members``: ``Σ_k log_softmax(z_k)``, whose ``-out_y`` is ``Σ_k CE(z_k, y)``.
    """

    def __init__(self, ensemble: Ensemble, surrogate: Surrogate):
        super().__init__()
        if surrogate not in SURROGATES:
            raise ValueError(f"unknown surrogate {surrogate!r}; choose from {', '.join(SURROGATES)}")
        self.ensemble, self.surrogate = ensemble, surrogate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.ensemble.member_logits(x)
        if self.surrogate == "logits":
            return z.mean(0)
        logp = torch.log_softmax(z, dim=-1)
        if self.surrogate == "members":
            return logp.sum(0)
        return torch.logsumexp(logp, dim=0) - math.log(z.shape[0])


@lru_cache(maxsize=None)
def _apgd_class():
    """torchattacks' APGD whose DLR hook computes the summed-member loss ``-out_y`` when
    asked (``objective="nll"``); with ``"ce"`` it is APGD-CE unchanged."""
    from .autoattack import torchattacks

    class SurrogateAPGD(torchattacks().APGD):
        def dlr_loss(self, x, y):  # noqa: D401 - torchattacks' per-sample loss hook
            return -x.gather(1, y[:, None])[:, 0]

    return SurrogateAPGD


def apgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, loss: str = "ce",
         eot: int = 1, seed: int = 0) -> torch.Tensor:
    """APGD (Croce & Hein 2020, Algorithm 1) ascending ``loss`` ("ce" or "nll") on
    ``model``'s output; returns the highest-loss iterate of every sample (inside the
    L∞ ball and [0, 1]). ``eot`` > 1 averages each gradient over that many forward passes."""
    attack = _apgd_class()(model, norm="Linf", eps=eps, steps=steps, n_restarts=1, seed=seed,
                           loss="ce" if loss == "ce" else "dlr", eot_iter=eot, rho=APGD_RHO)
    devices = [x.device.index or 0] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        _, adv = attack.perturb(x, y, best_loss=True)
    return enforce_budget("linf", x, adv.detach(), eps)


@torch.no_grad()
def is_randomised(ensemble: Ensemble, x: torch.Tensor, draws: int = 3) -> bool:
    """Whether the ensemble's prediction is random: ``draws`` forward passes on the same
    inputs (eval mode, as attacked) that are not all equal."""
    with attack_mode(ensemble):
        first = ensemble.log_probs(x)
        return any(not torch.equal(first, ensemble.log_probs(x)) for _ in range(draws - 1))


@dataclass(frozen=True)
class AdaptiveAttack:
    """One (attacker, surrogate) pair; ``eot`` > 1 marks the EOT variant."""

    attacker: str
    surrogate: str
    eot: int = 1

    @property
    def name(self) -> str:
        return f"{self.attacker}-{self.surrogate}" + (f"-eot{self.eot}" if self.eot > 1 else "")


def plan(*, randomised: bool, eot: int = 20, attackers=ATTACKERS, surrogates=SURROGATES) -> list[AdaptiveAttack]:
    """Every (attacker, surrogate) pair, plus APGD-EOT per surrogate when randomised."""
    attacks = [AdaptiveAttack(a, s) for a in attackers for s in surrogates]
    if randomised and eot > 1:
        attacks += [AdaptiveAttack("apgd", s, eot) for s in surrogates]
    return attacks


def candidates(attack: AdaptiveAttack, ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, *, eps: float,
               steps: int, restarts: int = 1, seed: int = 0) -> torch.Tensor:
    """Adversarial candidates [R, B, ...] of one adaptive attack."""
    model = SurrogateModel(ensemble, attack.surrogate).eval()  # torchattacks restores .training afterwards
    loss = SURROGATE_LOSS[attack.surrogate]
    if attack.attacker == "pgd":
        generator = torch.Generator().manual_seed(seed)
        return pgd(model, x, y, eps=eps, step_size=eps / PGD_STEP_DIVISOR, steps=steps, restarts=restarts,
                   generator=generator,
                   loss=loss)
    if attack.attacker == "apgd":
        return apgd(model, x, y, eps=eps, steps=steps, loss=loss, eot=attack.eot, seed=seed)[None]
    raise ValueError(f"unknown attacker {attack.attacker!r}; choose from {', '.join(ATTACKERS)}")


@dataclass
class AdaptiveResult:
    clean: torch.Tensor  # [N] bool
    robust: torch.Tensor  # [N] bool: survives every attack (per-sample worst case)
    per_attack: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> [N] bool robust to it alone
    randomised: bool = False

    @property
    def accuracy(self) -> dict[str, float]:
        return {name: float(mask.float().mean()) for name, mask in self.per_attack.items()}

    @property
    def robust_accuracy(self) -> float:
        return float(self.robust.float().mean()) if self.robust.numel() else 0.0


def adaptive_attack(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int = 50,
                    restarts: int = 1, eot: int = 20, seed: int = 0, batch_size: int = 500,
                    attacks: list[AdaptiveAttack] | None = None, progress: Progress | None = None) -> AdaptiveResult:
    """Robustness of ``ensemble`` to every adaptive attack and to their per-sample worst case.

    Every attack runs on every sample the ensemble classifies correctly (so each attack's
    own accuracy is known: the gradient-masking checks compare them); a sample is robust
    to an attack only if the *deployed* ensemble classifies every candidate correctly.
    """
    device = next(ensemble.parameters()).device
    x, y = x.detach().cpu(), y.detach().cpu()
    n = x.shape[0]
    with attack_mode(ensemble):
        with torch.no_grad():
            clean = torch.cat([(ensemble.log_probs(x[s:s + batch_size].to(device)).argmax(-1).cpu()
                                == y[s:s + batch_size]) for s in range(0, n, batch_size)]) \
                if n else torch.zeros(0, dtype=torch.bool)
        randomised = n > 0 and is_randomised(ensemble, x[:min(n, 8)].to(device))
        attacks = attacks if attacks is not None else plan(randomised=randomised, eot=eot)
        per_attack = {}
        todo = clean.nonzero().flatten()
        for a, attack in enumerate(attacks):
            mask = clean.clone()
            if eps > 0:
                for b in range(0, len(todo), batch_size):
                    idx = todo[b:b + batch_size]
                    xb, yb = x[idx].to(device), y[idx].to(device)
                    adv = candidates(attack, ensemble, xb, yb, eps=eps, steps=steps, restarts=restarts,
                                     seed=seed * 1_000_003 + a * 10_007 + b)
                    with torch.no_grad():
                        pred = ensemble.log_probs(adv.flatten(0, 1)).argmax(-1).view(adv.shape[0], -1)
                    mask[idx] = (pred == yb).all(0).cpu()
            per_attack[attack.name] = mask
            if progress:
                progress(a + 1, len(attacks), f"adaptive attacks, ε={eps:g}")
    robust = clean.clone()
    for mask in per_attack.values():
        robust &= mask
    return AdaptiveResult(clean=clean, robust=robust, per_attack=per_attack, randomised=randomised)


__all__ = ["APGD_RHO", "ATTACKERS", "PGD_STEP_DIVISOR", "SURROGATES", "AdaptiveAttack",
           "AdaptiveResult", "SurrogateModel", "adaptive_attack",
           "apgd", "candidates", "is_randomised", "plan"]
