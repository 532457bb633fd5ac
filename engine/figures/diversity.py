"""Diversity figures: per metric, one member-pair heatmap per ensemble (a row per metric,
a column per ensemble, one colour scale per metric shared by the ensembles), or bars of
the pair means with every pair's value as a dot (``kind="bars"``).

The diagonal is left blank: every metric here is a property of two different members
(DVERGE's Eq. 2 diagonal, a member's loss on its own distilled images, is in the table).
"""
from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..evaluation.diversity import METRICS  # what each metric means lives with its computation
from . import color


def _metrics(results, metric: str | None) -> list[str]:
    present = [m for m in METRICS if any(m in r.get("metrics", {}) for _, r in results)]
    if metric is not None:
        if metric not in present:
            raise ValueError(f"metric {metric!r} is not in these results; choose from {', '.join(present)}")
        return [metric]
    return present


def _direction(name: str) -> str:
    return "↑ more diverse" if METRICS[name].higher_is_diverse else "↓ more diverse"


def _name(name: str, sep: str = "<br>") -> str:
    m = METRICS[name]
    return f"{m.title}{sep}{m.reference}, {_direction(name)}"


def _pairs_only(matrix) -> list[list]:
    return [[None if i == j or v is None or (isinstance(v, float) and math.isnan(v)) else v
             for j, v in enumerate(row)] for i, row in enumerate(matrix)]


def _fmt(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


def _cell_title(name: str, entry: dict) -> str:
    whole = f"<br>{METRICS[name].ensemble_label} {_fmt(entry['ensemble'])}" if "ensemble" in entry else ""
    return f"pair mean {_fmt(entry['mean'])}{whole}"


def heatmaps(results, metrics: list[str]) -> go.Figure:
    rows, cols = len(metrics), max(len(results), 1)
    titles = [(f"<b>{label}</b> · {r.get('samples')} images<br>" if r_i == 0 else "")
              + (_cell_title(m, r["metrics"][m]) if m in r.get("metrics", {}) else "not computed")
              for r_i, m in enumerate(metrics) for label, r in results]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles,
                        horizontal_spacing=0.06, vertical_spacing=0.12 if rows > 1 else 0.0)
    for r_i, m in enumerate(metrics):
        values = [v for _, r in results if m in r.get("metrics", {})
                  for row in _pairs_only(r["metrics"][m]["matrix"]) for v in row if v is not None]
        lo, hi = (min(values), max(values)) if values else (0, 1)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        for e, (_label, r) in enumerate(results):
            if m not in r.get("metrics", {}):
                continue
            z = _pairs_only(r["metrics"][m]["matrix"])
            names = [f"member {i}" for i in range(len(z))]
            bar = dict(title=dict(text=_name(m).replace(" ", "<br>", 1), side="top", font=dict(size=11)),
                       len=0.8 / rows, y=1 - (r_i + 0.45) / rows, yanchor="middle", x=1.02, thickness=12)
            fig.add_trace(go.Heatmap(z=z, x=names, y=names, zmin=lo, zmax=hi,
                                     colorscale="Viridis" if METRICS[m].higher_is_diverse else "Viridis_r",
                                     showscale=e == 0, colorbar=bar, text=[[_fmt(v) for v in row] for row in z],
                                     texttemplate="%{text}", hoverongaps=False,
                                     hovertemplate=f"{METRICS[m].title}<br>%{{y}} / %{{x}}: %{{z:.3f}}<extra></extra>"),
                          row=r_i + 1, col=e + 1)
            fig.update_yaxes(autorange="reversed", row=r_i + 1, col=e + 1)
    fig.update_annotations(font_size=13)
    fig.update_layout(height=max(270 * rows + 90, 330), width=240 * cols + 320,
                      margin=dict(l=10, r=150, t=80, b=10))
    return fig


def bars(results, metrics: list[str]) -> go.Figure:
    fig = make_subplots(rows=1, cols=len(metrics), horizontal_spacing=0.1,
                        subplot_titles=[_name(m) for m in metrics])
    for c, m in enumerate(metrics):
        for e, (label, r) in enumerate(results):
            entry = r.get("metrics", {}).get(m)
            if entry is None:
                continue
            fig.add_trace(go.Bar(x=[label], y=[entry["mean"]], marker_color=color(e), name=label, legendgroup=label,
                                 showlegend=c == 0, text=[_fmt(entry["mean"])], textposition="inside",
                                 insidetextanchor="start", textangle=0,
                                 hovertemplate=f"{label}<br>pair mean %{{y:.3f}}<extra></extra>"),
                          row=1, col=c + 1)
            k = len(entry["matrix"])
            pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
            fig.add_trace(go.Scatter(x=[label] * len(pairs), y=[entry["matrix"][i][j] for i, j in pairs],
                                     mode="markers", marker=dict(color="black", size=6, symbol="circle-open"),
                                     name="pairs", showlegend=False, text=[f"members {i}, {j}" for i, j in pairs],
                                     hovertemplate="%{text}: %{y:.3f}<extra></extra>"), row=1, col=c + 1)
        fig.update_xaxes(showticklabels=False, row=1, col=c + 1)
    fig.update_layout(height=420, width=max(300 * len(metrics), 500), barmode="group",
                      legend=dict(orientation="h", y=-0.05, yanchor="top"), margin=dict(l=10, r=10, t=90, b=10))
    return fig


VIEWS = {"heatmaps": heatmaps, "bars": bars}


def diversity_figure(results, kind: str = "heatmaps", metric: str | None = None, **_view) -> go.Figure:
    """``kind``: ``heatmaps`` (pairs, a row per metric) or ``bars`` (pair means, dots per
    pair); ``metric``: show only that one."""
    if kind not in VIEWS:
        raise ValueError(f"unknown diversity view {kind!r}; choose from {', '.join(VIEWS)}")
    return VIEWS[kind](results, _metrics(results, metric))


def diversity_table(results) -> list[dict]:
    """A row per ensemble, metric and member pair (i < j), plus the pair mean and the
    ensemble value; Eq. 2 rows also give both directed losses CE(f_i(x'_{f_j}), y)."""
    rows = []
    for label, r in results:
        base = {"ensemble": label, "method": r.get("method"), "dataset": r.get("dataset"),
                "samples": r.get("samples"), "eps": r.get("eps")}
        for m, entry in r.get("metrics", {}).items():
            k = len(entry["matrix"])
            for i in range(k):
                for j in range(i + 1, k):
                    row = dict(base, metric=m, pair=f"{i}-{j}", value=entry["matrix"][i][j])
                    if "directional" in entry:
                        row.update(loss_i_on_distilled_j=entry["directional"][i][j],
                                   loss_j_on_distilled_i=entry["directional"][j][i])
                    rows.append(row)
            rows.append(dict(base, metric=m, pair="mean", value=entry["mean"]))
            if "ensemble" in entry:
                rows.append(dict(base, metric=m, pair="ensemble", value=entry["ensemble"]))
    return rows
