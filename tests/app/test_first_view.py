"""First open with the shipped zoo and an empty user cache: every analysis page, and the
Reproduction report, draws its figures at once from the shipped results
(engine/shipped_results.py), with no "Compute" click and no computation."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app import ui
from engine import analyses
from tests.conftest import REPO

# page -> figures it draws on first open
FIGURES = {"transferability": 1, "robustness": 3, "diversity": 2, "distill": 1, "saliency": 1,
           "decision_regions": 1, "detection": 1, "cce_subsets": 1, "report": 1}


@pytest.fixture
def first_open(monkeypatch, tmp_path):
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ROBUST_ENSEMBLES_CACHE", str(tmp_path / "cache"))
    ui.zoo.clear()

    def refuse(*args, **kwargs):
        raise AssertionError("a first open must not compute anything")

    monkeypatch.setattr(analyses, "Context", refuse)  # what every computation starts with (engine.analyses.run)
    return tmp_path


@pytest.mark.parametrize("page", list(FIGURES))
def test_every_analysis_page_shows_its_figures_on_first_open(first_open, page):
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=120)
    at.switch_page(str(ui.page_path(page)))
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert sorted(at.session_state["shared_ensembles"]) == sorted(str(REPO / "checkpoints" / n)
                                                                    for n in ("baseline", "dverge"))
    assert [b.label for b in at.button if b.label.startswith("Compute")] == []
    assert len(at.get("plotly_chart")) >= FIGURES[page]
    if page == "report":  # every shipped ensemble's numbers beside the papers' claims, a verdict per row
        assert len(at.dataframe) >= 4 and not at.info, [i.value for i in at.info]
