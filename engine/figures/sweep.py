"""A sweep's table as bars: one bar per (method, grid point) for one metric, its mean over
seeds with ± one sample standard deviation as the error bar (what the DVERGE README's
warning about run-to-run variance asks to look at)."""
from __future__ import annotations

import plotly.graph_objects as go

from . import color


def point_label(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def sweep_figure(table: list[dict], metric: str) -> go.Figure:
    fig = go.Figure()
    methods = list(dict.fromkeys(row["method"] for row in table))
    for i, method in enumerate(methods):
        rows = [r for r in table if r["method"] == method and metric in r["metrics"]]
        fig.add_trace(go.Bar(
            x=[point_label(r["params"]) for r in rows], y=[r["metrics"][metric]["mean"] for r in rows],
            error_y=dict(type="data", array=[r["metrics"][metric]["std"] for r in rows], visible=True),
            name=method, marker_color=color(i),
            customdata=[[r["metrics"][metric]["n"], r["metrics"][metric]["std"]] for r in rows],
            hovertemplate=f"{method} · %{{x}}<br>{metric}: %{{y:.4f}} ± %{{customdata[1]:.4f}} "
                          "(n=%{customdata[0]})<extra></extra>"))
    fig.update_layout(title=dict(text=f"{metric}: mean ± std over seeds"), barmode="group",
                      xaxis_title="grid point", yaxis_title=metric, height=420,
                      margin=dict(l=60, r=20, t=60, b=60))
    return fig
