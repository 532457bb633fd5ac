"""Every page renders without exception: with no ensemble at all (an empty state that
says what to do) and with real quick-preset ensembles, computing its analyses through the
page's own "Compute" button with small settings (long analyses run as background jobs in
worker processes: the test waits for them, then reruns the page)."""
from __future__ import annotations

import shutil
import time

import pytest
from streamlit.testing.v1 import AppTest

from app import ui
from tests.conftest import REPO

PAGES = [module for module, _title, _icon in ui.PAGES]

# Small settings per analysis (widget keys are "<analysis>:<field>"), so each page computes
# in seconds on a CPU.
SMALL = {
    "transferability": {"samples": 40, "steps": 5, "examples": 2},
    "whitebox": {"samples": 40, "steps": "3", "restarts": "1", "eps": "0, 0.1"},  # optional fields: text inputs
    "blackbox": {"samples": 40, "steps": "3", "eps": "0.1", "restarts": 1, "attacks": "pgd-momentum", "losses": "ce"},
    "diversity": {"samples": 20, "steps": 3},
    "history": {},
    "distill": {"steps": 3, "layers": "2"},
    "decision-region": {"resolution": 9},
    "saliency": {},
    "detection": {"samples": 40, "steps": 3},
    "cce-subsets": {"samples": 40, "steps": 3},
}


def _app(monkeypatch, home, page: str) -> AppTest:
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(home))
    monkeypatch.setattr("engine.zoo.SHIPPED", home / "no-shipped-zoo")
    # the same for the worker processes of background analysis jobs (engine.paths reads it at import):
    # a black-box job must discover the same surrogates as the page that looks its result up
    monkeypatch.setenv("ROBUST_ENSEMBLES_SHIPPED", str(home / "no-shipped-zoo"))
    ui.zoo.clear()
    # shipped results are seeded once per process and cache: an earlier test that pointed the zoo
    # elsewhere must not decide what this one finds (black-box keys depend on the zoo's surrogates)
    ui._seed.clear()
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=240)
    for analysis, fields in SMALL.items():
        for field, value in fields.items():
            at.session_state[f"{analysis}:{field}"] = value
    if page != PAGES[0]:
        at.switch_page(str(ui.page_path(page)))
    return at


@pytest.mark.parametrize("page", PAGES)
def test_page_with_no_ensembles_says_what_to_do(monkeypatch, tmp_path, page):
    at = _app(monkeypatch, tmp_path, page).run()
    assert not at.exception, at.exception
    infos = [e.value for e in at.info]
    command = "python -m engine train --preset quick --method dverge"
    if page == "zoo":
        assert any(m.startswith("No ensembles yet. Start one on the **Train** page") and
                   f"{command} --members 3 --out {tmp_path / 'ensembles' / 'dverge'}`" in m for m in infos), infos
    elif page == "report":
        assert [w.value for w in at.warning] == [f"No shipped ensembles in {tmp_path / 'no-shipped-zoo'}. "
                                                 "Build the zoo with `bash checkpoints/build_zoo.sh`."]
    elif page == "start":  # the classic flow, then where to get an ensemble
        assert infos[-1] == ui.no_selection_message(), infos
        assert [link.label for link in at.page_link][:1] == ["1. Train a DVERGE ensemble"]
    elif page == "leaderboard":
        assert infos[-1].startswith("No ensemble of fashion_mnist in the zoo yet"), infos
        assert f"{command} --out {tmp_path / 'ensembles' / 'dverge'}`" in infos[-1]
    elif page == "sweep":  # a sweep trains its own ensembles: it needs none to start
        assert infos[-1].startswith("No sweeps yet: choose methods, seeds and a grid above"), infos
        assert "`python -m engine sweep --method baseline --seeds 0-2 --param lr=0.01,0.05`" in infos[-1]
    elif page != "train":
        assert infos[-1] == ui.no_selection_message(), infos
        assert f"{command} --out {tmp_path / 'ensembles' / 'dverge'}`" in infos[-1]  # the user's zoo, never the source tree
    if page != "train":
        assert not (tmp_path / "ensembles").exists()  # an empty state writes nothing


@pytest.fixture(scope="module")
def lab_home(tmp_path_factory, quick_zoo, quick_baseline):
    """A user zoo with a quick baseline, a quick DVERGE and a hold-out surrogate."""
    home = tmp_path_factory.mktemp("lab-home")
    shutil.copytree(quick_baseline, home / "ensembles" / "baseline", ignore=shutil.ignore_patterns("pretrain"))
    dverge = quick_zoo.get("dverge", init_from=str(quick_baseline))
    shutil.copytree(dverge, home / "ensembles" / "dverge", ignore=shutil.ignore_patterns("pretrain"))
    surrogate = quick_zoo.get("baseline", seed=100, epochs=1, train_subset=5000, members=2)
    shutil.copytree(surrogate, home / "ensembles" / "surrogate_2", ignore=shutil.ignore_patterns("pretrain"))
    return home


def _wait_for_jobs(timeout: float = 300.0) -> None:
    """Analyses the page started as background jobs (app/background.py) run in worker
    processes: wait until none is queued or running (and none failed)."""
    from engine import jobs

    executor = jobs.get_executor()
    deadline = time.time() + timeout
    while time.time() < deadline:
        current = [j for j in executor.refresh() if j.kind == "analysis"]
        assert not [j.error for j in current if j.state == "failed"]
        if not [j for j in current if j.state in jobs.ACTIVE]:
            return
        time.sleep(0.2)
    raise AssertionError("analysis jobs still running")


def _click_and_wait(at, button) -> None:
    button.click().run()
    _wait_for_jobs()
    at.run()


@pytest.mark.parametrize("page", [p for p in PAGES if p not in ("train", "report", "leaderboard", "sweep", "start")])
def test_page_computes_and_draws_with_real_ensembles(monkeypatch, lab_home, page):
    at = _app(monkeypatch, lab_home, page)
    at.session_state["shared_ensembles"] = [str(lab_home / "ensembles" / "dverge"),
                                            str(lab_home / "ensembles" / "baseline")]
    at.run()
    assert not at.exception, at.exception
    for _ in range(3):  # pages with two analyses show a second button after the first result
        buttons = [b for b in at.button if b.label.startswith("Compute for")]
        if not buttons:
            break
        _click_and_wait(at, buttons[0])
        assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    if page != "zoo":
        assert not [b for b in at.button if b.label.startswith("Compute for")]
        charts = at.get("plotly_chart")
        assert charts, f"{page} drew no figure"


def test_leaderboard_page_computes_missing_numbers_and_shows_a_row_per_ensemble(monkeypatch, tmp_path):
    home = tmp_path / "home"
    for name in ("baseline", "dverge"):  # real shipped LeNet-5 ensembles, as user entries
        shutil.copytree(REPO / "checkpoints" / name, home / "ensembles" / name)
    at = _app(monkeypatch, home, "leaderboard")
    at.session_state["lb_samples"] = 10
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert sorted(table["method"]) == ["baseline", "dverge"]
    assert table["pgd"].isna().all()  # nothing computed yet: the cache is this session's own
    at.multiselect(key="lb_todo").set_value(["clean_accuracy", "pgd"])
    at.button(key="lb_compute").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    # the numbers are computed by a background analysis job (like training), not in the page
    from engine import jobs
    from tests.helpers import wait_for

    executor = jobs.get_executor()
    (job,) = [j for j in executor.refresh() if j.kind == "analysis"]
    # clean accuracy and PGD are one whitebox run per ensemble: 2 items
    assert job.config["label"] == "leaderboard" and len(job.config["items"]) == 2
    job = wait_for(executor, job.id, lambda j: j.state not in jobs.ACTIVE, timeout=600)
    assert job.state == "done", job.error
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table["pgd"].notna().all() and (table["pgd"] <= table["clean_accuracy"]).all()


def test_the_leaderboard_shows_numbers_not_computed_yet_as_empty_cells_not_none(monkeypatch, tmp_path):
    """Nothing computed yet: the table's number cells are empty. Streamlit draws a missing
    value as the text "None" unless the table says otherwise (its ``placeholder``)."""
    from engine.leaderboard import EMPTY_CELL

    home = tmp_path / "home"
    shutil.copytree(REPO / "checkpoints" / "baseline", home / "ensembles" / "baseline")
    at = _app(monkeypatch, home, "leaderboard").run()
    assert not at.exception, at.exception
    table, sources = at.dataframe  # the board, then "Where each number comes from"
    assert table.value["pgd"].isna().all()  # there are empty cells to draw
    assert table.proto.HasField("placeholder") and table.proto.placeholder == EMPTY_CELL
    assert EMPTY_CELL in ("", "—")
    assert sources.value["error"].isna().all()  # its error column is empty unless a number failed
    assert sources.proto.HasField("placeholder") and sources.proto.placeholder in ("", EMPTY_CELL)


def test_a_long_analysis_runs_as_a_background_job_and_the_page_draws_its_result(monkeypatch, tmp_path):
    """Robustness page on two shipped ensembles (user copies), empty result cache: the
    white-box analysis (no measured cost yet) states that its time is not known, runs as a
    background job (not in the page), the page shows its progress, and draws the figure once
    the job is done; the job's cost then makes the next expected time known."""
    from engine import jobs

    home = tmp_path / "home"
    for name in ("baseline", "dverge"):
        shutil.copytree(REPO / "checkpoints" / name, home / "ensembles" / name)
    at = _app(monkeypatch, home, "robustness")
    at.session_state["shared_ensembles"] = [str(home / "ensembles" / "dverge"), str(home / "ensembles" / "baseline")]
    at.session_state["whitebox:samples"] = 12
    at.session_state["whitebox:eps"] = "0, 0.1"
    at.session_state["whitebox:steps"] = "2"
    at.run()
    assert not at.exception, at.exception
    assert any(c.value.startswith("Expected time: not known yet") for c in at.caption)
    start = [b for b in at.button if b.label == "Compute for 2 ensemble(s) in the background"]
    assert len(start) == 2  # white-box and black-box
    start[0].click().run()
    assert not at.exception, at.exception
    [job] = [j for j in jobs.get_executor().refresh() if j.kind == "analysis"]
    assert job.config["label"] == "whitebox" and len(job.config["items"]) == 2
    assert not at.get("plotly_chart")  # nothing computed in the page
    _wait_for_jobs()
    at.run()
    assert not at.exception, at.exception
    assert at.get("plotly_chart"), "no white-box figure after the job"
    assert jobs.get_executor().get(job.id).state == "done"
    # measured now: another sample count of the same request has a known expected time, and
    # the page runs it where that time says (in the page when it is at most 5 s)
    from engine.jobs import analysis as aj

    at.session_state["whitebox:samples"] = 13
    at.run()
    config = {"samples": 13, "eps": [0.0, 0.1], "steps": 2}
    expected = aj.estimate(aj.request_items("whitebox", at.session_state["shared_ensembles"], config))
    assert expected.known
    labels = [b.label for b in at.button]
    if expected.seconds > aj.JOB_THRESHOLD_SECONDS:
        assert any(c.value.startswith("Expected time: about") for c in at.caption), [c.value for c in at.caption]
        assert "Compute for 2 ensemble(s) in the background" in labels
    else:
        assert "Compute for 2 ensemble(s)" in labels, labels


def test_the_report_page_computes_its_analyses_as_one_background_job(monkeypatch, tmp_path):
    """Reproduction report: Compute queues one job with every analysis run the report reads
    (a paused queue here: nothing runs), and a reload shows that job instead of a new button."""
    from engine import jobs

    monkeypatch.setenv(jobs.MAX_JOBS_ENV, "0")  # paused: the job stays queued
    at = _app(monkeypatch, tmp_path, "report")
    monkeypatch.setattr("engine.zoo.SHIPPED", REPO / "checkpoints")
    at.run()
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.label.startswith("Compute report (")]  # its defaults are shipped
    at.number_input[0].set_value(150).run()  # not shipped: to compute
    [start] = [b for b in at.button if b.label.startswith("Compute report (")]
    start.click().run()
    assert not at.exception, at.exception
    [job] = [j for j in jobs.get_executor().refresh() if j.kind == "analysis"]
    assert job.state == "queued" and job.config["label"] == "report" and len(job.config["items"]) > 10
    again = _app(monkeypatch, tmp_path, "report")
    monkeypatch.setattr("engine.zoo.SHIPPED", REPO / "checkpoints")
    again.run()
    again.number_input[0].set_value(150).run()
    assert not again.exception, again.exception
    assert not [b for b in again.button if b.label.startswith("Compute report (")]
    assert any(b.label == "Cancel" for b in again.button)
