"""The architecture registry: ``(channels, num_classes, leaky) -> nn.Module`` builders by
name. Each architecture registers itself next to its definition (``@register_architecture``
on a builder, or ``ARCHITECTURES.register_family`` for a pattern such as ``resnet<6n+2>``);
every module of :mod:`engine.models` is imported on first lookup."""
from __future__ import annotations

from typing import Callable

from torch import nn

from ..registry import Registry

ArchBuilder = Callable[[int, int, bool], nn.Module]  # (channels, num_classes, leaky) -> module

ARCHITECTURES: Registry[ArchBuilder] = Registry("architecture", package="engine.models")
register_architecture = ARCHITECTURES.register
