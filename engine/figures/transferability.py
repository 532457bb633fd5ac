"""Transferability heatmaps (DVERGE Fig. 3): one per ensemble, source member on the y
axis, target member (plus the whole ensemble) on the x axis, on a shared 0-1 scale.

Plotly heatmaps report no click events in Streamlit, so each figure carries an invisible
scatter marker at every cell centre whose ``customdata`` is (ensemble index, source,
target); the Transferability page reads clicks from it. The markers use
``hoverinfo="none"`` (no hover label, but Plotly still reports clicks on them);
``"skip"`` would make them invisible to clicks too.
"""
from __future__ import annotations

import plotly.graph_objects as go

from . import binomial_se, binomial_se_bound, side_by_side


def _axes(k: int) -> tuple[list[str], list[str]]:
    return [f"member {j}" for j in range(k)] + ["ensemble"], [f"member {i}" for i in range(k)]


def transferability_figure(results, **_view) -> go.Figure:
    titles = [f"{label}<br>ε={r['eps']}, off-diag mean {r['off_diagonal_mean']:.2f} · "
              f"n={r['samples']}, SE ≤ {binomial_se_bound(r['samples']):.2f}" for label, r in results]
    fig = side_by_side(results, titles=titles)
    for e, (_label, r) in enumerate(results):
        k = len(r["matrix"])
        xs, ys = _axes(k)
        z = [row + [r["ensemble"][i]] for i, row in enumerate(r["matrix"])]
        fig.add_trace(go.Heatmap(z=z, x=xs, y=ys, zmin=0, zmax=1, colorscale="Reds", showscale=e == 0,
                                 colorbar=dict(title="attack<br>success"), text=[[f"{v:.2f}" for v in row] for row in z],
                                 texttemplate="%{text}", customdata=[[binomial_se(v, r["samples"]) for v in row] for row in z],
                                 hovertemplate="source %{y} → %{x}: %{z:.3f} ± %{customdata:.3f} (1 SE)<extra></extra>"),
                      row=1, col=e + 1)
        cells = [(i, j) for i in range(k) for j in range(k + 1)]
        fig.add_trace(go.Scatter(x=[xs[j] for _, j in cells], y=[ys[i] for i, _ in cells], mode="markers",
                                 marker=dict(size=40, opacity=0, symbol="square"), showlegend=False,
                                 customdata=[[e, i, j] for i, j in cells], hoverinfo="none", name="cells"),
                      row=1, col=e + 1)
        fig.update_yaxes(autorange="reversed", title_text="source (attacked member)" if e == 0 else None,
                         row=1, col=e + 1)
        fig.update_xaxes(title_text="target", row=1, col=e + 1)
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=70, b=10), clickmode="event")
    return fig


def transferability_table(results) -> list[dict]:
    rows = []
    for label, r in results:
        k = len(r["matrix"])
        for i in range(k):
            for j in range(k + 1):
                rate = r["matrix"][i][j] if j < k else r["ensemble"][i]
                rows.append({"ensemble": label, "method": r.get("method"), "dataset": r.get("dataset"),
                             "eps": r["eps"], "source": i, "target": j if j < k else "ensemble",
                             "success_rate": rate, "samples": r["samples"], "steps": r["steps"],
                             "restarts": r["restarts"]})
    return rows
