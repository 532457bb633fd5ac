"""AutoAttack (Croce & Hein 2020): robust accuracy left after each component, one line per
compared ensemble, so a reader sees which attack breaks the samples the previous ones
missed (a large drop at Square, the gradient-free one, signals gradient masking)."""
from __future__ import annotations

import plotly.graph_objects as go

from . import color


def protocol_text(r: dict) -> str:
    norm = "L∞" if r["norm"] == "linf" else "L2"
    return f"AutoAttack {r['version']}, {norm} ε={r['eps']:g}, {r['samples']} samples"


def autoattack_figure(results, **_view) -> go.Figure:
    fig = go.Figure()
    for i, (label, r) in enumerate(results):
        steps = ["clean"] + [c["component"] for c in r["components"]]
        values = [100 * r["clean_accuracy"]] + [100 * c["robust_accuracy_after"] for c in r["components"]]
        fig.add_trace(go.Scatter(x=steps, y=values, mode="lines+markers", name=label,
                                 line=dict(color=color(i), width=2), marker=dict(size=8),
                                 hovertemplate=f"{label}<br>after %{{x}}: %{{y:.1f}}%<extra></extra>"))
    protocols = sorted({protocol_text(r) for _, r in results})
    fig.update_layout(
        title=dict(text="AutoAttack: accuracy left after each component<br><sup>" + "; ".join(protocols)
                   + " — robust only if every component fails</sup>"),
        xaxis_title="component (run in order, each on the samples still robust)",
        yaxis_title="ensemble accuracy (%)", yaxis=dict(range=[0, 100]), height=440,
        margin=dict(l=60, r=20, t=80, b=50))
    return fig


def autoattack_table(results) -> list[dict]:
    rows = []
    for label, r in results:
        row = {"ensemble": label, "method": r.get("method"), "dataset": r.get("dataset"), "norm": r["norm"],
               "eps": r["eps"], "version": r["version"], "samples": r["samples"],
               "clean_accuracy": r["clean_accuracy"], "robust_accuracy": r["robust_accuracy"]}
        for c in r["components"]:
            row[f"after_{c['component']}"] = c["robust_accuracy_after"]
        rows.append(row)
    return rows
