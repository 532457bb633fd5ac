"""The leaderboard: one row per zoo ensemble of a data set, every robustness number at the
data set's standard ε, each cell traceable to the analysis that produced it.

Columns (all at the data set's standard L∞ ε unless said otherwise):

========================  ===============================================================
``clean_accuracy``        ``whitebox`` at ε = 0 (the same samples as the PGD column)
``pgd``                   ``whitebox``: PGD (quick protocol: 20 steps, 1 start, step ε/5)
``autoattack``            ``autoattack``: standard (or ``quick``) AutoAttack
``adaptive``              ``adaptive``: per-sample worst case of the adaptive attacks
``blackbox``              ``blackbox``: transfer accuracy from the zoo's hold-out surrogates
``transferability``       ``transferability``: within-ensemble off-diagonal transfer rate
``diversity``             ``diversity``: DVERGE Eq. 2 vulnerability diversity (mean over pairs)
``train_seconds``         the checkpoint's ``meta.json`` history (sum of ``train_seconds``)
========================  ===============================================================

Every number comes from :func:`engine.analyses.run`, so it is cached under the
checkpoint's content hash and the full configuration: a leaderboard is cheap once computed,
and ``cached_only=True`` (the app's default view) never computes. Each row's ``sources``
names, per column, the analysis, its configuration and the command that reproduces it.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from pydantic import BaseModel, ConfigDict, Field

Progress = Callable[[int, int, str], None]


class LeaderboardConfig(BaseModel):
    """What a leaderboard is computed with (validated once, at the edge)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = Field("fashion_mnist", description="data set whose zoo ensembles are ranked")
    samples: int = Field(200, ge=1, le=10000, description="test images per analysis")
    quick: bool = Field(False, description="AutoAttack quick variant (labelled) instead of the standard one")
    eps: Optional[float] = Field(None, gt=0, le=1, description="L∞ budget (default: the data set's standard ε)")
    seed: int = Field(0, description="sample selection and random starts")
    seed_groups: bool = Field(False, description="one row per seed group (engine.seed_groups): every number the "
                              "mean over the group's seeds, with its sample std in <column>_std")


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    analysis: str | None  # None: read from the checkpoint's metadata
    config: Callable[[LeaderboardConfig, float], dict]
    value: Callable[[dict, float], float | None]
    higher_is_better: bool = True


def _at(result: dict, eps: float) -> float | None:
    for e, acc in zip(result["eps"], result["accuracy"]):
        if abs(e - eps) < 1e-9:
            return acc
    return None


COLUMNS: list[Column] = [
    Column("clean_accuracy", "clean accuracy", "whitebox", lambda c, e: {"eps": [e], "samples": c.samples,
                                                                         "seed": c.seed},
           lambda r, e: r["clean_accuracy"]),
    Column("pgd", "PGD accuracy", "whitebox", lambda c, e: {"eps": [e], "samples": c.samples, "seed": c.seed},
           lambda r, e: _at(r, e)),
    Column("autoattack", "AutoAttack accuracy", "autoattack",
           lambda c, e: {"eps": e, "samples": c.samples, "seed": c.seed, "quick": c.quick},
           lambda r, e: r["robust_accuracy"]),
    Column("adaptive", "adaptive worst case", "adaptive",
           lambda c, e: {"eps": e, "samples": c.samples, "seed": c.seed, "checks": False},
           lambda r, e: r["worst_case_accuracy"]),
    Column("blackbox", "black-box accuracy", "blackbox",
           lambda c, e: {"eps": [e], "samples": c.samples, "seed": c.seed}, lambda r, e: _at(r, e)),
    Column("transferability", "within-ensemble transferability", "transferability",
           lambda c, e: {"eps": e, "samples": c.samples, "seed": c.seed, "examples": 0},
           lambda r, e: r.get("off_diagonal_mean"), higher_is_better=False),
    Column("diversity", "vulnerability diversity (Eq. 2)", "diversity",
           lambda c, e: {"samples": c.samples, "seed": c.seed, "metrics": ["vulnerability"]},
           lambda r, e: r["metrics"]["vulnerability"]["mean"]),
    Column("train_seconds", "training cost (s)", None, lambda c, e: {}, lambda r, e: None, higher_is_better=False),
]

ROW_FIELDS = ["ensemble", "method", "members", "arch", "shipped", *[c.key for c in COLUMNS]]


def standard_eps(dataset: str) -> float:
    from .data import get_spec

    return get_spec(dataset).attack_eps


def _command(analysis: str, path: str, config: dict) -> str:
    flags = []
    for key, value in config.items():
        if isinstance(value, bool):
            if value:
                flags.append(f"--{key.replace('_', '-')}")
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        flags.append(f"--{key.replace('_', '-')} {value}")
    return f"python -m engine eval {analysis} {path} " + " ".join(flags)


def train_seconds(meta: dict) -> float | None:
    """Sum of the per-epoch ``train_seconds`` in the checkpoint's history (None if unrecorded)."""
    seconds = [h.get("train_seconds") for h in meta.get("history") or []]
    seconds = [s for s in seconds if isinstance(s, (int, float))]
    return float(sum(seconds)) if seconds else None


def entries(dataset: str, roots: list[Path] | None = None) -> list[dict]:
    """The zoo's readable, complete ensembles of ``dataset`` (shipped, trained, imported)."""
    from .zoo import list_ensembles

    return [e for e in list_ensembles(roots) if "error" not in e and e.get("dataset") == dataset
            and e.get("complete", True) is not False]


def leaderboard(config: LeaderboardConfig | dict | None = None, *, cached_only: bool = False,
                roots: list[Path] | None = None, device: str = "auto", data_dir: str | None = None,
                cache=None, progress: Progress | None = None, columns: list[str] | None = None) -> dict:
    """Rows of the leaderboard. With ``cached_only`` a cell whose analysis has not been run
    yet is None (``missing`` lists them); otherwise it is computed (and cached).

    Every row says how many seeds its configuration has in the zoo (``group_size``) and
    whether it is the one that stands for them (``representative``: the lowest seed,
    :func:`engine.seed_groups.collapse`), so a view can list one row per configuration.
    With ``config.seed_groups`` there is one row per seed group instead: each number is the
    mean over the group's seeds (``seeds``, ``seed_paths``) and ``<column>_std`` its sample
    standard deviation (ddof = 1; None for one seed); a cell is None until every seed has it."""
    from . import analyses as registry
    from .seed_groups import collapse

    config = config if isinstance(config, LeaderboardConfig) else LeaderboardConfig(**(config or {}))
    eps = config.eps if config.eps is not None else standard_eps(config.dataset)
    chosen = [c for c in COLUMNS if columns is None or c.key in columns]
    zoo = entries(config.dataset, roots)
    groups = collapse(zoo)
    size = {path: len(g["group"]) for g in groups for path in g["group"]}
    representatives = {g["path"] for g in groups}
    listed = groups if config.seed_groups else zoo
    rows, missing = [], []
    total, done = sum(len(e["group"]) if config.seed_groups else 1 for e in listed) * len(chosen), 0

    def cell(column: Column, path: str, name: str, group: bool) -> tuple[float | None, dict, str | None]:
        """(value, source, error) of one column for one checkpoint."""
        nonlocal done
        done += 1
        if column.analysis is None:
            from .checkpoint import read_meta

            return train_seconds(read_meta(path)), {"analysis": None, "from": "meta.json history (train_seconds)"}, None
        analysis_config = dict(column.config(config, eps), dataset=config.dataset)
        command = _command(column.analysis, path, analysis_config) + (" --group" if group else "")
        source = {"analysis": column.analysis, "config": analysis_config, "command": command}
        try:
            if cached_only:
                result = registry.cached(column.analysis, path, analysis_config, cache=cache)
            else:
                if progress:
                    progress(done - 1, total, f"{name}: {column.analysis}")
                result = registry.run(column.analysis, path, analysis_config, device=device,
                                      data_dir=data_dir, cache=cache)
        except (ValueError, RuntimeError) as exc:  # e.g. no surrogate for the black-box column
            return None, source, str(exc).splitlines()[0]
        if result is None:
            missing.append({"ensemble": name, "column": column.key, "command": _command(
                column.analysis, path, analysis_config), "checkpoint": path})
            return None, source, None
        if column.key == "autoattack":
            source["version"] = result.get("version")
        return column.value(result, eps), source, None

    for entry in listed:
        path = entry["path"]
        paths = entry["group"] if config.seed_groups else [path]
        name = registry.label(path)
        if config.seed_groups and len(paths) > 1:
            name = f"{name} · {len(paths)} seeds"
        row = {"ensemble": name, "path": path, "method": entry.get("method") or "imported",
               "members": entry.get("members"), "arch": entry.get("arch"), "shipped": entry.get("shipped", False),
               "group_size": size.get(path, 1), "representative": path in representatives,
               "sources": {}, "errors": {}}
        if config.seed_groups:
            row["seeds"], row["seed_paths"] = len(paths), list(paths)
        for column in chosen:
            values, errors = [], []
            for seed_path in paths:
                value, source, error = cell(column, seed_path, name if seed_path == path else
                                            f"{name} ({registry.label(seed_path)})", config.seed_groups)
                values.append(value)
                if seed_path == path:
                    row["sources"][column.key] = source
                if error:
                    errors.append(error)
            if errors:
                row["errors"][column.key] = errors[0]
            complete = not errors and all(v is not None for v in values)
            row[column.key] = float(np.mean(values)) if complete and len(values) > 1 else (
                values[0] if complete else None)
            if config.seed_groups:
                row[f"{column.key}_std"] = (float(np.std(values, ddof=1)) if complete and len(values) > 1
                                            else None)
        rows.append(row)
    if progress:
        progress(total, total, "leaderboard")
    return {"dataset": config.dataset, "eps": eps, "samples": config.samples,
            "autoattack_version": "quick" if config.quick else "standard", "seed_groups": config.seed_groups,
            "columns": [{"key": c.key, "title": c.title, "analysis": c.analysis,
                         "higher_is_better": c.higher_is_better} for c in chosen],
            "rows": rows, "missing": missing, "cached_only": cached_only}


def table(board: dict) -> list[dict]:
    """Flat rows (one per ensemble, or per seed group: then with ``seeds`` and each
    column's ``<key>_std`` after it) for CSV/HTML export and the page's table."""
    keys = ["ensemble", "method", "members", "arch", "shipped"]
    if board.get("seed_groups"):
        keys.append("seeds")
        keys += [k for c in board["columns"] for k in (c["key"], f"{c['key']}_std")]
    else:
        keys += [c["key"] for c in board["columns"]]
    return [{k: row.get(k) for k in keys} for row in board["rows"]]


def to_csv(board: dict) -> str:
    rows = table(board)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ROW_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


#: what a number not computed yet reads as in the app's table and the HTML/PNG exports
#: (CSV leaves the field empty, JSON has null)
EMPTY_CELL = "—"


def figure(board: dict):
    """The leaderboard as a Plotly table (PNG/HTML export)."""
    import plotly.graph_objects as go

    rows = table(board)
    headers = list(rows[0]) if rows else ROW_FIELDS

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3f}"
        return EMPTY_CELL if v is None else str(v)

    fig = go.Figure(go.Table(header=dict(values=headers, align="left"),
                             cells=dict(values=[[fmt(r[h]) for r in rows] for h in headers], align="left")))
    fig.update_layout(title=f"Leaderboard: {board['dataset']}, L∞ ε={board['eps']:g}, {board['samples']} samples, "
                            f"AutoAttack {board['autoattack_version']}", height=120 + 28 * max(len(rows), 1),
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


FORMATS = ("csv", "html", "png", "json")


def export_bytes(board: dict, fmt: str) -> bytes:
    """The leaderboard as CSV, HTML (a Plotly table), PNG (kaleido) or JSON bytes."""
    from .export import jsonable

    if fmt == "csv":
        return to_csv(board).encode()
    if fmt == "json":
        return json.dumps(jsonable(board)).encode()
    if fmt == "html":
        return figure(board).to_html(include_plotlyjs="cdn").encode()
    if fmt == "png":
        return figure(board).to_image(format="png", scale=2)
    raise ValueError(f"unsupported leaderboard export '.{fmt}': use .csv, .html, .png or .json")


def export(board: dict, out: str | Path) -> Path:
    """Write the leaderboard as .csv, .html, .png or .json (atomically)."""
    from .atomic import atomic_write_bytes

    out = Path(out)
    data = export_bytes(board, out.suffix.lower().lstrip("."))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, data)
    return out
