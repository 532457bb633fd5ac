"""The analysis registry and its cached runner: what the app's views and
``python -m engine eval NAME`` / ``export NAME`` call.

An analysis is one :class:`Analysis` entry: a typed config (pydantic, validated once at
the edge; the CLI flags are generated from it), a ``compute(ctx, config) -> dict`` that
returns plain data (JSON values and numpy arrays), a ``figure(results)`` builder that draws
one or several ensembles' results side by side, and a ``table(results)`` giving the rows
exported as CSV. Each analysis is one module of this package: its config and the
``@register_analysis(...)`` decorator on its ``compute``, which calls the pure computation
in :mod:`engine.evaluation`. The package's modules are imported on first lookup, so a new
module here is a new analysis.

:func:`run` caches every result on disk (:mod:`engine.cache`), keyed by the checkpoint's
content hash and the full config, so a second identical request never recomputes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..cache import ResultCache, cache_key, default_cache
from ..checkpoint import content_hash, load_checkpoint, read_meta
from ..data import (SPECS, DataError, DataSpec, adapt_channels, fingerprint, get_spec, load_split,
                    validate_name)
from ..device import select_device
from ..evaluation import AnalysisError
from ..evaluation.seeds import aggregate, seed_std, seed_table  # noqa: F401 - re-exported
from ..registry import Registry, UnknownName

ProgressCallback = Callable[[int, int, str], None]  # (done, total, what)
Results = list[tuple[str, dict]]  # (label, result) per compared ensemble


MAX_STEPS = 1000  # attack iterations any analysis accepts
MAX_SAMPLES = 10000  # the test split's size


def steps_field(default: int | None, description: str) -> Any:
    """An attack's iteration count (None: derived, e.g. from the protocol)."""
    return Field(default, ge=1, le=MAX_STEPS, description=description)


def budget_field(description: str) -> Any:
    """An optional L∞ budget for images in [0, 1] (None: the data set's, :meth:`Context.budget`)."""
    return Field(None, gt=0, le=1, description=description)


class AnalysisConfig(BaseModel):
    """Fields every analysis has. Subclasses add theirs; all become CLI flags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: int = Field(500, ge=1, le=MAX_SAMPLES, description="test images evaluated")
    seed: int = Field(0, description="seed of sample selection and random starts")
    dataset: Optional[str] = Field(None, description="default: the checkpoint's data set")


@dataclass(frozen=True)
class Analysis:
    name: str
    title: str
    config: type[AnalysisConfig]
    compute: Callable[["Context", Any], dict]
    figure: Callable[..., Any]  # (results: Results, **view) -> plotly Figure
    table: Callable[[Results], list[dict]]
    reference: str = ""  # the paper section / figure it reproduces
    version: int = 1  # bump when compute changes meaning: invalidates cached results
    # what else the result depends on, beyond the checkpoint and the config (cache-key material)
    depends_on: Callable[[Any, str], dict] | None = None  # (config, data set) -> JSON-able dict

    def rows(self, results: Results) -> list[dict]:
        """The table of ``results`` (:attr:`table`), plus ``<column>_std`` for every column
        that varies over the seeds of a seed-group result (:func:`aggregate`): what export
        and the CLI write, so every analysis shows mean ± std with no code of its own."""
        return seed_table(self.table, results)


class UnknownAnalysis(UnknownName, AnalysisError):
    """An analysis name the registry does not have (an :class:`AnalysisError` too)."""


#: Every analysis by name. This order is the order of the CLI and the app; any other module
#: of the package is imported after these.
ANALYSES: Registry[Analysis] = Registry(
    "analysis", modules=tuple(f"engine.analyses.{m}" for m in (
        "transferability", "whitebox", "autoattack", "adaptive", "blackbox", "diversity", "distill", "decision_region",
        "saliency", "detection", "cce_subsets", "history")),
    package="engine.analyses", error=UnknownAnalysis)


def register_analysis(name: str, *, title: str, config: type[AnalysisConfig], figure: Callable[..., Any],
                      table: Callable[[Results], list[dict]], reference: str = "", version: int = 1,
                      depends_on: Callable[[Any, str], dict] | None = None):
    """Decorator on an analysis's ``compute(ctx, config) -> dict``: registers it as ``name``
    with its config, figure and table builders (returns ``compute`` unchanged)."""

    def add(compute: Callable[["Context", Any], dict]) -> Callable[["Context", Any], dict]:
        ANALYSES.register(name, entry=Analysis(name=name, title=title, config=config, compute=compute,
                                               figure=figure, table=table, reference=reference, version=version,
                                               depends_on=depends_on), module=compute.__module__)
        return compute

    return add


#: ``get(name)``: the :class:`Analysis`, or :class:`UnknownAnalysis` listing the choices.
get = ANALYSES.get
#: ``names()``: every analysis, in CLI/app order.
names = ANALYSES.names


@dataclass
class Context:
    """What a compute function gets: the loaded ensemble and where to report progress."""

    checkpoint: Path
    meta: dict
    device: torch.device
    dataset: str
    data_dir: str | None = None
    progress: ProgressCallback | None = None
    _ensemble: Any = field(default=None, repr=False)
    #: the run's result cache, for intermediate artefacts shared between requests
    #: (e.g. black-box transfer sets reused for every target ensemble)
    cache: ResultCache | None = field(default=None, repr=False)

    @cached_property
    def ensemble(self):
        if self._ensemble is not None:
            return self._ensemble.to(self.device)
        return load_checkpoint(self.checkpoint, self.device)[0]

    @cached_property
    def test(self):
        """The test split, checked against the model: channels adapted where that is
        unambiguous (:func:`engine.data.adapt_channels`), labels within the model's
        classes; otherwise an :class:`AnalysisError`, never a number computed from
        data the model cannot read."""
        test = load_split(self.dataset, "test", self.data_dir)
        try:
            test = adapt_channels(test, int(self.meta["channels"]), f"data set {self.dataset}")
        except DataError as exc:
            raise AnalysisError(str(exc)) from None
        trained_on = SPECS.get(self.meta["dataset"])
        if trained_on is not None and tuple(test.x.shape[-2:]) != (trained_on.size, trained_on.size):
            raise AnalysisError(f"data set {self.dataset} has {test.x.shape[-1]}x{test.x.shape[-2]} images but the "
                                f"ensemble was trained on {trained_on.size}x{trained_on.size} ({trained_on.name}); "
                                "resize the images first")
        num_classes = int(self.meta["num_classes"])
        if len(test.classes) > num_classes or (len(test) and int(test.y.max()) >= num_classes):
            raise AnalysisError(f"data set {self.dataset} has {len(test.classes)} classes but the ensemble "
                                f"classifies {num_classes}; evaluate it on data with the classes it was trained on")
        if len(test) == 0:
            raise AnalysisError(f"data set {self.dataset} has no test images")
        return test

    @cached_property
    def spec(self) -> DataSpec:
        """The evaluated data set's spec (its budgets and ε grid)."""
        return get_spec(self.dataset, self.data_dir)

    def budget(self, eps: float | None, default: str = "attack_eps") -> float:
        """``eps`` when the request gives one, else the data set's budget ``default``
        (``attack_eps`` or ``distill_eps``)."""
        return eps if eps is not None else getattr(self.spec, default)

    def member_pairs(self, what: str):
        """The ensemble, for an analysis of member pairs (``what``): at least two members."""
        if len(self.ensemble) < 2:
            raise AnalysisError(f"{what} need an ensemble of at least two members")
        return self.ensemble

    def report(self, done: int, total: int, what: str = "") -> None:
        if self.progress is not None:
            self.progress(done, total, what)


def parse_config(analysis: Analysis, config: AnalysisConfig | dict | None) -> AnalysisConfig:
    if isinstance(config, analysis.config):
        return config
    try:
        return analysis.config(**(config or {}))
    except ValidationError as exc:
        raise AnalysisError(f"invalid {analysis.name} configuration:\n{exc}") from None


def request_key(analysis: Analysis, checkpoint: str | Path, config: AnalysisConfig) -> tuple[str, str]:
    """(cache key, resolved data set) of one request; cheap (hashes files, loads nothing)."""
    meta = read_meta(checkpoint)
    dataset = config.dataset or meta["dataset"]
    try:
        validate_name(dataset)
    except ValueError as exc:
        raise AnalysisError(str(exc)) from None
    extra = analysis.depends_on(config, dataset) if analysis.depends_on else {}
    try:
        data_hash = fingerprint(dataset)  # a folder's content: replaced images never hit old results
    except DataError as exc:
        raise AnalysisError(str(exc)) from None
    key = cache_key(analysis=analysis.name, version=analysis.version, checkpoint=content_hash(checkpoint),
                    dataset=dataset, config=config.model_dump(exclude={"dataset"}), **extra,
                    **({"data": data_hash} if data_hash else {}))
    return key, dataset


def cached(name: str, checkpoint: str | Path, config: AnalysisConfig | dict | None = None, *,
           cache: ResultCache | None = None) -> dict | None:
    """The cached result of this request, or None (never computes)."""
    analysis = get(name)
    config = parse_config(analysis, config)
    key, _ = request_key(analysis, checkpoint, config)
    return (cache or default_cache()).get(key)


def is_cached(name: str, checkpoint: str | Path, config: AnalysisConfig | dict | None = None, *,
              cache: ResultCache | None = None) -> bool:
    """Whether this request's result is in the cache (a key lookup: nothing is decoded)."""
    analysis = get(name)
    key, _ = request_key(analysis, checkpoint, parse_config(analysis, config))
    return key in (cache or default_cache())


def run(name: str, checkpoint: str | Path, config: AnalysisConfig | dict | None = None, *,
        device: str | torch.device = "auto", data_dir: str | None = None, progress: ProgressCallback | None = None,
        cache: ResultCache | None = None, ensemble=None) -> dict:
    """Result of analysis ``name`` on ``checkpoint`` (from the cache when present)."""
    analysis = get(name)
    config = parse_config(analysis, config)
    checkpoint = Path(checkpoint)
    key, dataset = request_key(analysis, checkpoint, config)
    cache = cache or default_cache()

    def compute() -> dict:
        ctx = Context(checkpoint=checkpoint, meta=read_meta(checkpoint),
                      device=select_device(device),
                      dataset=dataset, data_dir=data_dir, progress=progress, _ensemble=ensemble,
                      cache=cache)
        try:
            result = analysis.compute(ctx, config)
        except AnalysisError:
            raise
        except ValueError as exc:  # a computation refusing its input (e.g. too few members)
            raise AnalysisError(f"{analysis.name} on {checkpoint}: {exc}") from None
        result.setdefault("analysis", name)
        result.setdefault("config", config.model_dump())
        result.setdefault("dataset", dataset)
        result.setdefault("method", ctx.meta.get("method"))
        return result

    return cache.get_or_compute(key, compute)


# --------------------------------------------------------------------------- seed groups

def run_group(name: str, checkpoints: list[str | Path], config: AnalysisConfig | dict | None = None,
              **kwargs) -> dict:
    """Analysis ``name`` on every checkpoint of a seed group (each cached as :func:`run`
    does), aggregated into mean ± std (:func:`aggregate`). One checkpoint: its plain result."""
    checkpoints = [Path(c) for c in checkpoints]
    results = [run(name, c, config, **kwargs) for c in checkpoints]
    if len(results) == 1:
        return results[0]
    return aggregate(results, [read_meta(c).get("seed") for c in checkpoints], checkpoints)


def cached_group(name: str, checkpoints: list[str | Path], config: AnalysisConfig | dict | None = None, *,
                 cache: ResultCache | None = None) -> dict | None:
    """The aggregated cached result of a seed group, or None if any seed is not cached."""
    results = [cached(name, c, config, cache=cache) for c in checkpoints]
    if any(r is None for r in results):
        return None
    if len(results) == 1:
        return results[0]
    return aggregate(results, [read_meta(c).get("seed") for c in checkpoints], checkpoints)


def label(checkpoint: str | Path) -> str:
    """A short human label for an ensemble: method (+ CCE mode), members, directory name."""
    meta = read_meta(checkpoint)
    method = meta.get("method") or "imported"
    mode = (meta.get("method_params") or {}).get("mode")
    if mode:
        method = f"{method}-{mode}"
    return f"{method} x{meta.get('members')} ({Path(checkpoint).name})"
