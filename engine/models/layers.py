"""Small building blocks shared by the architectures."""
from __future__ import annotations

from torch import nn


def activation(leaky: bool) -> nn.Module:
    """ReLU, or leaky ReLU (slope 0.1), which GAL needs so input gradients do not vanish."""
    return nn.LeakyReLU(0.1) if leaky else nn.ReLU()
