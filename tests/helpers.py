"""Helpers shared by several test files (one copy, not one per file)."""
import time

from engine import jobs


def wait_for(executor, job_id, predicate, timeout=90.0, poll=0.1):
    """Refresh ``executor`` until ``predicate(job)`` holds and return that job; on timeout fail
    with the job's state and the tail of its log (what a reader needs to see why)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        executor.refresh()
        job = executor.get(job_id)
        if predicate(job):
            return job
        time.sleep(poll)
    log = executor.store.log_path(job_id)
    raise AssertionError(f"timed out; job is {executor.get(job_id)}; log:\n"
                         f"{log.read_text(errors='replace')[-2000:] if log.exists() else '(none)'}")


def resume_until_done(executor, job_id, *, saved, before, epochs, timeout=600.0):
    """Resume an interrupted job and check it finished from its last saved epoch: attempt 2,
    every epoch once, the ``saved`` earlier history entries kept, not retrained."""
    job = executor.resume(job_id)
    assert job.state == "running" and job.attempts == 2
    job = wait_for(executor, job.id, lambda j: j.state != "running", timeout=timeout)
    assert job.state == "done", job.error
    assert job.resumed_from_epoch == saved
    after = jobs.history(job)
    assert [h["epoch"] for h in after] == list(range(1, epochs + 1))
    assert after[:saved] == before[:saved]  # earlier epochs were kept, not retrained
    return job
