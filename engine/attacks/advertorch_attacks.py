"""Attacks advertorch provides, wrapped to the registry's call (``[R, B, ...]`` out, seeded
from the caller's generator): FGSM, L∞ PGD, BIM, MI-FGSM, C&W L2, EAD, JSMA, SPSA."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..compat import advertorch
from .base import register_attack
from .pgd import default_step_size, loss_fn


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


@register_attack("fgsm", norm="linf", backend="advertorch",
                 description="FGSM: one signed-gradient step of size ε")
def fgsm(model, x, y, *, eps, generator=None, loss="ce"):
    """FGSM (Goodfellow et al. 2015): ``x + ε sign(∇_x L)``."""
    attack = advertorch().GradientSignAttack(model, loss_fn=loss_fn(loss), eps=eps)
    return attack.perturb(x, y)[None]


@register_attack("pgd", norm="linf", backend="advertorch",
                 description="L∞ PGD with random start (LinfPGDAttack), restarts one at a time")
def pgd_advertorch(model, x, y, *, eps, generator=None, steps=20, step_size=None, restarts=1,
                   random_start=True, loss="ce"):
    """L∞ PGD (Madry et al. 2018) through ``LinfPGDAttack``, one restart at a time."""
    attack = advertorch().LinfPGDAttack(model, loss_fn=loss_fn(loss), eps=eps, nb_iter=steps,
                                        eps_iter=default_step_size(eps, step_size),
                                        rand_init=random_start)
    with _seeded(generator):
        return torch.stack([attack.perturb(x, y) for _ in range(restarts)])


@register_attack("bim", norm="linf", backend="advertorch",
                 description="BIM / I-FGSM: iterative FGSM from the clean image")
def bim(model, x, y, *, eps, generator=None, steps=10, step_size=None, loss="ce"):
    """BIM / I-FGSM (Kurakin et al. 2017): PGD from x itself, step ε/5 by default."""
    attack = advertorch().LinfBasicIterativeAttack(model, loss_fn=loss_fn(loss), eps=eps, nb_iter=steps,
                                                   eps_iter=default_step_size(eps, step_size))
    return attack.perturb(x, y)[None]


@register_attack("mim", norm="linf", backend="advertorch",
                 description="MI-FGSM: momentum iterative FGSM")
def mim(model, x, y, *, eps, generator=None, steps=10, step_size=None, decay=1.0, loss="ce"):
    """MI-FGSM (Dong et al. 2018): momentum μ=``decay`` over L1-normalized gradients,
    step ε/T by default."""
    attack = advertorch().MomentumIterativeAttack(model, loss_fn=loss_fn(loss), eps=eps, nb_iter=steps,
                                                  decay_factor=decay,
                                                  eps_iter=eps / steps if step_size is None else step_size)
    return attack.perturb(x, y)[None]


@register_attack("cw-l2", norm="l2", backend="advertorch",
                 description="Carlini-Wagner L2 (minimal perturbation, rescaled into the ε-ball)")
def cw_l2(model, x, y, *, eps, generator=None, steps=50, search_steps=4, lr=0.05, initial_const=1.0,
          confidence=0.0):
    """C&W L2 (Carlini & Wagner 2017), a minimal-perturbation attack (binary search over
    the constant c); its δ is then rescaled into the L2 ball of radius ε."""
    attack = advertorch().CarliniWagnerL2Attack(model, _num_classes(model, x), confidence=confidence,
                                                learning_rate=lr, binary_search_steps=search_steps,
                                                max_iterations=steps, initial_const=initial_const)
    return attack.perturb(x, y)[None]


@register_attack("ead", norm="l1", backend="advertorch",
                 description="EAD elastic-net L1 (minimal perturbation, rescaled into the ε-ball)")
def ead(model, x, y, *, eps, generator=None, steps=50, search_steps=4, lr=0.01, initial_const=1.0,
        beta=0.01, confidence=0.0):
    """EAD (Chen et al. 2018), elastic-net (L1 + β·L2) minimal perturbation; its δ is then
    rescaled into the L1 ball of radius ε."""
    attack = advertorch().ElasticNetL1Attack(model, _num_classes(model, x), confidence=confidence,
                                             learning_rate=lr, binary_search_steps=search_steps,
                                             max_iterations=steps, initial_const=initial_const, beta=beta)
    return attack.perturb(x, y)[None]


@register_attack("jsma", norm="l0", backend="advertorch",
                 description="JSMA towards the runner-up class; ε = fraction of values changed")
def jsma(model, x, y, *, eps, generator=None, theta=1.0):
    """JSMA (Papernot et al. 2016), targeted by construction: the target is each sample's
    runner-up class (the most likely wrong class). ε is the largest fraction of input
    values changed (advertorch's γ; pairs of values are raised by θ per iteration), then
    enforced exactly by :func:`enforce_budget`."""
    with torch.no_grad():
        out = model(x)
    target = out.masked_fill(F.one_hot(y, out.shape[1]).bool(), float("-inf")).argmax(1)
    attack = advertorch().JacobianSaliencyMapAttack(model, out.shape[1], theta=theta, gamma=eps)
    return attack.perturb(x.clone(), target)[None]


@register_attack("spsa", norm="linf", backend="advertorch",
                 description="SPSA: gradient-free L∞ attack (finite-difference estimates)")
def spsa(model, x, y, *, eps, generator=None, steps=10, samples=64, delta=0.01, lr=0.01):
    """SPSA (Uesato et al. 2018), gradient-free L∞: the gradient of the margin loss is
    estimated from ``samples`` random ±δ finite differences per step (Adam, rate ``lr``)."""
    attack = advertorch().LinfSPSAAttack(model, eps=eps, delta=delta, lr=lr, nb_iter=steps, nb_sample=samples,
                                         max_batch_size=max(samples, 64))
    with _seeded(generator):
        return attack.perturb(x, y)[None]
