"""The Train page: an empty state that says what to do, one click queues the classic
DVERGE run, and a finished job shows its per-epoch history (DVERGE Fig. 2)."""
import json
import shutil

from streamlit.testing.v1 import AppTest

from engine import jobs
from engine.checkpoint import read_meta
from engine.config import TrainConfig, make_config
from tests.conftest import REPO


def _train_page(monkeypatch, home) -> AppTest:
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(home))
    monkeypatch.setenv(jobs.MAX_JOBS_ENV, "0")  # a paused queue: nothing trains during these tests
    monkeypatch.setattr("engine.zoo.SHIPPED", home / "none")
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=60).run()
    at.switch_page(str(REPO / "pages" / "train.py")).run()
    assert not at.exception
    return at


def _figure(at: AppTest, title_part: str) -> dict:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if title_part in spec["layout"].get("title", {}).get("text", ""):
            return spec
    raise AssertionError(f"no figure titled '{title_part}'")


def test_with_no_jobs_the_page_says_what_to_do(monkeypatch, tmp_path):
    at = _train_page(monkeypatch, tmp_path)
    assert "Press **Start training**" in at.info[0].value
    assert at.button(key="train_start").label == "Start training: 3 × lenet5 dverge on fashion_mnist"


def test_one_click_queues_the_quick_three_member_dverge_run(monkeypatch, tmp_path):
    at = _train_page(monkeypatch, tmp_path)
    at.button(key="train_start").click().run()
    assert not at.exception
    [job] = jobs.JobStore().list()
    assert job.state == "queued"
    assert job.config == make_config("dverge", "quick").model_dump()
    assert job.out.startswith(str((tmp_path / "ensembles").resolve()))
    assert "queued" in at.success[0].value


def test_a_finished_job_shows_accuracy_and_transferability_per_epoch(monkeypatch, tmp_path, quick_zoo):
    source = quick_zoo.get("dverge")
    meta = read_meta(source)
    store = jobs.JobStore(tmp_path / "jobs", tmp_path / "ensembles")
    job = store.create(TrainConfig.model_validate(meta["config"]), "classic")
    shutil.copytree(source, job.out)
    store.update(job.id, state="done", started=job.created, finished=job.created + 60, executor="local")

    at = _train_page(monkeypatch, tmp_path)
    assert job.out in at.success[0].value
    spec = _figure(at, "DVERGE Fig. 2")
    traces = {t["name"]: t for t in spec["data"]}
    # DVERGE's baseline phase is in pretrain/ when the run trained it itself (not with --from).
    pre = read_meta(source / "pretrain")["history"] if (source / "pretrain").is_dir() else []
    expected = [h["ensemble_clean_accuracy"] for h in pre + meta["history"]]
    assert traces["ensemble accuracy"]["y"] == expected
    [transfer] = [t for name, t in traces.items() if name.startswith("transferability")]
    assert transfer["y"] == [h["transferability"] for h in pre + meta["history"]]


def test_the_form_has_every_training_field_and_passes_a_changed_one_on(monkeypatch, tmp_path):
    at = _train_page(monkeypatch, tmp_path)
    keys = {w.key for kind in ("number_input", "text_input", "selectbox", "checkbox") for w in at.get(kind)}
    apart = {"method", "preset", "method_params"}  # chosen at the top / in the hyperparameter expander
    assert {f"train_{f}_dverge_quick" for f in TrainConfig.model_fields if f not in apart} <= keys
    at.number_input(key="train_eval_samples_dverge_quick").set_value(500)
    at.text_input(key="train_history_eps_dverge_quick").input("0.05")
    at.checkbox(key="train_bf16_dverge_quick").check()
    at.button(key="train_start").click().run()
    assert not at.exception
    [job] = jobs.JobStore().list()
    expected = make_config("dverge", "quick", eval_samples=500, history_eps=0.05, bf16=True).model_dump()
    assert job.config == expected


def test_a_run_that_finishes_while_watched_is_selected_and_the_table_shows_no_none(monkeypatch, tmp_path):
    store = jobs.JobStore(tmp_path / "jobs", tmp_path / "ensembles")
    job = store.create(make_config("dverge", "quick"), "dverge-mine")
    # run by another executor (a Ray cluster): the local one leaves its state alone
    store.update(job.id, state="running", started=job.created, executor="ray")
    # in baseline pre-training, with the whole job's estimate (engine/train_eta.py)
    store.write_progress(job.id, {"last": {"phase": "pretrain", "epoch": 2, "epochs": 4, "batch": 10, "batches": 468,
                                           "eta_seconds": 125.0, "job_eta_seconds": 1325.0, "losses": {}}})
    at = _train_page(monkeypatch, tmp_path)
    table = at.dataframe[0].value
    assert "None" not in table.astype(str).to_string() and table.loc[0, "name"] == "dverge-mine"
    assert table.loc[0, "ETA (whole job)"] == "22 min 05 s"  # the whole job's, not the pre-training's 2 min 05 s
    assert job.out not in at.session_state["shared_ensembles"]

    shutil.copytree(REPO / "checkpoints" / "dverge", job.out)  # it finishes
    store.update(job.id, state="done", finished=job.created + 60)
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["shared_ensembles"][0] == job.out  # picked for comparison, first
    at.run()
    assert at.session_state["shared_ensembles"][0] == job.out  # and it stays picked
