"""``train``: train an ensemble (or resume one), with a tqdm bar per phase and epoch."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

from pydantic import ValidationError

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
    from ..config import make_config, train_fields
    from ..train import train

    given = config_values(args, train_fields())
    try:
        config = make_config(given.pop("method"), given.pop("preset", None), **given)
    except (ValidationError, ValueError) as exc:
        raise CLIError(f"invalid training configuration:\n{exc}") from None
    out = train(config, args.out, resume=args.resume, progress=None if args.quiet else _tqdm_progress(args.method),
                command=shlex.join(["python", "-m", "engine", *sys.argv[1:]]))
    from ..checkpoint import read_meta

    meta = read_meta(out)
    last = meta["history"][-1] if meta.get("history") else {}
    result = {"checkpoint": str(Path(out).resolve()), "method": meta["method"], "epoch": meta["epoch"],
              "ensemble_clean_accuracy": last.get("ensemble_clean_accuracy"),
              "member_clean_accuracy": last.get("member_clean_accuracy"),
              "transferability": last.get("transferability")}
    _emit(result, args.json, lambda r: print(f"saved {r['checkpoint']} (epoch {r['epoch']}, "
                                             f"ensemble accuracy {r['ensemble_clean_accuracy']})"))
    return 0


def add_parsers(sub) -> None:
    """``train``: one flag per :class:`~engine.config.TrainConfig` field (generated, so the
    flags follow the config), plus where to write and how to report."""
    from ..config import train_fields

    t = sub.add_parser("train", help="train an ensemble (or resume one)")
    add_fields(t, train_fields(), switches=True, show_defaults=False)
    t.add_argument("--out", required=True, help="checkpoint directory to write")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last saved epoch")
    t.add_argument("--json", action="store_true")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)
