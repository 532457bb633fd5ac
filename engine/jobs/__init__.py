"""Background jobs -- training runs and long analyses: a persistent store on disk and
executors that run them.

Analysis jobs (``kind == "analysis"``, :mod:`engine.jobs.analysis`) run registered analyses
(one over the compared ensembles, the report's, the leaderboard's missing cells) in the same
worker, store and executors; their results land in the normal result cache. They have their
own slot(s) (``ROBUST_ENSEMBLES_MAX_ANALYSIS_JOBS``, default 1), so they never queue behind a
training run.

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

Backends: :class:`LocalProcessExecutor` (processes on this machine, the default) and
:class:`~engine.jobs.ray_executor.RayExecutor` (``ROBUST_ENSEMBLES_EXECUTOR=ray``: detached
Ray actors on a cluster, the store on a shared file system; Ray is an optional extra,
imported only when that executor connects). A backend implements four hooks --
``slots()``, ``_launch(job, slot)``, ``_alive(job)``, ``_stop(job)`` -- and registers itself
with ``@EXECUTORS.register(name)`` (:mod:`engine.jobs.executors`). Pages only call
:func:`get_executor` and the ``Executor`` methods ``submit / cancel / resume / refresh /
jobs / get``, so they do not change. :func:`run_job`, the worker body, is backend-agnostic.

The package: :mod:`~engine.jobs.store` (records on disk), :mod:`~engine.jobs.configs`
(validated configs, form defaults), :mod:`~engine.jobs.display` (history, progress, status
text), :mod:`~engine.jobs.executors` (queue logic and backends), :mod:`~engine.jobs.worker`
(the worker body).
"""
from __future__ import annotations

from . import analysis
from .configs import build_config, form_defaults, pretrain_epochs
from .display import fraction_done, history, saved_epochs, status_text, summary
from .executors import (EXECUTOR_ENV, EXECUTORS, MAX_ANALYSIS_JOBS_ENV, MAX_JOBS_ENV, REPO, Executor, LocalProcessExecutor,
                        _proc_running, get_executor)
from .store import (ACTIVE, HEARTBEAT_SECONDS, HEARTBEAT_TIMEOUT, STATES, Job, JobError, JobStore, safe_name)
from .worker import ProgressWriter, run_job

__all__ = ["ACTIVE", "EXECUTORS", "EXECUTOR_ENV", "HEARTBEAT_SECONDS", "HEARTBEAT_TIMEOUT", "MAX_ANALYSIS_JOBS_ENV",
           "MAX_JOBS_ENV", "REPO", "analysis",
           "STATES", "Executor", "Job", "JobError", "JobStore", "LocalProcessExecutor", "ProgressWriter",
           "build_config", "form_defaults", "fraction_done", "get_executor", "history",
           "pretrain_epochs", "run_job", "safe_name", "saved_epochs", "status_text", "summary"]
