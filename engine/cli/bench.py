"""``bench``: benchmarks printing JSON timings (speed targets live here, not in unit tests)."""
from __future__ import annotations

import json
import sys

from .common import _emit, _nan_to_none


def cmd_bench(args) -> int:
    from ..bench import bench_dverge_step

    layers = [int(v) for v in args.layers.split(",")] if args.layers else None
    result = bench_dverge_step(arch=args.arch, members=args.members, batch_size=args.batch_size, layers=layers,
                               repeats=args.repeats, reference=not args.no_reference, device=args.device,
                               profile=args.profile)

    def render(r):
        for key, value in r.items():
            print(f"{key:>20}: {value}")

    _emit(result, args.json, render)
    return 0


def cmd_bench_transferability(args) -> int:
    from ..bench import bench_eval_transferability

    result = bench_eval_transferability(arch=args.arch, members=args.members, samples=args.samples, steps=args.steps,
                                        restarts=args.restarts, eps=args.eps, checkpoint=args.checkpoint,
                                        reference=not args.no_reference, device=args.device, seed=args.seed,
                                        threads=args.threads, repeats=args.repeats, workers=args.workers,
                                        dataset=args.dataset)
    print(json.dumps(_nan_to_none(result)))
    return 0


def cmd_bench_analyses(args) -> int:
    from ..bench_analyses import bench_analyses, table

    names = [n.strip() for n in args.analyses.split(",") if n.strip()] if args.analyses else None
    try:
        result = bench_analyses(samples=args.samples, names=names, report=not args.no_report,
                                checkpoint=args.checkpoint, threads=args.threads, timeout=args.timeout,
                                compare=args.compare)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _emit(result, args.json, lambda r: print(table(r)))
    return 0


def cmd_bench_autoattack(args) -> int:
    from ..bench import bench_autoattack

    result = bench_autoattack(samples=args.samples, version="quick" if args.quick else "standard", eps=args.eps,
                              lenet=args.lenet.split(",") if args.lenet else None,
                              resnet_checkpoint=args.resnet_checkpoint, resnet_dataset=args.resnet_dataset,
                              resnet_eps=args.resnet_eps, compare=args.compare, device=args.device, seed=args.seed)
    print(json.dumps(_nan_to_none(result)))
    return 0


def cmd_bench_compare_pgd(args) -> int:
    from ..bench import bench_compare_pgd
    from ..checkpoint import CheckpointError

    try:
        result = bench_compare_pgd(args.checkpoints, samples=args.samples, eps=args.eps, dataset=args.dataset,
                                   steps=args.steps, restarts=args.restarts,
                                   autoattack_version=None if args.autoattack == "none" else args.autoattack,
                                   device=args.device, seed=args.seed)
    except (CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(_nan_to_none(result)))
    return 0


def add_parsers(sub) -> None:
    bench = sub.add_parser("bench", help="benchmarks (print timings)")
    bsub = bench.add_subparsers(dest="benchmark", required=True)
    ds = bsub.add_parser("dverge-step", help="seconds per full DVERGE step, per distillation layer")
    ds.add_argument("--arch", default="resnet20")
    ds.add_argument("--members", type=int, default=3)
    ds.add_argument("--batch-size", type=int, default=128)
    ds.add_argument("--layers", default="1,5,10,15,20")
    ds.add_argument("--repeats", type=int, default=2, help="alternate both ways this many times; report medians")
    ds.add_argument("--profile", action="store_true", help="also report the engine step's time per phase")
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
    ba = bsub.add_parser("analyses", help="every analysis (and the report) on the shipped zoo, quick protocol: cold "
                         "and cached time, peak memory, counted forward/backward passes")
    ba.add_argument("--samples", type=int, default=100, help="test images per analysis (default 100)")
    ba.add_argument("--analyses", help="comma-separated subset (default: all registered; 'report' for the report)")
    ba.add_argument("--no-report", action="store_true", help="skip the full reproduction report")
    ba.add_argument("--checkpoint", help="run every analysis on this checkpoint (default: the shipped zoo's)")
    ba.add_argument("--threads", type=int, help="torch CPU threads in each child (default: torch's)")
    ba.add_argument("--timeout", type=float, help="seconds allowed per analysis (default: none)")
    ba.add_argument("--compare", metavar="REV", help="also measure git revision REV (e.g. the commit before an "
                    "optimization), alternately with this tree: before/after and speedup per analysis")
    ba.add_argument("--json", action="store_true")
    ba.set_defaults(func=cmd_bench_analyses)
    aa = bsub.add_parser("autoattack", help="AutoAttack run time per 1,000 samples: shipped LeNet-5 ensembles, ResNet-20")
    aa.add_argument("--samples", type=int, default=32, help="test images per ensemble (time is scaled to 1,000)")
    aa.add_argument("--quick", action="store_true", help="time the quick variant instead of the standard one")
    aa.add_argument("--eps", type=float, help="LeNet-5 budget (default: Fashion-MNIST's standard 0.1)")
    aa.add_argument("--lenet", help="shipped zoo entries, comma-separated (default: baseline,dverge)")
    aa.add_argument("--resnet-checkpoint", help="a real ResNet-20 checkpoint (default: random-init members)")
    aa.add_argument("--resnet-dataset", help="its test images (e.g. folder:DIR; default: its data set)")
    aa.add_argument("--resnet-eps", type=float, help="ResNet-20 budget (default: CIFAR-10's standard 0.03)")
    aa.add_argument("--compare", action="store_true",
                    help="also compare batched PGD-100 x 5 restarts with APGD-CE on the first LeNet-5 entry")
    aa.add_argument("--seed", type=int, default=0)
    aa.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    aa.add_argument("--json", action="store_true", help="(always JSON)")
    aa.set_defaults(func=cmd_bench_autoattack)
    cp = bsub.add_parser("compare-pgd", help="batched PGD-100 with restarts vs APGD-CE and AutoAttack on real checkpoints")
    cp.add_argument("checkpoints", nargs="+", metavar="CKPT", help="checkpoint directories or shipped zoo names")
    cp.add_argument("--samples", type=int, default=200, help="seeded test images per checkpoint")
    cp.add_argument("--eps", type=float, help="L∞ budget (default: the data set's standard one)")
    cp.add_argument("--dataset", help="test images (e.g. folder:DIR; default: the checkpoint's data set)")
    cp.add_argument("--steps", type=int, default=100, help="PGD iterations")
    cp.add_argument("--restarts", type=int, default=5, help="PGD random starts (batched)")
    cp.add_argument("--autoattack", choices=["standard", "quick", "none"], default="standard",
                    help="also run the whole AutoAttack (APGD-CE always 100 it.) on the same samples")
    cp.add_argument("--seed", type=int, default=0)
    cp.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    cp.add_argument("--json", action="store_true", help="(always JSON)")
    cp.set_defaults(func=cmd_bench_compare_pgd)
