"""CCE Table 6 as grouped bars: one column of panels per compared ensemble, one bar per
member pair. Top: the sizes |S11|, |S10|, |S01|, |S00| under PGD on the ensemble, nT and
a_single, all fractions of the test images (in %); a^(en,en) is the dashed line. Below,
on its own axis: T, a sum of accuracy differences (percentage points, it can exceed 100),
which is not a fraction of the images."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import color

METRICS = [("s11", "|S11|"), ("s10", "|S10|"), ("s01", "|S01|"), ("s00", "|S00|"), ("T", "T"), ("nT", "nT"),
           ("a_single", "a<sub>single</sub>")]
SHARES = [m for m in METRICS if m[0] != "T"]  # fractions of the test images


def cce_subsets_figure(results, **_view) -> go.Figure:
    titles = [f"{label}<br>PGD-{r['steps']}, ε={r['eps']:g}, {r['samples']} images: a(en,en) {100 * r['a_en']:.1f}%"
              for label, r in results] + [""] * len(results)
    labelled = len(results) <= 2  # bar values stay legible up to two panels
    n = max(len(results), 1)
    fig = make_subplots(rows=2, cols=n, subplot_titles=titles, shared_yaxes="rows", row_heights=[0.7, 0.3],
                        vertical_spacing=0.14, horizontal_spacing=0.08 if n > 1 else 0.0)
    seen_pairs: set = set()
    for e, (_label, r) in enumerate(results):
        for p, pair in enumerate(r["pairs"]):
            key = (pair["i"], pair["j"])
            name = f"members {pair['i']} & {pair['j']}"
            for row, metrics, unit in ((1, SHARES, "%"), (2, [("T", "T")], " pp")):
                values = [100 * pair[m] for m, _ in metrics]
                fig.add_trace(go.Bar(
                    x=[label for _, label in metrics], y=values, name=name, legendgroup=str(key),
                    showlegend=key not in seen_pairs and row == 1, marker_color=color(p),
                    text=[f"{v:.0f}" for v in values] if labelled else None, textposition="outside",
                    textfont=dict(size=10), cliponaxis=False,
                    hovertemplate=f"{name}<br>%{{x}} = %{{y:.1f}}{unit}<extra></extra>"),
                    row=row, col=e + 1)
            seen_pairs.add(key)
        fig.add_hline(y=100 * r["a_en"], line=dict(dash="dash", color="grey"), row=1, col=e + 1)
        fig.add_vline(x=3.5, line=dict(color="lightgrey"), row=1, col=e + 1)
    fig.update_yaxes(title_text="% of test images", row=1, col=1)
    fig.update_yaxes(title_text="T (% points)", row=2, col=1)
    fig.update_xaxes(tickangle=0, tickfont=dict(size=12 if labelled else 10))
    fig.update_annotations(font_size=12)  # the subplot titles
    fig.update_layout(barmode="group", height=640, margin=dict(l=60, r=20, t=150, b=40),
                      title=dict(text="CCE subsets per member pair (Table 6)<br><sup>S_ab on PGD examples of the "
                                 "ensemble: a = first member right, b = second right; nT = 1 − a(en,en) − |S00|, "
                                 "a_single = a(en,en) − |S11|; dashed: a(en,en)<br>below: T = a(i,j) − a(i,i) + "
                                 "a(j,i) − a(j,j), accuracy differences (smaller = more transferable)</sup>",
                                 font=dict(size=15)),
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
