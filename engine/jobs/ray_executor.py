"""Run background training jobs on a Ray cluster (``ROBUST_ENSEMBLES_EXECUTOR=ray``).

Ray is an optional extra (``pip install -r requirements-ray.txt``): nothing on the default
app path imports this module, and :mod:`ray` itself is imported only when a
:class:`RayExecutor` connects.

Where it runs
    ``RAY_ADDRESS`` (or ``--ray-address`` / ``address=``) joins an existing cluster
    (``ray start --head`` on one machine, ``ray start --address HEAD:6379`` on the others).
    Without one, a process that already called ``ray.init`` uses its own instance (tests);
    otherwise a local head is started on demand with ``ray start --head`` (no dashboard,
    Ray's token authentication; Ray 2.60 ignores ``--node-ip-address=127.0.0.1`` and
    listens on the machine's address, so the token in ``~/.ray/auth_token`` is what keeps
    others out), and its address is kept in ``<job store>/ray-head.json`` so
    the next CLI call or app rerun joins the same instance (``ray stop`` ends it). It must
    outlive the command that started it: ``jobs submit`` returns at once while the job
    keeps training.

Where results go: a shared file system (decided, not the object store)
    Each job runs in a *detached named actor* that calls the same worker body as local
    jobs, :func:`engine.jobs.worker.run_job`, on the same :class:`~engine.jobs.JobStore`. So the
    job store and the ensembles directory must be at the same absolute path on every node
    (NFS or similar; ``ROBUST_ENSEMBLES_HOME`` pointing there), and so must this checkout
    (its directory is put on the workers' ``PYTHONPATH``). Why: checkpoints are written
    after *every* epoch and read live by the Train page, ``jobs list``, resume and the
    analyses, all of which read plain files; shipping them through Ray's object store
    would need a second copy of every epoch, a collector process on the app's machine and
    would lose the last epochs when the driver that owns the objects goes away, which is
    exactly when resume is needed. On one machine (the on-demand local instance) the
    requirement holds trivially.

Resources
    One job per GPU by default; ``ROBUST_ENSEMBLES_RAY_GPUS_PER_JOB`` (e.g. 0.5) packs
    small models two to a GPU. Without GPUs, jobs are placed by cores:
    ``ROBUST_ENSEMBLES_RAY_CPUS_PER_JOB`` (default 1) cores each, so a cluster with C
    cores runs C of them at once. :meth:`RayExecutor.slots` turns the cluster's totals
    into that many slots, so a job marked running is really running (Ray never holds it
    pending for resources), and queued jobs wait in our store, visible in ``jobs list``.

Cancel kills the job's actor (``ray.kill``); checkpoints are written atomically, so the
last saved epoch survives and ``resume`` continues from it in a new actor.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .. import threads
from ..checkpoint import atomic_write_json
from .executors import EXECUTOR_ENV, EXECUTORS, REPO, Executor
from .store import HEARTBEAT_TIMEOUT, Job, JobError, JobStore

ADDRESS_ENV = "RAY_ADDRESS"
GPUS_ENV = "ROBUST_ENSEMBLES_RAY_GPUS_PER_JOB"
CPUS_ENV = "ROBUST_ENSEMBLES_RAY_CPUS_PER_JOB"
NAMESPACE = "robust_ensembles"
HEAD_FILE = "ray-head.json"
START_TIMEOUT = 900.0  # seconds an actor may take to start its worker (see RayExecutor._alive)
#: environment a job's actor gets from the executor that launched it (so the worker's own
#: executor, which starts the next queued job, schedules with the same settings)
FORWARDED_ENV = (GPUS_ENV, CPUS_ENV, "ROBUST_ENSEMBLES_HOME", "ROBUST_ENSEMBLES_CACHE")


def _import_ray():
    try:
        import ray
    except ImportError:
        raise JobError("the Ray executor needs Ray: pip install -r requirements-ray.txt "
                       f"(or unset {EXECUTOR_ENV} to run jobs as local processes)") from None
    return ray


def _float_env(name: str, value: float | None, default: float | None) -> float | None:
    if value is not None:
        return float(value)
    text = os.environ.get(name)
    if text in (None, ""):
        return default
    try:
        number = float(text)
    except ValueError:
        raise JobError(f"{name}={text!r} is not a number") from None
    if number <= 0:
        raise JobError(f"{name} must be > 0, got {text}")
    return number


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_cli(ray_cli: str, args: list[str], env: dict, timeout: float, what: str) -> None:
    """Run ``ray ARGS``; a failure is a :class:`JobError` naming ``what`` and the last lines
    Ray printed."""
    try:
        done = subprocess.run([ray_cli, *args], env=env, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JobError(f"could not {what}: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise JobError(f"could not {what} (ray {' '.join(args[:2])}): " + " | ".join(tail))


def ensure_auth_token(ray_cli: str, env: dict, timeout: float = 120.0) -> None:
    """Create the user's Ray token (``~/.ray/auth_token``) if there is none yet, so that a
    token-authenticated head starts on a machine that never ran Ray (``ray start`` there
    fails: "no authentication token was found"). An existing token is never replaced
    (``ray get-auth-token --generate`` only writes when none exists); the token it prints
    is discarded."""
    _ray_cli(ray_cli, ["get-auth-token", "--generate"], env, timeout, "create a Ray authentication token")


def start_local_head(store_root: Path, num_cpus: int | None = None, timeout: float = 120.0) -> str:
    """``ray start --head`` (no dashboard, token authentication), recorded in
    ``store_root/ray-head.json`` as ``127.0.0.1:PORT``; returns that address. The instance
    outlives this process; :func:`stop_local_head` (or ``ray stop``, which ends every Ray
    instance of the user) ends it."""
    ray_cli = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    if not Path(ray_cli).exists():
        raise JobError("the 'ray' command was not found next to this Python; pip install -r requirements-ray.txt")
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
               RAY_USAGE_STATS_ENABLED="0")
    if env.get("RAY_AUTH_MODE") == "token":
        ensure_auth_token(ray_cli, env, timeout)
    args = ["start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--include-dashboard=false",
            "--disable-usage-stats"]
    if num_cpus is not None:
        args.append(f"--num-cpus={num_cpus}")
    _ray_cli(ray_cli, args, env, timeout, "start a local Ray instance")
    address = f"127.0.0.1:{port}"
    atomic_write_json(Path(store_root) / HEAD_FILE, {"address": address, "started": time.time()})
    return address


def _head_processes(address: str) -> list[int]:
    """Pids of the local head at ``address``: the processes naming its GCS port on their
    command line (GCS server, raylet, monitors) and their descendants (the raylet's agents
    and workers, whose command lines Ray rewrites)."""
    port = address.rpartition(":")[2]
    marks = (f"--gcs_server_port={port}".encode(), f":{port} ".encode())
    parents: dict[int, int] = {}
    found = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if int(proc.name) != os.getpid() and any(m in cmdline for m in marks):
            found.add(int(proc.name))
    grew = True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in found} - found - {os.getpid()}
        grew = bool(children)
        found |= children
    return sorted(found)


def stop_local_head(store_root: Path, timeout: float = 10.0) -> list[int]:
    """End the on-demand local head recorded in ``store_root/ray-head.json`` (and only that
    one: ``ray stop`` would end every Ray instance of this user on the machine); returns
    the pids it signalled. Linux only (reads /proc)."""
    import signal

    try:
        address = json.loads((Path(store_root) / HEAD_FILE).read_text())["address"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    pids = _head_processes(address)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + timeout
        while time.time() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
            time.sleep(0.2)
    (Path(store_root) / HEAD_FILE).unlink(missing_ok=True)
    return pids


@EXECUTORS.register("ray")
class RayExecutor(Executor):
    """Jobs as detached Ray actors (see the module docstring). ``address``: a cluster to
    join (default ``RAY_ADDRESS``; none: the process's own Ray, else an on-demand local
    head). ``gpus_per_job`` / ``cpus_per_job`` override the environment settings."""

    name = "ray"

    def __init__(self, store: JobStore | None = None, address: str | None = None,
                 gpus_per_job: float | None = None, cpus_per_job: float | None = None,
                 max_jobs: int | None = None, num_cpus: int | None = None):
        super().__init__(store)
        self.address = address or os.environ.get(ADDRESS_ENV) or None
        self.num_cpus = num_cpus  # cores of an on-demand local head (default: all of this machine's)
        self.gpus_per_job = _float_env(GPUS_ENV, gpus_per_job, None)
        self.cpus_per_job = _float_env(CPUS_ENV, cpus_per_job, 1.0)
        if max_jobs is not None and max_jobs < 0:
            raise JobError(f"max_jobs must be >= 0, got {max_jobs}")
        self.max_jobs = max_jobs
        self._ray = None

    # -- connection
    def connect(self):
        """The :mod:`ray` module, connected (joining or starting an instance as documented)."""
        if self._ray is not None:
            return self._ray
        address = self.address or self._recorded_head()
        if not self.address:
            # A head started by `ray start` (ours) requires Ray's token authentication
            # (Ray >= 2.5x turns it on by default; the token is ~/.ray/auth_token); a client
            # reads the mode when `ray` is first imported, so it is set before that.
            os.environ.setdefault("RAY_AUTH_MODE", "token")
        ray = _import_ray()
        if not ray.is_initialized():
            options = dict(namespace=NAMESPACE, log_to_driver=False, include_dashboard=False,
                           ignore_reinit_error=True, logging_level="error")
            if address is None:
                address = start_local_head(self.store.root, num_cpus=self.num_cpus)
            # Workers import this checkout (shared file system, see the module docstring).
            # ... and with OpenMP threads that sleep while they wait from their first import: a
            # cluster runs one actor per CPU, always beside others (engine/threads.py)
            runtime_env = {"env_vars": {"PYTHONPATH": str(REPO), **threads.BUSY}}
            try:
                ray.init(address=address, runtime_env=runtime_env, **options)
            except Exception as exc:  # noqa: BLE001 - ray raises ConnectionError, RuntimeError, ...
                raise JobError(f"could not connect to the Ray cluster at {address}: {exc}") from None
        self._ray = ray
        return ray

    def _recorded_head(self) -> str | None:
        """The address of the on-demand local head this store started, if it still answers."""
        try:
            address = json.loads((self.store.root / HEAD_FILE).read_text())["address"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        host, _, port = address.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=2):
                return address
        except (OSError, ValueError):
            return None

    # -- backend hooks
    def slots(self) -> list[str]:
        """As many slots as the cluster's totals allow: ``floor(GPUs / gpus_per_job)``
        when it has GPUs (one job per GPU by default), else ``floor(CPUs / cpus_per_job)``."""
        resources = self.connect().cluster_resources()
        gpus, cpus = resources.get("GPU", 0.0), resources.get("CPU", 0.0)
        if gpus > 0:
            per_job = self.gpus_per_job or 1.0
            n, kind = math.floor(gpus / per_job + 1e-9), "gpu"
        else:
            n, kind = math.floor(cpus / self.cpus_per_job + 1e-9), "cpu"
        if self.max_jobs is not None:
            n = min(n, self.max_jobs)
        return [f"ray:{kind}#{i}" for i in range(n)]

    def _resources(self, slot: str) -> dict:
        if slot.startswith("ray:gpu"):
            return {"num_gpus": self.gpus_per_job or 1.0, "num_cpus": min(self.cpus_per_job, 1.0)}
        return {"num_gpus": 0, "num_cpus": self.cpus_per_job}

    @staticmethod
    def actor_name(job: Job) -> str:
        return f"job-{job.id}-{job.attempts}"

    def _launch(self, job: Job, slot: str) -> dict:
        ray = self.connect()
        env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
        env.update({GPUS_ENV: str(self.gpus_per_job)} if self.gpus_per_job else {})
        env[CPUS_ENV] = str(self.cpus_per_job)
        try:
            _runner_class(ray).options(name=self.actor_name(job), namespace=NAMESPACE, lifetime="detached",
                                               max_restarts=0, **self._resources(slot)).remote(
                job.id, str(self.store.root.resolve()), str(self.store.ensembles.resolve()), env)
        except Exception as exc:  # noqa: BLE001 - surfaced as a failed start by Executor.refresh
            raise OSError(f"Ray could not start the job's actor: {exc}") from None
        return {"pid": None}

    def _actor(self, job: Job):
        ray = self.connect()
        try:
            return ray.get_actor(self.actor_name(job), namespace=NAMESPACE)
        except ValueError:  # no such (live) actor
            return None

    def _alive(self, job: Job) -> bool:
        """The job's actor exists and its worker beats; before the first beat of this
        attempt (the actor's process is starting and importing torch) it gets
        START_TIMEOUT seconds, since a busy node can take minutes for that."""
        if self._actor(job) is None:
            return False
        last = self.store.last_beat(job)
        started = job.started or 0.0
        limit = HEARTBEAT_TIMEOUT if last > started else START_TIMEOUT
        return time.time() - last < limit

    def _stop(self, job: Job) -> None:
        """Kill the job's actor and wait (briefly) until its name is gone."""
        actor = self._actor(job)
        if actor is None:
            return
        self._ray.kill(actor, no_restart=True)
        deadline = time.time() + 10.0
        while time.time() < deadline and self._actor(job) is not None:
            time.sleep(0.05)


_RUNNER = None


def _runner_class(ray):
    """The actor class (defined once Ray is imported, so importing this module never needs Ray).

    The job runs in the actor's constructor on purpose: a detached actor's creation task is
    kept by Ray's control store (GCS), so it starts even when the process that asked for it
    (``jobs submit``, or a finishing worker handing its slot on) has already exited, whereas
    a method call is delivered by its caller and dies with it."""
    global _RUNNER
    if _RUNNER is None:
        @ray.remote
        class JobRunner:
            """One job's worker: :func:`engine.jobs.run_job`, then the actor exits."""

            def __init__(self, job_id: str, root: str, ensembles: str, env: dict) -> None:
                _run_in_actor(job_id, root, ensembles, env)

        _RUNNER = JobRunner
    return _RUNNER


def _run_in_actor(job_id: str, root: str, ensembles: str, env: dict[str, Any]) -> str:
    """The actor's body: the job's output goes to its ``worker.log`` (as for a local job),
    then :func:`engine.jobs.run_job`; then the actor ends itself (:func:`_end_this_actor`)
    so that its resources go to the next job."""

    from .worker import run_job

    os.environ.update(env)
    os.environ[EXECUTOR_ENV] = "ray"
    store = JobStore(root, ensembles)
    with open(store.log_path(job_id), "ab", buffering=0) as log:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        state = run_job(job_id, store)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        _end_this_actor()
    return state


def _end_this_actor() -> None:
    """Ask Ray's control store to kill this (detached) actor.

    ``ray.actor.exit_actor()`` does not end an actor from inside its constructor (where the
    job runs, see :func:`_runner_class`): the actor stayed alive and idle, holding its CPU
    or GPU for ever, so the next queued job's actor could never be placed (measured on a
    2-CPU instance: the second pair of a 2 x 2 sweep waited until the test timed out).
    ``ray.kill`` through the control store ends the process whatever it is doing; the
    next job's actor was registered with the control store before (by
    :meth:`RayExecutor.refresh` in :func:`engine.jobs.run_job`), so it does not depend on
    this process."""
    import ray

    try:
        name = ray.get_runtime_context().get_actor_name()
        ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
    except Exception:  # noqa: BLE001 - not an actor, or already gone: nothing to end
        traceback.print_exc()

