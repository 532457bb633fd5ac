"""Building the report: the ensembles, the analyses run on them (through the shared cache),
one number per ensemble and quantity, and a :class:`Section` of checked claims per table."""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..attacks.pgd import STEP_RATIO
from ..data import get_spec
from ..evaluation.protocols import PROTOCOLS
from ..paper_claims import TABLES
from .verdicts import VERDICTS, Row, check_claim

ProgressCallback = Callable[[int, int, str], None]  # (done, total, what), as engine.analyses


class ReportError(ValueError):
    """Bad report request (no ensembles, mixed data sets, duplicate methods)."""


# --------------------------------------------------------------------------- data


@dataclass
class Entry:
    """One ensemble of the report: its name, checkpoint and method key (cce -> cce_<mode>)."""

    name: str
    path: str
    method: str
    dataset: str
    members: int
    surrogate: bool = False



@dataclass
class Section:
    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    measured: list[dict] = field(default_factory=list)  # a row per ensemble: our raw values
    figures: list[tuple[str, object]] = field(default_factory=list)  # (caption, plotly Figure)
    error: str = ""


@dataclass
class Report:
    sections: list[Section]
    meta: dict

    def to_dict(self) -> dict:
        return {"meta": self.meta, "sections": [
            {"key": s.key, "title": s.title, "error": s.error, "measured": s.measured,
             "rows": [asdict(r) for r in s.rows], "figures": [caption for caption, _ in s.figures]}
            for s in self.sections]}

    def verdict_counts(self) -> dict[str, int]:
        counts = {v: 0 for v in VERDICTS}
        for s in self.sections:
            for r in s.rows:
                counts[r.verdict] += 1
        return counts



# --------------------------------------------------------------------------- measurements


def quantities(results: dict[str, dict], report_eps: float) -> dict:
    """One ensemble's numbers from its analysis results ({analysis name: result})."""
    q: dict = {}
    t = results.get("transferability")
    if t:
        q["clean_accuracy"] = t["ensemble_clean_accuracy"]
        q["transferability"] = t["off_diagonal_mean"]
    a = results.get("autoattack")
    if a:
        q["autoattack_accuracy"] = a["robust_accuracy"]
        q["autoattack_protocol"] = a["protocol"]
    for name in ("whitebox", "blackbox"):
        r = results.get(name)
        if not r:
            continue
        curve = {round(float(e), 6): float(a) for e, a in zip(r["eps"], r["accuracy"])}
        q[f"{name}_curve"] = curve
        q[f"{name}_accuracy"] = curve.get(round(report_eps, 6))
        attacked = [a for e, a in curve.items() if e > 0]
        q[f"{name}_mean"] = sum(attacked) / len(attacked) if attacked else None
        q.setdefault("clean_accuracy", curve.get(0.0))
    d = results.get("diversity")
    if d:
        metrics = d["metrics"]
        for key, metric, field_ in (("vulnerability_diversity", "vulnerability", "mean"),
                                    ("adp_logdet", "adp_logdet", "ensemble"),
                                    ("gradient_cosine", "gradient_cosine", "mean"),
                                    ("saliency_cosine", "saliency_cosine", "mean")):
            if metric in metrics:
                q[key] = metrics[metric].get(field_)
    return q


def method_key(meta: dict) -> str:
    method = meta.get("method") or "imported"
    if method == "cce":
        return f"cce_{(meta.get('method_params') or {}).get('mode', 'rm')}"
    return method


def entries_from(checkpoints: dict[str, str | Path] | None) -> list[Entry]:
    """The report's ensembles: the given {name: path}, or the shipped zoo. Names starting
    with ``surrogate`` are the hold-out black-box surrogates (not compared themselves)."""
    from ..checkpoint import CheckpointError, read_meta
    from ..seed_groups import SEEDS_DIR
    from ..zoo import SHIPPED, list_ensembles

    if checkpoints is None:
        # checkpoints/seeds/ holds further seeds of the shipped methods (seed groups); the report
        # compares the seed-0 entry of each method
        found = [e for e in list_ensembles([SHIPPED]) if e.get("shipped") and "error" not in e and e.get("complete")
                 and Path(e["name"]).parts[0] != SEEDS_DIR]
        if not found:
            raise ReportError(f"no shipped ensembles in {SHIPPED}: build the zoo with `bash checkpoints/build_zoo.sh` "
                              "or pass checkpoints explicitly")
        checkpoints = {e["name"]: e["path"] for e in found}
    entries = []
    for name, path in checkpoints.items():
        try:
            meta = read_meta(path)
        except CheckpointError as exc:
            raise ReportError(f"{name}: {exc}") from None
        entries.append(Entry(name=name, path=str(path), method=method_key(meta), dataset=meta["dataset"],
                             members=int(meta["members"]), surrogate=Path(name).name.startswith("surrogate")))
    datasets = {e.dataset for e in entries}
    if len(datasets) != 1:
        raise ReportError(f"the report compares ensembles of one data set; got {', '.join(sorted(datasets))}")
    compared = [e for e in entries if not e.surrogate]
    if not compared:
        raise ReportError("no ensembles to report on (only surrogates given)")
    seen: dict[str, str] = {}
    for e in compared:
        if e.method in seen:
            raise ReportError(f"two {e.method} ensembles ({seen[e.method]}, {e.name}): the report compares one "
                              "ensemble per method")
        seen[e.method] = e.name
    return entries


def analysis_configs(dataset: str, eps: float, samples: int, protocol: str, surrogates: list[Entry],
                     autoattack: bool = False) -> dict:
    """{analysis name: config} the report runs on every compared ensemble. With
    ``autoattack``, AutoAttack at the report ε too (standard; quick under the quick protocol)."""
    chosen = PROTOCOLS[protocol]
    grid = sorted({0.0, eps, *get_spec(dataset).eps_grid})
    configs = {
        "transferability": {"eps": eps, "samples": samples, "steps": chosen.pgd_steps,
                            "restarts": chosen.pgd_restarts},
        "whitebox": {"eps": grid, "samples": samples, "protocol": protocol},
        "diversity": {"samples": min(samples, 200)},
    }
    blackbox = _blackbox_config(dataset, eps, samples, protocol, surrogates)
    if blackbox is not None:
        configs["blackbox"] = blackbox
    if autoattack:
        configs["autoattack"] = {"eps": eps, "samples": samples, "quick": protocol == "quick"}
    return configs


def _blackbox_config(dataset: str, eps: float, samples: int, protocol: str, surrogates: list[Entry]) -> dict | None:
    """The black-box analysis' config: the given hold-out surrogates, its own ε grid for the
    data set (plus the report ε). None when the analysis or surrogates are missing."""
    from .. import analyses

    if "blackbox" not in analyses.names() or not surrogates:
        return None
    from ..evaluation.blackbox import find_surrogates

    grid = list(get_spec(dataset).eps_grid)
    config = {"samples": samples, "protocol": protocol}
    paths = [s.path for s in surrogates]
    # the zoo's own surrogates are the analysis' default: leave them out of the config, so the
    # request is the Robustness page's default one (same cache key, shipped with the zoo) and
    # its key does not depend on where this checkout lives (surrogates enter it by content hash)
    if sorted(str(Path(p).resolve()) for p in paths) != sorted(str(Path(p).resolve()) for p in find_surrogates(dataset)):
        config["surrogates"] = paths
    if not any(math.isclose(e, eps) for e in grid):
        config["eps"] = sorted(set(grid) | {eps})
    return config


# --------------------------------------------------------------------------- building


def build_report(checkpoints: dict[str, str | Path] | None = None, *, eps: float | None = None, samples: int = 500,
                 protocol: str = "quick", progress: ProgressCallback | None = None, device: str = "auto",
                 cache=None, autoattack: bool = False) -> Report:
    """Compute (through the cached analyses) and assemble the report. ``eps``: the report
    ε (default: the data set's standard attack budget). ``autoattack``: also AutoAttack at ε,
    shown beside our PGD number in the white-box table (``autoattack_accuracy``, with its
    protocol), so a reader sees where PGD -- the papers' attack -- overstates robustness."""
    from .. import analyses
    from ..data import get_spec

    if protocol not in PROTOCOLS:
        raise ReportError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    entries = entries_from(checkpoints)
    dataset = entries[0].dataset
    eps = float(eps) if eps is not None else float(get_spec(dataset).attack_eps)
    if not 0 < eps <= 1:
        raise ReportError(f"ε must lie in (0, 1], got {eps}")
    compared = [e for e in entries if not e.surrogate]
    surrogates = [e for e in entries if e.surrogate]
    configs = analysis_configs(dataset, eps, samples, protocol, surrogates, autoattack=autoattack)
    names = [n for n in ("transferability", "whitebox", "autoattack", "blackbox", "diversity") if n in configs]

    results: dict[str, list[tuple[str, dict]]] = {n: [] for n in names}
    errors: dict[str, str] = {}
    jobs = [(n, e) for n in names for e in compared]
    started = time.time()
    for done, (name, entry) in enumerate(jobs):
        what = f"{name} · {entry.name}"

        def inner(d, t, w="", done=done, what=what):
            if progress:
                progress(done * 1000 + int(1000 * d / max(t, 1)), len(jobs) * 1000, f"{what}: {w}")

        if progress:
            progress(done * 1000, len(jobs) * 1000, what)
        if name in errors:
            continue
        try:
            r = analyses.run(name, entry.path, configs[name], device=device, progress=inner, cache=cache)
        except (analyses.AnalysisError, ValueError, RuntimeError) as exc:
            errors[name] = f"{name} failed on {entry.name}: {exc}"
            continue
        results[name].append((entry.name, r))
    if progress:
        progress(len(jobs) * 1000, len(jobs) * 1000, "assembling the report")

    per_method: dict[str, dict] = {}
    for entry in compared:
        mine = {n: r for n in names for label, r in results[n] if label == entry.name}
        per_method[entry.method] = quantities(mine, eps)

    sections = [_section(key, per_method, results, compared, dataset, eps, errors, configs) for key in TABLES]
    meta = {"dataset": dataset, "eps": eps, "samples": samples, "protocol": protocol,
            "transfer_attack": {"steps": PROTOCOLS[protocol].pgd_steps, "restarts": PROTOCOLS[protocol].pgd_restarts,
                                "step_size": f"ε/{STEP_RATIO}"},
            "ensembles": [asdict(e) for e in entries], "configs": configs,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": round(time.time() - started, 1)}
    report = Report(sections, meta)
    report.meta["verdicts"] = report.verdict_counts()
    return report


_SECTION_ANALYSIS = {"clean_accuracy": "transferability", "transferability": "transferability",
                     "whitebox": "whitebox", "blackbox": "blackbox", "diversity": "diversity"}
_MEASURED = {
    "clean_accuracy": ("clean_accuracy",),
    "transferability": ("transferability",),
    "whitebox": ("whitebox_accuracy", "autoattack_accuracy", "autoattack_protocol", "whitebox_mean"),
    "blackbox": ("blackbox_accuracy", "blackbox_mean"),
    "diversity": ("vulnerability_diversity", "adp_logdet", "gradient_cosine", "saliency_cosine"),
}


def _section(key, per_method, results, compared, dataset, eps, errors, configs) -> Section:
    from ..paper_claims import claims_for

    section = Section(key, TABLES[key])
    analysis = _SECTION_ANALYSIS[key]
    if analysis not in configs:
        section.error = (f"the {analysis} analysis is not available" if analysis != "blackbox" else
                         "black-box accuracy needs the blackbox analysis and hold-out surrogate ensembles "
                         "(checkpoint names starting with 'surrogate')")
    elif analysis in errors:
        section.error = errors[analysis]
    for entry in compared:
        q = per_method.get(entry.method, {})
        row = {"ensemble": entry.name, "method": entry.method, "members": entry.members}
        for quantity in _MEASURED[key]:
            if quantity.startswith("autoattack") and "autoattack" not in configs:
                continue  # AutoAttack is opt-in (build_report(autoattack=True))
            row[quantity] = q.get(quantity)
        for curve in ("whitebox_curve", "blackbox_curve"):
            if key == curve.split("_")[0]:
                for e, a in sorted(q.get(curve, {}).items()):
                    row[f"eps={e:g}"] = a
        section.measured.append(row)
    for claim in claims_for(key):
        section.rows.extend(check_claim(claim, per_method, dataset, eps))
    section.figures = _figures(key, results.get(analysis, []))
    return section


def _figures(key: str, results: list[tuple[str, dict]]) -> list[tuple[str, object]]:
    """The analyses' own figure builders over the report's ensembles (at most 4 side by
    side per figure for the per-ensemble heatmaps)."""
    from .. import analyses

    if not results or key == "clean_accuracy":
        return _clean_figure(results) if results else []
    analysis = analyses.get(_SECTION_ANALYSIS[key])
    if key == "transferability":
        chunks = [results[i:i + 4] for i in range(0, len(results), 4)]
        return [(f"{analysis.title} ({i + 1}/{len(chunks)})", analysis.figure(c)) for i, c in enumerate(chunks)]
    if key == "diversity":
        return [(analysis.title, analysis.figure(results, kind="bars"))]
    return [(analysis.title, analysis.figure(results))]


def _clean_figure(results) -> list[tuple[str, object]]:
    import plotly.graph_objects as go

    labels = [label for label, _ in results]
    fig = go.Figure(go.Bar(x=labels, y=[100 * r["ensemble_clean_accuracy"] for _, r in results],
                           text=[f"{100 * r['ensemble_clean_accuracy']:.1f}%" for _, r in results],
                           textposition="outside", marker_color="#4C78A8"))
    fig.update_layout(title="Ensemble clean accuracy (full test split)", yaxis=dict(title="accuracy (%)",
                      range=[0, 100]), height=380, margin=dict(l=60, r=20, t=60, b=60))
    return [("Clean accuracy", fig)]

