"""The native PGD family: attacks advertorch lacks (batched-restart L∞ PGD with the CW
loss and momentum, R-FGSM, M-DI²-FGSM) and DVERGE feature distillation as an attack."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import AttackError, register_attack
from .distill import distill
from .pgd import default_step_size, loss_fn, pgd


@register_attack("pgd-batched", norm="linf", backend="native",
                 description="L∞ PGD, all restarts in one batch; CE or CW loss; optional momentum")
def pgd_batched(model, x, y, *, eps, generator=None, steps=20, step_size=None, restarts=1, random_start=True,
                loss="ce", momentum=None):
    """L∞ PGD with all restarts in one batch, CE or CW loss, optional momentum
    (:func:`engine.attacks.pgd.pgd`; DVERGE 4.3's "PGD with momentum, three random starts"
    is ``momentum=1.0, restarts=3``)."""
    return pgd(model, x, y, eps=eps, step_size=default_step_size(eps, step_size), steps=steps,
               restarts=restarts, random_start=random_start, generator=generator, loss=loss, momentum=momentum)


@register_attack("rfgsm", norm="linf", backend="native",
                 description="R-FGSM: random step α, then FGSM with ε - α")
def rfgsm(model, x, y, *, eps, generator=None, alpha=None, loss="ce"):
    """R-FGSM (Tramèr et al. 2018): a random step ``x' = x + α sign(N(0, I))``, then FGSM
    with the remaining budget, ``x' + (ε - α) sign(∇_{x'} L)``; α = ε/2 by default."""
    alpha = eps / 2 if alpha is None else alpha
    if not 0 <= alpha < eps:
        raise AttackError(f"R-FGSM needs 0 <= alpha < eps, got alpha={alpha}, eps={eps}")
    noise = torch.randn(x.shape, generator=generator).to(x.device)
    start = (x + alpha * noise.sign()).clamp(0, 1).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(loss)(model(start), y), start)
    adv = (start.detach() + (eps - alpha) * grad.sign()).clamp(0, 1)
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


@register_attack("mdi2fgsm", norm="linf", backend="native",
                 description="M-DI²-FGSM: momentum FGSM through random resize-and-pad")
def mdi2fgsm(model, x, y, *, eps, generator=None, steps=20, step_size=None, probability=0.5, momentum=1.0,
             resize_rate=0.9, loss="ce"):
    """M-DI²-FGSM (Xie et al. 2019): momentum iterative FGSM (μ=1.0) whose every gradient
    is taken through a random resize-and-pad of the input (probability 0.5, DVERGE App. B);
    step ε/5 as in DVERGE 4.3."""
    def transform(inputs):
        return input_diversity(inputs, probability=probability, resize_rate=resize_rate, generator=generator)

    return pgd(model, x, y, eps=eps, step_size=default_step_size(eps, step_size), steps=steps,
               random_start=False, loss=loss, momentum=momentum, transform=transform)


@register_attack("distill", norm="linf", backend="native",
                 description="DVERGE feature distillation (Eq. 1) towards other images' features")
def distill_attack(model, x, y, *, eps, generator=None, layer=None, target=None, steps=10, momentum=1.0):
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
