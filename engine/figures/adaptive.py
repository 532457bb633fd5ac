"""Adaptive ensemble attacks: accuracy under each (attacker, surrogate) pair and their
per-sample worst case, grouped bars per compared ensemble; failed gradient-masking checks
are listed under the title."""
from __future__ import annotations

import plotly.graph_objects as go

from . import color


def adaptive_figure(results, **_view) -> go.Figure:
    fig = go.Figure()
    for i, (label, r) in enumerate(results):
        names = ["clean"] + list(r["attacks"]) + ["worst case"]
        values = [r["clean_accuracy"]] + list(r["attacks"].values()) + [r["worst_case_accuracy"]]
        fig.add_trace(go.Bar(x=names, y=[100 * v for v in values], name=label, marker_color=color(i),
                             hovertemplate=f"{label}<br>%{{x}}: %{{y:.1f}}%<extra></extra>"))
    flags = sorted({f"{label}: {f}" for label, r in results for f in r.get("flags", [])})
    eps = sorted({f"{r['eps']:g}" for _, r in results})
    subtitle = (f"L∞ ε={', '.join(eps)}; worst case = robust to every attack"
                + ("<br>⚠ " + "<br>⚠ ".join(flags[:4]) if flags else " — no gradient-masking flag"))
    fig.update_layout(barmode="group", title=dict(text="Adaptive attacks on the ensemble<br><sup>" + subtitle
                                                  + "</sup>"),
                      yaxis_title="ensemble accuracy (%)", yaxis=dict(range=[0, 100]),
                      height=460 + 16 * min(len(flags), 4), margin=dict(l=60, r=20, t=90 + 16 * min(len(flags), 4),
                                                                        b=80))
    return fig


def adaptive_table(results) -> list[dict]:
    rows = []
    for label, r in results:
        base = {"ensemble": label, "method": r.get("method"), "dataset": r.get("dataset"), "eps": r["eps"],
                "samples": r["samples"]}
        rows.append(dict(base, attack="clean", accuracy=r["clean_accuracy"]))
        rows += [dict(base, attack=name, accuracy=acc) for name, acc in r["attacks"].items()]
        rows.append(dict(base, attack="worst case", accuracy=r["worst_case_accuracy"]))
        rows += [dict(base, attack=f"check: {c['check']}", accuracy=None, passed=c["passed"], detail=c["detail"])
                 for c in r.get("checks", [])]
    return rows
