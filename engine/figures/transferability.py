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

from . import binomial_se, binomial_se_bound, seed_std, side_by_side


def _axes(k: int) -> tuple[list[str], list[str]]:
    return [f"member {j}" for j in range(k)] + ["ensemble"], [f"member {i}" for i in range(k)]


def _title(label: str, r: dict) -> str:
    if r.get("n_seeds"):
        std = seed_std(r, "off_diagonal_mean", default=0.0)
        return (f"{label}<br>ε={r['eps']}, off-diag mean {r['off_diagonal_mean']:.2f} ± {std:.2f} · "
                f"{r['n_seeds']} seeds, n={r['samples']} each")
    return (f"{label}<br>ε={r['eps']}, off-diag mean {r['off_diagonal_mean']:.2f} · "
            f"n={r['samples']}, SE ≤ {binomial_se_bound(r['samples']):.2f}")


def _spread(r: dict, z: list[list[float]]) -> list[list[float]] | None:
    """Per cell std over seeds (the matrix plus the ensemble column), or None for one run."""
    matrix, ensemble = seed_std(r, "matrix"), seed_std(r, "ensemble")
    if not r.get("n_seeds") or not isinstance(matrix, list) or not isinstance(ensemble, list):
        return None
    return [[float(s or 0.0) for s in row] + [float(ensemble[i] or 0.0)] for i, row in enumerate(matrix)]


def transferability_figure(results, **_view) -> go.Figure:
    titles = [_title(label, r) for label, r in results]
    fig = side_by_side(results, titles=titles)
    for e, (_label, r) in enumerate(results):
        k = len(r["matrix"])
        xs, ys = _axes(k)
        z = [row + [r["ensemble"][i]] for i, row in enumerate(r["matrix"])]
        spread = _spread(r, z)
        if spread is None:  # one run: ±1 binomial SE of each rate
            text = [[f"{v:.2f}" for v in row] for row in z]
            spread, what = [[binomial_se(v, r["samples"]) for v in row] for row in z], "1 SE"
        else:  # a seed group: mean ± std over seeds, written in each cell
            text = [[f"{v:.2f}<br>±{s:.2f}" for v, s in zip(row, srow)] for row, srow in zip(z, spread)]
            what = f"1 std over {r['n_seeds']} seeds"
        fig.add_trace(go.Heatmap(z=z, x=xs, y=ys, zmin=0, zmax=1, colorscale="Reds", showscale=e == 0,
                                 colorbar=dict(title="attack<br>success"), text=text,
                                 texttemplate="%{text}", customdata=spread,
                                 hovertemplate="source %{y} → %{x}: %{z:.3f} ± %{customdata:.3f} (" + what
                                 + ")<extra></extra>"),
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


def transferability_slider_figure(grid, active: int = 0) -> go.Figure:
    """The heatmaps of every ε of a precomputed grid in one figure, with Plotly's own ε
    slider under it: the whole grid is sent to the browser once and a slider move
    restyles the heatmaps there, with no request to the server (issue 14, item 8).

    ``grid`` is ``[(eps, results), ...]`` (every ε with the same ensembles, in order),
    ``active`` the index shown first. The click markers' ``customdata`` gain the ε index,
    ``(ensemble, source, target, ε index)``, so a click after a slider move names the ε
    whose cell was clicked. Exports use :func:`transferability_figure` at one ε."""
    figures = [transferability_figure(results) for _eps, results in grid]
    fig = go.Figure(figures[active])
    heat = [i for i, t in enumerate(fig.data) if t.type == "heatmap"]
    cells = [i for i, t in enumerate(fig.data) if t.type == "scatter"]
    for n, f in enumerate(figures):  # markers carry the ε index of their step
        for i in cells:
            f.data[i].customdata = [list(c) + [n] for c in f.data[i].customdata]
    for i in cells:
        fig.data[i].customdata = figures[active].data[i].customdata
    steps = []
    for n, ((eps, _results), f) in enumerate(zip(grid, figures)):
        traces = heat + cells
        data = {"z": [f.data[i].z for i in heat] + [None] * len(cells),
                "text": [f.data[i].text for i in heat] + [None] * len(cells),
                "customdata": [f.data[i].customdata for i in traces]}
        steps.append({"method": "update", "label": f"{eps:g}",
                      "args": [data, {"annotations": [a.to_plotly_json() for a in f.layout.annotations]}, traces]})
    fig.update_layout(sliders=[{"active": active, "steps": steps, "currentvalue": {"prefix": "ε = "},
                                "pad": {"t": 40}, "len": 1.0, "x": 0, "xanchor": "left"}],
                      height=fig.layout.height + 110, margin=dict(fig.layout.margin.to_plotly_json(), b=20))
    return fig
