"""White-box and black-box accuracy vs ε overlaid (DVERGE Fig. 4): one colour per
ensemble, solid = white-box, dashed = black-box, on one shared axis."""
from __future__ import annotations

import plotly.graph_objects as go

from . import color, error_bars


def robustness_figure(whitebox_results, blackbox_results) -> go.Figure:
    fig = go.Figure()
    for kind, results, dash in (("white-box", whitebox_results, "solid"), ("black-box", blackbox_results, "dash")):
        for label, r in results:
            i = [lbl for lbl, _ in whitebox_results + blackbox_results].index(label)
            bars, _ = error_bars(r, r["accuracy"], "accuracy")
            fig.add_trace(go.Scatter(x=r["eps"], y=[100 * a for a in r["accuracy"]], mode="lines+markers",
                                     error_y=dict(type="data", array=[100 * b for b in bars], thickness=1, width=3),
                                     name=f"{label} · {kind}", line=dict(color=color(i), dash=dash, width=2),
                                     hovertemplate=f"{label} {kind}<br>ε=%{{x:g}}: %{{y:.1f}}%<extra></extra>"))
    seeds = any(r.get("n_seeds") for _, r in whitebox_results + blackbox_results)
    fig.update_layout(title="Accuracy vs ε: white-box (solid) and black-box transfer (dashed)"
                      + ("<br><sup>bars: ±1 std over seeds (seed groups), else ±1 binomial SE</sup>" if seeds
                         else "<br><sup>bars: ±1 binomial SE</sup>"),
                      xaxis_title="L∞ budget ε (images in [0, 1])", yaxis_title="ensemble accuracy (%)",
                      yaxis=dict(range=[0, 100]), height=460, margin=dict(l=60, r=20, t=60, b=50))
    return fig
