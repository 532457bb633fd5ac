"""Architectures (a registry, :mod:`engine.models.registry`), the normalizing wrapper and
feature taps.

Every architecture is an ``nn.Module`` mapping normalized inputs to logits and listing its
*feature layers*: the modules whose output is a pre-activation tensor, in forward order,
numbered from 1 as in the DVERGE paper (ResNet-20: 20 layers, LeNet-5: 5). Methods only
ever ask for "layer l", never for an architecture's internals.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .layers import activation
from .registry import ARCHITECTURES, register_architecture


class Normalizer(nn.Module):
    """Per-channel ``(x - mean) / std`` inside the model, so inputs stay in [0, 1]."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)


class Classifier(nn.Module):
    """``normalizer`` + ``model``: the state-dict layout of the DVERGE reference code."""

    def __init__(self, model: nn.Module, mean, std):
        super().__init__()
        self.normalizer = Normalizer(mean, std)
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.normalizer(x))

    def feature_layers(self) -> list[nn.Module]:
        return self.model.feature_layers()


#: ``validate_arch(name)``: ``name`` if it is an architecture, else
#: :class:`engine.registry.UnknownName` listing the choices.
validate_arch = ARCHITECTURES.check


def build_classifier(arch: str, *, channels: int, num_classes: int, mean, std,
                     leaky: bool = False) -> Classifier:
    """A fresh member: architecture ``arch`` behind a normalizer. ``leaky`` swaps ReLU
    for leaky ReLU (slope 0.1), which GAL needs so input gradients do not vanish."""
    return Classifier(ARCHITECTURES.get(arch)(channels, num_classes, leaky), mean, std)


def inference_copy(model: Classifier) -> Classifier:
    """A frozen eval-mode copy for evaluation attacks, with BatchNorm folded into the
    convolutions where the architecture offers it (``fold_batchnorm``): the same function
    up to float rounding, about a quarter faster to attack for a ResNet on CPU. Never
    train it: its folded weights are not the model's parameters."""
    clone = copy.deepcopy(model).eval()
    if hasattr(clone.model, "fold_batchnorm"):
        with torch.no_grad():
            clone.model.fold_batchnorm()
    for p in clone.parameters():  # after folding, which makes new parameters
        p.requires_grad_(False)
    return clone


__all__ = ["ARCHITECTURES", "Classifier", "Normalizer", "activation", "build_classifier",
           "inference_copy", "register_architecture", "validate_arch"]
