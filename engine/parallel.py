"""Independent CPU tasks on worker threads, each running torch single-threaded.

Attacks and distillations on small models are made of many small convolutions, which
scale badly across the threads of one operator (every operator ends in a barrier, and on
a busy machine one preempted thread stalls the others) but perfectly across independent
tasks. So on CPU the engine splits such work into independent tasks (member x sample
chunk) and runs one task per intra-op thread, each with ``torch.set_num_threads(1)``;
on a GPU everything stays in the caller's thread. Used by the transferability analysis
and by DVERGE's distillation.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import torch


def cpu_workers(device) -> int:
    """Worker threads for independent tasks: one per intra-op thread on CPU (each task then
    runs single-threaded), one on GPU."""
    return max(1, torch.get_num_threads()) if torch.device(device).type == "cpu" else 1


def run_tasks(fn: Callable, tasks: list, workers: int) -> Iterator:
    """``fn`` over ``tasks`` in order; on ``workers`` > 1 threads, each running torch
    single-threaded. The caller's thread count is restored afterwards."""
    if workers <= 1:
        yield from map(fn, tasks)
        return
    threads = torch.get_num_threads()

    def single_threaded(task):
        torch.set_num_threads(1)
        return fn(task)

    try:
        with ThreadPoolExecutor(workers) as pool:
            yield from pool.map(single_threaded, tasks)
    finally:
        torch.set_num_threads(threads)


def split(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous (start, stop) ranges covering 0..n, sizes differing by at most one."""
    parts = max(1, min(parts, n)) if n else 1
    bounds = [n * p // parts for p in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))
