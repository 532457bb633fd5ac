"""Background training jobs: real worker processes, a persistent store, bounded
concurrency, cancel, detection of a killed worker and resume from its last saved epoch."""
import os
import signal
import time

import pytest
import torch

from engine import jobs
from engine.checkpoint import load_checkpoint, read_meta
from tests.helpers import resume_until_done, wait_for


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(tmp_path))
    monkeypatch.delenv(jobs.MAX_JOBS_ENV, raising=False)
    return jobs.JobStore()


def tiny(epochs=1, **kw):
    """Under a second of work per epoch: 2 LeNet-5 members, 10 batches, small evaluations
    (a worker's start-up, mostly importing torch, costs more than that)."""
    return jobs.build_config("baseline", None, members=2, epochs=epochs, train_subset=1000, batch_size=100,
                             lr=0.05, eval_samples=100, history_samples=0, device="cpu", **kw)


def exits(job, timeout=15.0) -> bool:
    """The job's worker process ends (it may still be handing its slot on)."""
    deadline = time.time() + timeout
    while jobs._proc_running(job.pid, job.id):
        if time.time() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_submitted_job_trains_in_its_own_process_into_the_user_data_dir(store, tmp_path, fmnist_test):
    executor = jobs.LocalProcessExecutor(store, max_jobs=1)
    job = executor.submit(tiny(), name="../../my run")
    assert job.state == "running" and job.pid not in (None, os.getpid())
    assert job.out == str((tmp_path / "ensembles" / "my-run").resolve())  # sanitized, never a raw path

    job = wait_for(executor, job.id, lambda j: j.state != "running")
    assert job.state == "done", job.error
    meta = read_meta(job.out)
    assert meta["complete"] and meta["epoch"] == 1 and meta["config"] == tiny().model_dump()
    [entry] = jobs.history(job)
    # the recorded accuracy is the saved weights' on the first 100 seeded test images
    ensemble, _ = load_checkpoint(job.out)
    sub = fmnist_test.subset(100, seed=1234)
    with torch.no_grad():
        ensemble.eval()
        members = torch.stack([m(sub.images()).argmax(1) for m in ensemble.members])
        assert entry["ensemble_clean_accuracy"] == (ensemble(sub.images()).argmax(1) == sub.y).float().mean().item()
    assert entry["member_clean_accuracy"] == (members == sub.y).float().mean(1).tolist()
    assert entry["ensemble_clean_accuracy"] > 0.15  # 10 batches learn something: measured 0.24 (chance 0.1)
    progress = store.progress(job.id)
    assert progress["losses"] and all(len(p["members"]) == 2 for p in progress["losses"])
    assert progress["losses"][-1]["x"] == 1.0  # the last batch of epoch 1
    assert jobs.fraction_done(job, progress) == 1.0
    assert exits(job)


def test_one_job_at_a_time_on_cpu_and_cancel_keeps_the_last_saved_epoch(store):
    executor = jobs.LocalProcessExecutor(store, max_jobs=1, grace_seconds=3)
    long = executor.submit(tiny(epochs=200), name="long")
    short = executor.submit(tiny(), name="short")
    assert (long.state, short.state) == ("running", "queued")
    long = wait_for(executor, long.id, lambda j: jobs.saved_epochs(j)["train"] >= 1)
    assert executor.get(short.id).state == "queued"  # the bound holds while the first one runs

    cancelled = executor.cancel(long.id)
    assert cancelled.state == "cancelled"
    assert not jobs._proc_running(long.pid, long.id)  # cancel returns once the worker is gone
    ensemble, meta = load_checkpoint(long.out)  # consistent: hashes verified
    assert 1 <= meta["epoch"] < 200 and len(ensemble) == 2
    assert executor.get(short.id).state in ("running", "done")  # the freed slot went to the queue
    assert executor.get(long.id).state == "cancelled"  # the worker's exit did not overwrite it
    if executor.get(short.id).state == "running":
        short = executor.cancel(short.id)  # a queued/starting job cancels too
        assert short.state == "cancelled" and exits(short)


def test_a_killed_worker_is_detected_and_resume_continues_from_its_last_epoch(store):
    executor = jobs.LocalProcessExecutor(store, max_jobs=1)
    job = executor.submit(tiny(epochs=5), name="killed")
    job = wait_for(executor, job.id, lambda j: jobs.saved_epochs(j)["train"] >= 1)
    os.killpg(job.pid, signal.SIGKILL)
    saved = jobs.saved_epochs(job)["train"]
    before = jobs.history(job)
    assert 1 <= saved < 5

    job = wait_for(executor, job.id, lambda j: j.state != "running", timeout=15)
    assert job.state == "failed" and job.error.startswith("interrupted") and f"epoch {saved}" in job.error

    resume_until_done(executor, job.id, saved=saved, before=before, epochs=5, timeout=90)


def test_an_invalid_config_is_rejected_before_anything_is_queued(store):
    executor = jobs.LocalProcessExecutor(store, max_jobs=1)
    with pytest.raises(jobs.JobError, match="members"):
        executor.submit({"method": "dverge", "preset": "quick", "members": 0})
    with pytest.raises(jobs.JobError, match="unknown method 'dvergee'"):
        executor.submit({"method": "dvergee"})
    with pytest.raises(jobs.JobError, match="invalid hyperparameters for dverge"):
        jobs.build_config("dverge", "quick", method_params={"steps": 0})
    assert store.list() == [] and not store.ensembles.exists()
    with pytest.raises(jobs.JobError, match="not a job id"):
        store.get("../../etc")


def test_a_worker_started_beside_a_running_job_sleeps_while_it_waits(store, monkeypatch):
    """engine/threads.py: the second of two concurrent jobs gets OMP_WAIT_POLICY=PASSIVE
    (spinning OpenMP threads beside another job cost it 4-7x), whatever the load average."""
    from engine import threads

    launched = []

    class Recorder:
        pid = 4242

        def __init__(self, args, env, **kwargs):
            launched.append(env)

        def poll(self):
            return 0

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(jobs.executors.subprocess, "Popen", Recorder)
    monkeypatch.setattr(threads, "busy_machine", lambda fraction=None: False)  # an idle CPU
    executor = jobs.LocalProcessExecutor(store, max_jobs=2)
    monkeypatch.setattr(executor, "_alive", lambda job: True)  # the recorded "worker" keeps running
    executor.submit(tiny())
    executor.submit(tiny())
    assert [threads.describe(env) for env in launched] == ["spin 10000", "PASSIVE"]
