"""The reproduction report: our zoo's measurements beside the papers' claims, with a verdict.

For a set of ensembles (by default the shipped zoo in ``checkpoints/``), the report runs the
analyses through :func:`engine.analyses.run` (so it reuses, and fills, the same cache as the
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

The package: :mod:`~engine.report.verdicts` (pure: a claim and our numbers -> a verdict),
:mod:`~engine.report.build` (runs the analyses, derives the numbers, assembles the
:class:`Report`), :mod:`~engine.report.render` (HTML, JSON and CSV files).
"""
from __future__ import annotations

from .build import (PROTOCOLS, Entry, ProgressCallback, Report, ReportError, Section, analysis_configs, build_report,
                    entries_from, method_key, quantities)
from .render import ROW_COLUMNS, VERDICT_COLORS, report_html, write_report
from .verdicts import (DATASET_NAMES, NOT_COMPARABLE_DATA, NOT_COMPARABLE_PROTOCOL, NOT_EVALUATED, NOT_REPRODUCED,
                       REPRODUCED, VERDICTS, Row, check_claim, check_numbers, check_ordering, numeric_verdict)

__all__ = ["DATASET_NAMES", "NOT_COMPARABLE_DATA", "NOT_COMPARABLE_PROTOCOL", "NOT_EVALUATED", "NOT_REPRODUCED",
           "PROTOCOLS", "REPRODUCED", "ROW_COLUMNS", "VERDICTS", "VERDICT_COLORS", "Entry", "ProgressCallback", "Report",
           "ReportError", "Row", "Section", "analysis_configs", "build_report", "check_claim", "check_numbers",
           "check_ordering", "entries_from", "method_key", "numeric_verdict", "quantities", "report_html",
           "write_report"]
