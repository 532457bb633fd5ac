"""engine/cli/jobs.py: ``python -m engine jobs ...`` over a real job store (a paused queue:
nothing trains here; tests/engine/jobs/ runs real workers)."""
import json

import pytest

from engine import cli, jobs
from engine.config import make_config


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(tmp_path))
    monkeypatch.setenv(jobs.MAX_JOBS_ENV, "0")  # a paused queue: nothing starts
    return jobs.JobStore()


def test_the_cli_submits_lists_and_cancels_jobs(store, capsys):
    assert cli.main(["jobs", "submit", "--method", "dverge", "--json"]) == 0
    submitted = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert submitted["state"] == "queued" and submitted["method"] == "dverge"
    assert store.get(submitted["id"]).config == make_config("dverge", "quick").model_dump()

    assert cli.main(["jobs", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["jobs"]
    assert [(r["id"], r["state"]) for r in listed] == [(submitted["id"], "queued")]

    assert cli.main(["jobs", "cancel", submitted["id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["state"] == "cancelled"
    assert cli.main(["jobs", "submit", "--method", "dverge", "--members", "0"]) == 2
    assert "members" in capsys.readouterr().err


def test_jobs_submit_takes_the_train_flags_it_lacked(store, capsys):
    assert cli.main(["jobs", "submit", "--method", "baseline", "--bf16", "--data-dir", "/data",
                     "--history-eps", "0.05", "--json"]) == 0
    submitted = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    config = store.get(submitted["id"]).config
    assert config == make_config("baseline", "quick", bf16=True, data_dir="/data", history_eps=0.05).model_dump()
