"""Benchmark: server time of a cached ε-slider move on the Transferability page.

    python bench/app_slider.py [CKPT ...] [--moves 20] [--samples 200]

Precomputes the ε grid for the given ensembles (default: the shipped dverge and baseline)
into a fresh result cache (not timed), then drives the real app with Streamlit's AppTest
and times full script reruns after each slider move: sidebar + page + cache lookups +
figure building, i.e. everything the server does before it sends the new heatmap. Prints
one JSON object; the target is a median ≤ 100 ms.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*")
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    from engine.zoo import SHIPPED

    paths = args.checkpoints or [str(SHIPPED / "dverge"), str(SHIPPED / "baseline")]
    for p in paths:
        if not (Path(p) / "meta.json").is_file():
            parser.error(f"{p} is not a checkpoint (build the zoo: bash checkpoints/build_zoo.sh, or pass paths)")

    work = Path(tempfile.mkdtemp(prefix="bench-slider-"))
    os.environ["ROBUST_ENSEMBLES_CACHE"] = str(work / "cache")
    os.environ["ROBUST_ENSEMBLES_HOME"] = str(work / "home")

    from app import ui
    from engine import analyses
    from engine.checkpoint import read_meta
    from streamlit.testing.v1 import AppTest

    dataset = read_meta(paths[0])["dataset"]
    grid = ui.eps_grid(dataset)
    config = {"samples": args.samples}
    start = time.perf_counter()
    for eps in grid:
        for p in paths:
            analyses.run("transferability", p, dict(config, eps=eps))
    precompute = time.perf_counter() - start

    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)
    at.session_state["shared_dataset"] = dataset
    at.session_state["shared_ensembles"] = paths
    at.session_state["transferability:samples"] = args.samples
    at.switch_page(str(ROOT / "pages" / "transferability.py"))
    at.run()
    assert not at.exception, at.exception
    times = []
    for n in range(args.moves):
        eps = grid[n % len(grid)]
        t = time.perf_counter()
        at.sidebar.select_slider[0].set_value(eps).run()
        times.append((time.perf_counter() - t) * 1000)
        assert not at.exception, at.exception
        assert at.session_state["shared_eps"] == eps
    print(json.dumps({"benchmark": "app-slider", "ensembles": len(paths), "eps_grid": grid,
                      "precompute_seconds": round(precompute, 1), "moves": len(times),
                      "median_ms": round(statistics.median(times), 1), "p90_ms": round(sorted(times)[int(0.9 * len(times)) - 1], 1),
                      "max_ms": round(max(times), 1), "target_ms": 100,
                      "meets_target": statistics.median(times) <= 100}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
