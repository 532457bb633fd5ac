"""Compatibility shims for third-party libraries: the one place they are applied.

advertorch 0.2.3 (its latest release) imports ``zero_gradients`` from the module
``torch.autograd.gradcheck``, which torch removed in 1.9. ``torch.autograd.gradcheck`` as
an *attribute* is the function ``gradcheck`` (the package re-exports it over the module
name), so the helper must be restored on the module object found in ``sys.modules``.
Import advertorch only through :func:`advertorch` below.
"""
from __future__ import annotations

import importlib
import sys
from types import ModuleType

import torch


def _zero_gradients(x) -> None:
    """The helper torch < 1.9 had: zero the ``.grad`` of a tensor or of every tensor in a
    (nested) iterable."""
    if isinstance(x, torch.Tensor):
        if x.grad is not None:
            x.grad.detach_()
            x.grad.zero_()
    elif isinstance(x, (list, tuple)):
        for elem in x:
            _zero_gradients(elem)


def _restore_zero_gradients() -> None:
    importlib.import_module("torch.autograd.gradcheck")
    module = sys.modules["torch.autograd.gradcheck"]
    if not hasattr(module, "zero_gradients"):
        module.zero_gradients = _zero_gradients


def advertorch() -> ModuleType:
    """Return the ``advertorch.attacks`` module, importable on modern torch."""
    _restore_zero_gradients()
    return importlib.import_module("advertorch.attacks")
