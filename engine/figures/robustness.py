"""White-box and black-box accuracy vs ε overlaid (DVERGE Fig. 4): one colour per
ensemble, solid = white-box, dashed = black-box, on one shared axis."""
from __future__ import annotations

import plotly.graph_objects as go

from . import color


def robustness_figure(whitebox_results, blackbox_results) -> go.Figure:
    fig = go.Figure()
    for kind, results, dash in (("white-box", whitebox_results, "solid"), ("black-box", blackbox_results, "dash")):
        for label, r in results:
            i = [lbl for lbl, _ in whitebox_results + blackbox_results].index(label)
            fig.add_trace(go.Scatter(x=r["eps"], y=[100 * a for a in r["accuracy"]], mode="lines+markers",
                                     name=f"{label} · {kind}", line=dict(color=color(i), dash=dash, width=2),
                                     hovertemplate=f"{label} {kind}<br>ε=%{{x:g}}: %{{y:.1f}}%<extra></extra>"))
    fig.update_layout(title="Accuracy vs ε: white-box (solid) and black-box transfer (dashed)",
                      xaxis_title="L∞ budget ε (images in [0, 1])", yaxis_title="ensemble accuracy (%)",
                      yaxis=dict(range=[0, 100]), height=460, margin=dict(l=60, r=20, t=60, b=50))
    return fig
