"""Figure builders: analysis results -> Plotly figures (one module per analysis).

Every builder takes ``results``, a list of ``(label, result)`` pairs (1-4 ensembles
compared side by side), plus optional view arguments, and returns a ``go.Figure``; the
matching ``*_table`` gives the rows exported as CSV. Pages and ``python -m engine export``
use the same builders, so what is exported is what is shown.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..evaluation.seeds import seed_std

PALETTE = qualitative.Plotly


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def binomial_se(rate: float, n: int) -> float:
    """Standard error of a rate measured on n independent samples: sqrt(p(1-p)/n)."""
    return float((max(rate, 0.0) * max(1.0 - rate, 0.0) / max(n, 1)) ** 0.5)


def binomial_se_bound(n: int) -> float:
    """The largest binomial standard error on n samples (at p = 0.5): 0.5/sqrt(n)."""
    return 0.5 / max(n, 1) ** 0.5


def error_bars(result: dict, values, *path) -> tuple[list[float], str]:
    """Error bars for ``values`` (rates, ``result[path...]``): the std over seeds of a
    seed-group result, else ±1 binomial SE of each rate on the result's samples; and what
    they are, for the caption."""
    std = seed_std(result, *path)
    if isinstance(std, list) and len(std) == len(values):
        return [float(s or 0.0) for s in std], f"±1 std over {result.get('n_seeds')} seeds"
    return [binomial_se(v, result["samples"]) for v in values], "±1 binomial SE"


def side_by_side(results, titles=None, **kwargs) -> go.Figure:
    """One subplot column per compared ensemble."""
    n = max(len(results), 1)
    return make_subplots(rows=1, cols=n, subplot_titles=titles or [label for label, _ in results],
                         horizontal_spacing=0.08 if n > 1 else 0.0, **kwargs)


def image_grid(images, rows: int, cols: int, titles, height_per_row: int = 170) -> go.Figure:
    """Images (each [C, H, W] in [0, 1] or [H, W] signed maps) laid out on a grid."""
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.02, vertical_spacing=0.08)
    for idx, img in enumerate(images):
        if img is None:
            continue
        r, c = divmod(idx, cols)
        fig.add_trace(image_trace(img), row=r + 1, col=c + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    fig.update_layout(height=max(height_per_row * rows + 60, 240), margin=dict(l=10, r=10, t=40, b=10))
    return fig


def image_trace(img) -> go.BaseTraceType:
    """A [C, H, W] image in [0, 1] as an RGB/grey image trace."""
    a = np.asarray(img, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = np.transpose(a, (1, 2, 0))
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return go.Image(z=(np.clip(a, 0, 1) * 255).astype(np.uint8), hoverinfo="skip")


def class_name(result: dict, index: int) -> str:
    classes = result.get("classes")
    return classes[index] if classes and 0 <= index < len(classes) else str(index)
