"""Seed-group results (mean ± std over seeds) draw error bars: the std over seeds, not the
binomial SE of one run, in the white-box, black-box, overlaid robustness and
transferability figures."""
from __future__ import annotations

import numpy as np
import pytest

from engine.evaluation.seeds import aggregate
from engine.figures import binomial_se
from engine.figures.robustness import robustness_figure
from engine.figures.transferability import transferability_figure
from engine.figures.whitebox import whitebox_figure


def _whitebox(acc):
    return {"eps": [0.0, 0.05, 0.1], "accuracy": acc, "samples": 50, "steps": 5, "restarts": 1, "step_size": 0.02,
            "protocol": "quick", "attack_eps": 0.1}


WHITE = [_whitebox([0.9, 0.5, 0.2]), _whitebox([0.8, 0.6, 0.1]), _whitebox([0.85, 0.4, 0.3])]


def test_whitebox_bars_are_the_std_over_seeds():
    acc = np.array([r["accuracy"] for r in WHITE])
    fig = whitebox_figure([("dverge · 3 seeds", aggregate(WHITE))])
    bars = fig.data[0].error_y.array
    np.testing.assert_allclose(bars, 100 * acc.std(0, ddof=1))
    np.testing.assert_allclose(fig.data[0].y, 100 * acc.mean(0))
    assert "±1 std over 3 seeds" in fig.layout.title.text


def test_one_run_keeps_its_binomial_bars():
    fig = whitebox_figure([("dverge", WHITE[0])])
    np.testing.assert_allclose(fig.data[0].error_y.array, [100 * binomial_se(a, 50) for a in WHITE[0]["accuracy"]])
    assert "binomial SE" in fig.layout.title.text


def test_overlay_bars_are_the_std_over_seeds():
    fig = robustness_figure([("g", aggregate(WHITE))], [])
    np.testing.assert_allclose(fig.data[0].error_y.array,
                               100 * np.array([r["accuracy"] for r in WHITE]).std(0, ddof=1))


def _transfer(m01, m10):
    return {"eps": 0.1, "samples": 40, "steps": 5, "restarts": 1, "matrix": [[1.0, m01], [m10, 1.0]],
            "ensemble": [m01 / 2, m10 / 2], "off_diagonal_mean": (m01 + m10) / 2}


def test_transferability_cells_show_mean_and_std():
    runs = [_transfer(0.1, 0.3), _transfer(0.3, 0.2), _transfer(0.2, 0.4)]
    fig = transferability_figure([("dverge · 3 seeds", aggregate(runs))])
    heat = fig.data[0]
    m01 = np.array([0.1, 0.3, 0.2])
    assert heat.z[0][1] == pytest.approx(m01.mean())
    assert heat.customdata[0][1] == pytest.approx(m01.std(ddof=1))
    assert heat.text[0][1] == f"{m01.mean():.2f}<br>±{m01.std(ddof=1):.2f}"
    assert "std over 3 seeds" in heat.hovertemplate
    off = np.array([r["off_diagonal_mean"] for r in runs])
    assert f"off-diag mean {off.mean():.2f} ± {off.std(ddof=1):.2f} · 3 seeds" in fig.layout.annotations[0].text
