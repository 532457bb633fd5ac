"""ROC curves of adversarial detection (ADP Fig. 4, CCE Figs. 3-4): one panel per
detection score, the compared ensembles overlaid (colour), one line style per attack, the
AUC in the legend; the dotted diagonal is a detector that guesses."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import color

DASHES = ["solid", "dash", "dot", "dashdot"]
SCORE_TITLES = {"entropy": "ensemble entropy (higher = adversarial)",
                "diversity": "ADP diversity (lower = adversarial)"}


def _scores(results) -> list[str]:
    names: list[str] = []
    for _, r in results:
        for attack in r["attacks"].values():
            names += [s for s in attack["scores"] if s not in names]
    return names


def detection_figure(results, **_view) -> go.Figure:
    scores = _scores(results)
    fig = make_subplots(rows=1, cols=max(len(scores), 1), horizontal_spacing=0.08,
                        subplot_titles=[SCORE_TITLES.get(s, s) for s in scores])
    attacks = list(dict.fromkeys(a for _, r in results for a in r["attacks"]))
    for col, score in enumerate(scores, start=1):
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="grey", width=1),
                                 showlegend=False, hoverinfo="skip"), row=1, col=col)
        for e, (label, r) in enumerate(results):
            for attack, a in r["attacks"].items():
                s = a["scores"].get(score)
                if s is None:
                    continue
                name = f"{label}, {attack.upper()} ε={r['eps']:g}: AUC {s['auc']:.3f}"
                fig.add_trace(go.Scatter(
                    x=s["fpr"], y=s["tpr"], mode="lines", name=name, legendgroup=f"{col}",
                    legendgrouptitle_text=SCORE_TITLES.get(score, score) if e == 0 and attack == attacks[0] else None,
                    line=dict(color=color(e), dash=DASHES[attacks.index(attack) % len(DASHES)], width=2),
                    hovertemplate=f"{label} {attack}<br>FPR %{{x:.3f}}, TPR %{{y:.3f}}<extra></extra>"),
                    row=1, col=col)
        fig.update_xaxes(title_text="false positive rate (benign flagged)", range=[0, 1], row=1, col=col)
        fig.update_yaxes(title_text="true positive rate (adversarial flagged)" if col == 1 else None,
                         range=[0, 1.02], row=1, col=col)
    samples = sorted({r["samples"] for _, r in results})
    fig.update_layout(
        title=dict(text="Detecting adversarial inputs from the ensemble's predictions<br><sup>"
                   f"{'/'.join(map(str, samples))} benign test images vs their adversarial versions "
                   "(attack on the whole ensemble); AUC = P(adversarial scores higher)</sup>"),
        height=520, margin=dict(l=60, r=20, t=90, b=50),
        legend=dict(orientation="h", yanchor="top", y=-0.15, xanchor="left", x=0, groupclick="toggleitem"))
    fig.update_layout(height=520 + 22 * len(results) * len(attacks) * len(scores))
    return fig


def detection_table(results) -> list[dict]:
    rows = []
    for label, r in results:
        for attack, a in r["attacks"].items():
            for score, s in a["scores"].items():
                rows.append({"ensemble": label, "method": r.get("method"), "dataset": r.get("dataset"),
                             "attack": attack, "eps": r["eps"], "score": score,
                             "direction": r.get("directions", {}).get(score), "auc": s["auc"],
                             "benign_mean": s["benign_mean"], "adversarial_mean": s["adversarial_mean"],
                             "clean_accuracy": r["clean_accuracy"],
                             "adversarial_accuracy": a["adversarial_accuracy"], "samples": r["samples"],
                             "steps": r["steps"]})
    return rows
