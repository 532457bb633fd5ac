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

IMAGE_FORMATS = ("png", "svg", "pdf")
FORMATS = IMAGE_FORMATS + ("html", "csv", "json")


class ExportError(RuntimeError):
    pass


def figure_bytes(fig, fmt: str) -> bytes:
    if fmt == "html":
        return fig.to_html(include_plotlyjs=True, full_html=True).encode()  # works offline
    if fmt in IMAGE_FORMATS:
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
        return table_bytes(analysis.table(results), "csv")
    if fmt == "json":
        payload = {"analysis": analysis.name, "rows": analysis.table(results),
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
