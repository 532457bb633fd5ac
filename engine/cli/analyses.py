"""``eval`` and ``export``: run a registered analysis on checkpoints (cached), print it or
write its figure/data. One subcommand per analysis, with one flag per config field."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..atomic import why_unwritable
from ..fields import specs
from .common import CLIError, _emit, _parse_params, add_config_arguments, config_values


def _config_from_args(analysis, args) -> dict:
    return config_values(args, specs(analysis.config))


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
    from .. import analyses, seed_groups
    from ..cache import ResultCache
    from ..checkpoint import CheckpointError

    analysis = analyses.get(args.analysis_name)
    config = _config_from_args(analysis, args)
    cache = ResultCache(args.cache_dir) if args.cache_dir else None
    progress, close = _analysis_progress(args.quiet)
    results = []
    try:
        for checkpoint in args.checkpoints:
            # a group directory (train --seeds OUT) or, with --group, a checkpoint's seed group:
            # every seed run (cached per checkpoint), then mean ± std over seeds
            members = seed_groups.expand(checkpoint, group=getattr(args, "group", False))
            result = analyses.run_group(analysis.name, members, config, device=args.device,
                                        data_dir=args.data_dir, progress=progress, cache=cache)
            label = analyses.label(members[0])
            if len(members) > 1:  # named by what was given (a group directory or the checkpoint)
                label = f"{label.rsplit(' (', 1)[0]} ({Path(checkpoint).name}) · mean of {len(members)} seeds"
            results.append((label, dict(result, checkpoint=str(Path(checkpoint).resolve()))))
    except (analyses.AnalysisError, seed_groups.SeedGroupError, CheckpointError) as exc:
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
    from ..export import jsonable

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
                for row in analysis.rows([(label, r)]):
                    print("  " + ", ".join(_cell(k, v, row) for k, v in row.items()
                                           if k != "ensemble" and not (k.endswith("_std") and k[:-4] in row)))

    if args.json:
        print(json.dumps(jsonable(result)))
    else:
        render(result)
    return 0


def _short(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return value


def _cell(key: str, value, row: dict) -> str:
    """``key=value``, or ``key=mean ± std`` when the row has the column's seed std."""
    std = row.get(f"{key}_std")
    return f"{key}={_short(value)} ± {_short(std)}" if std is not None else f"{key}={_short(value)}"


def _render_transferability(r: dict) -> None:
    from ..analyses import seed_std

    k = len(r["matrix"])
    seeds = f", mean ± std over {r['n_seeds']} seeds {r['seeds']}" if r.get("n_seeds") else ""
    print(f"ε={r['eps']}, PGD-{r['steps']} x{r['restarts']}, {r['samples']} samples{seeds}")
    width = 14 if seeds else 6

    def cell(v, *path):
        std = seed_std(r, *path)
        return f"{v:.3f}±{std:.3f}".rjust(width) if seeds and std is not None else f"{v:{width}.3f}"

    print("source \\ target " + " ".join(f"{j:>{width}}" for j in range(k)) + "  ensemble")
    for i, row in enumerate(r["matrix"]):
        print(f"{i:>15} " + " ".join(cell(v, "matrix", i, j) for j, v in enumerate(row))
              + "  " + cell(r["ensemble"][i], "ensemble", i))
    off = r["off_diagonal_mean"]
    off_std = seed_std(r, "off_diagonal_mean")
    print(f"off-diagonal mean {off:.3f}" + (f" ± {off_std:.3f}" if seeds and off_std is not None else "")
          + f"; clean accuracy: ensemble {r['ensemble_clean_accuracy']:.4f}, "
          f"members {[round(a, 4) for a in r['member_clean_accuracy']]}")


TEXT_RENDERERS = {"transferability": _render_transferability}


def _check_export_out(out: str | None) -> None:
    """Refuse an --out that cannot be written before computing anything."""
    if not out:
        return
    path = Path(out)
    directory = path if (path.is_dir() or out.endswith(("/", "\\"))) else path.parent
    why = why_unwritable(directory)
    if why:
        raise CLIError(f"--out {out} {why}")


def cmd_export(args) -> int:
    from ..atomic import atomic_write_bytes
    from ..export import ExportError, export_bytes, filename

    _check_export_out(args.out)
    analysis, results = _run_analyses(args)
    fmt = args.format or (Path(args.out).suffix.lstrip(".").lower() if args.out else "") or "png"
    view = _parse_params(args.view, "--view")
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


def add_parsers(sub) -> None:
    from .. import analyses
    from ..export import FORMATS

    ev = sub.add_parser("eval", help="run an analysis on one or more checkpoints (cached)")
    evsub = ev.add_subparsers(dest="evaluation", required=True)
    ex = sub.add_parser("export", help="export an analysis' figure (png/svg/pdf/html) or data (csv/json)")
    exsub = ex.add_subparsers(dest="figure", required=True)
    for name in analyses.names():
        analysis = analyses.get(name)
        for parent, func in ((evsub, cmd_eval), (exsub, cmd_export)):
            p = parent.add_parser(name, help=f"{analysis.title} ({analysis.reference})" if analysis.reference
                                  else analysis.title)
            p.add_argument("checkpoints", nargs="+", metavar="CKPT",
                           help="checkpoint directories (compared side by side); a directory of seed runs "
                                "(train --seeds OUT) is one seed group: mean ± std over its seeds")
            p.add_argument("--group", action="store_true",
                           help="treat each CKPT as its seed group (the runs of the same configuration with other "
                                "seeds among the zoo and CKPT's sibling directories): mean ± std over seeds")
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
