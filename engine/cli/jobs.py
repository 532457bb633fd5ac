"""``jobs`` (list, submit, show, cancel, resume) and the hidden ``worker`` of one job."""
from __future__ import annotations

from .common import CLIError, _emit, add_fields, config_values


def _job_row_text(r: dict) -> str:
    if r.get("kind") == "analysis":
        line = f"{r['id']}  {r['state']:<9} {r['progress'] * 100:5.1f}%  analysis: {r['status']}  ({r['name']})"
        return line + (f"\n    {r['error']}" if r["error"] and r["state"] == "running" else "")
    metrics = "" if r["accuracy"] is None else f" acc {r['accuracy']:.3f}"
    if r["transferability"] is not None:
        metrics += f" transfer {r['transferability']:.3f}"
    line = (f"{r['id']}  {r['state']:<9} {r['progress'] * 100:5.1f}%  {r['method']} {r['members']}x{r['arch']} "
            f"on {r['dataset']}  {r['name']}{metrics}")
    if r["state"] == "running" and r.get("status"):
        line += f"\n    {r['status']}"  # where it is, with the whole job's ETA
    return line + (f"\n    {r['error']}" if r["error"] else "")


def add_executor_arguments(parser) -> None:
    parser.add_argument("--executor", help="where jobs run: local (processes here) or ray "
                        "(default: ROBUST_ENSEMBLES_EXECUTOR, else local)")
    parser.add_argument("--ray-address", help="with the ray executor: join this cluster (default: RAY_ADDRESS, "
                        "else a local instance started on demand on 127.0.0.1)")


def executor_from_args(args, **options):
    """The executor a command asked for (``--executor``/``--ray-address``, else the environment)."""
    from .. import jobs

    if getattr(args, "ray_address", None):
        options["address"] = args.ray_address
    name = getattr(args, "executor", None)
    if options.get("address") and (name or __import__("os").environ.get(jobs.EXECUTOR_ENV) or "local") != "ray":
        raise CLIError("--ray-address needs the ray executor (--executor ray or ROBUST_ENSEMBLES_EXECUTOR=ray)")
    return jobs.get_executor(name, jobs.JobStore(args.store) if args.store else None, **options)


def cmd_jobs(args) -> int:
    """Background jobs (engine/jobs/): list, submit, submit-analysis, show, cancel, resume."""
    from .. import jobs
    from ..config import train_fields

    try:
        executor = executor_from_args(args)
        if args.jobs_command == "list":
            rows = [jobs.summary(j, executor.store.progress(j.id)) for j in executor.refresh()]
            _emit({"jobs": rows}, args.json,
                  lambda r: print("\n".join(map(_job_row_text, r["jobs"])) or "no jobs (start one with: jobs submit)"))
            return 0
        if args.jobs_command == "submit":
            given = config_values(args, train_fields())
            config = jobs.build_config(given.pop("method"), given.pop("preset", None), **given)
            job = executor.submit(config, args.name)
        elif args.jobs_command == "submit-analysis":
            job = executor.submit_analysis(_analysis_items(args), args.name, label=args.analysis)
        elif args.jobs_command == "cancel":
            job = executor.cancel(args.job_id)
        elif args.jobs_command == "resume":
            job = executor.resume(args.job_id)
        else:
            job = executor.get(args.job_id)
            executor.refresh()
            job = executor.get(args.job_id)
    except jobs.JobError as exc:
        raise CLIError(str(exc)) from None
    progress = executor.store.progress(job.id)
    result = dict(jobs.summary(job, progress), last_report=progress.get("last"), history=jobs.history(job),
                  log=str(executor.store.log_path(job.id)))
    if job.kind == "analysis":
        result.update(estimate_seconds=progress.get("estimate_seconds"), errors=progress.get("errors", []))
    _emit(result, args.json, lambda r: print(_job_row_text(r)))
    return 0


def _analysis_items(args) -> list[dict]:
    """``submit-analysis NAME CK... --config JSON``: the job's items (``report``: the
    report's analyses, its settings in --config: eps, samples, protocol, autoattack)."""
    import json

    from ..jobs import analysis

    try:
        config = json.loads(args.config) if args.config else {}
    except ValueError as exc:
        raise CLIError(f"--config is not JSON: {exc}") from None
    if not isinstance(config, dict):
        raise CLIError("--config must be a JSON object, e.g. '{\"samples\": 100}'")
    if args.analysis == "report":
        unknown = set(config) - {"eps", "samples", "protocol", "autoattack"}
        if unknown:
            raise CLIError(f"report settings are eps, samples, protocol, autoattack; got {', '.join(sorted(unknown))}")
        checkpoints = {__import__("pathlib").Path(c).name: c for c in args.checkpoints} or None
        return analysis.report_items(checkpoints, **config)
    if not args.checkpoints:
        raise CLIError(f"submit-analysis {args.analysis} needs at least one checkpoint")
    return analysis.request_items(args.analysis, args.checkpoints, config)


def cmd_worker(args) -> int:
    """Hidden: the worker process of one job (started by the local executor)."""
    from .. import jobs

    try:
        state = jobs.run_job(args.job_id, jobs.JobStore(args.store) if args.store else jobs.JobStore())
    except jobs.JobError as exc:
        raise CLIError(str(exc)) from None
    return 0 if state in ("done", "cancelled") else 1


def add_parsers(sub) -> None:
    from ..config import train_fields

    jb = sub.add_parser("jobs", help="background training and analysis jobs (what the app's Train and analysis "
                        "pages run)")
    jsub = jb.add_subparsers(dest="jobs_command", required=True)
    store_help = "job store directory (default: the user data directory's jobs/)"
    js = jsub.add_parser("submit", help="queue a training run; it starts when a slot is free")
    add_fields(js, train_fields(), switches=True, show_defaults=False)  # the same flags as `train`
    js.set_defaults(preset="quick")
    js.add_argument("--name", help="ensemble name (sanitized; default from method and data set)")
    ja = jsub.add_parser("submit-analysis", help="queue an analysis (or the report's analyses) as a background "
                         "job; its results land in the result cache the app and eval read")
    ja.add_argument("analysis", help="an analysis name (python -m engine eval --help lists them) or 'report'")
    ja.add_argument("checkpoints", nargs="*", help="checkpoint directories (report: default the shipped zoo)")
    ja.add_argument("--config", help="the analysis config as a JSON object, e.g. '{\"samples\": 100, \"eps\": 0.1}' "
                    "(report: eps, samples, protocol, autoattack)")
    ja.add_argument("--name", help="a label for the job list")
    for name, text in (("list", "every job with its state and progress (also starts queued jobs)"),
                       ("show", "one job with its last report and per-epoch history"),
                       ("cancel", "stop a queued or running job (its checkpoint keeps the last saved epoch)"),
                       ("resume", "continue a failed, interrupted or cancelled job from its last saved epoch")):
        p = jsub.add_parser(name, help=text)
        if name != "list":
            p.add_argument("job_id")
    for p in jsub.choices.values():
        p.add_argument("--store", help=store_help)
        add_executor_arguments(p)
        p.add_argument("--json", action="store_true")
    jb.set_defaults(func=cmd_jobs)


def add_worker_parser(sub) -> None:
    wk = sub.add_parser("worker")  # hidden: started by engine.jobs.LocalProcessExecutor
    wk.add_argument("job_id")
    wk.add_argument("--store")
    wk.set_defaults(func=cmd_worker)
