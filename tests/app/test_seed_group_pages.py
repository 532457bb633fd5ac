"""With the sidebar's seed groups on, a selected ensemble stands for its seed group: the
Transferability and Robustness pages compute every seed through their own Compute button
and draw mean ± std (the std over seeds as error bars), with no code of their own."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app import ui
from engine import analyses
from tests.conftest import REPO


@pytest.fixture
def group_zoo(monkeypatch, tmp_path):
    """A zoo whose baseline has a second seed: the shipped baseline (seed 0) and surrogate_3
    (the same quick baseline recipe, seed 100)."""
    shipped = tmp_path / "shipped"
    for name in ("baseline", "surrogate_3", "dverge"):
        shutil.copytree(REPO / "checkpoints" / name, shipped / name)
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("engine.zoo.SHIPPED", shipped)
    # a two-value ε grid: the Transferability page computes its whole grid for every seed
    monkeypatch.setattr(ui, "eps_grid", lambda dataset: [0.05, 0.1])
    # computed in the page (the background-job path is tested with the jobs)
    monkeypatch.setattr("engine.jobs.analysis.runs_as_job", lambda name, expected: False)
    ui.zoo.clear()
    return shipped


def _page(page: str, shipped, **small) -> AppTest:
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=240)
    for key, value in small.items():
        at.session_state[key] = value
    at.session_state["shared_ensembles"] = [str(shipped / "baseline")]
    at.session_state["shared_seed_groups"] = True
    at.switch_page(str(ui.page_path(page)))
    at.run()
    assert not at.exception, at.exception
    at.button(key="run:" + ("transferability" if page == "transferability" else "whitebox")).click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def _per_seed(name, shipped, config):
    return [analyses.cached(name, shipped / n, config) for n in ("baseline", "surrogate_3")]


def test_transferability_page_shows_mean_and_std_over_seeds(group_zoo):
    at = _page("transferability", group_zoo, **{"transferability:samples": 20, "transferability:steps": 2,
                                                "transferability:examples": 0})
    assert "Seeds per selected ensemble: 2" in [c.value for c in at.sidebar.caption]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    heat = next(t for t in spec["data"] if t["type"] == "heatmap")
    config = dict(eps=0.1, samples=20, steps=2, restarts=1, step_size=None, backend="native", examples=0)
    seeds = _per_seed("transferability", group_zoo, config)
    assert all(s is not None for s in seeds)  # every seed computed and cached by the page
    cell = np.array([s["matrix"][0][1] for s in seeds])
    assert heat["z"][0][1] == pytest.approx(cell.mean())
    assert heat["customdata"][0][1] == pytest.approx(cell.std(ddof=1))
    assert heat["text"][0][1] == f"{cell.mean():.2f}<br>±{cell.std(ddof=1):.2f}"
    assert "mean ± std of 2 seeds" in spec["layout"]["annotations"][0]["text"]


def test_robustness_page_draws_white_box_error_bars_from_the_seeds(group_zoo):
    at = _page("robustness", group_zoo, **{"whitebox:samples": 20, "whitebox:steps": "2", "whitebox:restarts": "1",
                                           "whitebox:eps": "0, 0.1"})
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    line = spec["data"][0]
    assert "mean ± std of 2 seeds" in line["name"]
    acc = np.array([r["accuracy"] for r in _per_seed("whitebox", group_zoo, analyses.parse_config(
        analyses.get("whitebox"), {"samples": 20, "steps": 2, "restarts": 1, "eps": [0, 0.1]}))])
    np.testing.assert_allclose(line["y"], 100 * acc.mean(0))
    np.testing.assert_allclose(line["error_y"]["array"], 100 * acc.std(0, ddof=1))
    assert "std over 2 seeds" in spec["layout"]["title"]["text"]


@pytest.fixture
def seeded_zoo(monkeypatch, tmp_path):
    """baseline (seed 0) with surrogate_3 (seed 100), dverge with its shipped seed 1."""
    shipped = tmp_path / "shipped"
    for name in ("baseline", "surrogate_3", "dverge", "seeds/dverge/seed1"):
        shutil.copytree(REPO / "checkpoints" / name, shipped / name)
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ROBUST_ENSEMBLES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("engine.zoo.SHIPPED", shipped)
    ui.zoo.clear()
    return shipped


def _open(page: str, **state) -> AppTest:
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(str(ui.page_path(page)))
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_sidebar_lists_a_seed_group_once_and_every_seed_on_request(seeded_zoo):
    at = _open("leaderboard")
    listed = at.sidebar.multiselect(key="shared_ensembles")
    assert listed.options == ["shipped baseline (baseline ×3) · 2 seeds", "shipped dverge (dverge ×3) · 2 seeds"]
    assert sorted(listed.value) == sorted([str(seeded_zoo / "baseline"), str(seeded_zoo / "dverge")])
    at.sidebar.checkbox(key="shared_every_seed").check().run()
    assert not at.exception, at.exception
    assert sorted(at.sidebar.multiselect(key="shared_ensembles").options) == sorted([
        "shipped baseline (baseline ×3) · 2 seeds", "shipped dverge (dverge ×3) · 2 seeds",
        "shipped surrogate_3 (baseline ×3)", "shipped seeds/dverge/seed1 (dverge ×3)"])
    # a selected seed stays listed (and selected) when the list is collapsed again
    at.sidebar.multiselect(key="shared_ensembles").select(str(seeded_zoo / "seeds/dverge/seed1")).run()
    at.sidebar.checkbox(key="shared_every_seed").uncheck().run()
    assert not at.exception, at.exception
    assert str(seeded_zoo / "seeds/dverge/seed1") in at.sidebar.multiselect(key="shared_ensembles").value
    assert "shipped surrogate_3 (baseline ×3)" not in at.sidebar.multiselect(key="shared_ensembles").options


def test_the_leaderboard_lists_a_seed_group_once_and_with_the_toggle_its_mean_and_std(seeded_zoo):
    at = _open("leaderboard", lb_samples=10)
    table = at.dataframe[0].value
    assert sorted(table["ensemble"]) == ["baseline x3 (baseline)", "dverge x3 (dverge)"]  # further seeds hidden
    at.checkbox(key="lb_every_seed").check().run()
    assert len(at.dataframe[0].value) == 4
    at.sidebar.toggle(key="shared_seed_groups").set_value(True).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("method")
    assert sorted(table["ensemble"]) == ["baseline x3 (baseline) · 2 seeds", "dverge x3 (dverge) · 2 seeds"]
    assert list(table["seeds"]) == [2, 2] and "pgd_std" in table
    cost = [sum(h["train_seconds"] for h in json.loads((seeded_zoo / n / "meta.json").read_text())["history"])
            for n in ("dverge", "seeds/dverge/seed1")]
    assert table.loc["dverge", "train_seconds"] == pytest.approx(np.mean(cost))
    assert table.loc["dverge", "train_seconds_std"] == pytest.approx(np.std(cost, ddof=1))
