"""Long analyses as background jobs in the app (a view over :mod:`engine.jobs.analysis`).

A page hands over the analysis requests it still misses; this states the expected time
before the start, submits them as one job (the same store and executors as training, so
the job survives reloads, a closed tab and app restarts), and shows the job's progress with
its whole-job ETA and a Cancel button, polling the store every second. Every time an item
finishes (one ensemble's result lands in the cache) the page reruns and draws what is there,
so partial results appear as they arrive. A page reload finds the job again by the
requests' cache keys.
"""
from __future__ import annotations

import time

import streamlit as st

from engine import jobs
from engine.jobs import analysis as aj

POLL_SECONDS = 1.0


def _executor():
    return jobs.get_executor()


def expected_text(expected: aj.Estimate) -> str:
    if expected.seconds == 0.0:
        return "Everything is cached."
    if expected.known:
        return f"Expected time: about {jobs.display._duration(expected.seconds)} ({expected.text})."
    return f"Expected time: not known yet: {expected.text}."


def run_in_background(items: list[dict], *, label: str, button: str, auto: bool = False,
                      help: str | None = None) -> jobs.Job | None:
    """The job for ``items`` (found again after a reload by their cache keys), drawn with
    progress, ETA and Cancel while it runs; or, when none runs, the expected time and a
    start button (``auto``: start at once unless an earlier job for them was cancelled or
    failed). Returns the job shown, if any."""
    executor = _executor()
    store = executor.store
    listed = store.list()  # read the store once per page run
    job = aj.find_job(store, [i["key"] for i in items], label, listed=listed)
    if job is not None and job.state in jobs.ACTIVE:
        _live(job.id)
        return job
    expected = aj.estimate(items, store)
    if job is not None and job.state in ("failed", "cancelled"):
        st.warning(f"The last run {jobs.status_text(job, store.progress(job.id))}")
        if st.button("Resume it", key=f"resume:{label}:{job.id}",
                     help="continues with the results not cached yet (the finished ones are kept)"):
            executor.resume(job.id)
            st.rerun()
    st.caption(expected_text(expected) + " It runs as a background job: it goes on if you reload or close the tab.")
    restart = job is not None and job.state in ("failed", "cancelled")
    # auto-start only when nothing of this page's kind runs: a settings change while one
    # runs asks first instead of queueing a job per keystroke
    busy = any(j.state in jobs.ACTIVE and j.kind == "analysis" and j.config.get("label") == label
               for j in listed)
    if (auto and not restart and not busy) or st.button(button, type="primary", key=f"job:{label}", help=help):
        executor.submit_analysis(items, label=label)
        st.rerun()
    return job


def _live(job_id: str) -> None:
    st.fragment(_panel, run_every=POLL_SECONDS)(job_id)


def _panel(job_id: str) -> None:
    executor = _executor()
    executor.refresh()
    job = executor.get(job_id)
    progress = executor.store.progress(job_id)
    st.progress(jobs.fraction_done(job, progress), text=jobs.status_text(job, progress))
    last = progress.get("last") or {}
    estimate = progress.get("estimate_seconds")
    if job.state == "queued":
        st.caption("Waiting for the analysis slot (another analysis job runs; see `python -m engine jobs list`).")
    elif estimate is not None and not last.get("done_items"):
        st.caption(f"Expected before the start: about {jobs.display._duration(estimate)} (an estimate).")
    if job.state in jobs.ACTIVE and st.button("Cancel", key=f"cancel:{job_id}",
                                              help="stop it; the results it finished stay cached"):
        executor.cancel(job_id)
        st.rerun(scope="app")
    seen_key = f"_job_seen:{job_id}"
    finished = len(progress.get("finished", []))
    seen = st.session_state.setdefault(seen_key, finished)
    if job.state not in jobs.ACTIVE or finished != seen:
        st.session_state[seen_key] = finished
        time.sleep(0.05)
        st.rerun(scope="app")  # a result landed (or the job ended): redraw the page with it
