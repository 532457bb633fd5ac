"""Helpers shared by several test files (one copy, not one per file)."""
import time


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
