"""The worker body of one job: train it (resuming whatever is saved) or run its analyses
(:mod:`engine.jobs.analysis`), report progress to the store, record the outcome and hand the
slot on. Backend-agnostic."""
from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from .display import saved_epochs
from .executors import Executor, get_executor
from .store import HEARTBEAT_SECONDS, JobStore


class ProgressWriter:
    """The worker's progress callback: keeps the last report and a loss curve (per member,
    x = fractional epoch within its phase, at most MAX_POINTS points) and writes them to
    ``progress.json`` at most every ``interval`` seconds and at every epoch end."""

    MAX_POINTS = 1200

    def __init__(self, store: JobStore, job_id: str, saved: dict[str, int], interval: float = 1.0):
        self.store, self.job_id, self.interval = store, job_id, interval
        self.data = store.progress(job_id)
        # Points after the last saved epoch belong to work the resumed run redoes.
        self.data["losses"] = [p for p in self.data.get("losses", []) if p["x"] <= saved.get(p["phase"], 0)]
        self.data.pop("last", None)
        self.written = 0.0

    def __call__(self, p) -> None:
        now = time.time()
        if p.losses.get("members"):
            self.data["losses"].append({"phase": p.phase, "x": round(p.epoch - 1 + p.batch / p.batches, 4),
                                        "members": [round(float(v), 5) for v in p.losses["members"]]})
            if len(self.data["losses"]) > self.MAX_POINTS:
                self.data["losses"] = self.data["losses"][::2]
        self.data["last"] = {"phase": p.phase, "epoch": p.epoch, "epochs": p.epochs, "batch": p.batch,
                             "batches": p.batches, "eta_seconds": p.eta_seconds,
                             "job_eta_seconds": p.job_eta_seconds, "time": now,
                             "losses": {k: v for k, v in p.losses.items() if k != "members"}}
        if p.history is not None or now - self.written >= self.interval:
            self.flush()

    def flush(self) -> None:
        self.store.write_progress(self.job_id, self.data)
        self.written = time.time()


class _Stopped(BaseException):
    """SIGTERM reached the worker (cancel, or a shutdown)."""


def run_job(job_id: str, store: JobStore, executor: Executor | None = None) -> str:
    """The worker body: train the job (resuming whatever is saved), record the outcome,
    then let the executor start the next queued job. Returns the final state."""
    from ..train import train

    job = store.get(job_id)
    if job.state != "running":
        return job.state  # cancelled (or taken) before this process got going
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.is_set():
            store.beat(job_id)
            stop.wait(HEARTBEAT_SECONDS)

    threading.Thread(target=heartbeat, daemon=True, name="heartbeat").start()

    def on_term(signum, frame):
        raise _Stopped()

    signal.signal(signal.SIGTERM, on_term)
    if job.kind == "analysis":
        outcome = _run_analysis(job, store)
        stop.set()
        return _finish(job_id, store, executor, outcome)
    saved = saved_epochs(job)
    store.update(job_id, resumed_from_epoch=saved["train"] if (Path(job.out) / "meta.json").is_file() else None)
    writer = ProgressWriter(store, job_id, saved)
    outcome: dict[str, Any] = {"state": "done", "error": None}
    try:
        train(job.train_config, job.out, resume=True, progress=writer,
              command=f"python -m engine jobs (job {job_id}, attempt {job.attempts})")
    except _Stopped:
        outcome = {"state": "failed", "error": "interrupted by SIGTERM; resume to continue from the last saved epoch"}
    except Exception as exc:  # recorded for the user; the full traceback goes to worker.log
        traceback.print_exc()
        outcome = {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop.set()
        writer.flush()
    return _finish(job_id, store, executor, outcome)


def _run_analysis(job, store: JobStore) -> dict[str, Any]:
    from .analysis import run_analysis_job

    try:
        return run_analysis_job(job, store)
    except _Stopped:
        return {"state": "failed", "error": "interrupted by SIGTERM; resume to compute the results not cached yet"}
    except Exception as exc:  # recorded for the user; the full traceback goes to worker.log
        traceback.print_exc()
        return {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _finish(job_id: str, store: JobStore, executor: Executor | None, outcome: dict[str, Any]) -> str:
    """Record the outcome (unless the job was cancelled or taken meanwhile), then let the
    executor start the next queued job."""
    with store.lock():
        current = store.get(job_id)
        if current.state == "running" and current.pid in (None, os.getpid()):
            current = store.update(job_id, finished=time.time(), **outcome)
    try:
        (executor or get_executor(current.executor, store)).refresh()
    except Exception:  # the next poller starts the queue instead
        traceback.print_exc()
    return current.state
