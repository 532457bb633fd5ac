"""``train``: train an ensemble (or resume one), with a tqdm bar per phase and epoch."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path


from .common import CLIError, _emit, add_fields, config_values


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
        if p.job_eta_seconds is not None:  # the whole job: pre-training and the method's epochs
            postfix["eta"] = f"{p.job_eta_seconds / 60:.1f}min(job)"
        elif p.eta_seconds is not None:  # pre-training with no estimate of the method's epochs yet
            postfix["eta"] = f"{p.eta_seconds / 60:.1f}min({p.phase})"
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

def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"--seeds expects comma-separated non-negative integers, e.g. 0,1,2; got {text!r}") from None
    if not seeds or any(v < 0 for v in seeds) or len(set(seeds)) != len(seeds):
        raise CLIError(f"--seeds expects distinct non-negative integers, e.g. 0,1,2; got {text!r}")
    return seeds


def seed_dir(out: str | Path, seed: int) -> Path:
    """Where ``train --seeds`` puts one seed's run: ``OUT/seed<N>``."""
    return Path(out) / f"seed{seed}"


def _train_one(args, given: dict, out: Path, desc: str) -> dict:
    from ..checkpoint import read_meta
    from ..config import make_config, problems
    from ..train import train

    given = dict(given)
    try:
        config = make_config(given.pop("method"), given.pop("preset", None), **given)
    except ValueError as exc:  # pydantic's ValidationError included
        raise CLIError(f"invalid training configuration: {problems(exc)}") from None
    out = train(config, out, resume=args.resume, progress=None if args.quiet else _tqdm_progress(desc),
                command=shlex.join(["python", "-m", "engine", *sys.argv[1:]]))
    meta = read_meta(out)
    last = meta["history"][-1] if meta.get("history") else {}
    return {"checkpoint": str(Path(out).resolve()), "method": meta["method"], "epoch": meta["epoch"],
            "seed": meta.get("seed"), "ensemble_clean_accuracy": last.get("ensemble_clean_accuracy"),
            "member_clean_accuracy": last.get("member_clean_accuracy"),
            "transferability": last.get("transferability")}


def _render_run(r: dict) -> None:
    print(f"saved {r['checkpoint']} (epoch {r['epoch']}, ensemble accuracy {r['ensemble_clean_accuracy']})")


def cmd_train(args) -> int:
    from ..config import train_fields

    given = config_values(args, train_fields())
    if args.seeds is None:
        result = _train_one(args, given, Path(args.out), args.method)
        result.pop("seed")
        _emit(result, args.json, _render_run)
        return 0
    if given.get("seed") is not None:
        raise CLIError("give either --seed or --seeds, not both")
    runs = []
    for seed in _parse_seeds(args.seeds):
        values = dict(given, seed=seed)
        # --from a seed group (DIR/seed<N>/) starts each seed from its own run
        if values.get("init_from") and (seed_dir(values["init_from"], seed) / "meta.json").is_file():
            values["init_from"] = str(seed_dir(values["init_from"], seed))
        runs.append(_train_one(args, values, seed_dir(args.out, seed), f"{args.method} seed {seed}"))
    _emit({"seeds": [r["seed"] for r in runs], "runs": runs}, args.json,
          lambda r: [_render_run(x) for x in r["runs"]])
    return 0


def add_parsers(sub) -> None:
    """``train``: one flag per :class:`~engine.config.TrainConfig` field (generated, so the
    flags follow the config), plus where to write and how to report."""
    from ..config import train_fields

    t = sub.add_parser("train", help="train an ensemble (or resume one)")
    add_fields(t, train_fields(), switches=True, show_defaults=False)
    t.add_argument("--out", required=True, help="checkpoint directory to write")
    t.add_argument("--seeds", help="train one run per seed, e.g. 0,1,2, into OUT/seed0, OUT/seed1, ... (a seed "
                   "group; with --from a seed group, each seed starts from the same seed's run)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last saved epoch")
    t.add_argument("--json", action="store_true")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)
