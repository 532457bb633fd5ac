"""``python -m engine sweep``: expand a grid of training runs, run them as jobs on the
selected executor, evaluate each finished run and print mean ± std over seeds
(:mod:`engine.sweep` does the work; this is only the command line)."""
from __future__ import annotations

import json
import sys

from .common import CLIError
from .jobs import add_executor_arguments, executor_from_args


def add_parsers(sub) -> None:
    from ..methods import METHODS

    sw = sub.add_parser("sweep", help="a grid of training runs over methods, seeds and hyperparameters, as jobs "
                        "(local or Ray), evaluated into mean ± std over seeds; rerun to skip finished trials")
    sw.add_argument("--method", required=True, metavar="M[,M...]", help=f"one or more of: {', '.join(METHODS)}")
    sw.add_argument("--seeds", default="0", help="e.g. 0-4 or 0,1,2 (default: 0)")
    sw.add_argument("--param", action="append", metavar="KEY=V1,V2",
                    help="a grid axis (repeatable): a training field (lr, epochs, batch_size, ...) or a method "
                         "hyperparameter (only methods that have it are expanded)")
    sw.add_argument("--preset", choices=["quick", "paper", "none"], default="quick")
    sw.add_argument("--name", help="sweep name (default: derived from the training grid, so reruns find it)")
    for flag, kind in (("--dataset", str), ("--arch", str), ("--members", int), ("--epochs", int),
                       ("--batch-size", int), ("--lr", float), ("--pretrain-epochs", int), ("--train-subset", int),
                       ("--eval-samples", int), ("--history-samples", int)):
        sw.add_argument(flag, type=kind, help="for every trial (a --param axis overrides it)")
    sw.add_argument("--device", choices=["auto", "cpu", "cuda"], help="training and evaluation device")
    sw.add_argument("--analysis", help="evaluate every finished trial with this analysis (cached), e.g. transferability")
    sw.add_argument("--analysis-param", action="append", metavar="KEY=VALUE",
                    help="analysis setting (repeatable), e.g. samples=200; eps defaults to the data set's")
    add_executor_arguments(sw)
    sw.add_argument("--max-jobs", type=int, help="trials running at once (default: one per GPU / CPU slot)")
    sw.add_argument("--no-wait", action="store_true", help="submit and return; rerun the command to collect results")
    sw.add_argument("--timeout", type=float, help="stop waiting after this many seconds (trials keep running)")
    sw.add_argument("--store", help="job store directory (default: the user data directory's jobs/)")
    sw.add_argument("--sweeps-dir", help="sweep records (default: the user data directory's sweeps/)")
    sw.add_argument("--cache-dir", help="result cache (default: the user data directory's cache/)")
    sw.add_argument("--json", action="store_true")
    sw.add_argument("--quiet", action="store_true", help="no progress on standard error")
    sw.set_defaults(func=cmd_sweep)


def _parse_pairs(pairs) -> dict:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CLIError(f"--analysis-param expects KEY=VALUE, got {pair!r}")
        try:
            out[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip().replace("-", "_")] = value
    return out


def cmd_sweep(args) -> int:
    from pathlib import Path

    from .. import jobs, sweep
    from ..cache import ResultCache

    def say(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    fixed = {k: getattr(args, k) for k in ("dataset", "arch", "members", "epochs", "batch_size", "lr",
                                           "pretrain_epochs", "train_subset", "eval_samples", "history_samples",
                                           "device") if getattr(args, k) is not None}
    root = Path(args.sweeps_dir) if args.sweeps_dir else None
    try:
        spec = sweep.SweepSpec(methods=[m.strip() for m in args.method.split(",") if m.strip()],
                               seeds=sweep.parse_seeds(args.seeds), grid=sweep.parse_grid(args.param),
                               preset=None if args.preset == "none" else args.preset, fixed=fixed, name=args.name)
        if args.analysis:
            from .. import analyses

            analyses.get(args.analysis)
        executor = executor_from_args(args, max_jobs=args.max_jobs)
        trials = sweep.expand(spec)
        say(f"sweep {spec.sweep_name()}: {len(trials)} trials on the {executor.name} executor")
        record = sweep.start(spec, executor, root)
        run = record["last_run"]
        say(f"  {run['submitted']} submitted, {run['resumed']} resumed, {run['active']} already queued/running, "
            f"{run['skipped']} finished before")
        if not args.no_wait:
            last = {}

            def progress(states: dict) -> None:
                if states != last:
                    last.clear()
                    last.update(states)
                    say("  trials: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))

            sweep.wait(record, executor, timeout=args.timeout, progress=progress)
        rows = sweep.evaluate(record, executor, analysis=args.analysis,
                              config=_parse_pairs(args.analysis_param), device=args.device or "auto",
                              cache=ResultCache(args.cache_dir) if args.cache_dir else None,
                              progress=None if args.quiet else lambda d, t, what: say(f"  [{d}/{t}] {what}"))
    except (sweep.SweepError, jobs.JobError) as exc:
        raise CLIError(str(exc)) from None
    result = sweep.summary(record, rows, args.analysis)
    if args.json:
        print(json.dumps(result))
    else:
        print(sweep.format_table(result["table"]))
        for row in rows:
            if row["state"] != "done":
                print(f"  {row['state']}: {row['method']} {row['params']} seed {row['seed']} (job {row['job']})"
                      + (f": {row['error']}" if row["error"] else ""))
    unfinished = sum(n for s, n in result["states"].items() if s != "done")
    if unfinished and not args.no_wait:
        print(f"{unfinished} trial(s) did not finish: rerun the same command to resume them", file=sys.stderr)
        return 1
    return 0
