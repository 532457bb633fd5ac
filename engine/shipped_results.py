"""Analysis results shipped with the product, so every view of the shipped zoo shows a
figure on first open (no "Compute" click, no minutes of waiting on a laptop CPU).

What is shipped: the result of each request an analysis page makes on first open
(:func:`first_view_requests`: the page's default settings, the data set's standard ε, the
whole ε grid for the transferability slider) for the ensembles the sidebar selects by
default (:data:`FIRST_VIEW_ENSEMBLES`). ``checkpoints/build_zoo.sh`` computes them with
``python -m engine shipped-results --build`` after packaging the zoo; they live in
:data:`RESULTS_DIR` (``checkpoints/results/``), one entry per result, never pickle:

* ``<key>.json``: the request (analysis, its version, checkpoint name and content hash,
  config) and the result's JSON skeleton, arrays replaced by ``{"__tensor__": name}``;
* ``<key>.safetensors``: the result's arrays (``safetensors.numpy``, no code in the file).

``<key>`` is the ordinary result-cache key (:func:`engine.analyses.request_key`: analysis
name and version, the checkpoint's *content* hash, the full config). :func:`seed_cache`
copies each entry into the user's result cache when it is missing there, after
recomputing the key from the entry's request against today's checkpoint and code: an entry
whose checkpoint was rebuilt or whose analysis version was bumped gets another key, is
skipped (reported as stale) and never served.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .atomic import atomic_write_bytes, atomic_write_json
from .cache import ResultCache, default_cache, join_arrays, split_arrays
from .paths import SHIPPED

RESULTS_DIR = SHIPPED / "results"
FORMAT = 1
_TENSOR = "__tensor__"

#: The ensembles the sidebar selects on first open (``app/ui._default_selection``): the
#: shipped DVERGE entry and the baseline it is compared with.
FIRST_VIEW_ENSEMBLES = ("dverge", "baseline")

#: Settings a page uses by default where they differ from the analysis config's default.
PAGE_DEFAULTS: dict[str, dict] = {"transferability": {"samples": 200}}


def first_view_requests(dataset: str = "fashion_mnist") -> list[tuple[str, dict]]:
    """(analysis, config) of every request an analysis page makes on first open with the
    sidebar's default ε (the data set's standard budget); the transferability page's whole
    ε grid (its slider). Keep in step with ``pages/``: ``tests/app/test_first_view.py``
    opens every page on an empty user cache seeded from these and fails on a missing one."""
    from .data import get_spec

    spec = get_spec(dataset)
    eps = round(spec.attack_eps, 4)
    requests = [("transferability", dict(PAGE_DEFAULTS["transferability"], eps=e)) for e in spec.eps_grid]
    requests += [("history", {}), ("decision-region", {}), ("saliency", {}), ("distill", {}), ("diversity", {}),
                 ("detection", {"eps": eps}), ("cce-subsets", {"eps": eps}), ("whitebox", {})]
    # Not shipped yet: the black-box transfer analysis (Robustness page, second figure; the
    # Report page's black-box request is the same one, engine.report.build._blackbox_config).
    # Its defaults need 108 transfer sets (3 surrogates x 2 attacks -- SGM needs residual
    # blocks -- x 2 losses x 9 ε); on the shared 2-core CPU at load 11-14 one set of 500
    # samples took ~100 s and even one of 100 samples ~140 s (about 20 s of CPU each), hours
    # in all. Add ("blackbox", {}) here and rerun `python -m engine shipped-results --build`
    # on a machine with the time; then the Report page's requests (engine.jobs.analysis.report_items
    # at its defaults) can be shipped the same way.
    return requests


# --------------------------------------------------------------------------- encoding

def _split(result: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """JSON skeleton + named numeric arrays (safetensors holds numbers only; strings stay JSON)."""
    return split_arrays(result, _TENSOR, numeric_only=True)


def _join(skeleton: Any, arrays: dict[str, np.ndarray]) -> Any:
    return join_arrays(skeleton, arrays, _TENSOR)


def write_entry(directory: Path, key: str, request: dict, result: dict) -> Path:
    """Write one shipped result (``<key>.safetensors`` first, then ``<key>.json``, atomically)."""
    from safetensors.numpy import save

    skeleton, arrays = _split(result)
    directory.mkdir(parents=True, exist_ok=True)
    if arrays:
        atomic_write_bytes(directory / f"{key}.safetensors", save(arrays))
    return atomic_write_json(directory / f"{key}.json", dict(request, format=FORMAT, key=key, result=skeleton))


def read_entry(path: Path) -> tuple[dict, dict]:
    """(request, result) of one ``<key>.json`` entry and its arrays."""
    from safetensors.numpy import load_file

    entry = json.loads(path.read_text())
    if entry.get("format") != FORMAT:
        raise ValueError(f"{path.name}: unknown shipped-result format {entry.get('format')!r}")
    tensors = path.with_suffix(".safetensors")
    arrays = load_file(str(tensors)) if tensors.is_file() else {}
    result = _join(entry.pop("result"), arrays)
    return entry, result


# --------------------------------------------------------------------------- build and seed

def build(directory: Path | None = None, *, ensembles=FIRST_VIEW_ENSEMBLES, root: Path | None = None,
          progress: Callable[[str], None] | None = None, cache: ResultCache | None = None) -> list[Path]:
    """Compute (or take from the cache) every first-view request for ``ensembles`` (names
    under ``root``, default the shipped zoo) and write them as shipped results; entries of
    other keys in ``directory`` (stale ones) are removed. Returns the written files."""
    from . import analyses
    from .checkpoint import content_hash, read_meta

    directory = Path(directory or RESULTS_DIR)
    root = Path(root or SHIPPED)
    written, keys = [], set()
    datasets = {name: read_meta(root / name)["dataset"] for name in ensembles}
    todo = [(name, request) for dataset in dict.fromkeys(datasets.values())
            for request in first_view_requests(dataset) for name in ensembles if datasets[name] == dataset]
    for name, (analysis_name, config) in todo:  # cheap analyses first, every ensemble, then the slow ones
        checkpoint = root / name
        if True:
            analysis = analyses.get(analysis_name)
            parsed = analyses.parse_config(analysis, config)
            key, _ = analyses.request_key(analysis, checkpoint, parsed)
            if progress:
                progress(f"{name}: {analysis_name} {config}")
            result = analyses.run(analysis_name, checkpoint, parsed, cache=cache)
            request = {"analysis": analysis_name, "version": analysis.version, "checkpoint": name,
                       "checkpoint_hash": content_hash(checkpoint), "config": parsed.model_dump()}
            written.append(write_entry(directory, key, request, result))
            keys.add(key)
    for stale in directory.glob("*"):
        if stale.suffix in (".json", ".safetensors") and stale.stem not in keys:
            stale.unlink()
    return written


def seed_cache(cache: ResultCache | None = None, directory: Path | None = None, root: Path | None = None) -> dict:
    """Copy every current shipped result missing from ``cache`` (default: the user's)
    into it. Returns counts: ``added``, ``present`` (already cached), ``stale`` (the
    checkpoint or analysis changed since the entry was built: its key no longer matches),
    ``unreadable`` (damaged entry or missing checkpoint); nothing is ever overwritten."""
    from . import analyses
    from .checkpoint import CheckpointError

    directory = Path(directory or RESULTS_DIR)
    root = Path(root or SHIPPED)
    cache = cache or default_cache()
    counts = {"added": 0, "present": 0, "stale": 0, "unreadable": 0}
    if not directory.is_dir():
        return counts
    for path in sorted(directory.glob("*.json")):
        try:
            entry = json.loads(path.read_text())
            analysis = analyses.get(entry["analysis"])
            if entry["key"] in cache:
                counts["present"] += 1
                continue
            key, _ = analyses.request_key(analysis, root / entry["checkpoint"],
                                          analyses.parse_config(analysis, entry["config"]))
            if key != entry["key"] or key != path.stem or entry.get("version") != analysis.version:
                counts["stale"] += 1
                continue
            _, result = read_entry(path)
        except (OSError, ValueError, KeyError, CheckpointError, analyses.AnalysisError):
            counts["unreadable"] += 1
            continue
        cache.set(key, result)
        counts["added"] += 1
    return counts
