"""What the job list says about a running job: the whole job's ETA, never the current
phase's alone presented as the job's."""
from __future__ import annotations

from engine import jobs
from engine.jobs.display import status_text, summary
from engine.jobs.store import Job


def _job(tmp_path) -> Job:
    config = jobs.build_config("dverge", "quick").model_dump(mode="json")
    return Job(id="j1", name="dverge-x", state="running", config=config, out=str(tmp_path / "out"),
               created=0.0, queued=0.0, started=0.0)


def test_pre_training_eta_says_the_method_epochs_still_follow(tmp_path):
    last = {"phase": "pretrain", "epoch": 2, "epochs": 4, "batch": 10, "batches": 200, "eta_seconds": 125}
    assert status_text(_job(tmp_path), {"last": last}) == (
        "baseline pre-training · epoch 2/4 · batch 10/200 · pre-training ETA 2 min 05 s, then 2 dverge epochs "
        "(timed once they start)")


def test_in_the_method_phase_the_eta_is_the_whole_job(tmp_path):
    last = {"phase": "train", "epoch": 1, "epochs": 2, "batch": 10, "batches": 200, "eta_seconds": 59}
    assert status_text(_job(tmp_path), {"last": last}) == \
        "dverge training · epoch 1/2 · batch 10/200 · ETA 59 s (whole job)"


def test_pre_training_with_an_estimate_shows_the_whole_job_eta_first(tmp_path):
    last = {"phase": "pretrain", "epoch": 2, "epochs": 4, "batch": 10, "batches": 200, "eta_seconds": 125,
            "job_eta_seconds": 1325}
    job = _job(tmp_path)
    assert status_text(job, {"last": last}) == (
        "baseline pre-training · epoch 2/4 · batch 10/200 · ETA 22 min 05 s (whole job: pre-training 2 min 05 s, "
        "then 2 dverge epochs, estimated)")
    # the job table's ETA column is the whole job's, never the pre-training's alone
    assert summary(job, {"last": last})["eta_seconds"] == 1325
    assert summary(job, {"last": dict(last, job_eta_seconds=None)})["eta_seconds"] is None
    assert summary(job, {"last": dict(last, phase="train", eta_seconds=59)})["eta_seconds"] == 59
