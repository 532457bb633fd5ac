"""Analysis jobs: long analyses run in the background like training.

An analysis job is a list of *items*, each one request of :func:`engine.analyses.run`
(``analysis``, ``checkpoint``, validated ``config``) with its result-cache ``key``. The
worker (:func:`run_analysis_job`, in the same worker process and under the same executors as
a training job) runs the items in order; each result lands in the normal result cache the
moment its item ends, so a page shows every finished ensemble at once (partial results) and
the finished job's figure with no recomputation. Items already cached are skipped, so
``resume`` after a cancel or a crash continues with what is left (and the black-box analysis
reuses its cached transfer sets within an item).

What one request is, is decided by the caller: one analysis over the compared ensembles
(:func:`request_items`, what an analysis page submits), the reproduction report's analyses
(:func:`report_items`) or the leaderboard's missing cells (:func:`leaderboard_items`).

Progress (``progress.json``): ``last = {fraction, items, done_items, what, eta_seconds,
time}``, ``finished`` (keys of items done), ``errors`` (an item that fails is recorded and the
job goes on; the job ends ``failed`` naming them). The fraction weights each item by its
expected time, and the ETA covers the whole job: the rate measured on the work computed so
far in this attempt (cached items excluded), or, before there is a rate to measure, the
estimate made before the start.

Expected time (:func:`estimate`): samples x the measured cost per sample of the same
analysis and configuration on the same architecture and device kind. Every computed item
records its cost in ``<store>/costs.json`` (:func:`record_cost`); without a measurement of the
configuration, the analysis' median cost per sample on that architecture; without any, no
estimate (the page says so). It is an estimate: the machine's load changes it.
"""
from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..atomic import atomic_write_json
from ..cache import cache_key
from .store import Job, JobError, JobStore

#: analyses that always run as jobs in the app (minutes on a CPU); any other runs as a job
#: when its estimate exceeds :data:`JOB_THRESHOLD_SECONDS`.
ALWAYS_JOB = ("blackbox", "autoattack", "adaptive", "report", "leaderboard")
JOB_THRESHOLD_SECONDS = 5.0
COSTS_FILE = "costs.json"


# --------------------------------------------------------------------------- items

def _item(name: str, checkpoint: str | Path, config: Any) -> dict:
    """One validated request, with its cache key and the facts its estimate needs."""
    from .. import analyses
    from ..checkpoint import CheckpointError, read_meta

    try:
        analysis = analyses.get(name)
    except analyses.UnknownAnalysis as exc:
        raise JobError(str(exc)) from None
    try:
        parsed = analyses.parse_config(analysis, config)
        key, dataset = analyses.request_key(analysis, checkpoint, parsed)
        meta = read_meta(checkpoint)
    except (analyses.AnalysisError, CheckpointError) as exc:
        raise JobError(str(exc)) from None
    return {"analysis": name, "checkpoint": str(Path(checkpoint).resolve()), "config": parsed.model_dump(),
            "key": key, "dataset": dataset, "arch": str(meta.get("arch")), "members": int(meta.get("members") or 0),
            "samples": int(parsed.samples), "label": analyses.label(checkpoint)}


def request_items(name: str, checkpoints: list[str | Path], config: Any = None) -> list[dict]:
    """One analysis with one config over each checkpoint (what an analysis page runs)."""
    if not checkpoints:
        raise JobError("an analysis job needs at least one checkpoint")
    return [_item(name, path, config) for path in checkpoints]


def report_items(checkpoints: dict[str, str | Path] | None = None, *, eps: float | None = None, samples: int = 500,
                 protocol: str = "quick", autoattack: bool = False) -> list[dict]:
    """Every analysis request :func:`engine.report.build_report` makes with these
    settings (the same configs), so that, once the job is done, building the report only
    reads the cache."""
    from ..data import get_spec
    from ..report import PROTOCOLS, ReportError, analysis_configs, entries_from

    if protocol not in PROTOCOLS:
        raise JobError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    try:
        entries = entries_from(checkpoints)
    except ReportError as exc:
        raise JobError(str(exc)) from None
    dataset = entries[0].dataset
    eps = float(eps) if eps is not None else float(get_spec(dataset).attack_eps)
    compared = [e for e in entries if not e.surrogate]
    configs = analysis_configs(dataset, eps, samples, protocol, [e for e in entries if e.surrogate],
                               autoattack=autoattack)
    names = [n for n in ("transferability", "whitebox", "autoattack", "blackbox", "diversity") if n in configs]
    return [_item(n, e.path, configs[n]) for n in names for e in compared]


def leaderboard_items(board: dict, columns: list[str] | None = None) -> list[dict]:
    """The missing cells of a :func:`engine.leaderboard.leaderboard` board (``cached_only``),
    optionally only those of ``columns``, as items: one per distinct request (clean
    accuracy and PGD come from the same whitebox run; a seed-group row asks for every seed,
    those already cached cost a cache lookup in the job)."""
    items, seen = [], set()
    for row in board["rows"]:
        for key, source in row["sources"].items():
            if source.get("analysis") and row.get(key) is None and key not in row["errors"] \
                    and (columns is None or key in columns):
                for path in row.get("seed_paths") or [row["path"]]:
                    item = _item(source["analysis"], path, source["config"])
                    if item["key"] not in seen:
                        seen.add(item["key"])
                        items.append(item)
    return items


def missing(items: list[dict], cache=None) -> list[dict]:
    """The items whose result is not in the result cache yet (a key lookup each)."""
    from ..cache import default_cache

    cache = cache or default_cache()
    return [i for i in items if i["key"] not in cache]


def job_title(items: list[dict]) -> str:
    names = list(dict.fromkeys(i["analysis"] for i in items))
    ensembles = len({i["checkpoint"] for i in items})
    return f"{'+'.join(names) if len(names) <= 2 else f'{len(names)} analyses'} on {ensembles} ensemble(s)"


# --------------------------------------------------------------------------- estimates

def _signature(item: dict, device: str) -> str:
    config = {k: v for k, v in item["config"].items() if k not in ("samples", "seed", "dataset")}
    return f"{item['analysis']}|{item['arch']}|{device}|{cache_key(config=config)[:16]}"


def _device_kind() -> str:
    from ..device import select_device

    return select_device("auto").type


def _load_costs(store: JobStore) -> dict:
    try:
        return json.loads((store.root / COSTS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def record_cost(store: JobStore, item: dict, seconds: float, device: str | None = None) -> None:
    """Remember what one computed item cost per sample (the last 5 runs per signature)."""
    device = device or _device_kind()
    per_sample = seconds / max(item["samples"], 1)
    with store.lock():
        costs = _load_costs(store)
        entry = costs.setdefault(_signature(item, device), {"analysis": item["analysis"], "arch": item["arch"],
                                                             "device": device, "seconds_per_sample": []})
        entry["seconds_per_sample"] = (entry["seconds_per_sample"] + [round(per_sample, 6)])[-5:]
        atomic_write_json(store.root / COSTS_FILE, costs)


@dataclass(frozen=True)
class Estimate:
    seconds: float | None  # None: nothing measured yet for some item
    per_item: list[float | None]
    text: str  # how it was made, for the page

    @property
    def known(self) -> bool:
        return self.seconds is not None


def estimate(items: list[dict], store: JobStore | None = None, device: str | None = None) -> Estimate:
    """Expected seconds of the items not yet cached: samples x measured cost per sample
    (same analysis, architecture, device kind and configuration; else the analysis' median
    on that architecture and device)."""
    from ..cache import default_cache

    store = store or JobStore()
    device = device or _device_kind()
    costs = _load_costs(store)
    cache = default_cache()
    per_item: list[float | None] = []
    exact = loose = 0
    for item in items:
        if item["key"] in cache:
            per_item.append(0.0)
            continue
        entry = costs.get(_signature(item, device))
        if entry:
            exact += 1
            per_item.append(statistics.median(entry["seconds_per_sample"]) * item["samples"])
            continue
        similar = [v for e in costs.values() if e["analysis"] == item["analysis"] and e["arch"] == item["arch"]
                   and e["device"] == device for v in e["seconds_per_sample"]]
        if similar:
            loose += 1
            per_item.append(statistics.median(similar) * item["samples"])
        else:
            per_item.append(None)
    todo = [p for p in per_item if p != 0.0]
    if not todo:
        return Estimate(0.0, per_item, "everything is cached")
    if any(p is None for p in todo):
        unknown = sum(p is None for p in todo)
        return Estimate(None, per_item, f"no measured cost yet for {unknown} of {len(todo)} run(s) "
                                        "(the first run measures it)")
    basis = "measured cost per sample x samples" + (" (another configuration of the same analysis for "
                                                    f"{loose} run(s))" if loose else "")
    return Estimate(float(sum(todo)), per_item, f"estimate from the {basis}, on {device}; load changes it")


def runs_as_job(name: str, expected: Estimate) -> bool:
    """Whether the app runs this request as a background job rather than in the page."""
    return name in ALWAYS_JOB or not expected.known or (expected.seconds or 0) > JOB_THRESHOLD_SECONDS


# --------------------------------------------------------------------------- finding jobs

def find_job(store: JobStore, keys: list[str], kind_label: str | None = None, *,
             listed: list[Job] | None = None) -> Job | None:
    """The newest analysis job covering any of these cache keys (active ones first), e.g.
    the one a page started before a reload, or None. ``listed``: ``store.list()`` when the
    caller already read it."""
    wanted = set(keys)
    matching = [j for j in (store.list() if listed is None else listed) if j.kind == "analysis" and wanted & {i["key"] for i in j.config["items"]}
                and (kind_label is None or j.config.get("label") == kind_label)]
    active = [j for j in matching if j.state in ("queued", "running")]
    return (active or matching or [None])[0]


# --------------------------------------------------------------------------- progress

class AnalysisProgress:
    """The worker's progress writer for an analysis job (see the module docstring)."""

    def __init__(self, store: JobStore, job_id: str, items: list[dict], expected: Estimate, interval: float = 1.0):
        self.store, self.job_id, self.items, self.interval = store, job_id, items, interval
        known = [p for p in expected.per_item if p]
        default = statistics.median(known) if known else 1.0
        self.weights = [p if p else (default if p is None else 1e-3) for p in expected.per_item]
        self.total = sum(self.weights)
        self.prior = expected.seconds
        old = store.progress(job_id)
        self.data = {"finished": old.get("finished", []), "errors": [], "estimate_seconds": expected.seconds,
                     "estimate_text": expected.text, "started": time.time()}
        self.index, self.written = 0, 0.0
        self.rate_from = (time.time(), 0.0)  # (time, fraction) where the measured rate starts

    def fraction(self, within: float = 0.0) -> float:
        return min(1.0, (sum(self.weights[:self.index]) + within * self.weights[self.index if self.index < len(
            self.weights) else -1]) / self.total) if self.total else 1.0

    def start(self, index: int) -> None:
        self.index = index
        self(0, 1, "starting")

    def skipped(self) -> None:
        """The current item came from the cache: the measured rate starts after it."""
        self.rate_from = (time.time(), self.fraction(1.0))

    def __call__(self, done: int, total: int, what: str = "") -> None:
        now = time.time()
        f = self.fraction(done / total if total else 0.0)
        t0, f0 = self.rate_from
        # a measured rate once it means something: 2 s of work, or a whole item finished
        if f - f0 > 0.02 and now > t0 and (now - t0 > 2.0 or self.data["finished"]):
            eta = (now - t0) * (1 - f) / (f - f0)
        elif self.prior is not None:
            eta = max(0.0, self.prior * (1 - f) - (now - t0))
        else:
            eta = None
        item = self.items[min(self.index, len(self.items) - 1)]
        self.data["last"] = {"fraction": round(f, 4), "items": len(self.items),
                             "done_items": len(set(self.data["finished"]) & {i["key"] for i in self.items}),
                             "what": f"{item['analysis']} · {item['label']}" + (f": {what} {done}/{total}" if what
                                                                                  else ""),
                             "eta_seconds": None if eta is None else round(eta, 1), "time": now}
        if now - self.written >= self.interval:
            self.flush()

    def finish(self, item: dict, error: str | None = None) -> None:
        if error:
            self.data["errors"].append({"key": item["key"], "label": f"{item['analysis']} · {item['label']}",
                                        "error": error})
        elif item["key"] not in self.data["finished"]:
            self.data["finished"].append(item["key"])
        self.index += 1
        self(0, 1, "")
        self.flush()

    def flush(self) -> None:
        self.store.write_progress(self.job_id, self.data)
        self.written = time.time()


def run_analysis_job(job: Job, store: JobStore, *, cache=None,
                     on_item: Callable[[dict], None] | None = None) -> dict:
    """The worker body of an analysis job: every item through :func:`engine.analyses.run`
    (the result cache), with progress. Returns the outcome fields (state, error)."""
    from .. import analyses
    from ..cache import default_cache

    cache = cache or default_cache()
    items = job.config["items"]
    writer = AnalysisProgress(store, job.id, items, estimate(items, store))
    for index, item in enumerate(items):
        writer.start(index)
        if item["key"] in cache:
            writer.skipped()
            writer.finish(item)
            continue
        began = time.time()
        try:
            analyses.run(item["analysis"], item["checkpoint"], item["config"], progress=writer, cache=cache)
        except (analyses.AnalysisError, ValueError, RuntimeError) as exc:
            writer.finish(item, error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            continue
        record_cost(store, item, time.time() - began)
        writer.finish(item)
        if on_item:
            on_item(item)
    errors = writer.data["errors"]
    if errors:
        return {"state": "failed", "error": f"{len(errors)} of {len(items)} run(s) failed; first: "
                                            f"{errors[0]['label']}: {errors[0]['error']}"}
    return {"state": "done", "error": None}


def results_ready(job: Job, store: JobStore) -> list[str]:
    """Keys of the job's items finished so far (from its progress report)."""
    return list(store.progress(job.id).get("finished", []))
