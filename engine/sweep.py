"""Sweeps: a grid of training runs over methods, seeds and hyperparameters, run as
background jobs on the selected executor (local processes or Ray), then evaluated and
summarized as mean ± std over seeds.

``python -m engine sweep --method dverge,baseline --seeds 0-4 --param eps=0.05,0.1``
expands to one *trial* per (method, grid point, seed). A grid key is either a training
field (``lr``, ``epochs``, ``batch_size``, ...) or a method hyperparameter; a
hyperparameter only expands the methods that have it (a baseline has no ``eps``).

Each trial is an ordinary job (``jobs list`` and the Train page show it, cancel and
resume work as for any job), so the executor decides where it runs: with
``--executor ray`` every trial is a Ray actor placed by the cluster's scheduler (one per
GPU, or by cores). Ray Tune's trial runner was considered and not used: its trial state
lives in the driver process and its experiment directory, while ours must survive the
command that started it, show in the app like every other job and resume from the last
saved epoch; a grid of independent runs needs no search algorithm or early stopping.

The sweep record (``<user data>/sweeps/<name>.json``) maps each trial key to its job, so
rerunning the same command skips finished trials, resumes failed or cancelled ones and
only submits what is missing. The default name is derived from the training grid alone:
the same command (with another ``--analysis``) finds the same sweep.

DVERGE's README warns that random layer sampling makes results vary between runs: the
table reports every metric as mean ± std (sample standard deviation, ``ddof=1``) over the
seeds of each grid point, with ``n`` the number of finished seeds.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import statistics
import time
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field

from .checkpoint import atomic_write_json
from .config import TrainConfig
from .jobs import Executor, Job, JobError, build_config, history
from .paths import home_dir as user_data_dir

#: training fields a grid or fixed value may set (method/preset/seed have their own flags)
TRAIN_FIELDS = tuple(k for k in TrainConfig.model_fields if k not in ("method", "preset", "seed", "method_params"))
#: history metrics every sweep reports (last epoch), whatever the analysis
HISTORY_METRICS = {"accuracy": "ensemble_clean_accuracy", "transferability": "transferability"}
TERMINAL = ("done", "failed", "cancelled")


class SweepError(ValueError):
    """A sweep cannot be expanded, found or run (message says why)."""


# --------------------------------------------------------------------------- parsing

def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"0,2,7"``; ``"0-2,9"``; duplicates dropped, order kept."""
    seeds: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise SweepError(f"--seeds expects e.g. 0-4 or 0,1,2 (non-negative integers), got {text!r}")
        lo, hi = int(match[1]), int(match[2] if match[2] is not None else match[1])
        if hi < lo:
            raise SweepError(f"--seeds range {part!r} is empty (write the smaller seed first)")
        seeds += [s for s in range(lo, hi + 1) if s not in seeds]
    if len(seeds) > 1000:
        raise SweepError(f"--seeds {text!r} gives {len(seeds)} seeds; at most 1000")
    return seeds


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_grid(pairs: list[str] | None) -> dict[str, list]:
    """``["eps=0.05,0.1", "lr=0.01"]`` -> ``{"eps": [0.05, 0.1], "lr": [0.01]}`` (each value
    read as JSON when it parses, else kept as text)."""
    grid: dict[str, list] = {}
    for pair in pairs or []:
        key, sep, values = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not values.strip():
            raise SweepError(f"--param expects KEY=V1,V2,..., got {pair!r}")
        if key in grid:
            raise SweepError(f"--param {key} is given twice; list all its values in one --param {key}=V1,V2")
        grid[key] = list(dict.fromkeys(_value(v.strip()) for v in values.split(",") if v.strip()))
    return grid


# --------------------------------------------------------------------------- the grid

class SweepSpec(BaseModel):
    """What a sweep trains (validated at the edge; every trial's config is validated too)."""

    model_config = ConfigDict(extra="forbid")

    methods: list[str] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    preset: str | None = "quick"
    fixed: dict[str, Any] = Field(default_factory=dict, description="training fields set for every trial")
    name: str | None = None

    def sweep_name(self) -> str:
        if self.name:
            text = re.sub(r"[^A-Za-z0-9._-]+", "-", self.name).strip(".-_")[:48]
            if not text:
                raise SweepError(f"sweep name {self.name!r} has no usable characters (letters, digits, . - _)")
            return text
        digest = hashlib.sha256(json.dumps(self.model_dump(exclude={"name"}), sort_keys=True,
                                           default=str).encode()).hexdigest()[:8]
        return f"{'-'.join(self.methods)[:32]}-{digest}"


class Trial(BaseModel):
    key: str
    method: str
    seed: int
    params: dict[str, Any]  # this grid point's values (training fields and hyperparameters)
    config: dict[str, Any]  # the validated TrainConfig


def _method_params(method: str) -> set[str]:
    from .methods import get_method

    return set(get_method(method).Params.model_fields)


def expand(spec: SweepSpec) -> list[Trial]:
    """Every (method, grid point, seed), each validated into a training config."""
    from .methods import METHODS

    unknown = [m for m in spec.methods if m not in METHODS]
    if unknown:
        raise SweepError(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    for key in spec.grid:
        if key in ("method", "seed", "preset"):
            raise SweepError(f"--param {key}: use --{'method' if key == 'method' else key + 's'} for that")
        if key not in TRAIN_FIELDS and not any(key in _method_params(m) for m in spec.methods):
            raise SweepError(f"--param {key}: not a training field nor a hyperparameter of "
                             f"{', '.join(spec.methods)}")
    trials: list[Trial] = []
    for method in spec.methods:
        keys = [k for k in spec.grid if k in TRAIN_FIELDS or k in _method_params(method)]
        for values in itertools.product(*(spec.grid[k] for k in keys)):
            point = dict(zip(keys, values))
            fields = {k: v for k, v in {**spec.fixed, **point}.items() if k in TRAIN_FIELDS}
            hyper = {k: v for k, v in point.items() if k not in TRAIN_FIELDS}
            hyper = {**spec.fixed.get("method_params", {}), **hyper}
            for seed in spec.seeds:
                try:
                    config = build_config(method, spec.preset, seed=seed, method_params=hyper, **fields)
                except JobError as exc:
                    raise SweepError(f"{method} with {point or 'the defaults'}: {exc}") from None
                # the config's digest too: the same name with other fixed settings is other trials
                digest = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:12]
                key = json.dumps({"method": method, "seed": seed, "params": point, "config": digest},
                                 sort_keys=True, default=str)
                trials.append(Trial(key=key, method=method, seed=seed, params=point, config=config.model_dump()))
    return trials


def trial_name(sweep: str, trial: Trial) -> str:
    """Job (and checkpoint directory) name: readable, at most 64 characters."""
    params = "-".join(f"{k}{v}" for k, v in trial.params.items())
    name = "-".join(p for p in (sweep, trial.method, params, f"s{trial.seed}") if p)
    if len(name) > 64:
        name = f"{name[:50]}-{hashlib.sha256(trial.key.encode()).hexdigest()[:6]}-s{trial.seed}"
    return name


# --------------------------------------------------------------------------- the record

def sweeps_dir() -> Path:
    return user_data_dir() / "sweeps"


def record_path(name: str, root: Path | None = None) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name or ""):
        raise SweepError(f"{name!r} is not a sweep name (see python -m engine sweep --list)")
    return Path(root or sweeps_dir()) / f"{name}.json"


def load_record(name: str, root: Path | None = None) -> dict:
    path = record_path(name, root)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SweepError(f"no sweep '{name}' in {path.parent}") from None
    except (OSError, ValueError) as exc:
        raise SweepError(f"{path} is damaged: {exc}") from None


def list_sweeps(root: Path | None = None) -> list[dict]:
    """Every readable sweep record, newest first."""
    records = []
    for path in Path(root or sweeps_dir()).glob("*.json"):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return sorted(records, key=lambda r: r.get("created", 0), reverse=True)


def _save_record(record: dict, root: Path | None) -> None:
    atomic_write_json(record_path(record["name"], root), record)


# --------------------------------------------------------------------------- running

def start(spec: SweepSpec, executor: Executor, root: Path | None = None) -> dict:
    """Create or update the sweep record and make every trial run: finished trials are
    skipped, failed/cancelled ones resumed (from their last saved epoch), missing ones
    submitted. Returns the record (trial key -> job id, plus the counts of this call)."""
    trials = expand(spec)
    name = spec.sweep_name()
    path = record_path(name, root)
    record = load_record(name, root) if path.is_file() else {
        "name": name, "created": time.time(), "spec": spec.model_dump(), "executor": executor.name, "trials": {}}
    counts = {"skipped": 0, "resumed": 0, "submitted": 0, "active": 0}
    for trial in trials:
        entry = record["trials"].get(trial.key)
        job = _job_or_none(executor, entry["job"]) if entry else None
        if job is not None and job.state == "done":
            counts["skipped"] += 1
        elif job is not None and job.state in ("failed", "cancelled"):
            executor.resume(job.id)
            counts["resumed"] += 1
        elif job is not None:
            counts["active"] += 1
        else:
            job = executor.submit(TrainConfig.model_validate(trial.config), trial_name(name, trial))
            record["trials"][trial.key] = {"job": job.id, "method": trial.method, "seed": trial.seed,
                                           "params": trial.params, "out": job.out}
            counts["submitted"] += 1
            _save_record(record, root)  # a crash mid-way keeps what was submitted
    record["last_run"] = dict(counts, time=time.time(), executor=executor.name)
    _save_record(record, root)
    return record


def _job_or_none(executor: Executor, job_id: str) -> Job | None:
    try:
        return executor.get(job_id)
    except JobError:
        return None


def trial_jobs(record: dict, executor: Executor) -> list[tuple[dict, Job | None]]:
    return [(entry, _job_or_none(executor, entry["job"])) for entry in record["trials"].values()]


def wait(record: dict, executor: Executor, *, poll: float = 1.0, timeout: float | None = None,
         progress: Callable[[dict], None] | None = None) -> dict[str, int]:
    """Poll (and so schedule) until every trial's job is done, failed or cancelled;
    returns the count per state. ``progress`` gets those counts after every poll."""
    deadline = None if timeout is None else time.time() + timeout
    while True:
        executor.refresh()
        states: dict[str, int] = {}
        for _, job in trial_jobs(record, executor):
            state = job.state if job is not None else "missing"
            states[state] = states.get(state, 0) + 1
        if progress:
            progress(states)
        if all(s in TERMINAL or s == "missing" for s in states):
            return states
        if deadline is not None and time.time() > deadline:
            raise SweepError(f"sweep {record['name']} did not finish within {timeout:.0f} s ({states}); "
                             "rerun the same command to wait again (finished trials are kept)")
        time.sleep(poll)


# --------------------------------------------------------------------------- evaluating

def _scalars(result: dict, skip: set[str]) -> dict[str, float]:
    """Top-level finite numbers of an analysis result (not its settings), and short
    numeric lists as ``key[i]``: the values a sweep can average over seeds."""
    out: dict[str, float] = {}
    for key, value in result.items():
        if key in skip:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = float(value)
        elif (isinstance(value, list) and 0 < len(value) <= 8
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            out.update({f"{key}[{i}]": float(v) for i, v in enumerate(value) if math.isfinite(v)})
    return out


def analysis_config(name: str, given: dict | None, dataset: str) -> dict:
    """The analysis config a sweep uses: what was given, plus the data set's standard ε
    when the analysis needs an ``eps`` and none was given."""
    from . import analyses
    from .data import get_spec

    config = dict(given or {})
    fields = analyses.get(name).config.model_fields
    if "eps" in fields and "eps" not in config:
        config["eps"] = get_spec(dataset).attack_eps
    return config


def evaluate(record: dict, executor: Executor, *, analysis: str | None = None, config: dict | None = None,
             device: str = "auto", cache=None, progress: Callable[[int, int, str], None] | None = None) -> list[dict]:
    """One row per finished trial: its method, seed, grid point and metrics (the last
    epoch's history metrics, plus the analysis' scalar results, cached)."""
    from . import analyses

    rows = []
    pairs = trial_jobs(record, executor)
    for index, (entry, job) in enumerate(pairs, start=1):
        row = {"method": entry["method"], "seed": entry["seed"], "params": entry["params"],
               "job": entry["job"], "state": job.state if job else "missing", "checkpoint": entry["out"],
               "error": job.error if job else "job record not found", "metrics": {}}
        if job is not None and job.state == "done":
            last = (history(job) or [{}])[-1]
            row["metrics"] = {name: float(last[key]) for name, key in HISTORY_METRICS.items()
                              if isinstance(last.get(key), (int, float)) and math.isfinite(last[key])}
            if analysis:
                settings = analysis_config(analysis, config, job.config["dataset"])
                if progress:
                    progress(index - 1, len(pairs), f"{analysis} on {Path(entry['out']).name}")
                try:
                    result = analyses.run(analysis, entry["out"], settings, device=device, cache=cache)
                except analyses.AnalysisError as exc:
                    raise SweepError(str(exc)) from None
                skip = set(analyses.get(analysis).config.model_fields) | {"clean_samples", "samples"}
                row["metrics"].update({f"{analysis}.{k}": v for k, v in _scalars(result, skip).items()})
        rows.append(row)
    if progress:
        progress(len(pairs), len(pairs), "evaluated")
    return rows


def aggregate(rows: list[dict]) -> list[dict]:
    """Group finished trials by (method, grid point): every metric as mean, std (ddof=1;
    0 for one seed), n and the per-seed values in seed order."""
    groups: dict[str, dict] = {}
    for row in rows:
        if row["state"] != "done":
            continue
        key = json.dumps([row["method"], row["params"]], sort_keys=True, default=str)
        group = groups.setdefault(key, {"method": row["method"], "params": row["params"], "seeds": [], "values": {}})
        group["seeds"].append(row["seed"])
        for name, value in row["metrics"].items():
            group["values"].setdefault(name, []).append((row["seed"], value))
    table = []
    for group in groups.values():
        metrics = {}
        for name, pairs in group["values"].items():
            values = [v for _, v in sorted(pairs)]
            metrics[name] = {"mean": statistics.fmean(values),
                             "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                             "n": len(values), "values": values}
        table.append({"method": group["method"], "params": group["params"], "seeds": sorted(group["seeds"]),
                      "metrics": metrics})
    return table


def summary(record: dict, rows: list[dict], analysis: str | None = None) -> dict:
    """The JSON a sweep prints: its name, per-trial rows and the aggregated table."""
    states: dict[str, int] = {}
    for row in rows:
        states[row["state"]] = states.get(row["state"], 0) + 1
    return {"sweep": record["name"], "analysis": analysis, "states": states, "trials": rows,
            "table": aggregate(rows), "last_run": record.get("last_run")}


def format_table(table: list[dict]) -> str:
    """The aggregated table as aligned text: one line per (method, grid point)."""
    if not table:
        return "no finished trials yet"
    metrics = list(dict.fromkeys(m for row in table for m in row["metrics"]))
    params = list(dict.fromkeys(p for row in table for p in row["params"]))
    header = ["method", *params, "n", *metrics]
    lines = [header]
    for row in table:
        n = max((m["n"] for m in row["metrics"].values()), default=len(row["seeds"]))
        cells = [row["method"], *(str(row["params"].get(p, "-")) for p in params), str(n)]
        for name in metrics:
            m = row["metrics"].get(name)
            cells.append("-" if m is None else f"{m['mean']:.4f} ± {m['std']:.4f}")
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)
