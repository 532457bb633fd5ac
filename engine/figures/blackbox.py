"""Black-box transfer accuracy vs ε (DVERGE Fig. 4, left; App. Table 4): one line per
compared ensemble on shared axes, its clean accuracy drawn at ε = 0. With the view option
``attack="pgd-momentum/ce"`` (any key of ``per_attack``) the lines show that attack alone
instead of the all-or-nothing accuracy over every attack."""
from __future__ import annotations

import plotly.graph_objects as go

from . import color, error_bars, seed_std


def _curve(result: dict, attack: str | None) -> list[float]:
    if attack is None:
        return result["accuracy"]
    if attack not in result["per_attack"]:
        raise ValueError(f"attack {attack!r} not in this result; choose from {', '.join(result['per_attack'])}")
    return result["per_attack"][attack]


def blackbox_figure(results, attack: str | None = None, **_view) -> go.Figure:
    fig = go.Figure()
    bars_kinds = set()
    for e, (label, r) in enumerate(results):
        xs = [0.0] + list(r["eps"])
        ys = [r["clean_accuracy"]] + list(_curve(r, attack))
        curve_path = ("accuracy",) if attack is None else ("per_attack", attack)
        clean_bar, _ = error_bars(r, [r["clean_accuracy"]], "clean_accuracy")
        if r.get("n_seeds"):  # a seed group: the std of the clean accuracy over seeds
            clean_bar = [seed_std(r, "clean_accuracy", default=0.0)]
        bars, kind = error_bars(r, list(_curve(r, attack)), *curve_path)
        bars_kinds.add(kind)
        bars = clean_bar + bars
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=label, line=dict(color=color(e)),
                                 error_y=dict(type="data", array=bars, thickness=1, width=3),
                                 hovertemplate="ε=%{x}: accuracy %{y:.3f}<extra>" + label + "</extra>"))
    first = results[0][1] if results else {}
    surrogates = ", ".join(f"{s['name']} ({s['members']}x{s['arch']})" for s in first.get("surrogates", []))
    pairs = len(first.get("per_attack", {}))
    what = attack or f"all-or-nothing over {pairs} attack/loss pair{'s' if pairs != 1 else ''}"
    skipped = "; ".join(sorted({f"{s['attack']} skipped ({s['reason']})" for s in first.get("skipped", [])}))
    fig.update_layout(
        title=dict(text=f"Black-box transfer accuracy ({what})<br><sup>surrogates: {surrogates}; "
                        f"{first.get('steps')} iterations, {first.get('samples')} samples (bars: {'; '.join(sorted(bars_kinds))}); ε=0 is clean accuracy"
                        + (f"<br>{skipped}" if skipped else "") + "</sup>",
                   font=dict(size=14)),
        xaxis_title="ε (L∞)", yaxis_title="accuracy", yaxis=dict(range=[0, 1.02]), height=420,
        margin=dict(l=10, r=10, t=100, b=10), legend=dict(orientation="h", y=-0.2))
    return fig


def blackbox_table(results) -> list[dict]:
    rows = []
    for label, r in results:
        for i, eps in enumerate(r["eps"]):
            row = {"ensemble": label, "method": r.get("method"), "dataset": r.get("dataset"), "eps": eps,
                   "accuracy": r["accuracy"][i], "clean_accuracy": r["clean_accuracy"], "samples": r["samples"],
                   "steps": r["steps"], "surrogates": ";".join(s["name"] for s in r["surrogates"])}
            row.update({f"accuracy[{k}]": v[i] for k, v in r["per_attack"].items()})
            rows.append(row)
    return rows
