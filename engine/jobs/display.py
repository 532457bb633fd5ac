"""Reading a job: its per-epoch history from the checkpoints, how far it is, and the
one-line status and summary row the page and ``jobs list`` show."""
from __future__ import annotations

import time
from pathlib import Path

from ..checkpoint import CheckpointError, read_meta
from .configs import pretrain_epochs
from .store import Job


def history(job: Job) -> list[dict]:
    """(An analysis job has none.) Per-epoch metrics from the checkpoint(s), in order, each with ``phase`` and a
    ``step`` counting epochs across phases (pre-training first): what DVERGE Fig. 2 plots."""
    entries = []
    if job.kind == "analysis":
        return entries
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
    if job.kind == "analysis":
        return _analysis_fraction(job, progress)
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


def duration(seconds: float | None) -> str | None:
    """``seconds`` as text (``1 min 05 s``), None for None (a table shows its missing-value mark)."""
    return None if seconds is None else _duration(seconds)


def status_text(job: Job, progress: dict | None = None) -> str:
    """One line saying where a job is, e.g. ``dverge · epoch 1/2 · batch 34/200 · ETA 1 min 05 s``
    (the whole job's ETA, :func:`whole_job_eta`, from :class:`engine.train.Progress`)."""
    if job.kind == "analysis":
        return _analysis_status(job, progress)
    last = (progress or {}).get("last")
    if job.state != "running" or not last:
        return _not_working_status(job)
    phase = "baseline pre-training" if last["phase"] == "pretrain" else f"{job.method} training"
    text = f"{phase} · epoch {last['epoch']}/{last['epochs']} · batch {last['batch']}/{last['batches']}"
    if last["batch"] == last["batches"]:
        text += " · evaluating / saving"
    elif last.get("eta_seconds") is not None:
        text += f" · {whole_job_eta(job, last)}"
    return text


def _not_working_status(job: Job) -> str:
    """The status of a job that is queued, ended, or running without progress yet (training
    and analysis jobs alike)."""
    if job.state == "queued":
        return "queued: starts when a slot is free"
    if job.state != "running":
        text = job.state + (f": {job.error}" if job.error else "")
        if job.started and job.finished:
            text += f" (ran {_duration(job.finished - job.started)})"
        return text
    return "starting the worker..."


def _analysis_fraction(job: Job, progress: dict | None = None) -> float:
    """An analysis job: the weighted share of its items done (engine.jobs.analysis)."""
    if job.state == "done":
        return 1.0
    last = (progress or {}).get("last")
    return float(last["fraction"]) if last else 0.0


def _analysis_status(job: Job, progress: dict | None = None) -> str:
    """An analysis job, e.g. ``blackbox · dverge x3 (dverge): transfer 3/12 · 1/2 done · ETA 4 min 10 s (whole job)``."""
    last = (progress or {}).get("last")
    if job.state != "running" or not last:
        return _not_working_status(job)
    text = f"{last['what']} · {last['done_items']}/{last['items']} done"
    if last.get("eta_seconds") is not None:
        text += f" · ETA {_duration(last['eta_seconds'])} (whole job)"
    return text


def whole_job_eta(job: Job, last: dict) -> str:
    """The time left for the whole job. In the method's phase (the last one) that is the
    phase's ETA; during baseline pre-training it is the pre-training's ETA plus the method's
    epochs estimated from the pre-training's measured speed and the method's cost per batch
    on earlier runs (``job_eta_seconds``, :mod:`engine.train_eta`). Without such a run the
    text says what comes after the pre-training ETA instead of guessing it."""
    eta = _duration(last["eta_seconds"])
    if last["phase"] != "pretrain":
        return f"ETA {eta} (whole job)"
    epochs = job.train_config.epochs
    then = f"{epochs} {job.method} epoch{'s' if epochs != 1 else ''}"
    if last.get("job_eta_seconds") is not None:
        return f"ETA {_duration(last['job_eta_seconds'])} (whole job: pre-training {eta}, then {then}, estimated)"
    return f"pre-training ETA {eta}, then {then} (timed once they start)"


def job_eta_seconds(job: Job, progress: dict | None = None) -> float | None:
    """Seconds left for the whole job (None when not running or not known yet)."""
    last = (progress or {}).get("last") or {}
    if job.state != "running":
        return None
    if job.kind == "analysis" or last.get("phase") != "pretrain":
        return last.get("eta_seconds")
    return last.get("job_eta_seconds")


def summary(job: Job, progress: dict | None = None) -> dict:
    """One row for job lists (page table, ``jobs list``)."""
    if job.kind == "analysis":
        items = job.config["items"]
        last = (progress or {}).get("last") or {}
        return {"id": job.id, "name": job.name, "state": job.state, "kind": "analysis",
                "method": None, "dataset": items[0]["dataset"] if items else None, "arch": None, "members": None,
                "progress": round(fraction_done(job, progress), 4), "epochs_saved": None,
                "accuracy": None, "transferability": None,
                "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.created)),
                "error": job.error, "checkpoint": None,
                "analyses": list(dict.fromkeys(i["analysis"] for i in items)),
                "checkpoints": list(dict.fromkeys(i["checkpoint"] for i in items)),
                "items": len(items), "items_done": len((progress or {}).get("finished", [])),
                "eta_seconds": job_eta_seconds(job, progress), "status": status_text(job, progress)}
    config = job.config
    last_entries = history(job)
    last = last_entries[-1] if last_entries else {}
    return {"id": job.id, "name": job.name, "state": job.state, "kind": "train", "method": config["method"],
            "dataset": config["dataset"], "arch": config["arch"], "members": config["members"],
            "progress": round(fraction_done(job, progress), 4), "epochs_saved": len(last_entries),
            "accuracy": last.get("ensemble_clean_accuracy"), "transferability": last.get("transferability"),
            "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.created)),
            "error": job.error, "checkpoint": job.out,
            "eta_seconds": job_eta_seconds(job, progress), "status": status_text(job, progress)}

