"""``python -m engine bench analyses``: what every registered analysis (and the
reproduction report) costs on the shipped zoo at the quick protocol.

Per analysis, measured in a fresh child process (so the peak memory and the cold time
are its own, and nothing is warm from an earlier analysis):

``cold_s``           wall seconds of :func:`engine.analyses.run` into an empty result cache;
``warm_s``           wall seconds of the same request again (a cache hit: what a page
                     rerun or a second click costs the server);
``peak_mb``          peak resident memory of the child process (``ru_maxrss``; includes
                     torch itself, reported alone as ``base_mb``);
``forward_passes``   member forward passes, counted by a global forward pre-hook on every
                     :class:`engine.models.Classifier` call (one call on a batch = one pass;
                     ``forward_samples`` sums their batch sizes);
``backward_passes``  member backward passes, counted by a gradient hook on each member's
                     normalized input (input gradients: attacks, saliency) or, when only
                     the weights need gradients, on its logits: one per gradient that
                     actually flows back through a member.

The counters are hooks, not estimates: whatever an analysis computes through a member is
counted, including forwards that stop early at a feature layer. Keys are stable (add
only). The report is measured the same way (its analyses' passes together).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

#: analyses that need an ensemble of a particular method; the others run on ``dverge``
CHECKPOINT_FOR = {"cce-subsets": "cce_rm"}
DEFAULT_CHECKPOINT = "dverge"
KEYS = ("cold_s", "warm_s", "peak_mb", "forward_passes", "backward_passes")
#: the app's quick protocol on CPU (the laptop case these timings are for); every bench
#: command reports where it ran, so this one says it too
DEVICE = "cpu"


class PassCounter:
    """Global hooks counting member forward and backward passes (thread-safe)."""

    def __init__(self):
        self.forward = self.backward = self.samples = 0
        self._lock = threading.Lock()
        self._handles = []

    def _count_backward(self, _grad):
        with self._lock:
            self.backward += 1

    def install(self) -> "PassCounter":
        import torch
        from torch.nn.modules import module as torch_module

        from .models import Classifier, Normalizer

        def pre(mod, inputs):
            if isinstance(mod, Classifier):
                with self._lock:
                    self.forward += 1
                    x = inputs[0] if inputs else None
                    self.samples += int(x.shape[0]) if isinstance(x, torch.Tensor) and x.dim() else 0

        def post(mod, inputs, output):
            if not torch.is_grad_enabled() or not isinstance(output, torch.Tensor) or not output.requires_grad:
                return
            x = inputs[0] if inputs else None
            input_grad = isinstance(x, torch.Tensor) and x.requires_grad
            # a normalizer whose input needs a gradient: input-gradient pass through this member;
            # a classifier whose input does not: weights-only pass (counted at its logits)
            if (isinstance(mod, Normalizer) and input_grad) or (isinstance(mod, Classifier) and not input_grad):
                output.register_hook(self._count_backward)

        self._handles = [torch_module.register_module_forward_pre_hook(pre),
                         torch_module.register_module_forward_hook(post)]
        return self

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def snapshot(self) -> dict:
        return {"forward_passes": self.forward, "backward_passes": self.backward, "forward_samples": self.samples}


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def quick_config(name: str, checkpoint: str, samples: int) -> dict:
    """The request the bench times: the report's configuration where the report runs the
    analysis (quick protocol), else the analysis' defaults, with ``samples`` test images."""
    from . import analyses as registry
    from .checkpoint import read_meta
    from .data import get_spec
    from .report import Entry, analysis_configs
    from .zoo import SHIPPED

    dataset = read_meta(checkpoint)["dataset"]
    surrogates = [Entry(name=p.name, path=str(p), method="baseline", dataset=dataset, members=0, surrogate=True)
                  for p in sorted(SHIPPED.glob("surrogate*")) if (p / "meta.json").is_file()]
    eps = float(get_spec(dataset).attack_eps)
    report = analysis_configs(dataset, eps, samples, "quick", surrogates)
    if name in report:
        return dict(report[name])
    fields = registry.get(name).config.model_fields
    config = {"samples": samples} if "samples" in fields else {}
    if "eps" in fields and fields["eps"].is_required():
        config["eps"] = eps
    if "quick" in fields:  # AutoAttack's quick variant
        config["quick"] = True
    return config


def measure_analysis(name: str, checkpoint: str, config: dict, cache_dir: str) -> dict:
    """Cold and warm time, peak memory and pass counts of one request (in this process)."""
    from . import analyses as registry
    from .cache import ResultCache

    cache = ResultCache(cache_dir)
    base = _rss_mb()
    counter = PassCounter().install()
    try:
        start = time.perf_counter()
        registry.run(name, checkpoint, config, device=DEVICE, cache=cache)
        cold = time.perf_counter() - start
        counts = counter.snapshot()
        start = time.perf_counter()
        registry.run(name, checkpoint, config, device=DEVICE, cache=cache)
        warm = time.perf_counter() - start
    finally:
        counter.remove()
    return {"cold_s": round(cold, 3), "warm_s": round(warm, 4), "peak_mb": round(_rss_mb(), 1),
            "base_mb": round(base, 1), **counts}


def measure_report(samples: int, cache_dir: str) -> dict:
    """The reproduction report over the shipped zoo (quick protocol), cold then warm."""
    from .cache import ResultCache
    from .report import build_report

    cache = ResultCache(cache_dir)
    base = _rss_mb()
    counter = PassCounter().install()
    try:
        start = time.perf_counter()
        build_report(samples=samples, protocol="quick", device=DEVICE, cache=cache)
        cold = time.perf_counter() - start
        counts = counter.snapshot()
        start = time.perf_counter()
        build_report(samples=samples, protocol="quick", device=DEVICE, cache=cache)
        warm = time.perf_counter() - start
    finally:
        counter.remove()
    return {"cold_s": round(cold, 3), "warm_s": round(warm, 4), "peak_mb": round(_rss_mb(), 1),
            "base_mb": round(base, 1), **counts}


def _child(args: list[str]) -> int:
    """Entry of the per-analysis child process: prints one JSON line."""
    name, checkpoint, samples, cache_dir, threads = args[0], args[1], int(args[2]), args[3], int(args[4])
    import torch

    if threads:
        torch.set_num_threads(threads)
    try:
        if name == "report":
            out = measure_report(samples, cache_dir)
        else:
            config = quick_config(name, checkpoint, samples)
            out = {"checkpoint": Path(checkpoint).name, "config": config,
                   **measure_analysis(name, checkpoint, config, cache_dir)}
    except Exception as exc:  # reported in the table, the other analyses still run
        out = {"error": f"{type(exc).__name__}: {exc}"}
    print("BENCH-RESULT " + json.dumps(out), flush=True)
    return 0


def _run_child(repo: str, name: str, path: str, samples: int, threads: int | None, timeout: float | None,
               env: dict) -> dict:
    """One analysis (or the report) measured in a fresh child process importing ``repo``'s
    engine, into an empty result cache."""
    with tempfile.TemporaryDirectory(prefix="bench-analyses-") as cache_dir:
        code = (f"import sys; sys.path.insert(0, {repo!r}); from engine.bench_analyses import _child; "
                f"sys.exit(_child(sys.argv[1:]))")
        env = dict(env, ROBUST_ENSEMBLES_CACHE=cache_dir)
        try:
            proc = subprocess.run([sys.executable, "-c", code, name, path, str(samples), cache_dir,
                                   str(threads or 0)], capture_output=True, text=True, env=env, timeout=timeout,
                                  cwd=repo)
            lines = [l for l in proc.stdout.splitlines() if l.startswith("BENCH-RESULT ")]
            return json.loads(lines[-1][len("BENCH-RESULT "):]) if lines else \
                {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout} s"}


def checkout(revision: str, into: str) -> str:
    """The source tree of git ``revision`` of this repository (``git archive``) under
    ``into``; returns its full commit hash. Raises ValueError for an unknown revision."""
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise ValueError(f"--compare {revision}: not a commit of {repo}")
    commit = done.stdout.strip()
    archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", commit], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    if not (Path(into) / "engine" / "bench_analyses.py").is_file():
        raise ValueError(f"--compare {revision}: that revision has no engine/bench_analyses.py to run")
    return commit


def bench_analyses(samples: int = 100, names: list[str] | None = None, report: bool = True,
                   checkpoint: str | None = None, threads: int | None = None, timeout: float | None = None,
                   compare: str | None = None) -> dict:
    """One fresh child process per analysis (and the report), each into an empty cache.

    ``compare``: a git revision (e.g. the commit before an optimization) whose engine is
    measured the same way, alternately with this one analysis by analysis (the old one
    first), so both sides of every row share the machine's load; added as ``before``
    (``revision``, ``commit``, ``analyses``) and ``speedup`` (old cold / new cold). The
    old side runs without the thread policy of :mod:`engine.threads` unless the user set
    ``OMP_WAIT_POLICY`` (its engine predates it, or has it itself)."""
    from . import analyses as registry
    from . import threads as thread_policy
    from .bench import _machine
    from .zoo import SHIPPED

    unknown = [n for n in names or [] if n not in registry.names() and n != "report"]
    if unknown:
        raise ValueError(f"unknown analyses {', '.join(unknown)}; choose from {', '.join(registry.names())}, report")
    jobs = [n for n in names or registry.names() if n != "report"]
    if (names is None and report) or "report" in (names or []):
        jobs.append("report")
    repo = str(Path(__file__).resolve().parents[1])
    result: dict = {"samples": samples, "protocol": "quick", "device": DEVICE, "machine": _machine(),
                    "analyses": {}}
    with tempfile.TemporaryDirectory(prefix="bench-analyses-before-") as old_repo:
        old_env = None
        if compare:
            result["before"] = {"revision": compare, "commit": checkout(compare, old_repo), "analyses": {}}
            result["speedup"] = {}
            old_env = thread_policy.without_engine_choice(os.environ)  # the old revision chooses for itself
        for name in jobs:
            path = checkpoint or str(SHIPPED / CHECKPOINT_FOR.get(name, DEFAULT_CHECKPOINT))
            if compare:
                old = _run_child(old_repo, name, path, samples, threads, timeout, old_env)
                result["before"]["analyses"][name] = old
            result["analyses"][name] = new = _run_child(repo, name, path, samples, threads, timeout, dict(os.environ))
            if compare and "cold_s" in old and "cold_s" in new:
                result["speedup"][name] = round(old["cold_s"] / max(new["cold_s"], 1e-9), 2)
    result["machine_after"] = _machine()["load_average"]
    result["wait_policy"] = thread_policy.effective()
    return result


def table(result: dict) -> str:
    """The result as a fixed-width text table (with ``compare``: the old cold time and the
    speedup per row)."""
    before = result.get("before", {}).get("analyses", {})
    head = f"{'analysis':<16}{'cold s':>10}{'warm ms':>10}{'peak MB':>10}{'forward':>10}{'backward':>10}"
    if before:
        head += f"{'before s':>10}{'speedup':>9}"
    rows = [head, "-" * len(head)]
    for name, r in result["analyses"].items():
        if "error" in r:
            rows.append(f"{name:<16}  error: {r['error']}")
            continue
        row = (f"{name:<16}{r['cold_s']:>10.2f}{1000 * r['warm_s']:>10.1f}{r['peak_mb']:>10.0f}"
               f"{r['forward_passes']:>10}{r['backward_passes']:>10}")
        if before:
            old = before.get(name, {})
            row += (f"{old['cold_s']:>10.2f}{result['speedup'][name]:>8.2f}x" if name in result.get("speedup", {})
                    else f"  before: {old.get('error', 'missing')}")
        rows.append(row)
    m = result["machine"]
    rows.append(f"{result['samples']} samples, quick protocol, device {result['device']}; {m['cpus']} CPUs, "
                f"{m['threads']} torch threads, OMP_WAIT_POLICY {result.get('wait_policy', '?')}, "
                f"load average {m['load_average'][0]} before, {result['machine_after'][0]} after")
    if before:
        rows.append(f"before: {result['before']['revision']} ({result['before']['commit'][:12]}), "
                    "run alternately with this tree, analysis by analysis")
    return "\n".join(rows)
