"""An ensemble of classifiers and the execution mode used while attacking it.

The ensemble's prediction is the mean of member softmax probabilities (DVERGE 4.1);
``log_probs`` is its logarithm (what cross-entropy attacks on the ensemble differentiate),
``member_logits`` exposes every member separately.

BatchNorm policy (one rule for every method and every evaluation): all inner
maximizations -- PGD inside adversarial training, DVERGE feature distillation, CCE's
per-member attacks, evaluation attacks -- run the members in *eval* mode. The attacked
function is then the one the model computes at test time, and attack batches never leak
into the running statistics. Parameter updates run in train mode.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterable, Iterator

import torch
from torch import nn

from .models import Classifier


class Ensemble(nn.Module):
    def __init__(self, members: Iterable[Classifier]):
        super().__init__()
        self.members = nn.ModuleList(members)
        if len(self.members) < 1:
            raise ValueError("an ensemble needs at least one member")

    def __len__(self) -> int:
        return len(self.members)

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every member, stacked: [members, batch, classes]."""
        return torch.stack([m(x) for m in self.members])

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """log of the mean member softmax, computed stably: [batch, classes]."""
        logp = torch.log_softmax(self.member_logits(x), dim=-1)
        return torch.logsumexp(logp, dim=0) - math.log(len(self.members))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of member softmax probabilities (DVERGE 4.1)."""
        return self.log_probs(x).exp()


@contextmanager
def attack_mode(*modules: nn.Module) -> Iterator[None]:
    """Eval mode and frozen parameters for the duration of an inner attack; restores
    the previous train/eval flags and ``requires_grad`` afterwards. Parameters therefore
    never accumulate gradients during attacks."""
    saved_modes = [(m, m.training) for mod in modules for m in mod.modules()]
    saved_grads = [(p, p.requires_grad) for mod in modules for p in mod.parameters()]
    try:
        for mod in modules:
            mod.eval()
            for p in mod.parameters():
                p.requires_grad_(False)
        yield
    finally:
        for m, training in saved_modes:
            m.training = training
        for p, flag in saved_grads:
            p.requires_grad_(flag)


class _StopForward(Exception):
    pass


def layer_output(model: Classifier, layer: int, x: torch.Tensor) -> torch.Tensor:
    """Output of feature layer ``layer`` (1-based, DVERGE numbering) for input ``x``.

    A forward hook captures the tensor and stops the forward pass there, so deeper layers
    are never computed.
    """
    layers = model.feature_layers()
    if not 1 <= layer <= len(layers):
        raise ValueError(f"layer must be in 1..{len(layers)}, got {layer}")
    captured: list[torch.Tensor] = []

    def hook(_module, _inputs, output):
        captured.append(output)
        raise _StopForward

    handle = layers[layer - 1].register_forward_hook(hook)
    try:
        model(x)
    except _StopForward:
        pass
    finally:
        handle.remove()
    return captured[0]


def num_feature_layers(model: Classifier) -> int:
    return len(model.feature_layers())
