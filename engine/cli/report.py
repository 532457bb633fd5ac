"""``report``: the reproduction report (:mod:`engine.report`) of the zoo or given checkpoints."""
from __future__ import annotations

import sys
from pathlib import Path

from .common import CLIError, _emit


def cmd_report(args) -> int:
    """The reproduction report (engine/report/) of the shipped zoo or the given checkpoints."""
    from tqdm import tqdm

    from ..cache import ResultCache
    from ..report import ReportError, build_report, write_report

    from ..checkpoint import check_writable

    check_writable(Path(args.out))  # a file or unwritable --out fails before any work
    checkpoints = {Path(c).name: c for c in args.checkpoints} if args.checkpoints else None
    bar = None if args.quiet else tqdm(desc="report", total=1, file=sys.stderr, dynamic_ncols=True)

    def progress(done: int, total: int, what: str = "") -> None:
        bar.total, bar.n = total, done
        bar.set_postfix_str(what[:60], refresh=True)

    try:
        report = build_report(checkpoints, eps=args.eps, samples=args.samples, protocol=args.protocol,
                              progress=progress if bar is not None else None, device=args.device,
                              cache=ResultCache(args.cache_dir) if args.cache_dir else None,
                              autoattack=args.autoattack)
    except ReportError as exc:
        raise CLIError(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
    files = write_report(report, args.out)
    result = {"out": str(Path(args.out).resolve()), "files": sorted(files), "dataset": report.meta["dataset"],
              "eps": report.meta["eps"], "verdicts": report.verdict_counts(),
              "rows": [{"table": s.key, "claim": r.claim, "method": r.method, "verdict": r.verdict}
                       for s in report.sections for r in s.rows]}

    def render(r):
        for s in report.sections:
            print(f"== {s.title}" + (f"  ({s.error})" if s.error else ""))
            for row in s.rows:
                print(f"  [{row.verdict}] {row.claim} / {row.method}: ours {row.ours}")
        print(f"report written to {r['out']}: " + ", ".join(f"{v} {n}" for v, n in r["verdicts"].items()))

    _emit(result, args.json, render)
    return 0


def add_parsers(sub) -> None:
    rp = sub.add_parser("report", help="reproduction report: the zoo's numbers beside the papers' claims (HTML/JSON/CSV)")
    rp.add_argument("checkpoints", nargs="*", help="default: the shipped zoo (names starting with 'surrogate' are "
                    "the black-box surrogates)")
    rp.add_argument("--out", required=True, help="directory for report.html, report.json and the CSVs")
    rp.add_argument("--samples", type=int, default=500, help="test samples per analysis (default: 500)")
    rp.add_argument("--eps", type=float, help="report ε (default: the data set's standard attack budget)")
    rp.add_argument("--protocol", choices=["quick", "paper"], default="quick")
    rp.add_argument("--device", default="auto")
    rp.add_argument("--cache-dir", help="result cache directory (default: the shared one)")
    rp.add_argument("--autoattack", action="store_true",
                    help="also AutoAttack at the report ε (quick under --protocol quick, else standard), beside PGD "
                         "in the white-box table")
    rp.add_argument("--quiet", action="store_true")
    rp.add_argument("--json", action="store_true")
    rp.set_defaults(func=cmd_report)
