"""Writing the report: the self-contained HTML page (a jinja2 template,
``templates/report.html.j2``, autoescaped), ``report.json`` and the CSV tables."""
from __future__ import annotations

import csv
import functools
import io
import json
from dataclasses import asdict
from pathlib import Path

import jinja2

from ..atomic import atomic_write_text
from .build import Report
from .verdicts import (DATASET_NAMES, NOT_COMPARABLE_DATA, NOT_COMPARABLE_PROTOCOL, NOT_EVALUATED, NOT_REPRODUCED,
                       REPRODUCED, _fmt)

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


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["cell"] = _cell
    return env.get_template("report.html.j2")


def report_html(report: Report) -> str:
    """The self-contained HTML page (plotly.js embedded once), from ``templates/report.html.j2``."""
    from plotly.offline import get_plotlyjs

    m = report.meta
    sections = [{"key": s.key, "title": s.title, "error": s.error, "rows": [asdict(r) for r in s.rows],
                 "measured": s.measured, "measured_columns": list(dict.fromkeys(k for r in s.measured for k in r)),
                 "figures": [(caption, fig.to_html(full_html=False, include_plotlyjs=False))
                             for caption, fig in s.figures]}
                for s in report.sections]
    ensembles = ", ".join(f"{e['name']} ({e['method']}, {e['members']} members"
                          + (", surrogate" if e["surrogate"] else "") + ")" for e in m["ensembles"])
    return _template().render(plotlyjs=get_plotlyjs(), meta=m, dataset=DATASET_NAMES.get(m["dataset"], m["dataset"]),
                              eps=f"{m['eps']:g}", verdicts=report.verdict_counts(), colors=VERDICT_COLORS,
                              ensembles=ensembles, sections=sections, columns=ROW_COLUMNS)


def _cell(v) -> str:
    if isinstance(v, float):
        return _fmt(v)
    return "–" if v is None else str(v)


def write_report(report: Report, out_dir: str | Path) -> dict[str, Path]:
    """Write report.html, report.json, <table>.csv (claims with verdicts) and
    <table>_measured.csv (our numbers per ensemble); each file replaced atomically."""
    from ..export import jsonable

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"report.html": report_html(report),
             "report.json": json.dumps(jsonable(report.to_dict()), indent=1)}
    for s in report.sections:
        files[f"{s.key}.csv"] = _csv([asdict(r) for r in s.rows])
        files[f"{s.key}_measured.csv"] = _csv(s.measured)
    written = {}
    for name, text in files.items():
        atomic_write_text(out / name, text)
        written[name] = out / name
    return written
