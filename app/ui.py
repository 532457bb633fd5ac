"""Shared pieces of every page: the sidebar's shared choices, a settings form generated
from an analysis' typed config, cached-or-computed results with a progress bar, and the
export buttons. Pages stay thin: they pick an analysis and its view, this does the rest.

Shared choices (data set, selected ensembles, ε) live in ``st.session_state`` under the
``shared_*`` keys; the sidebar is drawn by ``app/main.py`` on every page, so they survive
page switches.
"""
from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from engine import analyses
from engine import export, fields, seed_groups, shipped_results
from engine.data import SPECS, get_spec
from engine.paths import cache_dir, ensembles_dir
from engine.zoo import list_ensembles

# (module in pages/, title, icon); the first is the default page.
PAGES = [
    ("start", "Start here", ":material/home:"),
    ("zoo", "Model zoo", ":material/inventory_2:"),
    ("train", "Train", ":material/model_training:"),
    ("sweep", "Sweeps", ":material/tune:"),
    ("transferability", "Transferability", ":material/grid_on:"),
    ("robustness", "Robustness", ":material/shield:"),
    ("diversity", "Diversity", ":material/scatter_plot:"),
    ("distill", "Distilled images", ":material/filter_vintage:"),
    ("saliency", "Saliency", ":material/visibility:"),
    ("decision_regions", "Decision regions", ":material/map:"),
    ("detection", "Detection", ":material/radar:"),
    ("cce_subsets", "CCE subsets", ":material/join_inner:"),
    ("report", "Reproduction report", ":material/fact_check:"),
    ("leaderboard", "Leaderboard", ":material/leaderboard:"),
]

MAX_COMPARED = 4

FALLBACK_EPS_GRID = SPECS["fashion_mnist"].eps_grid  # a folder data set missing on this machine


def eps_grid(dataset: str) -> list[float]:
    """The ε values the sidebar offers: the data set's grid (its ``DataSpec``)."""
    try:
        return list(get_spec(dataset).eps_grid)
    except Exception:  # noqa: BLE001 - folder data sets without data on this machine
        return list(FALLBACK_EPS_GRID)


@st.cache_resource(show_spinner="Loading the shipped zoo's precomputed results…")
def _seed(cache_directory: str) -> dict:
    return shipped_results.seed_cache()


def seed_shipped_results() -> dict:
    """Once per server process and result cache: copy the shipped zoo's precomputed results
    (``checkpoints/results``, :mod:`engine.shipped_results`) into the user's cache."""
    return _seed(str(cache_dir()))


@st.cache_data(ttl=5, show_spinner=False)
def zoo() -> list[dict]:
    """Every finished ensemble found (shipped + user), re-scanned at most every 5 s
    (runs still training appear once they are complete)."""
    return [e for e in list_ensembles() if "error" not in e and e.get("complete", True)]


def entry_label(e: dict) -> str:
    """The name first (a sidebar chip shows its start): "shipped dverge (dverge ×3)" vs
    "dverge-fast (dverge ×3)" stay distinguishable when cut."""
    method = e.get("method") or "imported"
    return ("shipped " if e.get("shipped") else "") + f"{e['name']} ({method} ×{e['members']})"


def group_sizes(entries: list[dict]) -> dict[str, int]:
    """{path of the entry that stands for its seed group: the group's size} over ``entries``
    (:func:`engine.seed_groups.collapse`: the lowest seed of each configuration). Reads no
    file: :func:`zoo`'s entries carry the meta.json the listing loaded."""
    return {g["path"]: len(g["group"]) for g in seed_groups.collapse(entries)}


def sidebar_label(e: dict, seeds: int) -> str:
    """:func:`entry_label`, with "· N seeds" for an entry standing for a seed group."""
    return entry_label(e) + (f" · {seeds} seeds" if seeds > 1 else "")


def select_when_listed(path: str) -> None:
    """Add ``path`` (e.g. a just-finished training run) to the compared ensembles on the
    next run: the sidebar's widget state cannot change once it is drawn in this run."""
    st.session_state.setdefault("_select_next", []).append(str(path))
    zoo.clear()


def sidebar() -> None:
    st.sidebar.header("Compare")
    ensembles = zoo()
    datasets = sorted({e["dataset"] for e in ensembles}) or ["fashion_mnist"]
    if st.session_state.get("shared_dataset") not in datasets:
        st.session_state["shared_dataset"] = "fashion_mnist" if "fashion_mnist" in datasets else datasets[0]
    dataset = st.sidebar.selectbox("Data set", datasets, key="shared_dataset")
    candidates = {e["path"]: e for e in ensembles if e["dataset"] == dataset}
    pending = [p for p in st.session_state.pop("_select_next", []) if p in candidates]
    chosen = [p for p in st.session_state.get("shared_ensembles", []) if p in candidates]
    chosen = (pending + [p for p in chosen if p not in pending])[:MAX_COMPARED]  # the new one first
    groups = group_sizes(list(candidates.values()))
    if not chosen and candidates:
        chosen = _default_selection([candidates[p] for p in groups])
    st.session_state["shared_ensembles"] = chosen
    # one entry per seed group (its lowest seed) unless every seed is asked for; what is
    # selected stays listed
    every_seed = st.session_state.get("shared_every_seed", False)
    options = list(candidates) if every_seed else [p for p in candidates if p in groups or p in chosen]
    st.sidebar.multiselect("Ensembles (1-4, side by side)", options, key="shared_ensembles",
                           format_func=lambda p: sidebar_label(candidates[p], groups.get(p, 1)),
                           max_selections=MAX_COMPARED,
                           help="Trained, shipped and imported ensembles of this data set; a configuration trained "
                                "with several seeds is listed once, as its lowest seed (\"· N seeds\").")
    st.sidebar.toggle("Seed groups: mean ± std over seeds", key="shared_seed_groups",
                      help="Each selected ensemble stands for its seed group: the runs of the same configuration "
                           "with other seeds (e.g. train --seeds 0,1,2). Every analysis runs on each seed (cached "
                           "per checkpoint) and shows the mean, with ±1 std error bars and ± in tables.")
    st.sidebar.checkbox("List every seed", key="shared_every_seed",
                        help="List each seed of a configuration as its own ensemble (e.g. checkpoints/seeds/dverge/"
                             "seed1), to compare seeds side by side.")
    if st.session_state.get("shared_seed_groups"):
        sizes = [len(runs(p)) for p in st.session_state["shared_ensembles"]]
        st.sidebar.caption("Seeds per selected ensemble: " + ", ".join(map(str, sizes)) if sizes else
                           "Select ensembles to see their seed groups.")
    grid = eps_grid(dataset)
    if st.session_state.get("shared_eps") not in grid:
        standard = round(get_spec(dataset).attack_eps, 4) if dataset in SPECS else grid[len(grid) // 2]
        st.session_state["shared_eps"] = standard if standard in grid else grid[len(grid) // 2]
    st.sidebar.select_slider("ε (L∞, images in [0, 1])", grid, key="shared_eps")


def _default_selection(entries: list[dict]) -> list[str]:
    by_method = {}
    for e in entries:
        by_method.setdefault(e.get("method"), e["path"])
    preferred = [by_method[m] for m in ("dverge", "baseline") if m in by_method]
    return preferred or [entries[0]["path"]]


def selected() -> list[str]:
    return list(st.session_state.get("shared_ensembles", []))


def runs(path: str) -> list[str]:
    """The checkpoints one selected ensemble stands for: itself, or with the sidebar's seed
    groups on, its seed group among the zoo (:func:`engine.seed_groups.find_group`)."""
    if not st.session_state.get("shared_seed_groups"):
        return [path]
    return [str(p) for p in seed_groups.find_group(path, [e["path"] for e in zoo()])]


def shared_eps() -> float:
    return float(st.session_state.get("shared_eps", 0.1))


def no_selection_message() -> str:
    """What an analysis page says when no ensemble is selected: where to get one."""
    return ("No ensemble selected. Pick 1-4 ensembles in the sidebar. If the list is empty, "
            "train one on the **Train** page (one click: a 3-member DVERGE ensemble), import one on "
            "the **Model zoo** page, or from a terminal:\n\n"
            f"`python -m engine train --preset quick --method dverge --out {ensembles_dir() / 'dverge'}`")


def require_selection() -> list[str]:
    """The selected ensembles, or an empty state explaining what to do (and stop)."""
    chosen = selected()
    if not chosen:
        st.info(no_selection_message())
        st.stop()
    return chosen


# --------------------------------------------------------------------------- settings form

def field_widget(spec: fields.FieldSpec, value, key: str, *, label: str | None = None, container=st):
    """Render the engine's widget description of one config field (:func:`engine.fields.widget`)
    and return the field's value read back from it (raises ValueError on unreadable text)."""
    w = fields.widget(spec, value, label=label)
    raw = getattr(container, w.pop("widget"))(**w, key=key)
    return fields.from_widget(spec, raw)


def settings(analysis, fixed: dict | None = None, defaults: dict | None = None, hide=("dataset",)) -> dict:
    """An expander with one widget per config field (except ``fixed`` ones), returning the
    config as a dict (validated by the engine when it runs)."""
    fixed = fixed or {}
    values = dict(fixed)
    with st.expander("Settings", expanded=False):
        for spec in fields.specs(analysis.config, exclude=[*fixed, *hide]):
            default = (defaults or {}).get(spec.name, spec.default)
            try:
                values[spec.name] = field_widget(spec, default, key=f"{analysis.name}:{spec.name}")
            except ValueError as exc:
                st.error(f"{spec.name}: {exc}")
                st.stop()
    return values


# --------------------------------------------------------------------------- results

def cached_results(name: str, paths: list[str], config: dict) -> tuple[list[tuple[str, dict]], list[str]]:
    """(results already cached, in the order of ``paths``; paths still to compute) — no
    computation. Each result carries its ``checkpoint`` path: pages match results by it
    (two ensembles may share a display label), as ``python -m engine eval`` does."""
    results, missing = [], []
    for path in paths:
        members = runs(path)
        result = analyses.cached_group(name, members, config)
        if result is None:
            missing.append(path)
        else:
            shown = label(path) if len(members) == 1 else f"{label(path)} · mean ± std of {len(members)} seeds"
            results.append((shown, dict(result, checkpoint=path)))
    return results, missing


@st.cache_data(show_spinner=False, max_entries=256)
def label(path: str) -> str:
    return analyses.label(path)


def compute(name: str, paths: list[str], config: dict) -> None:
    """Run the analysis on every path (every seed of a seed group), with one progress bar."""
    bar = st.progress(0.0, text="starting…")
    paths = [p for path in paths for p in runs(path)]
    for n, path in enumerate(paths):
        def report(done, total, what="", n=n):
            frac = (n + (done / total if total else 0)) / len(paths)
            bar.progress(min(frac, 1.0), text=f"{label(path)}: {what} {done}/{total}")

        began = time.time()
        analyses.run(name, path, config, progress=report)
        _measured(name, path, config, time.time() - began)
    bar.empty()


def _measured(name: str, path: str, config: dict, seconds: float) -> None:
    """Teach the expected-time estimate what this synchronous run cost."""
    from engine.jobs import JobError, JobStore
    from engine.jobs import analysis as aj

    try:
        [item] = aj.request_items(name, [path], config)
        aj.record_cost(JobStore(), item, seconds)
    except (JobError, OSError):
        pass


def _background_items(name: str, missing: list[str], config: dict) -> list[dict] | None:
    """The requests of the missing results when a background job should compute them
    (analyses that take minutes, or whose expected time is unknown or above a few seconds:
    engine.jobs.analysis.runs_as_job), else None (computed in the page)."""
    from engine.jobs import JobError
    from engine.jobs import analysis as aj

    try:
        items = aj.request_items(name, missing, config)
    except JobError:
        return None  # the synchronous path reports the configuration's error
    return items if aj.runs_as_job(name, aj.estimate(items)) else None


def show(name: str, config: dict, *, view: dict | None = None, key: str | None = None,
         on_select=None, auto: bool = False, export_details: dict | None = None,
         compute_missing=None, compute_label: str | None = None, display=None):
    """The standard body of an analysis page: results of the selected ensembles (computed
    on request), the figure, export buttons. Returns (results, plotly event state).
    While a result is missing the page's previous figure stays on screen; ``compute_missing``
    (called with the missing paths) and ``compute_label`` replace the default "Compute"
    action (e.g. the transferability page computes its whole ε grid); ``display(results)``
    replaces the figure drawn on screen (exports always use the analysis' own figure)."""
    paths = require_selection()
    analysis = analyses.get(name)
    try:
        results, missing = cached_results(name, paths, config)
    except analyses.AnalysisError as exc:
        st.error(str(exc))
        return [], None
    slot = f"_last_results:{key or name}"
    if missing:
        names = ", ".join(label(p) for p in missing)
        job_items = (_background_items(name, [r for m in missing for r in runs(m)], config)  # every seed
                     if compute_missing is None else None)
        previous = st.session_state.get(slot)
        if previous and not (job_items and results):  # a job's partial results are shown instead
            # the last figure stays on screen (drawn before any computation starts)
            st.plotly_chart(analysis.figure(previous["results"], **(view or {})), key=f"{key or name}:previous")
            st.caption(f"Showing the previous result ({previous['what']}) until this one is computed for: {names}.")
            results = []
        if job_items:
            from app import background

            background.run_in_background(job_items, label=name, auto=auto,
                                         button=f"Compute for {len(missing)} ensemble(s) in the background",
                                         help=f"Runs on: {names}. Results are cached on disk.")
        elif auto or st.button(compute_label or f"Compute for {len(missing)} ensemble(s)", type="primary",
                               key=f"run:{name}", help=f"Runs on: {names}. Results are cached on disk."):
            try:
                if compute_missing is not None:
                    compute_missing(missing)
                else:
                    compute(name, missing, config)
            except (analyses.AnalysisError, ValueError, RuntimeError) as exc:
                st.error(str(exc))
                return [], None
            st.rerun()
        st.caption(f"Not computed yet for: {names}")
    if not results:
        return [], None
    st.session_state[slot] = {"results": results, "what": _describe(config)}
    fig = display(results) if display is not None else analysis.figure(results, **(view or {}))
    event = st.plotly_chart(fig, key=key, on_select=on_select or "ignore",
                            selection_mode="points") if on_select else st.plotly_chart(fig, key=key)
    export_buttons(analysis, results, view or {}, details=export_details or {"eps": config.get("eps")})
    return results, event


def _describe(config: dict) -> str:
    """Short text of the settings a shown result was computed with (ε first)."""
    eps = config.get("eps")
    return f"ε = {eps:g}" if isinstance(eps, (int, float)) else "earlier settings"


def export_buttons(analysis, results, view: dict, details: dict | None = None) -> None:
    """Download buttons: figure as PNG/SVG/PDF/HTML, data as CSV/JSON (generated on click).
    The figure is also registered for the page's "export all" archive."""
    st.session_state.setdefault("_page_exports", []).append((analysis, results, dict(view), dict(details or {})))
    cols = st.columns(len(export.FORMATS))
    for col, fmt in zip(cols, export.FORMATS):
        name = export.filename(analysis.name, results, fmt, **(details or {}))
        col.download_button(fmt.upper(), data=lambda fmt=fmt: export.export_bytes(analysis, results, fmt, **view),
                            file_name=name, mime=MIME[fmt], key=f"dl:{analysis.name}:{fmt}", on_click="ignore")


MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf", "html": "text/html",
        "csv": "text/csv", "json": "application/json"}


def page_path(name: str) -> Path:
    return Path(__file__).resolve().parents[1] / "pages" / f"{name}.py"


def begin_page() -> None:
    """Called before a page runs: forget the previous page's exportable figures."""
    st.session_state["_page_exports"] = []


def export_all_button() -> None:
    """One zip with every figure of the page in every format (built on click)."""
    exports = list(st.session_state.get("_page_exports", []))
    if not exports:
        return

    def build() -> bytes:
        files = {}
        for analysis, results, view, details in exports:
            for fmt in export.FORMATS:
                files[export.filename(analysis.name, results, fmt, **details)] = \
                    export.export_bytes(analysis, results, fmt, **view)
        return export.archive(files)

    names = "-".join(dict.fromkeys(a.name for a, *_ in exports))
    st.sidebar.download_button(f"Export all figures of this page ({len(exports)}, zip)", data=build,
                               file_name=f"{export.slug(names)}_all-formats.zip", mime="application/zip",
                               key="export_all", on_click="ignore",
                               help="PNG, SVG, PDF, HTML, CSV and JSON of every figure shown on this page")
