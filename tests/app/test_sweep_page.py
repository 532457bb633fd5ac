"""The Sweep page: an empty state that says what to do, starting a sweep queues its trials
as jobs, and finished trials show as mean ± std over seeds in a table and a figure."""
import json
import shutil

from streamlit.testing.v1 import AppTest

from engine import jobs, sweep
from engine.checkpoint import read_meta
from tests.conftest import REPO


def _sweep_page(monkeypatch, home) -> AppTest:
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(home))
    monkeypatch.setenv(jobs.MAX_JOBS_ENV, "0")  # a paused queue: nothing trains during these tests
    monkeypatch.delenv(jobs.EXECUTOR_ENV, raising=False)
    monkeypatch.setattr("engine.zoo.SHIPPED", home / "none")
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=60).run()
    at.switch_page(str(REPO / "pages" / "sweep.py")).run()
    assert not at.exception
    return at


def test_with_no_sweeps_the_page_says_what_to_do_and_starting_one_queues_its_trials(monkeypatch, tmp_path):
    at = _sweep_page(monkeypatch, tmp_path)
    assert "press **Start sweep**" in at.info[0].value
    at.text_input(key="sweep_seeds").set_value("0-1")
    at.text_area(key="sweep_grid").set_value("lr=0.01,0.05")
    at.button(key="sweep_start").click().run()
    assert not at.exception
    queued = jobs.JobStore().list()
    assert sorted((j.config["lr"], j.config["seed"], j.state) for j in queued) == [
        (0.01, 0, "queued"), (0.01, 1, "queued"), (0.05, 0, "queued"), (0.05, 1, "queued")]
    assert "4 trials queued" in at.success[0].value
    at.text_input(key="sweep_seeds").set_value("x")
    at.button(key="sweep_start").click().run()
    assert "--seeds expects e.g. 0-4" in at.error[0].value and len(jobs.JobStore().list()) == 4


def test_finished_trials_show_as_mean_and_std_over_seeds(monkeypatch, tmp_path, quick_baseline):
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(tmp_path))
    monkeypatch.setenv(jobs.MAX_JOBS_ENV, "0")
    config = read_meta(quick_baseline)["config"]
    spec = sweep.SweepSpec(methods=["baseline"], seeds=[0, 1], preset=None,
                           fixed={k: v for k, v in config.items() if k in sweep.TRAIN_FIELDS}, name="seeds")
    executor = jobs.LocalProcessExecutor(max_jobs=0)
    record = sweep.start(spec, executor)
    for entry in record["trials"].values():  # the quick baseline stands in for both trained seeds
        shutil.copytree(quick_baseline, entry["out"])
        executor.store.update(entry["job"], state="done", executor="local")

    at = _sweep_page(monkeypatch, tmp_path)
    assert at.selectbox(key="sweep_selected").value == "seeds"
    [table] = at.dataframe
    [row] = table.value.to_dict("records")
    accuracy = read_meta(quick_baseline)["history"][-1]["ensemble_clean_accuracy"]
    assert (row["method"], row["n"], row["accuracy"]) == ("baseline", 2, f"{accuracy:.4f} ± 0.0000")
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert figure["data"][0]["y"] == [accuracy] and figure["data"][0]["error_y"]["array"] == [0.0]
