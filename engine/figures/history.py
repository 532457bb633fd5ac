"""Training-history curves vs epoch (DVERGE Fig. 2), one colour per compared ensemble.

Rows (each drawn only when some ensemble recorded it): transferability (solid, left axis)
with DVERGE Eq. 2 diversity (dashed, right axis) -- the paper's figure; clean accuracy
(ensemble solid, members dotted); the other papers' diversity metrics (GAL gradient and SMD
saliency cosines left, ADP log-det right); each member's training loss. ``smooth=N`` draws
a trailing rolling mean over N epochs (the paper uses 30).
"""
from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import color


@dataclass(frozen=True)
class Line:
    key: str
    name: str
    dash: str = "solid"
    secondary: bool = False
    member: bool = False  # a list per epoch: one thin line per member


@dataclass(frozen=True)
class Row:
    title: str
    left: str
    right: str | None
    lines: tuple[Line, ...]


ROWS = (
    Row("Transferability (—, left) and vulnerability diversity DVERGE Eq. 2 (- -, right)",
        "transfer success", "diversity (CE)",
        (Line("transferability", "transferability"),
         Line("vulnerability_diversity", "vulnerability diversity", "dash", secondary=True))),
    Row("Clean accuracy: ensemble (—), members (···)", "accuracy", None,
        (Line("ensemble_clean_accuracy", "ensemble accuracy"),
         Line("member_clean_accuracy", "member accuracy", "dot", member=True))),
    Row("GAL gradient cosine (—), SMD saliency cosine (-·-), left; ADP log-det (···, right)",
        "pair mean cosine", "log det",
        (Line("gradient_cosine", "gradient cosine"), Line("saliency_cosine", "saliency cosine", "dashdot"),
         Line("adp_logdet", "ADP log-det", "dot", secondary=True))),
    Row("Training loss per member (each method's own objective)", "loss", None, (Line("member_loss", "member loss", "solid", member=True),)),
)


def _smooth(values: list, window: int) -> list:
    if window <= 1:
        return values
    out = []
    for i in range(len(values)):
        recent = [v for v in values[max(0, i - window + 1):i + 1] if v is not None]
        out.append(sum(recent) / len(recent) if recent and values[i] is not None else None)
    return out


def _series(rows: list[dict], line: Line) -> list[list]:
    """One list of values per drawn curve (K of them for a per-member key)."""
    if not line.member:
        return [[r.get(line.key) for r in rows]]
    k = max((len(r.get(line.key) or []) for r in rows), default=0)
    return [[(r.get(line.key) or [None] * k)[m] if len(r.get(line.key) or []) > m else None for r in rows]
            for m in range(k)]


def _present(results, row: Row) -> bool:
    return any(r.get(line.key) is not None for _, res in results for r in res["history"] for line in row.lines)


def _missing(results, row: Row) -> str:
    absent = [line.name for line in row.lines
              if not any(r.get(line.key) is not None for _, res in results for r in res["history"])]
    return f"<br><i>not recorded by these checkpoints: {', '.join(absent)}</i>" if absent else ""


def epoch_ticks(results) -> dict:
    """Whole-number epoch ticks: a step of 1, 2, 5, 10, ... giving at most ~10 ticks."""
    last = max((r["epoch"] for _, res in results for r in res["history"]), default=1)
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10 ** 9) if last / s <= 10)
    return dict(tickmode="linear", tick0=0 if step > 1 else 1, dtick=step, tickformat="d")


def history_figure(results, smooth: int | str = 1, **_view) -> go.Figure:
    window = int(smooth)
    rows = [row for row in ROWS if _present(results, row)]
    fig = make_subplots(rows=max(len(rows), 1), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[row.title + _missing(results, row) for row in rows],
                        specs=[[{"secondary_y": row.right is not None}] for row in rows] or [[{}]])
    for r_i, row in enumerate(rows, start=1):
        for e, (label, res) in enumerate(results):
            epochs = [r["epoch"] for r in res["history"]]
            for line in row.lines:
                for m, values in enumerate(_series(res["history"], line)):
                    if all(v is None for v in values):
                        continue
                    name = f"{label}: {line.name}" + (f" {m}" if line.member else "")
                    trace = go.Scatter(x=epochs, y=_smooth(values, window), mode="lines+markers" if len(epochs) < 30
                                       else "lines", name=label, legendgroup=label,
                                       showlegend=r_i == 1 and line is row.lines[0] and m == 0,
                                       line=dict(color=color(e), dash=line.dash, width=1.2 if line.member else 2.2),
                                       marker=dict(size=5), hovertemplate=f"{name}<br>epoch %{{x}}: %{{y:.3f}}<extra></extra>")
                    fig.add_trace(trace, row=r_i, col=1, **({"secondary_y": line.secondary} if row.right else {}))
        fig.update_yaxes(title_text=row.left, row=r_i, col=1, **({"secondary_y": False} if row.right else {}))
        if row.right:
            # own ticks, not synced to the left axis' grid (synced ticks land on values like 6.848)
            fig.update_yaxes(title_text=row.right, row=r_i, col=1, secondary_y=True, showgrid=False,
                             tickmode="auto", nticks=5, tickformat="~r")
    boundaries = sorted({res["pretrain_epochs"] for _, res in results if res.get("pretrain_epochs")})
    for b in boundaries:
        for r_i in range(1, len(rows) + 1):
            fig.add_vline(x=b + 0.5, line=dict(color="grey", dash="dot", width=1), row=r_i, col=1,
                          **(dict(annotation_text="pre-training | training", annotation_position="bottom")
                             if r_i == 1 else {}))
    fig.update_xaxes(title_text="epoch" + (f" (rolling mean of {window})" if window > 1 else ""),
                     row=max(len(rows), 1), col=1)
    fig.update_xaxes(**epoch_ticks(results))
    fig.update_annotations(font_size=13)
    fig.update_layout(height=250 * max(len(rows), 1) + 150, width=900, margin=dict(l=10, r=10, t=60, b=90),
                      legend=dict(orientation="h", y=0.01, yanchor="bottom", yref="container", x=0, xanchor="left"))
    return fig


def history_table(results) -> list[dict]:
    """One row per ensemble and epoch; per-member values as lists."""
    rows = []
    for label, res in results:
        settings = {k: res[k] for k in ("transfer_eps", "transfer_samples", "diversity_eps") if k in res}
        for r in res["history"]:
            rows.append({"ensemble": label, "method": res.get("method"), "dataset": res.get("dataset"), **r, **settings})
    return rows
