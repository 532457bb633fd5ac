"""Mean ± std over the seeds of a seed group (:mod:`engine.seed_groups`), for any
analysis result: pure functions on result trees (dicts, lists, numbers, arrays).

:func:`aggregate` turns the per-seed results of one analysis into one result of the same
shape holding the means, plus ``seed_std`` (the same tree with the sample standard
deviations), so every figure and table builder draws a group unchanged and the builders
that know ``seed_std`` (:func:`seed_std`) draw error bars; :func:`seed_table` adds a
``<column>_std`` to any table builder's rows.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import AnalysisError

def _numeric(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _aggregate(values: list) -> tuple[Any, Any]:
    """(mean, std) trees of one node over seeds. Numbers and equal-length lists of them are
    averaged; dicts recursively (keys all seeds have); numpy arrays (images, predicted
    classes, grids: raw data, not measurements) and everything else come from the first seed,
    with std None."""
    first = values[0]
    if all(_numeric(v) for v in values):
        if all(v == first for v in values):
            return first, 0.0
        a = np.asarray(values, dtype=np.float64)
        return float(a.mean()), float(a.std(ddof=1))
    if all(isinstance(v, dict) for v in values):
        mean, std = {}, {}
        for k in first:
            if all(k in v for v in values):
                mean[k], std[k] = _aggregate([v[k] for v in values])
            else:
                mean[k], std[k] = first[k], None
        return mean, std
    if all(isinstance(v, list) and not isinstance(v, np.ndarray) for v in values) \
            and len({len(v) for v in values}) == 1:
        pairs = [_aggregate([v[i] for v in values]) for i in range(len(first))]
        return [m for m, _ in pairs], [s for _, s in pairs]
    return first, None


def aggregate(results: list[dict], seeds: list[int | None] | None = None,
              checkpoints: list[str] | None = None) -> dict:
    """One result from the per-seed results of a seed group: every measurement (numbers and
    lists of numbers, at any depth) is the mean over seeds, and ``seed_std`` holds the same
    tree with the sample standard deviation (ddof = 1; 0 where all seeds agree, None where
    nothing was averaged). Because the mean has the shape of a single result, every figure
    and table builder draws it unchanged; builders that know ``seed_std`` add error bars."""
    if not results:
        raise AnalysisError("a seed group needs at least one checkpoint")
    mean, std = _aggregate(list(results))
    mean = dict(mean)
    mean["seed_std"] = std
    mean["seeds"] = list(seeds) if seeds is not None else list(range(len(results)))
    mean["n_seeds"] = len(results)
    if checkpoints is not None:
        mean["seed_checkpoints"] = [str(c) for c in checkpoints]
    return mean


def seed_std(result: dict, *path, default=None):
    """The seed standard deviation of ``result[path[0]][path[1]]...``, or ``default`` when
    ``result`` is not a seed-group result (figures use it for error bars)."""
    node = result.get("seed_std")
    for key in path:
        if node is None:
            return default
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return default
    return default if node is None else node


def _with_std(mean: Any, std: Any) -> Any:
    """``mean`` with every varying measurement replaced by its std (for :func:`seed_table`)."""
    if isinstance(mean, dict) and isinstance(std, dict):
        return {k: _with_std(v, std.get(k)) for k, v in mean.items()}
    if isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std):
        return [_with_std(m, s) for m, s in zip(mean, std)]
    if _numeric(mean) and _numeric(std) and std != 0:
        return std
    return mean


def seed_table(table: Callable[[list], list[dict]], results: list) -> list[dict]:
    """``table(results)`` with a ``<column>_std`` after each column that varies over seeds
    (seed-group results only; others' rows are unchanged). Works for any table builder:
    the builder runs once on the means and once on the means with the varying numbers
    replaced by their std, and the columns that differ are the varying ones."""
    rows: list[dict] = []
    for label_, result in results:
        mean_rows = table([(label_, result)])
        if not isinstance(result.get("seed_std"), (dict, list)):
            rows += mean_rows
            continue
        std_rows = table([(label_, _with_std(result, result["seed_std"]))])
        for m, s in zip(mean_rows, std_rows):
            row = {}
            for k, v in m.items():
                row[k] = v
                if _numeric(v) and s.get(k) != v:
                    row[f"{k}_std"] = s.get(k)
            row["seeds"] = result.get("n_seeds")
            rows.append(row)
    return rows


