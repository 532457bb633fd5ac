"""A job cancelled through its executor at a file-replace boundary of a checkpoint save
stays resumable (issue 9, class 2: "a cancelled job in that window stays failed although
the page says Resume to continue").

The worker (a real ``python -m engine worker`` process started by LocalProcessExecutor) is
held at one replace/delete of its epoch-2 save by ``pause_worker/sitecustomize.py``; the
test then cancels it with ``executor.cancel`` (SIGTERM to the worker's process group, as
the app's Cancel button does). Afterwards the checkpoint loads with the last complete
epoch, and Resume finishes the run with the earlier epochs kept, not retrained."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine import jobs
from engine.atomic import is_temp
from engine.checkpoint import load_checkpoint
from tests.helpers import resume_until_done, wait_for

PAUSE_DIR = Path(__file__).parent / "pause_worker"

# (os call, file-name prefix, its n-th call, the last complete epoch when cancelled there)
BOUNDARIES = {
    "before-the-first-epoch-2-file": ("replace", "member_0.", 2, 1),
    "before-meta-json-publishes-epoch-2": ("replace", "meta.json", 2, 1),
    "after-epoch-2-is-published-before-epoch-1-is-deleted": ("unlink", "member_0.e1", 1, 2),
}
FAST = {"before-meta-json-publishes-epoch-2"}  # the commit point; the others run in the slow suite


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(tmp_path))
    monkeypatch.delenv(jobs.MAX_JOBS_ENV, raising=False)
    return jobs.JobStore()


@pytest.mark.parametrize("boundary", [pytest.param(name, marks=() if name in FAST else pytest.mark.slow)
                                      for name in BOUNDARIES])
def test_a_job_cancelled_at_a_save_boundary_resumes_from_its_last_complete_epoch(store, tmp_path, monkeypatch,
                                                                                    boundary):
    op, prefix, nth, saved = BOUNDARIES[boundary]
    marker = tmp_path / "paused"
    monkeypatch.setenv("PYTHONPATH", str(PAUSE_DIR))  # the executor puts the repository in front
    monkeypatch.setenv("ROBUST_ENSEMBLES_TEST_PAUSE", f"{op}:{prefix}:{nth}:{marker}")
    executor = jobs.LocalProcessExecutor(store, max_jobs=1, grace_seconds=10)
    job = executor.submit(jobs.build_config("baseline", None, members=2, epochs=3, train_subset=500,
                                            batch_size=100, lr=0.05, eval_samples=100, history_samples=0,
                                            device="cpu"), name="paused")
    job = wait_for(executor, job.id, lambda j: marker.exists() or j.state != "running", timeout=300)
    assert marker.exists(), f"the worker never reached the boundary: {job}"
    assert Path(marker.read_text()).name.startswith(prefix)

    cancelled = executor.cancel(job.id)
    assert cancelled.state == "cancelled"
    _, meta = load_checkpoint(cancelled.out)  # loadable: every file meta.json names is there, hashes verified
    assert meta["epoch"] == saved and jobs.saved_epochs(cancelled)["train"] == saved
    before = jobs.history(cancelled)
    assert [h["epoch"] for h in before] == list(range(1, saved + 1))

    monkeypatch.delenv("ROBUST_ENSEMBLES_TEST_PAUSE")  # the resumed worker runs unhindered
    job = resume_until_done(executor, job.id, saved=saved, before=before, epochs=3)
    assert not [p.name for p in Path(job.out).iterdir() if is_temp(p.name)]  # no stale temporary file
