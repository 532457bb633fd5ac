"""Decision-region slices (DVERGE Fig. 1 / 7): one categorical heatmap per member and one
for the ensemble, one row per compared ensemble, all on the same axes (vertical: the
surrogate's adversarial direction, horizontal: a random Rademacher direction) with a
legend of class names and the clean image at the origin (marked ×)."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from . import class_name, image_trace

HOVER_NAMES_UP_TO = 101  # grid points per axis


def class_colors(n: int) -> list[str]:
    palette = qualitative.Plotly if n <= 10 else qualitative.Alphabet
    return [palette[i % len(palette)] for i in range(n)]


def _colorscale(colors: list[str]) -> list:
    """Piecewise-constant scale: class c fills [c/n, (c+1)/n] for z in [-0.5, n-0.5]."""
    n, scale = len(colors), []
    for c, col in enumerate(colors):
        scale += [[c / n, col], [(c + 1) / n, col]]
    return scale


def _short(label: str, limit: int = 26) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "…"


def decision_region_figure(results, **_view) -> go.Figure:
    n_classes = len(results[0][1]["classes"])
    colors = class_colors(n_classes)
    cols = 1 + max(r["k"] for _, r in results) + 1
    titles = []
    for label, r in results:
        names = [f"member {k}" for k in range(r["k"])] + ["ensemble"]
        names += [""] * (cols - 1 - len(names))
        titles += [f"<b>{_short(label)}</b><br>#{r['index']} {class_name(r, r['label'])}"]
        titles += [f"{n}<br>pred {class_name(r, r['clean_prediction'][i])}" if n else ""
                   for i, n in enumerate(names)]
    fig = make_subplots(rows=len(results), cols=cols, subplot_titles=titles, horizontal_spacing=0.075,
                        vertical_spacing=0.12 / max(len(results), 1) + 0.06,
                        column_widths=[0.7] + [1.0] * (cols - 1))
    seen = set()
    for row, (_label, r) in enumerate(results, start=1):
        fig.add_trace(image_trace(r["image"] / 255.0), row=row, col=1)
        offsets = r["offsets"]
        for m, region in enumerate(r["regions"]):
            # class names on hover only for modest grids: they would multiply the HTML size
            named = len(offsets) <= HOVER_NAMES_UP_TO
            text = [[class_name(r, int(c)) for c in line] for line in region] if named else None
            fig.add_trace(go.Heatmap(z=region, x=offsets, y=offsets, zmin=-0.5, zmax=n_classes - 0.5,
                                     colorscale=_colorscale(colors), showscale=False, text=text,
                                     hovertemplate="adv %{y:.3f}, rand %{x:.3f}: "
                                                   + ("%{text}" if named else "class %{z}") + "<extra></extra>"),
                          row=row, col=m + 2)
            fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers", showlegend=False, hoverinfo="skip",
                                     marker=dict(symbol="x-thin", size=10, line=dict(width=2, color="black"))),
                          row=row, col=m + 2)
            seen.update(int(c) for c in set(region.flatten().tolist()))
            fig.update_xaxes(range=[offsets[0], offsets[-1]], constrain="domain", row=row, col=m + 2,
                             title_text="random (Rademacher) →" if row == len(results) else None)
            fig.update_yaxes(range=[offsets[0], offsets[-1]], constrain="domain", scaleanchor=f"x{'' if (row - 1) * cols + m + 2 == 1 else (row - 1) * cols + m + 2}",
                             row=row, col=m + 2, showticklabels=m == 0,
                             title_text="adversarial →" if m == 0 else None)
        fig.update_xaxes(visible=False, row=row, col=1)
        fig.update_yaxes(visible=False, autorange="reversed", scaleanchor=f"x{'' if (row - 1) * cols + 1 == 1 else (row - 1) * cols + 1}",
                         row=row, col=1)
    true = {r["label"] for _, r in results}
    for c in sorted(seen):
        name = class_name(results[0][1], c) + (" (true)" if c in true else "")
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, showlegend=True,
                                 marker=dict(symbol="square", size=12, color=colors[c])))
    surrogates = {r["surrogate_name"] for _, r in results}
    if len(surrogates) == 1:
        axis = f"vertical: adversarial direction of {surrogates.pop()}"
    else:
        axis = "vertical: each row's own adversarial direction (no shared surrogate: axes differ between rows)"
    first = results[0][1]
    rules = {r.get("index_rule") for _, r in results} - {None}
    image = f"<br>image: {rules.pop()}" if len(rules) == 1 else ("<br>image: see each row" if rules else "")
    fig.update_layout(
        title=dict(text=f"Decision regions in the L∞ ball of radius {first['extent']:g} ({axis}; "
                        f"horizontal: seeded Rademacher vector; × = clean image){image}", font_size=12, x=0.01),
        height=250 * len(results) + 120, width=max(230 * cols + 160, 700),
        margin=dict(l=50, r=10, t=100, b=50), legend=dict(title="predicted class"))
    fig.update_annotations(font_size=11)
    return fig


def decision_region_table(results) -> list[dict]:
    rows = []
    for label, r in results:
        for m in range(r["k"] + 1):
            rows.append({"ensemble": label, "method": r.get("method"), "dataset": r.get("dataset"),
                         "index": r["index"], "true_class": class_name(r, r["label"]),
                         "model": f"member {m}" if m < r["k"] else "ensemble",
                         "clean_prediction": class_name(r, r["clean_prediction"][m]),
                         "true_class_fraction": r["true_class_fraction"][m],
                         "flip_distance_adversarial": r["flip_distance"][m], "extent": r["extent"],
                         "resolution": r["resolution"], "surrogate": r["surrogate_name"]})
    return rows
