"""What each CPU lever of the DVERGE training step gives, measured alternately in one
process (ratios are robust to a steady load; absolute times are not): 3 x ResNet-20,
random CIFAR-shaped batch, 10 distillation steps.

    python bench/dverge_levers.py [--batch-size 128] [--layers 1,10,20] [--repeats 2]

Rows, per layer, median wall and CPU seconds:
  distill                ``distill_members`` as shipped (for scale)
  update/plain           member forward+backward, NCHW, members one after another on all threads (before)
  update/channels-last   the same with channels-last input
  update/shipped         channels-last + members as single-threaded worker tasks (``cross_distilled_losses``)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from engine.attacks.distill import distill_members  # noqa: E402
from engine.data import SPECS  # noqa: E402
from engine.ensemble import Ensemble  # noqa: E402
from engine.methods.dverge import cross_distilled_losses  # noqa: E402
from engine.models import build_classifier  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--layers", default="1,10,20")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    spec = SPECS["cifar10"]
    torch.manual_seed(0)
    ensemble = Ensemble(build_classifier("resnet20", channels=3, num_classes=10, mean=spec.mean, std=spec.std)
                        for _ in range(3)).train()
    shape = (args.batch_size, 3, 32, 32)
    x, xs, ys = torch.rand(shape), torch.rand(shape), torch.randint(0, 10, (args.batch_size,))
    def update(distilled, **options):
        cross_distilled_losses(ensemble, distilled, ys, **options).sum().backward()
        ensemble.zero_grad(set_to_none=True)

    def timed(fn):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - wall, time.process_time() - cpu

    out = {"load_average_before": [round(v, 2) for v in os.getloadavg()], "threads": torch.get_num_threads(),
           "batch_size": args.batch_size, "layers": {}}
    for layer in [int(v) for v in args.layers.split(",")]:
        distilled = distill_members(list(ensemble.members), layer, x, xs, eps=0.07)
        rows = {"distill": lambda: distill_members(list(ensemble.members), layer, x, xs, eps=0.07),
                "update/plain": lambda: update(distilled, channels_last=False, workers=1),
                "update/channels-last": lambda: update(distilled, channels_last=True, workers=1),
                "update/shipped": lambda: update(distilled)}
        for fn in rows.values():  # warm-up
            fn()
        times = {k: [] for k in rows}
        for _ in range(args.repeats):
            for k, fn in rows.items():
                times[k].append(timed(fn))
        out["layers"][layer] = {k: {"wall": round(statistics.median(w for w, _ in v), 3),
                                    "cpu": round(statistics.median(c for _, c in v), 3)} for k, v in times.items()}
        print(layer, json.dumps(out["layers"][layer]), flush=True)
    out["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
