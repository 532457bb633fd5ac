"""``leaderboard``: one row per zoo ensemble of a data set (:mod:`engine.leaderboard`)."""
from __future__ import annotations

import sys

from .common import CLIError, _emit, add_config_arguments


def cmd_leaderboard(args) -> int:
    from pydantic import ValidationError
    from tqdm import tqdm

    from ..cache import ResultCache
    from ..data import validate_name
    from ..export import jsonable
    from ..leaderboard import COLUMNS, LeaderboardConfig, export, leaderboard, table

    fields = {name: getattr(args, name) for name in LeaderboardConfig.model_fields if getattr(args, name) is not None}
    try:
        config = LeaderboardConfig(**fields)
        validate_name(config.dataset)
    except (ValidationError, ValueError) as exc:
        raise CLIError(f"invalid leaderboard configuration: {exc}") from None
    columns = args.columns.split(",") if args.columns else None
    unknown = sorted(set(columns or []) - {c.key for c in COLUMNS})
    if unknown:
        raise CLIError(f"unknown leaderboard column(s) {', '.join(unknown)}; choose from "
                       f"{', '.join(c.key for c in COLUMNS)}")
    if args.out and not args.out.lower().endswith((".csv", ".html", ".png", ".json")):
        raise CLIError(f"--out must end in .csv, .html, .png or .json, got {args.out!r}")
    if args.job:
        return _submit_job(config, columns, args)
    bar = None if args.quiet or args.cached_only else tqdm(desc="leaderboard", total=1, file=sys.stderr,
                                                           dynamic_ncols=True)

    def progress(done: int, total: int, what: str = "") -> None:
        bar.total, bar.n = total, done
        bar.set_postfix_str(what[:60], refresh=True)

    try:
        board = leaderboard(config, cached_only=args.cached_only, device=args.device, columns=columns,
                            cache=ResultCache(args.cache_dir) if args.cache_dir else None,
                            progress=progress if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    if args.out:
        board["out"] = str(export(board, args.out))

    def render(b):
        rows = table(b)
        keys = list(rows[0]) if rows else []
        print(f"== leaderboard: {b['dataset']}, L∞ ε={b['eps']:g}, {b['samples']} samples, "
              f"AutoAttack {b['autoattack_version']}")
        print("  ".join(keys))
        for row in rows:
            print("  ".join("—" if row[k] is None else f"{row[k]:.3f}" if isinstance(row[k], float) else str(row[k])
                            for k in keys))
        if b["missing"]:
            print(f"{len(b['missing'])} number(s) not computed yet (run without --cached-only)")
        if b.get("out"):
            print(f"written to {b['out']}")

    _emit(jsonable(board), args.json, render)
    return 0


def _submit_job(config, columns, args) -> int:
    """``--job``: the missing numbers as one background analysis job (``jobs show ID``
    follows it; the table then reads them from the cache)."""
    from .. import jobs
    from ..leaderboard import leaderboard

    board = leaderboard(config, cached_only=True, columns=columns)
    try:
        items = jobs.analysis.leaderboard_items(board, columns)
        job = jobs.get_executor().submit_analysis(items, label="leaderboard")
    except jobs.JobError as exc:
        raise CLIError(str(exc)) from None
    result = dict(jobs.summary(job), items=len(items))
    _emit(result, args.json, lambda r: print(f"submitted job {r['id']} ({r['items']} analyses); follow it with "
                                              f"`python -m engine jobs show {r['id']}`"))
    return 0


def add_parsers(sub) -> None:
    from ..leaderboard import COLUMNS, LeaderboardConfig

    lb = sub.add_parser("leaderboard", help="one row per zoo ensemble of a data set: clean, PGD, AutoAttack, adaptive, "
                                            "black-box, transferability, diversity, training cost")
    add_config_arguments(lb, LeaderboardConfig)
    lb.add_argument("--columns", help=f"subset, comma-separated: {','.join(c.key for c in COLUMNS)}")
    lb.add_argument("--cached-only", action="store_true", help="never compute: show only numbers already cached")
    lb.add_argument("--out", help="also write the table: FILE.csv, FILE.html, FILE.png or FILE.json")
    lb.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    lb.add_argument("--cache-dir", help="result cache directory (default: the shared one)")
    lb.add_argument("--quiet", action="store_true", help="no progress bar")
    lb.add_argument("--job", action="store_true",
                    help="compute the missing numbers as a background job instead (see: jobs show ID)")
    lb.add_argument("--json", action="store_true")
    lb.set_defaults(func=cmd_leaderboard)
