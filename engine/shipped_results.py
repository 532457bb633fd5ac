"""Analysis results shipped with the product, so every view of the shipped zoo shows a
figure on first open (no "Compute" click, no minutes of waiting on a laptop CPU).

What is shipped: the result of each request an analysis page makes on first open
(:func:`first_view_requests`: the page's default settings, the data set's standard ε, the
whole ε grid for the transferability slider) for the ensembles the sidebar selects by
default (:data:`FIRST_VIEW_ENSEMBLES`), and every request of the Reproduction report page's
first open (:func:`report_requests`). ``checkpoints/build_zoo.sh`` computes them with
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

#: Settings a page uses by default where they differ from the analysis config's default
#: (sized so that a page's first view can be built, and recomputed, on a CPU; its Settings
#: panel and the CLI default to 500 samples). Black-box: 3 surrogates x 2 attacks (SGM needs
#: residual blocks) x 2 losses x 9 ε = 108 transfer sets; 100 samples took ~10 min on the
#: shared 2-core CPU at load ~10.
PAGE_DEFAULTS: dict[str, dict] = {"transferability": {"samples": 200}, "blackbox": {"samples": 100}}

#: The Reproduction report page's default test samples per analysis (``python -m engine report``
#: defaults to 500): its first open is shipped (:func:`report_requests`), and its black-box
#: request is then the Robustness page's (same key: one set of transfer sets for both).
REPORT_SAMPLES = PAGE_DEFAULTS["blackbox"]["samples"]


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
                 ("detection", {"eps": eps}), ("cce-subsets", {"eps": eps}), ("whitebox", {}),
                 ("blackbox", dict(PAGE_DEFAULTS["blackbox"]))]  # Robustness page, second figure
    return requests


def report_requests(root: Path | None = None) -> list[tuple[str, str, dict]]:
    """(checkpoint name, analysis, config) of every request the Reproduction report page
    makes on first open (its defaults: every shipped ensemble but the seed groups'
    further seeds, the data set's standard ε, :data:`REPORT_SAMPLES` samples, the quick
    protocol), as :func:`engine.jobs.analysis.report_items` lists them for the page; names
    relative to ``root`` (default: the shipped zoo)."""
    from .jobs.analysis import report_items
    from .seed_groups import SEEDS_DIR
    from .zoo import list_ensembles

    root = Path(root or SHIPPED)
    found = [e for e in list_ensembles([root]) if "error" not in e and e.get("complete")
             and Path(e["name"]).parts[0] != SEEDS_DIR]
    if not found:
        return []
    items = report_items({e["name"]: e["path"] for e in found}, samples=REPORT_SAMPLES)
    return [(str(Path(i["checkpoint"]).relative_to(root)), i["analysis"], i["config"]) for i in items]


# --------------------------------------------------------------------------- encoding

def _split(result: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """JSON skeleton + named numeric arrays (safetensors holds numbers only; strings stay JSON)."""
    return split_arrays(result, _TENSOR, numeric_only=True)


def _join(skeleton: Any, arrays: dict[str, np.ndarray]) -> Any:
    return join_arrays(skeleton, arrays, _TENSOR)


def portable(value: Any, base: Path) -> Any:
    """``value`` with every absolute path under ``base`` (the checkout) made relative to it, so a
    shipped result names ``checkpoints/surrogate_3``, not the directory it happened to be built in."""
    prefix = str(base.resolve()) + "/"
    if isinstance(value, str) and value.startswith(prefix):
        return value[len(prefix):]
    if isinstance(value, dict):
        return {k: portable(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v, base) for v in value]
    return value


def write_entry(directory: Path, key: str, request: dict, result: dict, base: Path | None = None) -> Path:
    """Write one shipped result (``<key>.safetensors`` first, then ``<key>.json``, atomically);
    paths inside the checkout ``base`` (default: the shipped zoo's parent) are stored relative."""
    from safetensors.numpy import save

    skeleton, arrays = _split(result)
    skeleton = portable(skeleton, base or SHIPPED.parent)
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
          progress: Callable[[str], None] | None = None, cache: ResultCache | None = None,
          report: bool = True) -> list[Path]:
    """Compute (or take from the cache) every first-view request for ``ensembles`` (names
    under ``root``, default the shipped zoo) and, with ``report``, the Reproduction report
    page's first-open requests (:func:`report_requests`), and write them as shipped results;
    entries of other keys in ``directory`` (stale ones) are removed. Returns the written files."""
    from . import analyses
    from .checkpoint import content_hash, read_meta

    directory = Path(directory or RESULTS_DIR)
    root = Path(root or SHIPPED)
    written, keys = [], set()
    datasets = {name: read_meta(root / name)["dataset"] for name in ensembles}
    todo = [(name, request) for dataset in dict.fromkeys(datasets.values())
            for request in first_view_requests(dataset) for name in ensembles if datasets[name] == dataset]
    if report:
        todo += [(name, (analysis_name, config)) for name, analysis_name, config in report_requests(root)]
    for name, (analysis_name, config) in todo:  # cheap analyses first, every ensemble, then the slow ones
        checkpoint = root / name
        analysis = analyses.get(analysis_name)
        parsed = analyses.parse_config(analysis, config)
        key, _ = analyses.request_key(analysis, checkpoint, parsed)
        if key in keys:
            continue  # asked for by a page and by the report
        if progress:
            progress(f"{name}: {analysis_name} {config}")
        result = analyses.run(analysis_name, checkpoint, parsed, cache=cache)
        request = {"analysis": analysis_name, "version": analysis.version, "checkpoint": name,
                   "checkpoint_hash": content_hash(checkpoint), "config": parsed.model_dump()}
        written.append(write_entry(directory, key, request, result, base=root.parent))
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
