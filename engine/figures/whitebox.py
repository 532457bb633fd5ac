"""White-box accuracy vs ε (DVERGE Fig. 4 right): one line per compared ensemble on a
shared 0-100 % axis, the data set's standard budget marked by a dotted line."""
from __future__ import annotations

import plotly.graph_objects as go

from . import color, error_bars


def whitebox_figure(results, **_view) -> go.Figure:
    fig = go.Figure()
    bars_kinds = set()
    for i, (label, r) in enumerate(results):
        bars, kind = error_bars(r, r["accuracy"], "accuracy")
        bars_kinds.add(kind)
        fig.add_trace(go.Scatter(
            x=r["eps"], y=[100 * a for a in r["accuracy"]], mode="lines+markers", name=label,
            error_y=dict(type="data", array=[100 * b for b in bars], thickness=1, width=3),
            line=dict(color=color(i), width=2), marker=dict(size=7),
            hovertemplate=f"{label}<br>ε=%{{x:g}}: %{{y:.1f}}%<extra></extra>"))
    budgets = {r.get("attack_eps") for _, r in results if r.get("attack_eps") is not None}
    for eps in budgets:
        fig.add_vline(x=eps, line=dict(dash="dot", color="grey"), annotation_text=f"standard ε={eps:g}",
                      annotation_position="top right")
    protocols = sorted({f"PGD-{r['steps']} × {r['restarts']} restart{'s' if r['restarts'] > 1 else ''}, "
                        f"step {r['step_size']}, {r['samples']} samples" for _, r in results})
    fig.update_layout(
        title=dict(text="White-box accuracy vs ε<br><sup>" + "; ".join(protocols)
                   + " — robust only if every restart fails; bars: " + ", ".join(sorted(bars_kinds)) + "</sup>"),
        xaxis_title="L∞ budget ε (images in [0, 1])", yaxis_title="ensemble accuracy (%)",
        yaxis=dict(range=[0, 100]), height=440, margin=dict(l=60, r=20, t=80, b=50),
        legend=dict(yanchor="bottom", y=0.02, xanchor="left", x=0.02, bgcolor="rgba(255,255,255,0.7)"))
    return fig


def whitebox_table(results) -> list[dict]:
    return [{"ensemble": label, "method": r.get("method"), "dataset": r.get("dataset"), "eps": eps,
             "accuracy": acc, "samples": r["samples"], "steps": r["steps"], "restarts": r["restarts"],
             "protocol": r["protocol"]}
            for label, r in results for eps, acc in zip(r["eps"], r["accuracy"])]
