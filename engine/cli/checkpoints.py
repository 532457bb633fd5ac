"""Checkpoint commands: ``import-checkpoint``, ``package``, ``info``."""
from __future__ import annotations

from .common import _emit


def cmd_import(args) -> int:
    from ..checkpoint import import_checkpoint, read_meta

    out = import_checkpoint(args.path, fmt=args.format, dataset=args.dataset, arch=args.arch, out=args.out,
                            force=args.force)
    meta = read_meta(out)
    result = {"checkpoint": str(out.resolve()), "members": meta["members"], "arch": meta["arch"],
              "dataset": meta["dataset"]}
    _emit(result, args.json, lambda r: print(f"imported {r['members']} members into {r['checkpoint']}"))
    return 0


def cmd_package(args) -> int:
    from ..checkpoint import package_checkpoint, read_meta

    extra = {"recipe": args.recipe} if args.recipe else {}
    out = package_checkpoint(args.checkpoint, args.out, half=not args.float32, extra=extra, force=args.force)
    meta = read_meta(out)
    result = {"checkpoint": str(out.resolve()), "members": meta["members"], "dtype": meta["packaged"]["dtype"],
              "bytes": sum(f.stat().st_size for f in out.iterdir())}
    _emit(result, args.json, lambda r: print(f"packaged {r['checkpoint']} ({r['bytes'] / 1e6:.2f} MB, {r['dtype']})"))
    return 0


def cmd_info(args) -> int:
    from ..checkpoint import content_hash, read_meta

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


def add_parsers(sub) -> None:
    im = sub.add_parser("import-checkpoint", help="convert a foreign checkpoint (DVERGE release format)")
    im.add_argument("path")
    im.add_argument("--format", required=True, choices=["dverge"])
    im.add_argument("--dataset", required=True)
    im.add_argument("--arch", required=True)
    im.add_argument("--out", required=True, help="a new or empty directory, or an earlier import (replaced)")
    im.add_argument("--force", action="store_true", help="also replace a checkpoint of another kind in --out "
                    "(never a directory holding other files)")
    im.add_argument("--json", action="store_true")
    im.set_defaults(func=cmd_import)

    pk = sub.add_parser("package", help="a weights-only (float16) copy of a finished checkpoint, for shipping")
    pk.add_argument("checkpoint")
    pk.add_argument("--out", required=True, help="a new or empty directory, or an earlier packaged copy (replaced)")
    pk.add_argument("--force", action="store_true", help="also replace a checkpoint of another kind in --out "
                    "(never a directory holding other files)")
    pk.add_argument("--float32", action="store_true", help="keep float32 weights")
    pk.add_argument("--recipe", help="how it was made (recorded in meta.json)")
    pk.add_argument("--json", action="store_true")
    pk.set_defaults(func=cmd_package)

    info = sub.add_parser("info", help="describe a checkpoint")
    info.add_argument("checkpoint")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)
