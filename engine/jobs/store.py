"""The job store: job records, progress reports and heartbeats on disk, under one flock
(layout in :mod:`engine.jobs`)."""
from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ..atomic import atomic_write_json
from ..config import TrainConfig
from ..paths import home_dir as user_data_dir

STATES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
HEARTBEAT_SECONDS = 2.0
HEARTBEAT_TIMEOUT = 120.0  # only a hung worker lacks one; a dead pid is noticed at once
_JOB_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")


class JobError(ValueError):
    """A job cannot be created, found or changed (message says why and what to do)."""


class Job(BaseModel):
    """One job record (``job.json``). Times are Unix seconds."""

    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    kind: Literal["train", "analysis"] = "train"  # analysis: config = {"items": [...]} (engine.jobs.analysis)
    state: Literal["queued", "running", "done", "failed", "cancelled"] = "queued"
    config: dict[str, Any]
    out: str  # checkpoint directory (absolute); an analysis job's own directory
    created: float
    queued: float  # when it (re-)entered the queue: FIFO order
    started: float | None = None
    finished: float | None = None
    executor: str | None = None
    slot: str | None = None
    pid: int | None = None
    attempts: int = 0
    resumed_from_epoch: int | None = None  # saved epoch (train phase) the last attempt started from
    error: str | None = None

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig.model_validate(self.config)

    @property
    def method(self) -> str | None:
        return self.config.get("method")



def safe_name(name: str | None, config: TrainConfig) -> str:
    """A directory name from a user's label: letters, digits, ``.-_`` only, no leading
    dot, at most 64 characters (names are never used as raw paths)."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", (name or "").strip()).strip(".-_")[:64]
    return text or f"{config.method}-{config.dataset}-{config.members}x{config.arch}".replace(":", "-")[:64]



_LOCAL = threading.local()


class JobStore:
    """Jobs on disk (see the module docstring for the layout)."""

    def __init__(self, root: str | os.PathLike | None = None, ensembles: str | os.PathLike | None = None):
        self.root = Path(root) if root else user_data_dir() / "jobs"
        self.ensembles = Path(ensembles) if ensembles else user_data_dir() / "ensembles"

    # -- locking: one flock per store, re-entrant within a thread
    @contextmanager
    def lock(self) -> Iterator[None]:
        held = getattr(_LOCAL, "held", None)
        if held is None:
            held = _LOCAL.held = {}
        key = str(self.root.absolute())
        if held.get(key):
            held[key] += 1
            try:
                yield
            finally:
                held[key] -= 1
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            held[key] = 1
            try:
                yield
            finally:
                held[key] = 0
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- paths
    def job_dir(self, job_id: str) -> Path:
        if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
            raise JobError(f"'{job_id}' is not a job id (expected e.g. 20250101-120000-1a2b3c; "
                           "see python -m engine jobs list)")
        return self.root / job_id

    def log_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "worker.log"

    # -- records
    def create(self, config: TrainConfig, name: str | None = None) -> Job:
        """A new queued job with a fresh, unused checkpoint directory."""
        with self.lock():
            base = safe_name(name, config)
            taken = {Path(j.out).name for j in self.list()}
            label, n = base, 1
            while label in taken or (self.ensembles / label).exists():
                n += 1
                label = f"{base}-{n}"
            now = time.time()
            job_id = time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + "-" + secrets.token_hex(3)
            job = Job(id=job_id, name=label, config=config.model_dump(), out=str((self.ensembles / label).resolve()),
                      created=now, queued=now)
            self.save(job)
            return job

    def create_analysis(self, items: list[dict], name: str | None = None, label: str | None = None) -> Job:
        """A new queued analysis job (``items`` from :mod:`engine.jobs.analysis`). ``label``
        tags what asked for it (e.g. ``report``), so a page finds its own jobs again."""
        if not items:
            raise JobError("nothing to compute: every requested result is already cached or none was asked for")
        with self.lock():
            now = time.time()
            job_id = time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + "-" + secrets.token_hex(3)
            text = re.sub(r"[^A-Za-z0-9._ +()-]+", "-", (name or "").strip())[:80] or "analysis"
            job = Job(id=job_id, name=text, kind="analysis", config={"items": items, "label": label},
                      out=str(self.job_dir(job_id).resolve()), created=now, queued=now)
            self.save(job)
            return job

    def save(self, job: Job) -> None:
        atomic_write_json(self.job_dir(job.id) / "job.json", job.model_dump())

    def get(self, job_id: str) -> Job:
        path = self.job_dir(job_id) / "job.json"
        if not path.is_file():
            raise JobError(f"no job '{job_id}' in {self.root}")
        try:
            return Job.model_validate_json(path.read_text())
        except (ValidationError, ValueError) as exc:
            raise JobError(f"{path} is damaged: {exc}") from None

    def list(self) -> list[Job]:
        """Every readable job, newest first."""
        jobs = []
        if self.root.is_dir():
            for path in self.root.glob("*/job.json"):
                try:
                    jobs.append(Job.model_validate_json(path.read_text()))
                except (ValidationError, ValueError, OSError):
                    continue
        return sorted(jobs, key=lambda j: j.created, reverse=True)

    def update(self, job_id: str, **changes: Any) -> Job:
        with self.lock():
            job = self.get(job_id).model_copy(update=changes)
            self.save(job)
            return job

    # -- worker reports
    def progress(self, job_id: str) -> dict:
        path = self.job_dir(job_id) / "progress.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}

    def write_progress(self, job_id: str, data: dict) -> None:
        atomic_write_json(self.job_dir(job_id) / "progress.json", data)

    def beat(self, job_id: str) -> None:
        path = self.job_dir(job_id) / "heartbeat"
        path.touch()
        os.utime(path)

    def last_beat(self, job: Job) -> float:
        try:
            beat = (self.job_dir(job.id) / "heartbeat").stat().st_mtime
        except OSError:
            beat = 0.0
        return max(beat, job.started or 0.0)

