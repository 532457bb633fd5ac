"""DVERGE (Yang et al. 2020) and the methods built on it.

dverge       Eq. (5) with Algorithm 1: per epoch a random feature layer l; per batch each
             member f_j distills X'_j = x'_{f_j^l}(X, X_s) (Eq. 1, ``engine.attacks.distill``)
             from an independent source batch X_s toward the batch X, and member f_i
             minimizes Σ_{j≠i} CE(f_i(X'_j), Y_s). Starts from a trained baseline.
dverge_advt  appendix Eq. (6): λ·Σ_{j≠i} CE(f_i(X'_j), Y_s) + CE(f_i(X_s + δ_i), Y_s),
             δ_i a PGD attack on member i (8/255, step 2/255, 10 steps on CIFAR), λ = 1.
smd_plus     SMD paper's SMD+: the DVERGE objective plus λ·L_SMD (SMD Eq. 2) on (X, Y).
"""
from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from pydantic import Field

from ..attacks import pgd
from ..attacks.distill import distill_members
from ..ensemble import attack_mode
from .base import ADAM_PAPER, Batch, Losses, Method, Params, member_list, register_method
from .smd import saliency_alignment


class DVERGEParams(Params):
    eps: float | None = Field(None, gt=0, le=1, description="distillation ε (default: the data set's, 0.07 on CIFAR-10)")
    steps: int = Field(10, ge=1, le=1000, description="PGD steps of the distillation")
    step_size: float | None = Field(None, gt=0, description="distillation step (default ε/steps)")
    momentum: float = Field(1.0, ge=0, description="momentum of the distillation PGD")
    layer: int | None = Field(None, ge=1, description="fixed feature layer (default: random per epoch)")


def distill_all(ensemble, layer: int, batch: Batch, p: DVERGEParams, eps: float) -> list[torch.Tensor]:
    """X'_j for every member j (Algorithm 1, lines 12-13): Eq. (1) per member, all members
    at once on frozen BatchNorm-folded copies (:func:`engine.attacks.distill.distill_members`;
    the same images as :func:`engine.attacks.distill` per member up to float rounding)."""
    return distill_members(list(ensemble.members), layer, batch.x, batch.xs, eps=eps, steps=p.steps,
                           step_size=p.step_size, momentum=p.momentum)


def cross_distilled_losses(ensemble, distilled: list[torch.Tensor], ys: torch.Tensor) -> torch.Tensor:
    """Σ_{j≠i} CE(f_i(X'_j), Y_s) for every member i, [K] (Eq. 5); for a single member,
    its own distilled images."""
    k = len(ensemble)
    losses = []
    for i, member in enumerate(ensemble.members):
        others = [distilled[j] for j in range(k) if j != i] or [distilled[i]]
        logits = member(torch.cat(others))
        losses.append(F.cross_entropy(logits, ys.repeat(len(others))) * len(others))
    return torch.stack(losses)


@register_method()
class DVERGE(Method):
    name = "dverge"
    Params = DVERGEParams
    needs_source_batch = True
    starts_from_baseline = True

    @property
    def eps(self) -> float:
        return self.params.eps if self.params.eps is not None else self.spec.distill_eps

    def check(self, member) -> None:
        n_layers = len(member.feature_layers())
        if self.params.layer is not None and self.params.layer > n_layers:
            raise ValueError(f"--param layer={self.params.layer}: this architecture has {n_layers} feature "
                             f"layers (choose 1..{n_layers})")

    def begin_epoch(self, epoch: int, ensemble, rng: random.Random) -> dict:
        self.check(ensemble.members[0])
        n_layers = len(ensemble.members[0].feature_layers())
        self.layer = self.params.layer or rng.randint(1, n_layers)
        return {"layer": self.layer}

    def dverge_losses(self, ensemble, batch: Batch) -> torch.Tensor:
        distilled = distill_all(ensemble, self.layer, batch, self.params, self.eps)
        return cross_distilled_losses(ensemble, distilled, batch.ys)

    def loss(self, ensemble, batch: Batch) -> Losses:
        per_member = self.dverge_losses(ensemble, batch)
        return Losses(per_member.sum(), member_list(per_member), {"layer": self.layer})


class DVERGEAdvTParams(DVERGEParams):
    lam: float = Field(1.0, ge=0, description="λ, weight of the DVERGE term (appendix Eq. 6)")
    advt_eps: float | None = Field(None, gt=0, le=1, description="PGD ε (default: the data set's, 8/255 on CIFAR-10)")
    advt_step: float | None = Field(None, gt=0, description="PGD step (default: 2/255 on CIFAR-10)")
    advt_steps: int = Field(10, ge=1, le=1000)


def advt_budget(params, spec) -> dict:
    return dict(eps=params.advt_eps if params.advt_eps is not None else spec.advt_eps,
                step_size=params.advt_step if params.advt_step is not None else spec.advt_step,
                steps=params.advt_steps)


@register_method()
class DVERGEAdvT(DVERGE):
    name = "dverge_advt"
    Params = DVERGEAdvTParams

    def loss(self, ensemble, batch: Batch) -> Losses:
        dverge = self.dverge_losses(ensemble, batch)
        budget = advt_budget(self.params, self.spec)
        with attack_mode(ensemble):
            adversarial = [pgd(m, batch.xs, batch.ys, **budget)[0] for m in ensemble.members]
        advt = torch.stack([F.cross_entropy(m(a), batch.ys) for m, a in zip(ensemble.members, adversarial)])
        per_member = self.params.lam * dverge + advt
        return Losses(per_member.sum(), member_list(per_member),
                      {"layer": self.layer, "dverge_loss": dverge.detach().sum(), "advt_loss": advt.detach().sum()})


class SMDPlusParams(DVERGEParams):
    lam: float = Field(1.0, ge=0, description="λ, weight of the SMD term")


@register_method()
class SMDPlus(DVERGE):
    name = "smd_plus"
    Params = SMDPlusParams
    optimizer = ADAM_PAPER  # the SMD paper trains DVERGE and SMD+ with Adam 1e-3

    def loss(self, ensemble, batch: Batch) -> Losses:
        dverge = self.dverge_losses(ensemble, batch)
        alignment, _ = saliency_alignment(ensemble, batch.x, batch.y, create_graph=True)
        alignment = alignment.mean()
        total = dverge.sum() + self.params.lam * alignment
        return Losses(total, member_list(dverge), {"layer": self.layer, "saliency_alignment": alignment.detach()})
