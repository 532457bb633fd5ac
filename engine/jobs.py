"""Background training jobs: a persistent store on disk and executors that run them.

The app never trains in its own (Streamlit script) thread. A *job* is a validated
:class:`~engine.config.TrainConfig` plus an output checkpoint directory; an *executor* runs
it in a separate worker process that calls :func:`engine.train.train` and reports back
through the store. Everything lives on disk, so jobs survive page reloads, a closed tab and
a restart of the app, and the CLI (``python -m engine jobs ...``) sees the same jobs.

Store layout (root: ``user_data_dir()/jobs`` unless configured)::

    root/.lock                    one flock; every state change happens under it
    root/<id>/job.json            the Job record, replaced atomically
    root/<id>/progress.json       written by the worker only: last report + loss curve
    root/<id>/heartbeat           touched by the worker every HEARTBEAT_SECONDS
    root/<id>/worker.log          the worker's stdout/stderr (full tracebacks)

Checkpoints go to ``user_data_dir()/ensembles/<safe name>`` (never the source tree's
``checkpoints/``); per-epoch metrics are read from the checkpoint's ``meta.json`` history
(and ``pretrain/meta.json`` for DVERGE-family runs), the one source of truth.

States: ``queued -> running -> done | failed | cancelled``; ``resume`` puts a failed or
cancelled job back in the queue and its worker continues from the last saved epoch
(``train(..., resume=True)``). A running job whose worker is gone (pid dead or zombie, or
no heartbeat for HEARTBEAT_TIMEOUT seconds) is marked failed with an "interrupted" error.

Scheduling is poll-driven: whoever calls :meth:`Executor.refresh` (the Train page's live
view, ``jobs list``, and every worker when it ends) detects dead workers and starts queued
jobs while slots are free: one per GPU, one on CPU by default (``ROBUST_ENSEMBLES_MAX_JOBS``
or ``max_jobs`` overrides). A worker that ends hands its slot to the next queued job, so
the queue drains with no page open.

Adding a Ray backend later: write ``class RayExecutor(Executor)`` implementing the four
backend hooks -- ``slots()`` (e.g. one per GPU in the cluster), ``_launch(job, slot)``
(``ray.remote(run_job).options(num_gpus=1).remote(job.id, str(store.root))`` with the store
on a shared file system; return the handle fields to record), ``_alive(job)`` (task state)
and ``_stop(job)`` (``ray.cancel``) -- and register it in ``EXECUTORS["ray"]``. Pages only
call :func:`get_executor` (``ROBUST_ENSEMBLES_EXECUTOR`` picks the backend) and the
``Executor`` methods ``submit / cancel / resume / refresh / jobs / get``, so they do not
change. :func:`run_job`, the worker body, is backend-agnostic.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import traceback
from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from .checkpoint import CheckpointError, atomic_write_json, read_meta
from .config import TrainConfig, make_config
from .zoo import user_data_dir

REPO = Path(__file__).resolve().parents[1]
STATES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
HEARTBEAT_SECONDS = 2.0
HEARTBEAT_TIMEOUT = 120.0  # only a hung worker lacks one; a dead pid is noticed at once
MAX_JOBS_ENV = "ROBUST_ENSEMBLES_MAX_JOBS"
EXECUTOR_ENV = "ROBUST_ENSEMBLES_EXECUTOR"
_JOB_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")


class JobError(ValueError):
    """A job cannot be created, found or changed (message says why and what to do)."""


class Job(BaseModel):
    """One job record (``job.json``). Times are Unix seconds."""

    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    state: Literal["queued", "running", "done", "failed", "cancelled"] = "queued"
    config: dict[str, Any]
    out: str  # checkpoint directory (absolute)
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
    def method(self) -> str:
        return self.config["method"]


# --------------------------------------------------------------------------- configs and names

def build_config(method: str, preset: str | None = "quick", **fields: Any) -> TrainConfig:
    """:func:`engine.config.make_config`, with a validation failure turned into a
    :class:`JobError` that names each bad field (what the page and CLI show)."""
    try:
        return make_config(method, preset, **fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise JobError(f"invalid training configuration: {problems}") from None
    except ValueError as exc:
        raise JobError(f"invalid training configuration: {exc}") from None


def _as_config(config: TrainConfig | dict) -> TrainConfig:
    if isinstance(config, TrainConfig):
        return config
    values = dict(config)
    if "method" not in values:
        raise JobError("invalid training configuration: 'method' is required")
    return build_config(values.pop("method"), values.pop("preset", None), **values)


def safe_name(name: str | None, config: TrainConfig) -> str:
    """A directory name from a user's label: letters, digits, ``.-_`` only, no leading
    dot, at most 64 characters (names are never used as raw paths)."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", (name or "").strip()).strip(".-_")[:64]
    return text or f"{config.method}-{config.dataset}-{config.members}x{config.arch}".replace(":", "-")[:64]


def pretrain_epochs(config: TrainConfig) -> int:
    """Baseline pre-training epochs this run does before its method (DVERGE Alg. 1, l. 1-4)."""
    from .methods import get_method

    if get_method(config.method).starts_from_baseline and not config.init_from:
        return config.pretrain_epochs
    return 0


def form_defaults(method: str, preset: str | None) -> dict[str, Any]:
    """Values of the key training fields for ``method`` under ``preset`` (what a form
    shows as default), with the method's own learning rate when the preset leaves it."""
    from .methods import get_method

    config = build_config(method, preset)
    values = {k: getattr(config, k) for k in ("dataset", "arch", "members", "epochs", "pretrain_epochs",
                                              "batch_size", "lr", "train_subset", "seed")}
    recipe = get_method(method).optimizer
    if values["lr"] is None:
        values["lr"] = recipe.lr
    values["optimizer"] = recipe.name
    values["uses_pretrain"] = get_method(method).starts_from_baseline
    return values


def param_fields(method: str) -> list[dict]:
    """The method's hyperparameters as form fields: name, kind (int/float/bool/choice),
    default (None = derived from the data set), description, choices."""
    import typing

    from .methods import get_method

    fields = []
    for name, info in get_method(method).Params.model_fields.items():
        annotation, optional = info.annotation, False
        if typing.get_origin(annotation) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional, annotation = True, args[0]
        if typing.get_origin(annotation) is typing.Literal:
            kind, choices = "choice", list(typing.get_args(annotation))
        else:
            kind, choices = {bool: "bool", int: "int", float: "float"}.get(annotation, "str"), None
        fields.append({"name": name, "kind": kind, "default": info.default, "optional": optional,
                       "description": info.description or "", "choices": choices})
    return fields


# --------------------------------------------------------------------------- the store

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


# --------------------------------------------------------------------------- reading a job

def history(job: Job) -> list[dict]:
    """Per-epoch metrics from the checkpoint(s), in order, each with ``phase`` and a
    ``step`` counting epochs across phases (pre-training first): what DVERGE Fig. 2 plots."""
    entries = []
    for phase, directory in (("pretrain", Path(job.out) / "pretrain"), ("train", Path(job.out))):
        try:
            meta = read_meta(directory)
        except CheckpointError:
            continue
        entries += [dict(h, phase=phase) for h in meta.get("history", [])]
    for step, entry in enumerate(entries, start=1):
        entry["step"] = step
    return entries


def saved_epochs(job: Job) -> dict[str, int]:
    """Last saved epoch per phase (0 when nothing is saved yet)."""
    out = {}
    for phase, directory in (("pretrain", Path(job.out) / "pretrain"), ("train", Path(job.out))):
        try:
            out[phase] = int(read_meta(directory).get("epoch") or 0)
        except CheckpointError:
            out[phase] = 0
    return out


def fraction_done(job: Job, progress: dict | None = None) -> float:
    """Share of all epochs (pre-training + training) completed, from the last report, or
    from the saved checkpoints when there is none."""
    if job.state == "done":
        return 1.0
    config = job.train_config
    pre, total = pretrain_epochs(config), pretrain_epochs(config) + config.epochs
    last = (progress or {}).get("last")
    if last:
        offset = 0 if last["phase"] == "pretrain" else pre
        done = offset + last["epoch"] - 1 + last["batch"] / max(last["batches"], 1)
    else:
        saved = saved_epochs(job)
        done = min(saved["pretrain"], pre) + saved["train"]
    return max(0.0, min(1.0, done / total))


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def status_text(job: Job, progress: dict | None = None) -> str:
    """One line saying where a job is, e.g. ``dverge · epoch 1/2 · batch 34/200 · ETA 1 min 05 s``
    (the ETA is that of the current phase, from :class:`engine.train.Progress`)."""
    last = (progress or {}).get("last")
    if job.state == "queued":
        return "queued: starts when a slot is free"
    if job.state != "running":
        text = job.state + (f": {job.error}" if job.error else "")
        if job.started and job.finished:
            text += f" (ran {_duration(job.finished - job.started)})"
        return text
    if not last:
        return "starting the worker..."
    phase = "baseline pre-training" if last["phase"] == "pretrain" else f"{job.method} training"
    text = f"{phase} · epoch {last['epoch']}/{last['epochs']} · batch {last['batch']}/{last['batches']}"
    if last["batch"] == last["batches"]:
        text += " · evaluating / saving"
    elif last.get("eta_seconds") is not None:
        text += f" · ETA {_duration(last['eta_seconds'])}" + (" (pre-training)" if last["phase"] == "pretrain" else "")
    return text


def summary(job: Job, progress: dict | None = None) -> dict:
    """One row for job lists (page table, ``jobs list``)."""
    config = job.config
    last_entries = history(job)
    last = last_entries[-1] if last_entries else {}
    return {"id": job.id, "name": job.name, "state": job.state, "method": config["method"],
            "dataset": config["dataset"], "arch": config["arch"], "members": config["members"],
            "progress": round(fraction_done(job, progress), 4), "epochs_saved": len(last_entries),
            "accuracy": last.get("ensemble_clean_accuracy"), "transferability": last.get("transferability"),
            "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.created)),
            "error": job.error, "checkpoint": job.out}


# --------------------------------------------------------------------------- executors

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

    # -- the interface
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
        """Queue a failed or cancelled job again; it continues from its last saved epoch."""
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
            free = [s for s in self.slots() if s not in busy]
            for job in sorted((j for j in jobs if j.state == "queued"), key=lambda j: j.queued):
                if not free:
                    break
                slot = free.pop(0)
                started = self.store.update(job.id, state="running", started=time.time(), executor=self.name,
                                            slot=slot, attempts=job.attempts + 1, pid=None)
                try:
                    handle = self._launch(started, slot)
                except OSError as exc:
                    self.store.update(job.id, state="failed", finished=time.time(),
                                      error=f"could not start the worker: {exc}")
                    free.insert(0, slot)
                    continue
                self.store.update(job.id, **handle)
            return self.store.list()

    def _mark_interrupted(self, job: Job) -> None:
        saved = saved_epochs(job)
        where = (f"epoch {saved['train']}" if saved["train"] or not saved["pretrain"]
                 else f"pre-training epoch {saved['pretrain']}")
        self.store.update(job.id, state="failed", finished=time.time(),
                          error=f"interrupted: the worker (pid {job.pid}) stopped without finishing; "
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


EXECUTORS: dict[str, type[Executor]] = {"local": LocalProcessExecutor}


def get_executor(name: str | None = None, store: JobStore | None = None, **options: Any) -> Executor:
    """The configured executor (``ROBUST_ENSEMBLES_EXECUTOR``, default ``local``)."""
    name = name or os.environ.get(EXECUTOR_ENV) or "local"
    if name not in EXECUTORS:
        raise JobError(f"unknown executor '{name}'. Known: {', '.join(EXECUTORS)}")
    return EXECUTORS[name](store, **options)


# --------------------------------------------------------------------------- the worker

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
                             "batches": p.batches, "eta_seconds": p.eta_seconds, "time": now,
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
    from .train import train

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
    with store.lock():
        current = store.get(job_id)
        if current.state == "running" and current.pid in (None, os.getpid()):
            current = store.update(job_id, finished=time.time(), **outcome)
    try:
        (executor or get_executor(current.executor, store)).refresh()
    except Exception:  # the next poller starts the queue instead
        traceback.print_exc()
    return current.state
