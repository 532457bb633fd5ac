"""The attack registry: every attack the lab runs, behind one call.

``run_attack(name, model, x, y, eps=..., generator=..., **params)`` returns adversarial
examples ``[R, B, ...]`` (R = restarts; 1 for most attacks) for images ``x`` in [0, 1]
with labels ``y``. ``model`` is an ``nn.Module`` returning logits or log-probabilities:
a member (member-level attack) or :class:`EnsembleLogProbs` around an ensemble
(ensemble-level attack: the log of the mean member softmax, DVERGE 4.1).

The call runs inside :func:`engine.ensemble.attack_mode` (eval mode, frozen parameters:
parameters never accumulate gradients) and ends by enforcing the budget of the attack's
norm with :func:`enforce_budget`: a no-op (up to float rounding) for the projected L∞
attacks, and the way the *minimal-perturbation* attacks (C&W L2, EAD, JSMA), which have
no budget of their own, are held to ε -- their δ is rescaled (L2, L1) or truncated to
its ε·D largest entries (L0). Outputs are therefore always inside the ε-ball of the norm
and inside [0, 1].

advertorch provides what it has (``backend="advertorch"``); the rest is native because
advertorch lacks it: R-FGSM, M-DI²-FGSM, SGM, batched-restart PGD with the CW loss and
momentum (:func:`engine.attacks.pgd.pgd`) and DVERGE feature distillation.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..compat import advertorch
from ..ensemble import Ensemble, attack_mode
from .distill import distill
from .pgd import LOSSES, cw_margin, loss_fn, pgd

Norm = Literal["linf", "l2", "l1", "l0"]
AttackFn = Callable[..., torch.Tensor]  # (model, x, y, *, eps, generator, **params) -> [R, B, ...]


class AttackError(ValueError):
    """An attack that cannot run on this model or with these parameters."""


@dataclass(frozen=True)
class AttackSpec:
    name: str
    norm: Norm
    backend: Literal["advertorch", "native"]
    description: str
    fn: AttackFn


class EnsembleLogProbs(nn.Module):
    """An ensemble as one attackable model: ``forward`` = ``Ensemble.log_probs`` (log of
    the mean member softmax), so ensemble-level attacks differentiate the ensemble's
    actual prediction."""

    def __init__(self, ensemble: Ensemble):
        super().__init__()
        self.ensemble = ensemble

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ensemble.log_probs(x)


# --------------------------------------------------------------------------- budgets

def _per_sample(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def enforce_budget(norm: Norm, x: torch.Tensor, adv: torch.Tensor, eps: float) -> torch.Tensor:
    """``adv`` ([R, B, ...] or [B, ...]) moved into the ε-ball of ``norm`` around ``x`` and
    into [0, 1].

    * ``linf``: δ clipped to [-ε, ε] (the projection PGD uses);
    * ``l2`` / ``l1``: δ scaled by ``min(1, ε / ||δ||)``. ``x + tδ`` for t in [0, 1] is a
      convex combination of two images in [0, 1], so the box is kept too;
    * ``l0``: ε is the largest *fraction* of input values (C·H·W of them) that may change;
      only the ``floor(ε·D)`` entries of δ largest in magnitude are kept.
    """
    x = x.expand_as(adv) if adv.dim() == x.dim() else x.unsqueeze(0).expand_as(adv)
    flat_x, flat_adv = x.reshape(-1, *x.shape[-3:]), adv.reshape(-1, *adv.shape[-3:])
    delta = flat_adv - flat_x
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    elif norm in ("l2", "l1"):
        p = 2 if norm == "l2" else 1
        size = delta.flatten(1).norm(p=p, dim=1)
        delta = delta * _per_sample((eps / size.clamp_min(1e-12)).clamp(max=1.0), delta)
    elif norm == "l0":
        d = delta[0].numel()
        k = int(math.floor(eps * d + 1e-9))
        flat = delta.flatten(1)
        if k < d:
            keep = torch.zeros_like(flat, dtype=torch.bool)
            if k > 0:
                keep.scatter_(1, flat.abs().topk(k, dim=1).indices, True)
            flat = torch.where(keep, flat, torch.zeros_like(flat))
        delta = flat.view_as(delta)
    else:
        raise AttackError(f"unknown norm {norm!r}")
    return (flat_x + delta).clamp(0, 1).view_as(adv)


def perturbation_size(norm: Norm, x: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    """Per-example size of ``adv - x`` in ``norm`` (L0: fraction of changed values)."""
    delta = (adv - x).flatten(-3)  # [..., D]
    if norm == "linf":
        return delta.abs().amax(-1)
    if norm == "l2":
        return delta.norm(p=2, dim=-1)
    if norm == "l1":
        return delta.abs().sum(-1)
    return (delta != 0).float().mean(-1)


# --------------------------------------------------------------------------- helpers

@contextmanager
def _seeded(generator: torch.Generator | None) -> Iterator[None]:
    """advertorch draws from torch's global generator: seed it from ``generator`` inside
    a forked RNG state, so results are reproducible and the caller's state is untouched."""
    if generator is None:
        yield
        return
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _num_classes(model: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad():
        return int(model(x[:1]).shape[1])


def _ce_sum() -> nn.Module:
    return nn.CrossEntropyLoss(reduction="sum")


def _adv_loss(loss: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    loss_fn(loss)  # validates
    return LOSSES[loss]


# --------------------------------------------------------------------------- advertorch

def _fgsm(model, x, y, *, eps, generator=None, loss="ce"):
    """FGSM (Goodfellow et al. 2015): ``x + ε sign(∇_x L)``."""
    attack = advertorch().GradientSignAttack(model, loss_fn=_adv_loss(loss), eps=eps)
    return attack.perturb(x, y)[None]


def _pgd_advertorch(model, x, y, *, eps, generator=None, steps=20, step_size=None, restarts=1,
                    random_start=True, loss="ce"):
    """L∞ PGD (Madry et al. 2018) through ``LinfPGDAttack``, one restart at a time."""
    attack = advertorch().LinfPGDAttack(model, loss_fn=_adv_loss(loss), eps=eps, nb_iter=steps,
                                        eps_iter=eps / 5 if step_size is None else step_size,
                                        rand_init=random_start)
    with _seeded(generator):
        return torch.stack([attack.perturb(x, y) for _ in range(restarts)])


def _bim(model, x, y, *, eps, generator=None, steps=10, step_size=None, loss="ce"):
    """BIM / I-FGSM (Kurakin et al. 2017): PGD from x itself, step ε/5 by default."""
    attack = advertorch().LinfBasicIterativeAttack(model, loss_fn=_adv_loss(loss), eps=eps, nb_iter=steps,
                                                   eps_iter=eps / 5 if step_size is None else step_size)
    return attack.perturb(x, y)[None]


def _mim(model, x, y, *, eps, generator=None, steps=10, step_size=None, decay=1.0, loss="ce"):
    """MI-FGSM (Dong et al. 2018): momentum μ=``decay`` over L1-normalized gradients,
    step ε/T by default."""
    attack = advertorch().MomentumIterativeAttack(model, loss_fn=_adv_loss(loss), eps=eps, nb_iter=steps,
                                                  decay_factor=decay,
                                                  eps_iter=eps / steps if step_size is None else step_size)
    return attack.perturb(x, y)[None]


def _cw_l2(model, x, y, *, eps, generator=None, steps=50, search_steps=4, lr=0.05, initial_const=1.0,
           confidence=0.0):
    """C&W L2 (Carlini & Wagner 2017), a minimal-perturbation attack (binary search over
    the constant c); its δ is then rescaled into the L2 ball of radius ε."""
    attack = advertorch().CarliniWagnerL2Attack(model, _num_classes(model, x), confidence=confidence,
                                                learning_rate=lr, binary_search_steps=search_steps,
                                                max_iterations=steps, initial_const=initial_const)
    return attack.perturb(x, y)[None]


def _ead(model, x, y, *, eps, generator=None, steps=50, search_steps=4, lr=0.01, initial_const=1.0,
         beta=0.01, confidence=0.0):
    """EAD (Chen et al. 2018), elastic-net (L1 + β·L2) minimal perturbation; its δ is then
    rescaled into the L1 ball of radius ε."""
    attack = advertorch().ElasticNetL1Attack(model, _num_classes(model, x), confidence=confidence,
                                             learning_rate=lr, binary_search_steps=search_steps,
                                             max_iterations=steps, initial_const=initial_const, beta=beta)
    return attack.perturb(x, y)[None]


def _jsma(model, x, y, *, eps, generator=None, theta=1.0):
    """JSMA (Papernot et al. 2016), targeted by construction: the target is each sample's
    runner-up class (the most likely wrong class). ε is the largest fraction of input
    values changed (advertorch's γ; pairs of values are raised by θ per iteration), then
    enforced exactly by :func:`enforce_budget`."""
    with torch.no_grad():
        out = model(x)
    target = out.masked_fill(F.one_hot(y, out.shape[1]).bool(), float("-inf")).argmax(1)
    attack = advertorch().JacobianSaliencyMapAttack(model, out.shape[1], theta=theta, gamma=eps)
    return attack.perturb(x.clone(), target)[None]


def _spsa(model, x, y, *, eps, generator=None, steps=10, samples=64, delta=0.01, lr=0.01):
    """SPSA (Uesato et al. 2018), gradient-free L∞: the gradient of the margin loss is
    estimated from ``samples`` random ±δ finite differences per step (Adam, rate ``lr``)."""
    attack = advertorch().LinfSPSAAttack(model, eps=eps, delta=delta, lr=lr, nb_iter=steps, nb_sample=samples,
                                         max_batch_size=max(samples, 64))
    with _seeded(generator):
        return attack.perturb(x, y)[None]


# --------------------------------------------------------------------------- native

def _pgd_batched(model, x, y, *, eps, generator=None, steps=20, step_size=None, restarts=1, random_start=True,
                 loss="ce", momentum=None):
    """L∞ PGD with all restarts in one batch, CE or CW loss, optional momentum
    (:func:`engine.attacks.pgd.pgd`; DVERGE 4.3's "PGD with momentum, three random starts"
    is ``momentum=1.0, restarts=3``)."""
    return pgd(model, x, y, eps=eps, step_size=eps / 5 if step_size is None else step_size, steps=steps,
               restarts=restarts, random_start=random_start, generator=generator, loss=loss, momentum=momentum)


def _rfgsm(model, x, y, *, eps, generator=None, alpha=None, loss="ce"):
    """R-FGSM (Tramèr et al. 2018): a random step ``x' = x + α sign(N(0, I))``, then FGSM
    with the remaining budget, ``x' + (ε - α) sign(∇_{x'} L)``; α = ε/2 by default."""
    alpha = eps / 2 if alpha is None else alpha
    if not 0 <= alpha < eps:
        raise AttackError(f"R-FGSM needs 0 <= alpha < eps, got alpha={alpha}, eps={eps}")
    noise = torch.randn(x.shape, generator=generator).to(x.device)
    start = (x + alpha * noise.sign()).clamp(0, 1).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(_adv_loss(loss)(model(start), y), start)
    adv = start.detach() + (eps - alpha) * grad.sign()
    return adv[None]


def input_diversity(x: torch.Tensor, *, probability: float = 0.5, resize_rate: float = 0.9,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """DI²-FGSM's random transform T(x; p) (Xie et al. 2019), size-preserving variant:
    with probability ``p`` the batch is resized (nearest) to a random side in
    [⌊rate·H⌋, H) and zero-padded at a random offset back to H x W, so models with a fixed
    input size (LeNet-5) can be attacked too. Differentiable in ``x``."""
    if float(torch.rand((), generator=generator)) >= probability:
        return x
    h, w = x.shape[-2:]
    low = max(1, int(resize_rate * h))
    if low >= h:
        return x
    side = int(torch.randint(low, h, (1,), generator=generator))
    side_w = max(1, round(side * w / h))
    small = F.interpolate(x, size=(side, side_w), mode="nearest")
    top = int(torch.randint(0, h - side + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - side_w + 1, (1,), generator=generator))
    return F.pad(small, (left, w - side_w - left, top, h - side - top))


def _mdi2fgsm(model, x, y, *, eps, generator=None, steps=20, step_size=None, probability=0.5, momentum=1.0,
              resize_rate=0.9, loss="ce"):
    """M-DI²-FGSM (Xie et al. 2019): momentum iterative FGSM (μ=1.0) whose every gradient
    is taken through a random resize-and-pad of the input (probability 0.5, DVERGE App. B);
    step ε/5 as in DVERGE 4.3."""
    def transform(inputs):
        return input_diversity(inputs, probability=probability, resize_rate=resize_rate, generator=generator)

    return pgd(model, x, y, eps=eps, step_size=eps / 5 if step_size is None else step_size, steps=steps,
               random_start=False, loss=loss, momentum=momentum, transform=transform)


def residual_blocks(model: nn.Module) -> list[nn.Module]:
    """The residual blocks (``BasicBlock``) anywhere inside ``model``."""
    from ..models.resnet import BasicBlock

    return [m for m in model.modules() if isinstance(m, BasicBlock)]


@contextmanager
def skip_gradient(model: nn.Module, gamma: float) -> Iterator[None]:
    """SGM's gradient decay (Wu et al. 2020, Eq. 9): for every residual block
    ``z' = relu(z + f(z))`` the backward pass becomes ``relu' ⊙ (1 + γ ∂f/∂z)``, i.e. only
    the gradient through the residual branch is scaled by γ.

    ``BasicBlock`` applies one shared ReLU module both inside the branch and after the
    addition, so a module backward hook on it would also scale the skip connection.
    Instead a forward hook on the block's ``bn1`` (whose output feeds only the branch's
    inner ReLU) registers a tensor hook multiplying the gradient by γ; the inner ReLU's
    Jacobian is diagonal, so scaling before or after it is the same. No model change, so
    every checkpoint loads unchanged.
    """
    blocks = residual_blocks(model)
    if not blocks:
        raise AttackError(f"SGM needs a model with residual blocks (resnet<6n+2>); "
                          f"{type(_innermost(model)).__name__} has none")

    def hook(_module, _inputs, output):
        if output.requires_grad:
            output.register_hook(lambda grad: grad * gamma)

    handles = [block.bn1.register_forward_hook(hook) for block in blocks]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _innermost(model: nn.Module) -> nn.Module:
    """The architecture inside the wrappers (for error messages)."""
    if isinstance(model, EnsembleLogProbs):
        model = model.ensemble.members[0]
    if isinstance(model, Ensemble):
        model = model.members[0]
    return getattr(model, "model", model)


def _sgm(model, x, y, *, eps, generator=None, gamma=0.2, steps=20, step_size=None, restarts=1,
         random_start=False, momentum=None, loss="ce"):
    """SGM (Wu et al. 2020): L∞ PGD (step ε/5) whose gradient through every residual branch
    is decayed by γ = 0.2 (DVERGE App. B); see :func:`skip_gradient`."""
    with skip_gradient(model, gamma):
        return pgd(model, x, y, eps=eps, step_size=eps / 5 if step_size is None else step_size, steps=steps,
                   restarts=restarts, random_start=random_start, generator=generator, loss=loss,
                   momentum=momentum)


def _distill(model, x, y, *, eps, generator=None, layer=None, target=None, steps=10, momentum=1.0):
    """DVERGE feature distillation (Eq. 1): images within ε of ``x`` whose layer-``layer``
    features match those of ``target`` images (default: the batch shifted by one, i.e.
    every image borrows another sample's features; default layer: the last). Member-level
    only (needs ``feature_layers``); ``y`` is unused."""
    if not hasattr(model, "feature_layers"):
        raise AttackError("feature distillation attacks one member (a Classifier with feature layers), "
                          "not an ensemble")
    layer = len(model.feature_layers()) if layer is None else layer
    target = x.roll(1, 0) if target is None else target
    return distill(model, layer, target, x, eps=eps, steps=steps, momentum=momentum)[None]


ATTACKS: dict[str, AttackSpec] = {spec.name: spec for spec in [
    AttackSpec("fgsm", "linf", "advertorch", "FGSM: one signed-gradient step of size ε", _fgsm),
    AttackSpec("pgd", "linf", "advertorch", "L∞ PGD with random start (LinfPGDAttack), restarts one at a time",
               _pgd_advertorch),
    AttackSpec("bim", "linf", "advertorch", "BIM / I-FGSM: iterative FGSM from the clean image", _bim),
    AttackSpec("mim", "linf", "advertorch", "MI-FGSM: momentum iterative FGSM", _mim),
    AttackSpec("cw-l2", "l2", "advertorch", "Carlini-Wagner L2 (minimal perturbation, rescaled into the ε-ball)",
               _cw_l2),
    AttackSpec("ead", "l1", "advertorch", "EAD elastic-net L1 (minimal perturbation, rescaled into the ε-ball)",
               _ead),
    AttackSpec("jsma", "l0", "advertorch", "JSMA towards the runner-up class; ε = fraction of values changed",
               _jsma),
    AttackSpec("spsa", "linf", "advertorch", "SPSA: gradient-free L∞ attack (finite-difference estimates)", _spsa),
    AttackSpec("pgd-batched", "linf", "native",
               "L∞ PGD, all restarts in one batch; CE or CW loss; optional momentum", _pgd_batched),
    AttackSpec("rfgsm", "linf", "native", "R-FGSM: random step α, then FGSM with ε - α", _rfgsm),
    AttackSpec("mdi2fgsm", "linf", "native", "M-DI²-FGSM: momentum FGSM through random resize-and-pad", _mdi2fgsm),
    AttackSpec("sgm", "linf", "native", "SGM: PGD with gradients through residual branches decayed by γ", _sgm),
    AttackSpec("distill", "linf", "native", "DVERGE feature distillation (Eq. 1) towards other images' features",
               _distill),
]}


def get_attack(name: str) -> AttackSpec:
    if name not in ATTACKS:
        raise AttackError(f"unknown attack {name!r}; choose from {', '.join(ATTACKS)}")
    return ATTACKS[name]


def run_attack(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float,
               generator: torch.Generator | None = None, **params) -> torch.Tensor:
    """Adversarial examples ``[R, B, ...]`` of attack ``name`` against ``model`` (eval mode,
    frozen parameters), inside the ε-ball of the attack's norm and inside [0, 1]."""
    spec = get_attack(name)
    if eps < 0:
        raise AttackError(f"eps must be >= 0, got {eps}")
    x, y = x.detach(), y.detach()
    try:
        with attack_mode(model):
            adv = spec.fn(model, x, y, eps=eps, generator=generator, **params)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise AttackError(f"{name}: {exc}") from None
        raise
    return enforce_budget(spec.norm, x, adv.detach(), eps)


__all__ = ["ATTACKS", "AttackError", "AttackSpec", "EnsembleLogProbs", "cw_margin", "enforce_budget", "get_attack",
           "input_diversity", "perturbation_size", "residual_blocks", "run_attack", "skip_gradient"]
