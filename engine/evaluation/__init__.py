"""Evaluations of trained ensembles as pure computations: tensors (and an ensemble) in,
numbers, arrays and dicts out. They know nothing of configs, caches, figures or the CLI:
:mod:`engine.analyses` binds each one to its typed config, figure and table builders.
"""
from __future__ import annotations


class AnalysisError(ValueError):
    """Bad analysis request (unknown name, invalid config, unusable checkpoint); the
    message says what to change."""


__all__ = ["AnalysisError"]
