"""Command line: ``python -m engine COMMAND ...``.

The command names, flags and JSON keys documented in the README are a contract that
scripts depend on: add to them, never rename. ``--json`` prints one JSON object on the
last line of standard output; progress goes to standard error.

One module per command group (``train``, ``analyses`` for eval/export, ``checkpoints`` for
import-checkpoint/package/info, ``bench``, ``jobs``, ``sweep``, ``report``), each with its ``cmd_*``
functions and an ``add_parsers(sub)``; this module assembles the parser and turns the
engine's user-facing errors into one ``error: ...`` line and exit code 2.
"""
from __future__ import annotations

import argparse
import sys

from . import analyses, bench, checkpoints, jobs, leaderboard, report, shipped, sweep, train
from .analyses import cmd_eval, cmd_export
from .bench import cmd_bench, cmd_bench_transferability
from .checkpoints import cmd_import, cmd_info, cmd_package
from .common import CLIError, add_config_arguments
from .jobs import cmd_jobs, cmd_worker
from .report import cmd_report
from .sweep import cmd_sweep
from .train import cmd_train

__all__ = ["CLIError", "add_config_arguments", "build_parser", "main", "cmd_train", "cmd_eval", "cmd_export",
           "cmd_import", "cmd_package", "cmd_info", "cmd_bench", "cmd_bench_transferability", "cmd_jobs",
           "cmd_worker", "cmd_report", "cmd_sweep"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Robust-ensembles lab engine")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (train, analyses, checkpoints, bench, jobs, sweep, report, leaderboard, shipped):
        group.add_parsers(sub)
    jobs.add_worker_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..checkpoint import CheckpointError
    from ..data import DataNotFoundError
    from ..device import DeviceError
    from ..evaluation import AnalysisError
    from ..registry import UnknownName
    from ..train import TrainingError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CLIError, CheckpointError, DataNotFoundError, DeviceError, TrainingError, AnalysisError,
            UnknownName) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permission denied, a path that is a file: no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; a training run can be continued with --resume", file=sys.stderr)
        return 130
