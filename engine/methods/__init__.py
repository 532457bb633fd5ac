"""Training methods, by name. Each is a small class in its own module (see ``base``),
registered with ``@register_method`` next to its definition."""
from __future__ import annotations

from .base import METHODS, Batch, Losses, Method, OptimizerRecipe, Params, register_method

#: The one lookup: ``get_method("dverge")`` is the class; an unknown name raises
#: :class:`engine.registry.UnknownName` listing the choices.
get_method = METHODS.get

__all__ = ["METHODS", "Batch", "Losses", "Method", "OptimizerRecipe", "Params", "get_method", "register_method"]
