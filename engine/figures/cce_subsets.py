"""CCE Table 6 as grouped bars: one panel per compared ensemble, the metrics on the x axis
(|S11|, |S10|, |S01|, |S00| under PGD on the ensemble, then T, nT, a_single), one bar per
member pair, all in % of the test images; a^(en,en) is the dashed line."""
from __future__ import annotations

import plotly.graph_objects as go

from . import color, side_by_side

METRICS = [("s11", "|S11|"), ("s10", "|S10|"), ("s01", "|S01|"), ("s00", "|S00|"), ("T", "T"), ("nT", "nT"),
           ("a_single", "a<sub>single</sub>")]


def cce_subsets_figure(results, **_view) -> go.Figure:
    titles = [f"{label}<br>PGD-{r['steps']}, ε={r['eps']:g}: a(en,en) {100 * r['a_en']:.1f}%"
              for label, r in results]
    labelled = len(results) <= 2  # bar values stay legible up to two panels
    fig = side_by_side(results, titles=titles, shared_yaxes=True)
    names = [name for _, name in METRICS]
    seen_pairs: set = set()
    for e, (_label, r) in enumerate(results):
        for p, pair in enumerate(r["pairs"]):
            key = (pair["i"], pair["j"])
            fig.add_trace(go.Bar(
                x=names, y=[100 * pair[m] for m, _ in METRICS], name=f"members {pair['i']} & {pair['j']}",
                legendgroup=str(key), showlegend=key not in seen_pairs, marker_color=color(p),
                text=[f"{100 * pair[m]:.0f}" for m, _ in METRICS] if labelled else None,
                textposition="outside", textfont=dict(size=10),
                hovertemplate=f"members {pair['i']} & {pair['j']}<br>%{{x}} = %{{y:.1f}}%<extra></extra>"),
                row=1, col=e + 1)
            seen_pairs.add(key)
        fig.add_hline(y=100 * r["a_en"], line=dict(dash="dash", color="grey"), row=1, col=e + 1)
        fig.add_vline(x=3.5, line=dict(color="lightgrey"), row=1, col=e + 1)
    fig.update_yaxes(title_text="% of test images", row=1, col=1)
    fig.update_xaxes(tickangle=0, tickfont=dict(size=12 if labelled else 10))
    fig.update_annotations(font_size=12)  # the subplot titles
    fig.update_layout(barmode="group", height=520, margin=dict(l=60, r=20, t=150, b=40),
                      title=dict(text="CCE subsets per member pair (Table 6)<br><sup>S_ab on PGD examples of the "
                                 "ensemble: a = first member right, b = second right. T = a(i,j) − a(i,i) + a(j,i) − "
                                 "a(j,j) (smaller = more transferable)<br>nT = 1 − a(en,en) − |S00|, a_single = "
                                 "a(en,en) − |S11|; dashed: a(en,en)</sup>", font=dict(size=15)),
                      legend=dict(orientation="h", yanchor="top", y=-0.08, xanchor="center", x=0.5))
    return fig


def cce_subsets_table(results) -> list[dict]:
    rows = []
    for label, r in results:
        for pair in r["pairs"]:
            rows.append({"ensemble": label, "method": r.get("method"), "dataset": r.get("dataset"), "eps": r["eps"],
                         "pair": f"{pair['i']}-{pair['j']}", "a_en": r["a_en"],
                         "a_ii": r["cross"][pair["i"]][pair["i"]], "a_jj": r["cross"][pair["j"]][pair["j"]],
                         "a_ij": r["cross"][pair["i"]][pair["j"]], "a_ji": r["cross"][pair["j"]][pair["i"]],
                         **{m if m in ("T", "nT", "a_single") else f"|{m.upper()}|": pair[m] for m, _ in METRICS}, "nT_counted": pair["nT_counted"],
                         "a_single_counted": pair["a_single_counted"], "samples": r["samples"], "steps": r["steps"]})
    return rows
