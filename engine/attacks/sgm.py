"""SGM (Wu et al. 2020): PGD whose gradient through every residual branch is decayed."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn

from ..ensemble import Ensemble
from ..models.resnet import BasicBlock
from .base import AttackError, EnsembleLogProbs, register_attack
from .pgd import default_step_size, pgd


def residual_blocks(model: nn.Module) -> list[nn.Module]:
    """The residual blocks (``BasicBlock``) anywhere inside ``model``."""
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


@register_attack("sgm", norm="linf", backend="native",
                 description="SGM: PGD with gradients through residual branches decayed by γ")
def sgm(model, x, y, *, eps, generator=None, gamma=0.2, steps=20, step_size=None, restarts=1,
        random_start=False, momentum=None, loss="ce"):
    """SGM (Wu et al. 2020): L∞ PGD (step ε/5) whose gradient through every residual branch
    is decayed by γ = 0.2 (DVERGE App. B); see :func:`skip_gradient`."""
    with skip_gradient(model, gamma):
        return pgd(model, x, y, eps=eps, step_size=default_step_size(eps, step_size), steps=steps,
                   restarts=restarts, random_start=random_start, generator=generator, loss=loss,
                   momentum=momentum)
