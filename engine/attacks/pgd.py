"""Untargeted L∞ PGD (Madry et al. 2018) with random start and batched restarts, with the
cross-entropy or the CW margin loss and optional momentum (MI-FGSM, Dong et al. 2018).

Native because the engine needs all restarts of a batch in one forward pass (restart r of
sample b is row r*B+b), which advertorch's ``LinfPGDAttack`` does not offer; the
advertorch version is kept alongside (:func:`advertorch_pgd`) and the two must agree
(``tests/engine/attacks/test_pgd.py``). With the defaults (``loss="ce"``, no momentum)
steps follow advertorch exactly: ascend the sum-reduced cross-entropy with the sign of the
gradient, clip to the ε-ball, clip to [0, 1].

The options serve DVERGE's black-box protocol (Sec. 4.3: "PGD with momentum with three
random starts ... Other than using the cross-entropy loss, we also generate adversarial
examples with CW loss"):

* ``loss="cw"``: the CW margin (Carlini & Wagner 2017, f6 without the κ clamp, which
  would stop the ascent once a sample is fooled and hurts transfer)
  ``max_{j≠y} z_j - z_y``, summed over the batch.
* ``momentum=μ``: MI-FGSM, ``g ← μ g + ∇ / ||∇||_1`` (per sample) and the step follows
  ``sign(g)``.
"""
from __future__ import annotations

from typing import Callable, Literal

import torch
import torch.nn.functional as F

from ..compat import advertorch
from ..registry import Registry

Forward = Callable[[torch.Tensor], torch.Tensor]
Loss = Literal["ce", "cw", "nll"]


def cw_margin(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Summed untargeted CW margin ``max_{j≠y} z_j - z_y`` (positive = misclassified)."""
    true = out.gather(1, y[:, None])[:, 0]
    other = out.masked_fill(F.one_hot(y, out.shape[1]).bool(), float("-inf")).amax(1)
    return (other - true).sum()


def _ce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, y, reduction="sum")


def nll(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Summed ``-out_y`` for an output that already holds (sums of) log-probabilities: with
    ``out = Σ_k log_softmax(z_k)`` it is the members' summed cross-entropy ``Σ_k CE(z_k, y)``
    (the adaptive attacks' surrogate that ignores the ensemble's averaging)."""
    return -out.gather(1, y[:, None]).sum()


#: The L∞ PGD step is ε / STEP_RATIO unless a caller says otherwise: DVERGE 4.2/4.3 and
#: App. B ("step size ε/5") for within-ensemble transferability, white-box and black-box
#: evaluation, and the PGD-family attacks (BIM, M-DI²-FGSM, SGM) here.
STEP_RATIO = 5


def default_step_size(eps: float, step_size: float | None = None) -> float:
    """``step_size`` when given, else the protocol's ε / :data:`STEP_RATIO`."""
    return eps / STEP_RATIO if step_size is None else step_size


#: loss name -> summed loss the attack ascends, on logits or log-probabilities.
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {"ce": _ce, "cw": cw_margin, "nll": nll}


def loss_fn(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if name not in LOSSES:
        raise ValueError(f"unknown attack loss {name!r}; choose from {', '.join(LOSSES)}")
    return LOSSES[name]


#: The two implementations of the same untargeted L∞ PGD (``forward, x, y, *, eps,
#: step_size, steps, restarts, random_start`` -> [restarts, batch, ...]): ``native`` (batched
#: restarts, CW loss, momentum) and ``advertorch`` (the reference way; they must agree).
PGD_BACKENDS: Registry[Callable[..., torch.Tensor]] = Registry("PGD backend")


def l1_normalized(grad: torch.Tensor) -> torch.Tensor:
    """``grad / ||grad||_1`` per sample (MI-FGSM's accumulation term)."""
    norm = grad.abs().flatten(1).sum(1).clamp_min(1e-12)
    return grad / norm.view(-1, *([1] * (grad.dim() - 1)))


@PGD_BACKENDS.register("native")
def pgd(forward: Forward, x: torch.Tensor, y: torch.Tensor, *, eps: float, step_size: float,
        steps: int, restarts: int = 1, random_start: bool = True,
        generator: torch.Generator | None = None, loss: Loss = "ce",
        momentum: float | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        noise: torch.Tensor | None = None) -> torch.Tensor:
    """Adversarial examples [restarts, batch, ...] maximizing ``loss(forward(x'), y)``.

    ``forward`` returns logits or log-probabilities (cross-entropy of log-probabilities
    equals their NLL). Call it with parameters frozen (``engine.ensemble.attack_mode``).
    ``transform`` (optional) is applied to the input of every forward pass (M-DI²-FGSM's
    input diversity); the iterate itself stays untransformed. ``noise`` (optional, shaped
    like the repeated input, values in [0, 1)) replaces the random start's uniform draws,
    so a caller can give every sample its own start independently of how it batches.
    """
    objective = loss_fn(loss)
    shape = x.shape
    xr = x.detach().repeat(restarts, *([1] * (x.dim() - 1)))
    yr = y.repeat(restarts)
    if random_start:
        if noise is None:
            noise = torch.rand(xr.shape, generator=generator, device="cpu")
        noise = noise.to(xr.device)
        delta = (noise * 2 - 1) * eps
        delta = (xr + delta).clamp(0, 1) - xr
    else:
        delta = torch.zeros_like(xr)
    velocity = torch.zeros_like(xr) if momentum is not None else None
    for _ in range(steps):
        delta.requires_grad_(True)
        inputs = xr + delta
        value = objective(forward(transform(inputs) if transform is not None else inputs), yr)
        (grad,) = torch.autograd.grad(value, delta)
        if velocity is not None:
            velocity = momentum * velocity + l1_normalized(grad)
            grad = velocity
        delta = (delta.detach() + step_size * grad.sign()).clamp(-eps, eps)
        delta = (xr + delta).clamp(0, 1) - xr
    return (xr + delta).detach().view(restarts, *shape)


@PGD_BACKENDS.register("advertorch")
def advertorch_pgd(forward: Forward, x: torch.Tensor, y: torch.Tensor, *, eps: float,
                   step_size: float, steps: int, restarts: int = 1, random_start: bool = True
                   ) -> torch.Tensor:
    """The same attack through advertorch's ``LinfPGDAttack``, one restart at a time
    (the reference way). Returns [restarts, batch, ...]."""
    attack = advertorch().LinfPGDAttack(
        forward, loss_fn=torch.nn.CrossEntropyLoss(reduction="sum"), eps=eps, nb_iter=steps,
        eps_iter=step_size, rand_init=random_start, clip_min=0.0, clip_max=1.0, targeted=False)
    return torch.stack([attack.perturb(x, y).detach() for _ in range(restarts)])
