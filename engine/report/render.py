"""Writing the report: the self-contained HTML page, ``report.json`` and the CSV tables."""
from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import asdict
from pathlib import Path

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
