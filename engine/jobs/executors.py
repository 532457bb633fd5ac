"""Executors: how jobs run. :class:`Executor` holds the queue logic; a backend (the
:class:`LocalProcessExecutor` here) implements four hooks and registers itself in
:data:`EXECUTORS`."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from .. import threads
from ..config import TrainConfig
from ..registry import Registry, UnknownName
from .configs import _as_config
from .display import saved_epochs
from .store import ACTIVE, HEARTBEAT_TIMEOUT, Job, JobError, JobStore

REPO = Path(__file__).resolve().parents[2]
MAX_JOBS_ENV = "ROBUST_ENSEMBLES_MAX_JOBS"
MAX_ANALYSIS_JOBS_ENV = "ROBUST_ENSEMBLES_MAX_ANALYSIS_JOBS"
EXECUTOR_ENV = "ROBUST_ENSEMBLES_EXECUTOR"

#: executor name -> Executor subclass (``@EXECUTORS.register("name")`` next to the class).
#: The Ray backend's module imports Ray only when it connects, so loading it is cheap.
EXECUTORS: Registry[type] = Registry("executor", modules=("engine.jobs.ray_executor",))


class Executor(ABC):
    """How jobs run. The public methods (what pages and the CLI call) hold the queue
    logic; a backend implements the four hooks below."""

    name = "abstract"

    def __init__(self, store: JobStore | None = None):
        self.store = store or JobStore()

    # -- backend hooks
    @abstractmethod
    def slots(self) -> list[str]:
        """Names of the places a job can run at once (``cuda:0``, ``cpu``, ...)."""

    @abstractmethod
    def _launch(self, job: Job, slot: str) -> dict:
        """Start ``job`` on ``slot``; return the fields to record (e.g. ``pid``)."""

    @abstractmethod
    def _alive(self, job: Job) -> bool:
        """Whether the job's worker is still running."""

    @abstractmethod
    def _stop(self, job: Job) -> None:
        """Stop the job's worker (its checkpoint keeps its last saved epoch)."""

    def analysis_slots(self) -> list[str]:
        """Slots of analysis jobs, apart from training's so that an analysis never waits for
        a training run: ``ROBUST_ENSEMBLES_MAX_ANALYSIS_JOBS`` (default 1) on the first
        training slot's device; none while the training queue is paused (no slots)."""
        base = self.slots()
        if not base:
            return []
        env = os.environ.get(MAX_ANALYSIS_JOBS_ENV)
        try:
            n = int(env) if env not in (None, "") else 1
        except ValueError:
            raise JobError(f"{MAX_ANALYSIS_JOBS_ENV}={env!r} is not a number of jobs") from None
        return [f"{base[0].split('#')[0]}#analysis{i}" for i in range(max(n, 0))]

    # -- the interface
    def submit_analysis(self, items: list[dict], name: str | None = None, label: str | None = None) -> Job:
        """Queue an analysis job (items from :mod:`engine.jobs.analysis`); starts at once
        if an analysis slot is free."""
        from .analysis import job_title

        job = self.store.create_analysis(items, name or (job_title(items) if items else None), label)
        self.refresh()
        return self.store.get(job.id)

    def submit(self, config: TrainConfig | dict, name: str | None = None) -> Job:
        """Validate, queue, and start at once if a slot is free."""
        job = self.store.create(_as_config(config), name)
        self.refresh()
        return self.store.get(job.id)

    def cancel(self, job_id: str) -> Job:
        with self.store.lock():
            job = self.store.get(job_id)
            if job.state not in ACTIVE:
                raise JobError(f"job {job_id} is {job.state}; only queued or running jobs can be cancelled")
            was_running = job.state == "running"
            job = self.store.update(job_id, state="cancelled", finished=time.time())
        if was_running:  # outside the lock: the worker takes it on its way out
            self._stop(job)
        self.refresh()
        return self.store.get(job_id)

    def resume(self, job_id: str) -> Job:
        """Queue a failed or cancelled job again; it continues from its last saved epoch (an
        analysis job: with the results not cached yet)."""
        with self.store.lock():
            job = self.store.get(job_id)
            if job.state not in ("failed", "cancelled"):
                raise JobError(f"job {job_id} is {job.state}; only failed, interrupted or cancelled jobs can be resumed")
            self.store.update(job_id, state="queued", queued=time.time(), error=None, finished=None, pid=None)
        self.refresh()
        return self.store.get(job_id)

    def refresh(self) -> list[Job]:
        """Mark jobs whose worker died as interrupted, then start queued jobs on free slots."""
        with self.store.lock():
            jobs = self.store.list()
            busy = set()
            for job in jobs:
                if job.state != "running" or job.executor not in (None, self.name):
                    if job.state == "running":
                        busy.add(job.slot)
                    continue
                if self._alive(job):
                    busy.add(job.slot)
                else:
                    self._stop(job)  # a hung worker (no heartbeat) must not keep writing the checkpoint
                    self._mark_interrupted(job)
            free = {"train": [s for s in self.slots() if s not in busy],
                    "analysis": [s for s in self.analysis_slots() if s not in busy]}
            for job in sorted((j for j in jobs if j.state == "queued"), key=lambda j: j.queued):
                if not free[job.kind]:
                    continue
                slot = free[job.kind].pop(0)
                started = self.store.update(job.id, state="running", started=time.time(), executor=self.name,
                                            slot=slot, attempts=job.attempts + 1, pid=None)
                try:
                    handle = self._launch(started, slot)
                except OSError as exc:
                    self.store.update(job.id, state="failed", finished=time.time(),
                                      error=f"could not start the worker: {exc}")
                    free[job.kind].insert(0, slot)
                    continue
                self.store.update(job.id, **handle)
            return self.store.list()

    def _mark_interrupted(self, job: Job) -> None:
        worker = f"pid {job.pid}" if job.pid else f"{job.executor} slot {job.slot}"
        if job.kind == "analysis":
            self.store.update(job.id, state="failed", finished=time.time(),
                              error=f"interrupted: the worker ({worker}) stopped without finishing; the results it "
                                    "finished are cached. Resume to compute the rest.")
            return
        saved = saved_epochs(job)
        where = (f"epoch {saved['train']}" if saved["train"] or not saved["pretrain"]
                 else f"pre-training epoch {saved['pretrain']}")
        self.store.update(job.id, state="failed", finished=time.time(),
                          error=f"interrupted: the worker ({worker}) stopped without finishing; "
                                f"the checkpoint holds {where}. Resume to continue from there.")

    def jobs(self) -> list[Job]:
        return self.refresh()

    def get(self, job_id: str) -> Job:
        return self.store.get(job_id)


def _proc_running(pid: int | None, job_id: str) -> bool:
    """Whether ``pid`` is alive, not a zombie, and (where /proc exists) our job's worker:
    a recycled pid belonging to another program does not count."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return False
            return job_id.encode() in (proc / "cmdline").read_bytes()
        except (OSError, IndexError):
            return False
    return True


def _reap(proc: subprocess.Popen) -> None:
    """Collect the exit status in the background so a finished worker is no zombie."""
    threading.Thread(target=proc.wait, daemon=True, name=f"reap-{proc.pid}").start()


@EXECUTORS.register("local")
class LocalProcessExecutor(Executor):
    """Each job in its own process group on this machine:
    ``python -m engine worker JOB_ID --store ROOT`` (``start_new_session``), so it outlives
    the app. Slots: one per CUDA device, else one on CPU; ``max_jobs`` (or
    ``ROBUST_ENSEMBLES_MAX_JOBS``) sets how many run at once (0 pauses the queue)."""

    name = "local"

    def __init__(self, store: JobStore | None = None, max_jobs: int | None = None, grace_seconds: float = 5.0):
        super().__init__(store)
        env = os.environ.get(MAX_JOBS_ENV)
        if max_jobs is None and env not in (None, ""):
            try:
                max_jobs = int(env)
            except ValueError:
                raise JobError(f"{MAX_JOBS_ENV}={env!r} is not a number of jobs") from None
        if max_jobs is not None and max_jobs < 0:
            raise JobError(f"max_jobs must be >= 0, got {max_jobs}")
        self.max_jobs = max_jobs
        self.grace_seconds = grace_seconds

    def slots(self) -> list[str]:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        n = self.max_jobs if self.max_jobs is not None else max(gpus, 1)
        devices = [f"cuda:{i % gpus}" if gpus else "cpu" for i in range(n)]
        return [d if i < max(gpus, 1) else f"{d}#{i}" for i, d in enumerate(devices)]

    def _launch(self, job: Job, slot: str) -> dict:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        # the worker's OpenMP wait policy (engine/threads.py): it sleeps at once when another job runs
        others = any(j.state == "running" and j.id != job.id for j in self.store.list())
        threads.decide_for_child(env, busy=True if others else None)
        device = slot.split("#")[0]
        if device.startswith("cuda:"):
            env["CUDA_VISIBLE_DEVICES"] = device.split(":")[1]
        if self.max_jobs is not None:
            env[MAX_JOBS_ENV] = str(self.max_jobs)  # the worker hands its slot on with the same bound
        log = open(self.store.log_path(job.id), "ab")
        try:
            proc = subprocess.Popen([sys.executable, "-m", "engine", "worker", job.id, "--store", str(self.store.root)],
                                    cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True)
        finally:
            log.close()
        _reap(proc)
        return {"pid": proc.pid}

    def _alive(self, job: Job) -> bool:
        if not _proc_running(job.pid, job.id):
            return False
        return time.time() - self.store.last_beat(job) < HEARTBEAT_TIMEOUT

    def _stop(self, job: Job) -> None:
        """SIGTERM to the worker's process group, SIGKILL after ``grace_seconds``."""
        if not _proc_running(job.pid, job.id):
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(job.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            deadline = time.time() + self.grace_seconds
            while time.time() < deadline:
                if not _proc_running(job.pid, job.id):
                    return
                time.sleep(0.05)


def get_executor(name: str | None = None, store: JobStore | None = None, **options: Any) -> Executor:
    """The configured executor (``ROBUST_ENSEMBLES_EXECUTOR``, default ``local``)."""
    name = name or os.environ.get(EXECUTOR_ENV) or "local"
    try:
        cls = EXECUTORS.get(name)
    except UnknownName:
        raise JobError(f"unknown executor '{name}'. Known: {', '.join(EXECUTORS)}") from None
    return cls(store, **options)
