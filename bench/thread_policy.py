"""Benchmark: the engine's thread policy (engine/threads.py) against libgomp's default.

    python bench/thread_policy.py [--samples 50] [--repeats 2] [--steps 20]

Times one black-box transfer set (PGD with momentum, 3 random starts, CE loss, ε = 0.1,
on the shipped 8-member LeNet-5 surrogate; the black-box analysis' inner loop) in fresh
child processes, the settings alternating so that a changing load hits them alike:

* ``default-2``: torch's 2 threads (one per core), ``OMP_WAIT_POLICY`` unset (libgomp
  spins at every barrier before sleeping) -- the engine before the policy;
* ``passive-2``: the same with ``OMP_WAIT_POLICY=PASSIVE`` -- the engine's policy;
* ``passive-1``: one torch thread, passive;
* ``spin<N>-2``: 2 threads, the default policy with ``GOMP_SPINCOUNT=N`` (a waiting thread
  spins N iterations, then sleeps; libgomp's default is 300,000, PASSIVE is 0): the middle
  ground between the two.

``--settings a,b,...`` chooses among them (default: all).

Prints one JSON object: the median seconds per setting, their ratios to ``default-2``, the
load average before and after, and whether every setting produced bit-identical
perturbations (the policy must not change numbers).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import hashlib, sys, time
import torch  # loaded first: the wait policy is what the environment says, not the engine's
sys.path.insert(0, {root!r})
torch.set_num_threads({threads})
from engine.checkpoint import load_checkpoint
from engine.data import load_split
from engine.evaluation.blackbox import generate_transfer_set
from engine.zoo import SHIPPED
surrogate = load_checkpoint(str(SHIPPED / "surrogate_8"), "cpu")[0]
data = load_split("fashion_mnist", "test").subset({samples}, 0)
x, y = data.images(), data.y
start = time.perf_counter()
delta = generate_transfer_set(surrogate, x, y, attack="pgd-momentum", loss="ce", eps=0.1, steps={steps},
                              restarts=3, seed=0)
print("RESULT", time.perf_counter() - start, hashlib.sha256(delta.tobytes()).hexdigest())
"""

#: setting -> (OMP_WAIT_POLICY, GOMP_SPINCOUNT, torch threads); None: unset
SETTINGS = {"default-2": (None, None, 2), "passive-2": ("PASSIVE", None, 2), "passive-1": ("PASSIVE", None, 1),
            "spin100k-2": (None, "100000", 2), "spin10k-2": (None, "10000", 2), "spin1k-2": (None, "1000", 2)}


def run(setting: str, samples: int, steps: int) -> tuple[float, str]:
    policy, spincount, threads = SETTINGS[setting]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT")}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    if spincount:
        env["GOMP_SPINCOUNT"] = spincount
    code = CHILD.format(root=str(ROOT), threads=threads, samples=samples, steps=steps)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")][-1].split()
    return float(line[1]), line[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated, among: " + ", ".join(SETTINGS))
    args = parser.parse_args()
    chosen = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SETTINGS]
    if unknown or "default-2" not in chosen:
        print(f"error: --settings must include default-2 and only {', '.join(SETTINGS)}; got {args.settings}",
              file=sys.stderr)
        return 2
    before = [round(v, 2) for v in os.getloadavg()]
    times: dict[str, list[float]] = {s: [] for s in chosen}
    digests = set()
    for _ in range(args.repeats):
        for setting in chosen:
            seconds, digest = run(setting, args.samples, args.steps)
            times[setting].append(round(seconds, 3))
            digests.add(digest)
    median = {s: statistics.median(t) for s, t in times.items()}
    print(json.dumps({"samples": args.samples, "steps": args.steps, "repeats": args.repeats, "seconds": times,
                      "median_s": median,
                      "speedup_vs_default_2": {s: round(median["default-2"] / m, 2) for s, m in median.items()},
                      "identical_results": len(digests) == 1, "cpus": os.cpu_count(),
                      "load_average_before": before, "load_average_after": [round(v, 2) for v in os.getloadavg()]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
