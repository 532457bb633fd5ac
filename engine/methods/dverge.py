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
from ..parallel import cpu_workers, run_tasks
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


def _member_loss(member, distilled: list[torch.Tensor], i: int, ys: torch.Tensor, channels_last: bool):
    """Σ_{j≠i} CE(f_i(X'_j), Y_s) for member i: the other members' images as one batch
    (one train-mode forward, BatchNorm statistics shared over them)."""
    others = [distilled[j] for j in range(len(distilled)) if j != i] or [distilled[i]]
    images = torch.cat(others)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return F.cross_entropy(member(images), ys.repeat(len(others))) * len(others)


class _PrecomputedGradients(torch.autograd.Function):
    """The [K] member losses, whose parameter gradients were already computed (member i's
    in its own worker task): backward hands each parameter of member i its stored
    ∂loss_i/∂θ times the incoming ∂total/∂loss_i -- the chain rule, exactly what a
    backward through the members' graphs would give (member i's parameters reach no other
    loss)."""

    @staticmethod
    def forward(ctx, values, grads, owners, *params):
        ctx.grads, ctx.owners = grads, owners
        return values.clone()

    @staticmethod
    def backward(ctx, grad_out):
        scaled = [None if g is None else g * grad_out[i] for g, i in zip(ctx.grads, ctx.owners)]
        return (None, None, None, *scaled)


def _update_tasks(ensemble, workers: int, grads_needed: bool) -> int:
    """How many members (the first ones) compute their update as single-threaded worker
    tasks: a multiple of ``workers`` (the rest run in the caller's thread on all intra-op
    threads, so no core idles behind a lone task); 0 where the task path does not apply
    (GPU, no gradients recorded, autocast: its state does not follow into worker threads)."""
    params = list(ensemble.parameters())
    if (workers <= 1 or not grads_needed or not params or params[0].device.type != "cpu"
            or torch.is_autocast_enabled("cpu")):
        return 0
    return len(ensemble) // workers * workers


def cross_distilled_losses(ensemble, distilled: list[torch.Tensor], ys: torch.Tensor, *,
                           channels_last: bool | None = None, workers: int | None = None) -> torch.Tensor:
    """Σ_{j≠i} CE(f_i(X'_j), Y_s) for every member i, [K] (Eq. 5); for a single member,
    its own distilled images. Member i sees the other members' images as one batch (one
    train-mode forward, as the straightforward loop over j≠i with shared BatchNorm
    statistics).

    Two CPU speed-ups, the same values and parameter gradients up to float rounding
    (tests/engine/methods/test_method_losses.py compares them with the plain update):
    ``channels_last`` (default: on CPU for float32/bf16 images) hands that batch to the member in
    channels-last memory, oneDNN's native layout for the train-mode convolutions and their
    gradients (about a quarter less CPU time for ResNet-20, bench/RESULTS.md); and on
    ``workers`` > 1 threads (default :func:`engine.parallel.cpu_workers`) the members'
    forward *and* backward passes run as independent single-threaded tasks, as the
    distillation does (the members share nothing), returned through
    :class:`_PrecomputedGradients` so that ``total.backward()`` later accumulates the
    same ``.grad`` as a backward through the graphs would. Members left over after a
    multiple of ``workers`` run in the caller's thread as before."""
    k = len(ensemble)
    if channels_last is None:
        channels_last = (distilled[0].device.type == "cpu" and distilled[0].dim() == 4
                         and distilled[0].dtype in (torch.float32, torch.bfloat16))  # oneDNN's types
    workers = cpu_workers(distilled[0].device) if workers is None else max(1, workers)
    in_tasks = _update_tasks(ensemble, workers, torch.is_grad_enabled())
    members = list(ensemble.members)
    if not in_tasks:
        return torch.stack([_member_loss(m, distilled, i, ys, channels_last) for i, m in enumerate(members)])

    def task(i):
        params = [p for p in members[i].parameters() if p.requires_grad]
        loss = _member_loss(members[i], distilled, i, ys, channels_last)
        grads = torch.autograd.grad(loss, params, allow_unused=True) if params else ()
        return loss.detach(), params, grads

    done = list(run_tasks(task, list(range(in_tasks)), workers))
    rest = [_member_loss(members[i], distilled, i, ys, channels_last) for i in range(in_tasks, k)]
    values = torch.stack([loss for loss, _, _ in done])
    params = [p for _, ps, _ in done for p in ps]
    grads = [g for _, _, gs in done for g in gs]
    owners = [i for i, (_, ps, _) in enumerate(done) for _ in ps]
    return torch.cat([_PrecomputedGradients.apply(values, grads, owners, *params), *[r[None] for r in rest]])


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
