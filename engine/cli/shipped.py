"""``shipped-results``: build the analysis results shipped with the zoo
(:mod:`engine.shipped_results`) or copy them into the user's result cache."""
from __future__ import annotations

import sys
from pathlib import Path

from .common import _emit


def cmd_shipped_results(args) -> int:
    from .. import shipped_results as sr

    if args.build:
        def progress(what: str) -> None:
            if not args.quiet:
                print(f"== {what}", file=sys.stderr, flush=True)

        files = sr.build(Path(args.dir) if args.dir else None, progress=progress)
        out = {"built": len(files), "dir": str(args.dir or sr.RESULTS_DIR),
               "bytes": sum(f.stat().st_size + (f.with_suffix(".safetensors").stat().st_size
                                                if f.with_suffix(".safetensors").is_file() else 0) for f in files)}
    else:
        out = sr.seed_cache(directory=Path(args.dir) if args.dir else None)
    _emit(out, args.json, lambda o: print(", ".join(f"{k}: {v}" for k, v in o.items())))
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("shipped-results", help="copy the shipped zoo's precomputed analysis results into your result "
                                               "cache (--build: recompute them, for checkpoints/build_zoo.sh)")
    p.add_argument("--build", action="store_true",
                   help="compute every first-view result of the shipped DVERGE and baseline entries and the "
                        "Reproduction report page's first-open results, and write them")
    p.add_argument("--dir", help="results directory (default: checkpoints/results)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_shipped_results)
