"""The reproduction report: our zoo's measurements beside the papers' claims, with a verdict.

For a set of ensembles (by default the shipped zoo in ``checkpoints/``), the report runs the
analyses through :func:`engine.analysis.run` (so it reuses, and fills, the same cache as the
app and ``python -m engine eval``), derives one number per ensemble and quantity (clean
accuracy, within-ensemble transferability, white-box and black-box accuracy at the report ε
and over the ε grid, each paper's diversity metric), and checks every claim of
:mod:`engine.paper_claims` against them:

- an ordering claim ("DVERGE has the lowest transferability") is checked on our numbers
  whatever data set the paper used: ``reproduced`` / ``not reproduced``;
- a paper's numbers are compared (within the claim's tolerance) only when the paper measured
  the same data set with a comparable protocol; otherwise ``not comparable (different data
  set)`` or ``not comparable (different protocol)``. CIFAR-10 numbers are never compared to
  Fashion-MNIST numbers.

:func:`write_report` writes ``report.html`` (self-contained: tables and every analysis figure,
plotly.js included once), ``report.json`` and one CSV per table.
"""
from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .paper_claims import TABLES, Claim, Ordering

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_COMPARABLE_DATA = "not comparable (different data set)"
NOT_COMPARABLE_PROTOCOL = "not comparable (different protocol)"
NOT_EVALUATED = "not evaluated"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_COMPARABLE_DATA, NOT_COMPARABLE_PROTOCOL, NOT_EVALUATED)

#: protocol -> (PGD steps, random restarts) of the transfer attacks; white-box uses its own.
PROTOCOLS = {"quick": (20, 1), "paper": (50, 5)}

DATASET_NAMES = {"cifar10": "CIFAR-10", "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}

Progress = Callable[[int, int, str], None]


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
class Row:
    """One checked claim (or one method of a claim with numbers): ours beside the paper's."""

    claim: str
    method: str
    ours: str
    paper: str
    source: str
    paper_setting: str
    verdict: str
    detail: str = ""
    quote: str = ""


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


# --------------------------------------------------------------------------- verdicts (pure)


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.3f}"


def check_ordering(check: Ordering, values: dict[str, float]) -> tuple[str, str]:
    """Verdict and explanation of an ordering claim on our per-method values.

    ``lowest``/``less``: every subject strictly below every other method; ``highest``/
    ``greater``: strictly above; ``close``: every subject within ``margin`` of every other.
    A method without a value makes the claim ``not evaluated``."""
    missing = [m for m in (*check.subject, *check.others)
               if values.get(m) is None or not math.isfinite(values[m])]
    if missing:
        return NOT_EVALUATED, "no measurement for " + ", ".join(missing)
    pairs = [(values[s], values[o]) for s in check.subject for o in check.others]
    tests = {"lowest": lambda s, o: s < o, "less": lambda s, o: s < o,
             "highest": lambda s, o: s > o, "greater": lambda s, o: s > o,
             "close": lambda s, o: abs(s - o) <= check.margin}
    ok = all(tests[check.relation](s, o) for s, o in pairs)
    symbol = {"lowest": "<", "less": "<", "highest": ">", "greater": ">", "close": "≈"}[check.relation]
    subjects = ", ".join(f"{m} {_fmt(values[m])}" for m in check.subject)
    others = ", ".join(f"{m} {_fmt(values[m])}" for m in check.others)
    margin = f" (within {check.margin:g})" if check.relation == "close" else ""
    return (REPRODUCED if ok else NOT_REPRODUCED), f"{subjects} {symbol} {others}{margin}"


def check_numbers(paper: list[float], ours: list[float | None], tolerance: float) -> tuple[str, str]:
    """Paper's numbers vs ours at the same points, within an absolute tolerance."""
    if any(o is None for o in ours):
        return NOT_EVALUATED, "not measured at the paper's ε"
    worst = max(abs(p - o) for p, o in zip(paper, ours))
    verdict = REPRODUCED if worst <= tolerance else NOT_REPRODUCED
    return verdict, f"largest difference {worst:.3f} (tolerance {tolerance:g})"


def numeric_verdict(claim: Claim, method: str, our_dataset: str, ours_at: Callable[[float | None], float | None]
                    ) -> tuple[str, str]:
    """Verdict of one method's numbers of a :class:`Numeric` claim. ``ours_at(eps)`` gives
    our value of the claim's quantity at that ε (None = not measured); eps None = the
    quantity has no ε (clean accuracy, diversity)."""
    check = claim.check
    if claim.dataset != our_dataset:
        return NOT_COMPARABLE_DATA, (f"paper: {DATASET_NAMES.get(claim.dataset, claim.dataset)}, ours: "
                                     f"{DATASET_NAMES.get(our_dataset, our_dataset)}")
    if check.comparable:
        return NOT_COMPARABLE_PROTOCOL, check.comparable
    paper = claim.values[method]
    if isinstance(paper, (list, tuple)):
        ours = [ours_at(e) for e in claim.eps]
        return check_numbers(list(paper), ours, check.tolerance)
    return check_numbers([paper], [ours_at(claim.eps[0] if claim.eps else None)], check.tolerance)


def _paper_text(claim: Claim, method: str) -> str:
    value = claim.values[method]
    if isinstance(value, (list, tuple)):
        return ", ".join(("clean" if e == 0 else f"ε={e:g}") + f": {v:.3f}" for e, v in zip(claim.eps, value))
    return (f"ε={claim.eps[0]:g}: " if claim.eps else "") + f"{value:.3f}"


def check_claim(claim: Claim, measurements: dict[str, dict], our_dataset: str, report_eps: float) -> list[Row]:
    """Rows of one claim. ``measurements``: method -> {quantity: value, "<curve>_curve":
    {ε: accuracy}} as produced by :func:`quantities`."""
    setting = f"{DATASET_NAMES.get(claim.dataset, claim.dataset)}, {claim.arch}"
    source = f"{claim.paper}, {claim.where}"
    check = claim.check
    rows = []
    if isinstance(check, Ordering):
        values = {m: measurements.get(m, {}).get(check.quantity) for m in (*check.subject, *check.others)}
        verdict, detail = check_ordering(check, values)
        paper = claim.quote if not claim.values else claim.quote + " [" + "; ".join(
            f"{m}: {_paper_text(claim, m)}" for m in claim.values) + "]"
        rows.append(Row(claim.id, ", ".join(check.subject), detail, paper, source, setting, verdict,
                        _quantity_label(check.quantity, report_eps) + (f". {claim.note}" if claim.note else ""),
                        claim.quote))
        return rows
    curve = _CURVES.get(check.quantity)
    for method in claim.values:
        m = measurements.get(method)

        def ours_at(eps, m=m):
            if m is None:
                return None
            if curve is None:
                return m.get(check.quantity)
            return m.get(curve, {}).get(round(eps, 6)) if eps is not None else None

        if m is None:
            verdict, detail = NOT_EVALUATED, f"no {method} ensemble in the report"
            ours = "–"
        else:
            verdict, detail = numeric_verdict(claim, method, our_dataset, ours_at)
            ours = f"ε={report_eps:g}: {_fmt(m.get(check.quantity))}" if curve else _fmt(m.get(check.quantity))
            if curve and claim.dataset == our_dataset and claim.eps:
                at = [ours_at(e) for e in claim.eps]
                if all(a is not None for a in at):
                    ours = ", ".join(f"ε={e:g}: {a:.3f}" for e, a in zip(claim.eps, at))
        rows.append(Row(claim.id, method, ours, _paper_text(claim, method), source, setting, verdict,
                        detail + (f". {claim.note}" if claim.note else ""), claim.quote))
    return rows


_CURVES = {"whitebox_accuracy": "whitebox_curve", "blackbox_accuracy": "blackbox_curve"}
_LABELS = {
    "clean_accuracy": "ensemble clean accuracy",
    "transferability": "mean off-diagonal attack success rate at ε={eps:g}",
    "whitebox_accuracy": "white-box accuracy at ε={eps:g}",
    "whitebox_mean": "mean white-box accuracy over the ε grid",
    "blackbox_accuracy": "black-box accuracy at ε={eps:g}",
    "blackbox_mean": "mean black-box accuracy over the ε grid",
    "vulnerability_diversity": "DVERGE Eq. 2 vulnerability diversity (pair mean, higher = more diverse)",
    "adp_logdet": "ADP Eq. 3 log det of all members (higher = more diverse)",
    "gradient_cosine": "GAL loss-gradient cosine (pair mean, lower = less coherent)",
    "saliency_cosine": "SMD Eq. 2 saliency cosine (pair mean, lower = less aligned)",
}


def _quantity_label(quantity: str, eps: float) -> str:
    return "ours: " + _LABELS[quantity].format(eps=eps)


# --------------------------------------------------------------------------- measurements


def quantities(results: dict[str, dict], report_eps: float) -> dict:
    """One ensemble's numbers from its analysis results ({analysis name: result})."""
    q: dict = {}
    t = results.get("transferability")
    if t:
        q["clean_accuracy"] = t["ensemble_clean_accuracy"]
        q["transferability"] = t["off_diagonal_mean"]
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
    from .checkpoint import CheckpointError, read_meta
    from .zoo import SHIPPED, list_ensembles

    if checkpoints is None:
        found = [e for e in list_ensembles([SHIPPED]) if e.get("shipped") and "error" not in e and e.get("complete")]
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


def analysis_configs(dataset: str, eps: float, samples: int, protocol: str, surrogates: list[Entry]) -> dict:
    """{analysis name: config} the report runs on every compared ensemble."""
    from .evaluation.whitebox import DEFAULT_EPS

    steps, restarts = PROTOCOLS[protocol]
    grid = sorted(set(DEFAULT_EPS) | {0.0, eps}) if dataset in ("fashion_mnist", "mnist") else \
        sorted({0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, eps})
    configs = {
        "transferability": {"eps": eps, "samples": samples, "steps": steps, "restarts": restarts},
        "whitebox": {"eps": grid, "samples": samples, "protocol": protocol},
        "diversity": {"samples": min(samples, 200)},
    }
    blackbox = _blackbox_config(dataset, eps, samples, protocol, surrogates)
    if blackbox is not None:
        configs["blackbox"] = blackbox
    return configs


def _blackbox_config(dataset: str, eps: float, samples: int, protocol: str, surrogates: list[Entry]) -> dict | None:
    """The black-box analysis' config: the given hold-out surrogates, its own ε grid for the
    data set (plus the report ε). None when the analysis or surrogates are missing."""
    from . import analysis as registry

    if "blackbox" not in registry.available() or not surrogates:
        return None
    from .evaluation.blackbox import default_eps

    grid = default_eps(dataset)
    config = {"samples": samples, "protocol": protocol, "surrogates": [s.path for s in surrogates]}
    if not any(math.isclose(e, eps) for e in grid):
        config["eps"] = sorted(set(grid) | {eps})
    return config


# --------------------------------------------------------------------------- building


def build_report(checkpoints: dict[str, str | Path] | None = None, *, eps: float | None = None, samples: int = 500,
                 protocol: str = "quick", progress: Progress | None = None, device: str = "auto",
                 cache=None) -> Report:
    """Compute (through the cached analyses) and assemble the report. ``eps``: the report
    ε (default: the data set's standard attack budget)."""
    from . import analysis as registry
    from .data import get_spec

    if protocol not in PROTOCOLS:
        raise ReportError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    entries = entries_from(checkpoints)
    dataset = entries[0].dataset
    eps = float(eps) if eps is not None else float(get_spec(dataset).attack_eps)
    if not 0 < eps <= 1:
        raise ReportError(f"ε must lie in (0, 1], got {eps}")
    compared = [e for e in entries if not e.surrogate]
    surrogates = [e for e in entries if e.surrogate]
    configs = analysis_configs(dataset, eps, samples, protocol, surrogates)
    names = [n for n in ("transferability", "whitebox", "blackbox", "diversity") if n in configs]

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
            r = registry.run(name, entry.path, configs[name], device=device, progress=inner, cache=cache)
        except (registry.AnalysisError, ValueError, RuntimeError) as exc:
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
            "transfer_attack": {"steps": PROTOCOLS[protocol][0], "restarts": PROTOCOLS[protocol][1],
                                "step_size": "ε/5"},
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
    "whitebox": ("whitebox_accuracy", "whitebox_mean"),
    "blackbox": ("blackbox_accuracy", "blackbox_mean"),
    "diversity": ("vulnerability_diversity", "adp_logdet", "gradient_cosine", "saliency_cosine"),
}


def _section(key, per_method, results, compared, dataset, eps, errors, configs) -> Section:
    from .paper_claims import claims_for

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
    from . import analysis as registry

    if not results or key == "clean_accuracy":
        return _clean_figure(results) if results else []
    analysis = registry.get(_SECTION_ANALYSIS[key])
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


# --------------------------------------------------------------------------- writing

VERDICT_COLORS = {REPRODUCED: "#d4edda", NOT_REPRODUCED: "#f8d7da", NOT_COMPARABLE_DATA: "#e2e3e5",
                  NOT_COMPARABLE_PROTOCOL: "#e2e3e5", NOT_EVALUATED: "#fff3cd"}
ROW_COLUMNS = ("claim", "method", "ours", "paper", "source", "paper_setting", "verdict", "detail")


def _csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def report_html(report: Report) -> str:
    """The self-contained HTML page (plotly.js embedded once)."""
    from plotly.offline import get_plotlyjs

    m = report.meta
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Reproduction report</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;"
        "margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left}"
        "th{background:#f3f3f3}.verdict{font-weight:bold;white-space:nowrap}.small{color:#555;font-size:12px}"
        "</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
        "<h1>Reproduction report</h1>",
        f"<p>Data set <b>{esc(DATASET_NAMES.get(m['dataset'], m['dataset']))}</b>, report ε = <b>{m['eps']:g}</b>, "
        f"{m['samples']} test samples per analysis, protocol <b>{esc(m['protocol'])}</b> (transfer attacks: "
        f"PGD-{m['transfer_attack']['steps']} × {m['transfer_attack']['restarts']} restart(s), step ε/5). "
        f"Generated {esc(m['created'])}.</p>",
        "<p>Verdicts: " + ", ".join(f"<span class='verdict' style='background:{VERDICT_COLORS[v]}'>{esc(v)}</span>"
                                     f" {n}" for v, n in report.verdict_counts().items()) + ".</p>",
        "<p class='small'>Orderings (qualitative claims) are checked on our ensembles whatever data set the paper "
        "used; the papers' numbers are compared only when measured on the same data set with a comparable "
        "protocol. Ensembles: " + esc(", ".join(f"{e['name']} ({e['method']}, {e['members']} members"
                                                  + (", surrogate" if e["surrogate"] else "") + ")"
                                                  for e in m["ensembles"])) + ".</p>",
    ]
    for s in report.sections:
        parts.append(f"<h2 id='{s.key}'>{esc(s.title)}</h2>")
        if s.error:
            parts.append(f"<p style='color:#a00'>{esc(s.error)}</p>")
        if s.rows:
            parts.append("<table><tr>" + "".join(f"<th>{esc(c.replace('_', ' '))}</th>" for c in ROW_COLUMNS)
                         + "</tr>")
            for r in s.rows:
                d = asdict(r)
                cells = []
                for c in ROW_COLUMNS:
                    style = f" class='verdict' style='background:{VERDICT_COLORS[r.verdict]}'" if c == "verdict" else ""
                    cells.append(f"<td{style}>{esc(str(d[c]))}</td>")
                parts.append("<tr>" + "".join(cells) + "</tr>")
            parts.append("</table>")
        if s.measured:
            columns = list(dict.fromkeys(k for r in s.measured for k in r))
            parts.append("<p class='small'>Our measurements:</p><table><tr>"
                         + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr>")
            for r in s.measured:
                parts.append("<tr>" + "".join(f"<td>{esc(_cell(r.get(c)))}</td>" for c in columns) + "</tr>")
            parts.append("</table>")
        for caption, fig in s.figures:
            parts.append(f"<h3>{esc(caption)}</h3>")
            parts.append(fig.to_html(full_html=False, include_plotlyjs=False))
    parts.append("</body></html>")
    return "\n".join(parts)


def _cell(v) -> str:
    if isinstance(v, float):
        return _fmt(v)
    return "–" if v is None else str(v)


def _atomic_write(path: Path, data: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(report: Report, out_dir: str | Path) -> dict[str, Path]:
    """Write report.html, report.json, <table>.csv (claims with verdicts) and
    <table>_measured.csv (our numbers per ensemble); each file replaced atomically."""
    from .export import jsonable

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"report.html": report_html(report),
             "report.json": json.dumps(jsonable(report.to_dict()), indent=1)}
    for s in report.sections:
        files[f"{s.key}.csv"] = _csv([asdict(r) for r in s.rows])
        files[f"{s.key}_measured.csv"] = _csv(s.measured)
    written = {}
    for name, text in files.items():
        _atomic_write(out / name, text)
        written[name] = out / name
    return written
