"""``train``: train an ensemble (or resume one), with a tqdm bar per phase and epoch."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

from pydantic import ValidationError

from .common import CLIError, _emit, _parse_params


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
    from ..config import make_config
    from ..train import train

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
    from ..methods import METHODS

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
