"""Saliency maps side by side (SMD Fig. 1, right): per row one (ensemble, image) pair,
the image then one signed map per member on a diverging scale (red positive, blue
negative, white zero; each map symmetric around zero and scaled to its own largest
|value|, since members' gradient magnitudes differ). Titles give each member's prediction
and its cosine alignment with the other members' true-class saliency maps; the row title
gives the image's SMD Eq. 2 value and mean pairwise cosine."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import class_name, image_trace

CELL = 165
METHOD_NAMES = {"saliency": "saliency ∂f_m(x)[t]/∂x", "integrated_gradients": "Integrated Gradients",
                "smoothgrad": "SmoothGrad"}


def _short(label: str, limit: int = 24) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "…"


def _rows(results):
    for label, r in results:
        for b in range(len(r["indices"])):
            yield label, r, b


def saliency_figure(results, **_view) -> go.Figure:
    rows = list(_rows(results))
    cols = 1 + max(r["k"] for _, r in results)
    titles = []
    for label, r, b in rows:
        cls = class_name(r, r["labels"][b])
        mean = r["mean_alignment"][b]
        titles.append(f"<b>{_short(label)}</b><br>#{r['indices'][b]} {cls} · mean cos {mean:.2f}"
                      if mean == mean else f"<b>{_short(label)}</b><br>#{r['indices'][b]} {cls}")
        for m in range(r["k"]):
            others = ", ".join(f"m{j} {r['alignment'][b][m][j]:.2f}" for j in range(r["k"]) if j != m)
            titles.append(f"member {m} · pred {class_name(r, r['prediction'][m][b])}"
                          + (f"<br>cos {others}" if others else ""))
        titles += [""] * (cols - 1 - r["k"])
    fig = make_subplots(rows=len(rows), cols=cols, subplot_titles=titles, horizontal_spacing=0.02,
                        vertical_spacing=min(0.08, 0.3 / max(len(rows), 1)))
    for i, (_label, r, b) in enumerate(rows, start=1):
        fig.add_trace(image_trace(r["images"][b] / 255.0), row=i, col=1)
        for m in range(r["k"]):
            z = np.asarray(r["maps"][m][b], dtype=np.float32)
            bound = float(np.abs(z).max()) or 1.0
            fig.add_trace(go.Heatmap(z=z, zmin=-bound, zmax=bound, zmid=0, colorscale="RdBu", reversescale=True,
                                     showscale=False, hovertemplate="(%{x}, %{y}): %{z:.3g}<extra></extra>"),
                          row=i, col=m + 2)
    for i in range(1, len(rows) + 1):
        for c in range(1, cols + 1):
            n = (i - 1) * cols + c
            fig.update_xaxes(visible=False, constrain="domain", row=i, col=c)
            fig.update_yaxes(visible=False, autorange="reversed", constrain="domain",
                             scaleanchor=f"x{'' if n == 1 else n}", row=i, col=c)
    first = results[0][1]
    target = "true class" if first["targets"] == first["labels"] else "class " + ", ".join(
        class_name(first, t) for t in sorted(set(first["targets"])))
    method = METHOD_NAMES[first["attribution"]]
    if first["attribution"] == "smoothgrad":
        method += f" (σ={first['noise_std']:g}, {first['nt_samples']} samples)"
    fig.update_annotations(font_size=10)
    fig.update_layout(
        title=dict(text=f"{method} of the {target} per member (red +, blue −, each map scaled to its own max |value|)"
                        "<br>cos = SMD Eq. 2 cosine of true-class saliency maps", font_size=12, x=0.01),
        height=(CELL + 45) * len(rows) + 90, width=max(CELL * cols + 60, 520),
        margin=dict(l=10, r=10, t=105, b=10), plot_bgcolor="white")
    return fig


def saliency_table(results) -> list[dict]:
    out = []
    for label, r, b in _rows(results):
        row = {"ensemble": label, "method": r.get("method"), "dataset": r.get("dataset"), "index": r["indices"][b],
               "true_class": class_name(r, r["labels"][b]), "attribution": r["attribution"],
               "target_class": class_name(r, r["targets"][b]), "smd_loss": r["smd_loss"][b],
               "mean_alignment": r["mean_alignment"][b],
               "ensemble_prediction": class_name(r, r["prediction"][r["k"]][b])}
        for m in range(r["k"]):
            row[f"member{m}_prediction"] = class_name(r, r["prediction"][m][b])
            for j in range(m + 1, r["k"]):
                row[f"cos_{m}_{j}"] = r["alignment"][b][m][j]
        out.append(row)
    return out
