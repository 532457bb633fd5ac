"""Exports: figures as PNG/SVG/PDF (kaleido, which drives the system Chromium) or
standalone HTML, their data as CSV/JSON, several files as one zip archive. Filenames say
what they show (analysis, methods, data set, ε)."""
from __future__ import annotations

import csv
import io
import json
import math
import re
import zipfile

import numpy as np

#: Export canvas per figure kind: the smallest width (px at scale 1) that keeps each panel
#: of a side-by-side comparison legible, and the height used when the builder sets none.
#: Builders that size themselves (image grids, one row per ensemble) keep their own size.
MIN_PANEL_WIDTH = 380
MIN_WIDTH = 720
DEFAULT_HEIGHT = 480
#: margins (px) kept around the plot area before automargin grows them for tick labels,
#: axis titles, legends and the figure title
EXPORT_MARGIN = dict(l=70, r=40, t=90, b=70, pad=4)

IMAGE_FORMATS = ("png", "svg", "pdf")
FORMATS = IMAGE_FORMATS + ("html", "csv", "json")


class ExportError(RuntimeError):
    pass


def _columns(fig) -> int:
    """Number of side-by-side panels: distinct horizontal domains of the x axes."""
    starts = {round(axis.domain[0], 3) for name in fig.layout if name.startswith("xaxis")
              for axis in [fig.layout[name]] if axis.domain}
    return max(len(starts), 1)


def export_size(fig) -> tuple[int, int]:
    """(width, height) of the exported canvas: the builder's own size when it set one,
    at least ``MIN_PANEL_WIDTH`` per side-by-side panel otherwise."""
    width = fig.layout.width or max(MIN_WIDTH, MIN_PANEL_WIDTH * _columns(fig) + 160)
    height = fig.layout.height or DEFAULT_HEIGHT
    return int(width), int(height)


def prepare_for_export(fig):
    """A copy of ``fig`` laid out for a fixed canvas, so the file looks like the screen.

    On screen Streamlit applies its own template (``pio.templates.default`` becomes
    "streamlit" once Streamlit's plotly support is imported), whose colours are
    placeholders the browser replaces and whose axes do not grow the margins for their
    labels; an export rendered with it clips tick labels and axis titles. So every export
    uses plotly's own template, automargin on every axis, margins at least
    ``EXPORT_MARGIN`` and the figure kind's export size. (The title keeps its default
    place, centred in the top margin: plotly's title automargin misplaces titles of
    several lines.)
    """
    import plotly.graph_objects as go
    import plotly.io as pio

    fig = go.Figure(fig)
    width, height = export_size(fig)
    margin = {k: max(v, getattr(fig.layout.margin, k) or 0) for k, v in EXPORT_MARGIN.items()}
    fig.update_layout(template=pio.templates["plotly"], width=width, height=height, margin=margin)
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def figure_bytes(fig, fmt: str) -> bytes:
    if fmt == "html":
        return fig.to_html(include_plotlyjs=True, full_html=True).encode()  # works offline
    if fmt in IMAGE_FORMATS:
        fig = prepare_for_export(fig)
        try:
            return fig.to_image(format=fmt, scale=2 if fmt == "png" else 1)
        except Exception as exc:  # noqa: BLE001 - kaleido raises several types
            raise ExportError(f"{fmt.upper()} export needs kaleido and a Chromium browser "
                              f"(apt-get install chromium): {exc}") from None
    raise ExportError(f"not a figure format: {fmt!r}")


def jsonable(obj):
    """Results -> JSON values: arrays become nested lists, NaN/inf become null."""
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def table_bytes(rows: list[dict], fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(jsonable(rows), indent=1).encode()
    if fmt == "csv":
        columns: list[str] = []
        for row in rows:
            columns += [c for c in row if c not in columns]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in jsonable(row).items()})
        return buffer.getvalue().encode()
    raise ExportError(f"not a table format: {fmt!r}")


def export_bytes(analysis, results, fmt: str, **view) -> bytes:
    """One analysis' figure (png/svg/pdf/html) or data (csv: its table; json: the table and
    the full results) for the compared ``results``."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "csv":
        return table_bytes(analysis.rows(results), "csv")
    if fmt == "json":
        payload = {"analysis": analysis.name, "rows": analysis.rows(results),
                   "results": [{"label": label, **result} for label, result in results]}
        return json.dumps(jsonable(payload)).encode()
    return figure_bytes(analysis.figure(results, **view), fmt)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=+-]+", "-", str(text)).strip("-")[:60] or "x"


def filename(name: str, results, fmt: str, **details) -> str:
    """e.g. ``transferability_dverge-vs-baseline_fashion_mnist_eps=0.1.png``."""
    methods = "-vs-".join(dict.fromkeys(slug(r.get("method") or "imported") for _, r in results)) or "none"
    datasets = "-".join(dict.fromkeys(slug(r.get("dataset", "")) for _, r in results))
    def show(v):
        if isinstance(v, (list, tuple)):  # a grid: its range
            return f"{min(v):g}-{max(v):g}" if v else ""
        return f"{v:g}" if isinstance(v, float) else v

    extra = "_".join(f"{k}={slug(show(v))}" for k, v in details.items() if v is not None and show(v) != "")
    parts = [slug(name), methods, datasets] + ([extra] if extra else [])
    return "_".join(p for p in parts if p) + f".{fmt}"


def archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()
