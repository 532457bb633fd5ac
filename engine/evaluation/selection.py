"""Which test images a per-image analysis looks at (distilled images, decision regions,
saliency maps).

Defaults depend only on the test split and the seed, never on the ensemble, so several
ensembles compared side by side are shown the very same images.
"""
from __future__ import annotations

import torch

from ..data import ImageData
from . import AnalysisError


def check_index(data: ImageData, index: int, field: str) -> int:
    """``index`` if it is a valid test-set index, else an actionable error naming ``field``."""
    if not 0 <= index < len(data):
        raise AnalysisError(f"{field}={index} is out of range: the test set has {len(data)} images "
                            f"(valid: 0..{len(data) - 1})")
    return int(index)


def seeded_indices(data: ImageData, seed: int, n: int = 1, *, salt: int = 0,
                   exclude_label: int | None = None) -> list[int]:
    """``n`` distinct test indices drawn with ``seed`` (``salt`` gives independent draws
    from the same seed); with ``exclude_label``, only images of another class."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + salt)
    order = torch.randperm(len(data), generator=g)
    if exclude_label is not None:
        order = order[data.y[order] != exclude_label]
    if len(order) < n:
        raise AnalysisError(f"the test set has only {len(order)} eligible images, {n} requested")
    return [int(i) for i in order[:n]]
