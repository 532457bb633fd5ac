"""Command line: ``python -m engine COMMAND ...``.

The command names, flags and JSON keys documented in the README are a contract that
scripts depend on: add to them, never rename. ``--json`` prints one JSON object on the
last line of standard output; progress goes to standard error.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

from pydantic import ValidationError


class CLIError(RuntimeError):
    """An error whose message is shown to the user as is (exit code 2)."""


def _emit(result: dict, as_json: bool, render) -> None:
    if as_json:
        print(json.dumps(_nan_to_none(result)))
    else:
        render(result)


def _nan_to_none(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


def _tqdm_progress(desc: str):
    """A progress callback drawing one tqdm bar per (phase, epoch)."""
    from tqdm import tqdm

    state = {"bar": None, "key": None}

    def report(p) -> None:
        key = (p.phase, p.epoch)
        if state["key"] != key:
            if state["bar"] is not None:
                state["bar"].close()
            state["bar"] = tqdm(total=p.batches, desc=f"{desc} {p.phase} epoch {p.epoch}/{p.epochs}",
                                file=sys.stderr, leave=True, dynamic_ncols=True)
            state["key"] = key
        bar = state["bar"]
        bar.n = p.batch
        postfix = {}
        if p.losses.get("members"):
            postfix["loss"] = "/".join(f"{v:.3f}" for v in p.losses["members"])
        if p.eta_seconds is not None:
            postfix["eta"] = f"{p.eta_seconds / 60:.1f}min"
        if p.history:
            h = p.history
            postfix = {"acc": f"{h.get('ensemble_clean_accuracy', float('nan')):.3f}"}
            if "transferability" in h:
                postfix["transfer"] = f"{h['transferability']:.3f}"
            bar.set_postfix(postfix)
            bar.close()
            state["bar"] = None
            state["key"] = None
            return
        bar.set_postfix(postfix, refresh=False)
        bar.refresh()

    return report


# --------------------------------------------------------------------------- commands

def cmd_train(args) -> int:
    from .config import make_config
    from .train import train

    try:
        config = make_config(args.method, args.preset, dataset=args.dataset, arch=args.arch, members=args.members,
                             epochs=args.epochs, seed=args.seed, device=args.device, init_from=args.init_from,
                             batch_size=args.batch_size, lr=args.lr, data_dir=args.data_dir,
                             pretrain_epochs=args.pretrain_epochs, train_subset=args.train_subset,
                             bf16=args.bf16 or None, method_params=_parse_params(args.param))
    except (ValidationError, ValueError) as exc:
        raise CLIError(f"invalid training configuration:\n{exc}") from None
    out = train(config, args.out, resume=args.resume, progress=None if args.quiet else _tqdm_progress(args.method),
                command=shlex.join(["python", "-m", "engine", *sys.argv[1:]]))
    from .checkpoint import read_meta

    meta = read_meta(out)
    last = meta["history"][-1] if meta.get("history") else {}
    result = {"checkpoint": str(Path(out).resolve()), "method": meta["method"], "epoch": meta["epoch"],
              "ensemble_clean_accuracy": last.get("ensemble_clean_accuracy"),
              "member_clean_accuracy": last.get("member_clean_accuracy"),
              "transferability": last.get("transferability")}
    _emit(result, args.json, lambda r: print(f"saved {r['checkpoint']} (epoch {r['epoch']}, "
                                             f"ensemble accuracy {r['ensemble_clean_accuracy']})"))
    return 0


def _parse_params(pairs: list[str] | None) -> dict:
    params = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise CLIError(f"--param expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def _config_from_args(analysis, args) -> dict:
    return {name: getattr(args, name) for name in analysis.config.model_fields
            if getattr(args, name, None) is not None}


def _analysis_progress(quiet: bool):
    if quiet:
        return None, lambda: None
    from tqdm import tqdm

    state = {"bar": None, "what": None}

    def progress(done: int, total: int, what: str = "") -> None:
        if state["what"] != what or state["bar"] is None:
            if state["bar"] is not None:
                state["bar"].close()
            state["bar"] = tqdm(desc=what or "computing", total=total, file=sys.stderr, dynamic_ncols=True)
            state["what"] = what
        bar = state["bar"]
        bar.total = total
        bar.n = done
        bar.refresh()

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    return progress, close


def _run_analyses(args) -> tuple:
    from . import analysis as registry
    from .cache import ResultCache

    analysis = registry.get(args.analysis_name)
    config = _config_from_args(analysis, args)
    cache = ResultCache(args.cache_dir) if args.cache_dir else None
    progress, close = _analysis_progress(args.quiet)
    results = []
    try:
        for checkpoint in args.checkpoints:
            result = registry.run(analysis.name, checkpoint, config, device=args.device, data_dir=args.data_dir,
                                  progress=progress, cache=cache)
            results.append((registry.label(checkpoint), dict(result, checkpoint=str(Path(checkpoint).resolve()))))
    except registry.AnalysisError as exc:
        raise CLIError(str(exc)) from None
    finally:
        close()
    return analysis, results


def _without_arrays(obj):
    """Results minus their arrays (images, grids): those go to ``export``, not the terminal."""
    import numpy as np

    if isinstance(obj, dict):
        kept = {k: _without_arrays(v) for k, v in obj.items() if not isinstance(v, np.ndarray)}
        return {k: v for k, v in kept.items() if v != {}}
    if isinstance(obj, list):
        return [_without_arrays(v) for v in obj]
    return obj


def cmd_eval(args) -> int:
    from .export import jsonable

    analysis, results = _run_analyses(args)
    payload = [_without_arrays(r) for _, r in results]
    result = payload[0] if len(payload) == 1 else {"results": payload}

    def render(_r):
        render_text = TEXT_RENDERERS.get(analysis.name)
        for (label, r), _ in zip(results, payload):
            print(f"== {label}: {analysis.title} on {r.get('dataset')}")
            if render_text:
                render_text(r)
            else:
                for row in analysis.table([(label, r)]):
                    print("  " + ", ".join(f"{k}={_short(v)}" for k, v in row.items() if k not in ("ensemble",)))

    if args.json:
        print(json.dumps(jsonable(result)))
    else:
        render(result)
    return 0


def _short(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return value


def _render_transferability(r: dict) -> None:
    k = len(r["matrix"])
    print(f"ε={r['eps']}, PGD-{r['steps']} x{r['restarts']}, {r['samples']} samples")
    print("source \\ target " + " ".join(f"{j:>6}" for j in range(k)) + "  ensemble")
    for i, row in enumerate(r["matrix"]):
        print(f"{i:>15} " + " ".join(f"{v:6.3f}" for v in row) + f"  {r['ensemble'][i]:8.3f}")
    print(f"off-diagonal mean {r['off_diagonal_mean']:.3f}; clean accuracy: ensemble "
          f"{r['ensemble_clean_accuracy']:.4f}, members {[round(a, 4) for a in r['member_clean_accuracy']]}")


TEXT_RENDERERS = {"transferability": _render_transferability}


def cmd_export(args) -> int:
    from .checkpoint import atomic_write_bytes
    from .export import ExportError, export_bytes, filename

    analysis, results = _run_analyses(args)
    fmt = args.format or (Path(args.out).suffix.lstrip(".").lower() if args.out else "") or "png"
    view = _parse_params(args.view)
    try:
        data = export_bytes(analysis, results, fmt, **view)
    except ExportError as exc:
        raise CLIError(str(exc)) from None
    config = results[0][1].get("config", {})
    name = filename(analysis.name, results, fmt, eps=config.get("eps"))
    out = Path(args.out) if args.out else Path(name)
    if out.is_dir() or (args.out and args.out.endswith(("/", "\\"))):
        out = out / name
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, data)
    result = {"file": str(out.resolve()), "format": fmt, "bytes": len(data), "analysis": analysis.name,
              "checkpoints": [r["checkpoint"] for _, r in results]}
    _emit(result, args.json, lambda r: print(f"wrote {r['file']} ({r['bytes']} bytes)"))
    return 0


def cmd_import(args) -> int:
    from .checkpoint import import_checkpoint, read_meta

    out = import_checkpoint(args.path, fmt=args.format, dataset=args.dataset, arch=args.arch, out=args.out)
    meta = read_meta(out)
    result = {"checkpoint": str(out.resolve()), "members": meta["members"], "arch": meta["arch"],
              "dataset": meta["dataset"]}
    _emit(result, args.json, lambda r: print(f"imported {r['members']} members into {r['checkpoint']}"))
    return 0


def cmd_package(args) -> int:
    from .checkpoint import package_checkpoint, read_meta

    extra = {"recipe": args.recipe} if args.recipe else {}
    out = package_checkpoint(args.checkpoint, args.out, half=not args.float32, extra=extra)
    meta = read_meta(out)
    result = {"checkpoint": str(out.resolve()), "members": meta["members"], "dtype": meta["packaged"]["dtype"],
              "bytes": sum(f.stat().st_size for f in out.iterdir())}
    _emit(result, args.json, lambda r: print(f"packaged {r['checkpoint']} ({r['bytes'] / 1e6:.2f} MB, {r['dtype']})"))
    return 0


def cmd_info(args) -> int:
    from .checkpoint import content_hash, read_meta

    meta = read_meta(args.checkpoint)
    result = {k: meta.get(k) for k in ("method", "method_params", "dataset", "arch", "members", "epoch", "epochs",
                                        "seed", "leaky_relu", "complete", "init_from", "command", "versions",
                                        "source", "saved_at")}
    result["history"] = meta.get("history", [])
    result["content_hash"] = content_hash(args.checkpoint)

    def render(r):
        print(f"{r['method']} ensemble: {r['members']} x {r['arch']} on {r['dataset']}, epoch {r['epoch']}/{r['epochs']}"
              f"{'' if r['complete'] else ' (incomplete: resume with --resume)'}")
        if r["method_params"]:
            print(f"  hyperparameters: {r['method_params']}")
        for h in r["history"]:
            line = f"  epoch {h['epoch']:>3}: acc {h.get('ensemble_clean_accuracy', float('nan')):.4f}"
            if "transferability" in h:
                line += f"  transferability {h['transferability']:.3f} (ε={h['transfer_eps']})"
            print(line)

    _emit(result, args.json, render)
    return 0


def cmd_report(args) -> int:
    """The reproduction report (engine/report.py) of the shipped zoo or the given checkpoints."""
    from tqdm import tqdm

    from .cache import ResultCache
    from .report import ReportError, build_report, write_report

    checkpoints = {Path(c).name: c for c in args.checkpoints} if args.checkpoints else None
    bar = None if args.quiet else tqdm(desc="report", total=1, file=sys.stderr, dynamic_ncols=True)

    def progress(done: int, total: int, what: str = "") -> None:
        bar.total, bar.n = total, done
        bar.set_postfix_str(what[:60], refresh=True)

    try:
        report = build_report(checkpoints, eps=args.eps, samples=args.samples, protocol=args.protocol,
                              progress=progress if bar is not None else None, device=args.device,
                              cache=ResultCache(args.cache_dir) if args.cache_dir else None)
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


def cmd_bench(args) -> int:
    from .bench import bench_dverge_step

    layers = [int(v) for v in args.layers.split(",")] if args.layers else None
    result = bench_dverge_step(arch=args.arch, members=args.members, batch_size=args.batch_size, layers=layers,
                               repeats=args.repeats, reference=not args.no_reference, device=args.device)

    def render(r):
        for key, value in r.items():
            print(f"{key:>20}: {value}")

    _emit(result, args.json, render)
    return 0


def cmd_bench_transferability(args) -> int:
    from .bench import bench_eval_transferability

    result = bench_eval_transferability(arch=args.arch, members=args.members, samples=args.samples, steps=args.steps,
                                        restarts=args.restarts, eps=args.eps, checkpoint=args.checkpoint,
                                        reference=not args.no_reference, device=args.device, seed=args.seed,
                                        threads=args.threads, repeats=args.repeats, workers=args.workers,
                                        dataset=args.dataset)
    print(json.dumps(_nan_to_none(result)))
    return 0


def _job_row_text(r: dict) -> str:
    metrics = "" if r["accuracy"] is None else f" acc {r['accuracy']:.3f}"
    if r["transferability"] is not None:
        metrics += f" transfer {r['transferability']:.3f}"
    line = (f"{r['id']}  {r['state']:<9} {r['progress'] * 100:5.1f}%  {r['method']} {r['members']}x{r['arch']} "
            f"on {r['dataset']}  {r['name']}{metrics}")
    return line + (f"\n    {r['error']}" if r["error"] else "")


def cmd_jobs(args) -> int:
    """Background training jobs (engine/jobs.py): list, submit, show, cancel, resume."""
    from . import jobs

    try:
        executor = jobs.get_executor(store=jobs.JobStore(args.store) if args.store else None)
        if args.jobs_command == "list":
            rows = [jobs.summary(j, executor.store.progress(j.id)) for j in executor.refresh()]
            _emit({"jobs": rows}, args.json,
                  lambda r: print("\n".join(map(_job_row_text, r["jobs"])) or "no jobs (start one with: jobs submit)"))
            return 0
        if args.jobs_command == "submit":
            config = jobs.build_config(args.method, args.preset, dataset=args.dataset, arch=args.arch,
                                       members=args.members, epochs=args.epochs, seed=args.seed, device=args.device,
                                       init_from=args.init_from, batch_size=args.batch_size, lr=args.lr,
                                       pretrain_epochs=args.pretrain_epochs, train_subset=args.train_subset,
                                       eval_samples=args.eval_samples, history_samples=args.history_samples,
                                       method_params=_parse_params(args.param))
            job = executor.submit(config, args.name)
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
    _emit(result, args.json, lambda r: print(_job_row_text(r)))
    return 0


def cmd_worker(args) -> int:
    """Hidden: the worker process of one job (started by the local executor)."""
    from . import jobs

    try:
        state = jobs.run_job(args.job_id, jobs.JobStore(args.store) if args.store else jobs.JobStore())
    except jobs.JobError as exc:
        raise CLIError(str(exc)) from None
    return 0 if state in ("done", "cancelled") else 1


# --------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    from .methods import METHODS

    parser = argparse.ArgumentParser(prog="python -m engine", description="Robust-ensembles lab engine")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an ensemble (or resume one)")
    t.add_argument("--method", required=True, choices=list(METHODS))
    t.add_argument("--dataset", help="fashion_mnist (default), mnist, cifar10 or folder:PATH")
    t.add_argument("--arch", help="lenet5 (default) or resnet<6n+2>")
    t.add_argument("--members", type=int)
    t.add_argument("--out", required=True, help="checkpoint directory to write")
    t.add_argument("--preset", choices=["quick", "paper"])
    t.add_argument("--epochs", type=int)
    t.add_argument("--from", dest="init_from", help="start from this checkpoint (DVERGE: a trained baseline)")
    t.add_argument("--seed", type=int)
    t.add_argument("--device", choices=["auto", "cpu", "cuda"])
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last saved epoch")
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float, help="override the method's learning rate")
    t.add_argument("--pretrain-epochs", type=int, help="baseline pre-training epochs for DVERGE-family methods")
    t.add_argument("--train-subset", type=int, help="train on a random subset of this many images")
    t.add_argument("--param", action="append", metavar="KEY=VALUE", help="method hyperparameter (repeatable), e.g. eps=0.2")
    t.add_argument("--bf16", action="store_true", help="bf16 autocast on CUDA")
    t.add_argument("--data-dir")
    t.add_argument("--json", action="store_true")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    from . import analysis as registry
    from .export import FORMATS

    ev = sub.add_parser("eval", help="run an analysis on one or more checkpoints (cached)")
    evsub = ev.add_subparsers(dest="evaluation", required=True)
    ex = sub.add_parser("export", help="export an analysis' figure (png/svg/pdf/html) or data (csv/json)")
    exsub = ex.add_subparsers(dest="figure", required=True)
    for name in registry.available():
        analysis = registry.get(name)
        for parent, func in ((evsub, cmd_eval), (exsub, cmd_export)):
            p = parent.add_parser(name, help=f"{analysis.title} ({analysis.reference})" if analysis.reference
                                  else analysis.title)
            p.add_argument("checkpoints", nargs="+", metavar="CKPT", help="checkpoint directories (compared side by side)")
            add_config_arguments(p, analysis.config)
            p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
            p.add_argument("--data-dir")
            p.add_argument("--cache-dir", help="result cache (default: the user data directory's cache/)")
            p.add_argument("--json", action="store_true")
            p.add_argument("--quiet", action="store_true", help="no progress bars")
            if func is cmd_export:
                p.add_argument("--format", choices=FORMATS, help="default: from --out's suffix, else png")
                p.add_argument("--out", help="file (or directory) to write; default: a descriptive name here")
                p.add_argument("--view", action="append", metavar="KEY=VALUE", help="figure option (repeatable)")
            p.set_defaults(func=func, analysis_name=name)

    im = sub.add_parser("import-checkpoint", help="convert a foreign checkpoint (DVERGE release format)")
    im.add_argument("path")
    im.add_argument("--format", required=True, choices=["dverge"])
    im.add_argument("--dataset", required=True)
    im.add_argument("--arch", required=True)
    im.add_argument("--out", required=True)
    im.add_argument("--json", action="store_true")
    im.set_defaults(func=cmd_import)

    pk = sub.add_parser("package", help="a weights-only (float16) copy of a finished checkpoint, for shipping")
    pk.add_argument("checkpoint")
    pk.add_argument("--out", required=True)
    pk.add_argument("--float32", action="store_true", help="keep float32 weights")
    pk.add_argument("--recipe", help="how it was made (recorded in meta.json)")
    pk.add_argument("--json", action="store_true")
    pk.set_defaults(func=cmd_package)

    info = sub.add_parser("info", help="describe a checkpoint")
    info.add_argument("checkpoint")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)

    bench = sub.add_parser("bench", help="benchmarks (print timings)")
    bsub = bench.add_subparsers(dest="benchmark", required=True)
    ds = bsub.add_parser("dverge-step", help="seconds per full DVERGE step, per distillation layer")
    ds.add_argument("--arch", default="resnet20")
    ds.add_argument("--members", type=int, default=3)
    ds.add_argument("--batch-size", type=int, default=128)
    ds.add_argument("--layers", default="1,5,10,15,20")
    ds.add_argument("--repeats", type=int, default=2)
    ds.add_argument("--no-reference", action="store_true", help="skip timing the reference-style step")
    ds.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ds.add_argument("--json", action="store_true")
    ds.set_defaults(func=cmd_bench)
    et = bsub.add_parser("eval-transferability",
                         help="DVERGE 4.2 transferability protocol: engine vs reference (advertorch) throughput")
    et.add_argument("--arch", default="lenet5", help="lenet5 or resnet20 (random-init unless --checkpoint)")
    et.add_argument("--members", type=int, default=3)
    et.add_argument("--samples", type=int, default=200)
    et.add_argument("--steps", type=int, default=50, help="PGD steps (paper: 50)")
    et.add_argument("--restarts", type=int, default=5, help="random starts (paper: 5)")
    et.add_argument("--eps", type=float, help="default: the data set's attack ε")
    et.add_argument("--checkpoint", help="a real checkpoint (its test images); default: random-init members")
    et.add_argument("--seed", type=int, default=0)
    et.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    et.add_argument("--dataset", help="test images for --checkpoint (default: its data set; e.g. folder:DIR offline)")
    et.add_argument("--workers", type=int, help="attack worker threads on CPU (default: one per torch thread)")
    et.add_argument("--repeats", type=int, default=1, help="alternate both ways this many times; report medians")
    et.add_argument("--no-reference", action="store_true", help="skip timing the reference way")
    et.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    et.add_argument("--json", action="store_true", help="(always JSON)")
    et.set_defaults(func=cmd_bench_transferability)

    jb = sub.add_parser("jobs", help="background training jobs (what the app's Train page runs)")
    jsub = jb.add_subparsers(dest="jobs_command", required=True)
    store_help = "job store directory (default: the user data directory's jobs/)"
    js = jsub.add_parser("submit", help="queue a training run; it starts when a slot is free")
    js.add_argument("--method", required=True, choices=list(METHODS))
    js.add_argument("--preset", choices=["quick", "paper"], default="quick")
    js.add_argument("--name", help="ensemble name (sanitized; default from method and data set)")
    for flag, kind in (("--dataset", str), ("--arch", str), ("--members", int), ("--epochs", int), ("--seed", int),
                       ("--batch-size", int), ("--lr", float), ("--pretrain-epochs", int), ("--train-subset", int),
                       ("--eval-samples", int), ("--history-samples", int)):
        js.add_argument(flag, type=kind)
    js.add_argument("--from", dest="init_from", help="start from this checkpoint")
    js.add_argument("--device", choices=["auto", "cpu", "cuda"])
    js.add_argument("--param", action="append", metavar="KEY=VALUE", help="method hyperparameter (repeatable)")
    for name, text in (("list", "every job with its state and progress (also starts queued jobs)"),
                       ("show", "one job with its last report and per-epoch history"),
                       ("cancel", "stop a queued or running job (its checkpoint keeps the last saved epoch)"),
                       ("resume", "continue a failed, interrupted or cancelled job from its last saved epoch")):
        p = jsub.add_parser(name, help=text)
        if name != "list":
            p.add_argument("job_id")
    for p in jsub.choices.values():
        p.add_argument("--store", help=store_help)
        p.add_argument("--json", action="store_true")
    jb.set_defaults(func=cmd_jobs)

    rp = sub.add_parser("report", help="reproduction report: the zoo's numbers beside the papers' claims (HTML/JSON/CSV)")
    rp.add_argument("checkpoints", nargs="*", help="default: the shipped zoo (names starting with 'surrogate' are "
                    "the black-box surrogates)")
    rp.add_argument("--out", required=True, help="directory for report.html, report.json and the CSVs")
    rp.add_argument("--samples", type=int, default=500, help="test samples per analysis (default: 500)")
    rp.add_argument("--eps", type=float, help="report ε (default: the data set's standard attack budget)")
    rp.add_argument("--protocol", choices=["quick", "paper"], default="quick")
    rp.add_argument("--device", default="auto")
    rp.add_argument("--cache-dir", help="result cache directory (default: the shared one)")
    rp.add_argument("--quiet", action="store_true")
    rp.add_argument("--json", action="store_true")
    rp.set_defaults(func=cmd_report)

    wk = sub.add_parser("worker")  # hidden: started by engine.jobs.LocalProcessExecutor
    wk.add_argument("job_id")
    wk.add_argument("--store")
    wk.set_defaults(func=cmd_worker)
    return parser


def add_config_arguments(parser: argparse.ArgumentParser, model) -> None:
    """One flag per field of a pydantic config (``step_size`` -> ``--step-size``); lists
    are comma-separated. Validation stays with the model."""
    import typing

    for name, info in model.model_fields.items():
        annotation = info.annotation
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is typing.Union:
            annotation = next(a for a in args if a is not type(None))
            args = typing.get_args(annotation)
        kwargs: dict = {"help": info.description}
        origin = typing.get_origin(annotation)
        if origin is typing.Literal:
            kwargs["choices"] = list(args)
            kwargs["type"] = type(args[0])
        elif origin in (list, tuple):
            item = args[0] if args else str
            if typing.get_origin(item) is typing.Literal:
                item = type(typing.get_args(item)[0])
                kwargs["help"] = f"{info.description or ''} (any of: {', '.join(map(str, typing.get_args(args[0])))})"
            kwargs["type"] = lambda text, item=item: [item(v) for v in text.split(",") if v.strip()]
            kwargs["metavar"] = "V1,V2,..."
        elif annotation is bool:
            kwargs["type"] = lambda text: text.lower() in ("1", "true", "yes", "on")
            kwargs["metavar"] = "true|false"
        else:
            kwargs["type"] = annotation if annotation in (int, float, str) else str
        if info.is_required():
            kwargs["required"] = True
        elif info.default is not None:
            kwargs["help"] = f"{info.description or ''} (default: {info.default})".strip()
        parser.add_argument("--" + name.replace("_", "-"), dest=name, **kwargs)


def main(argv: list[str] | None = None) -> int:
    from .checkpoint import CheckpointError
    from .data import DataNotFoundError
    from .train import TrainingError
    from .analysis import AnalysisError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CLIError, CheckpointError, DataNotFoundError, TrainingError, AnalysisError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; a training run can be continued with --resume", file=sys.stderr)
        return 130
