"""Benchmarks: commands that print timings (never timed unit tests).

``dverge-step``: seconds per full DVERGE training step (distillation for every member +
the parameter update) for each distillation layer, on random inputs of the
architecture's shape. With ``reference=True`` the same step is also timed the way the
reference implementation does it -- target features recomputed at every distillation
step, full forward passes, weight gradients computed and thrown away -- and the speedup
is reported.

``eval-transferability``: the DVERGE 4.2 transferability protocol (PGD-50, step ε/5, 5
random starts per member, every target evaluated) timed the engine's way vs the
reference way (advertorch per member, one restart at a time, weight gradients computed,
every target evaluated separately); see :func:`bench_eval_transferability`.
"""
from __future__ import annotations

import os
import random
import statistics
import time

import torch
import torch.nn.functional as F

from .attacks.pgd import default_step_size
from .data import SPECS
from .device import select_device
from .ensemble import Ensemble
from .methods import Batch, get_method
from .models import build_classifier

_SHAPES = {"lenet5": "fashion_mnist"}


def _reference_distill(model, layer, target, source, eps, steps=10, momentum=1.0):
    """Eq. (1) done the reference way, kept only as the benchmark's point of comparison."""
    step = eps / steps
    model.eval()
    z = source.clone()
    velocity = torch.zeros_like(z)
    for _ in range(steps):
        z.requires_grad_(True)
        model.zero_grad()
        loss = (layer_output_full(model, layer, z) - layer_output_full(model, layer, target)).pow(2).sum()
        loss.backward()  # weight gradients too, discarded
        grad = z.grad
        velocity = momentum * velocity + grad / grad.abs().flatten(1).sum(1).clamp_min(1e-12).view(-1, 1, 1, 1)
        z = torch.min(torch.max(z.detach() - step * velocity.sign(), source - eps), source + eps).clamp(0, 1)
    model.zero_grad()
    return z.detach()


def layer_output_full(model, layer, x):
    """Feature of ``layer`` captured while the *whole* network runs (no early exit)."""
    captured = []
    handle = model.feature_layers()[layer - 1].register_forward_hook(lambda m, i, o: captured.append(o))
    try:
        model(x)
    finally:
        handle.remove()
    return captured[0]


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def _machine() -> dict:
    """What the timings ran on: CPU count, torch threads and the load average (the
    benchmark is only comparable between runs on an idle machine; ratios of the two ways
    measured alternately in one run are robust to a steady load)."""
    import os
    import platform

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"cpus": os.cpu_count(), "threads": torch.get_num_threads(), "processor": platform.processor() or
            platform.machine(), "torch": torch.__version__, "load_average": [round(v, 2) for v in load]}


def bench_dverge_step(arch: str = "resnet20", members: int = 3, batch_size: int = 128,
                      layers: list[int] | None = None, repeats: int = 2, reference: bool = True,
                      device: str = "auto", profile: bool = False) -> dict:
    """Seconds per DVERGE training step (distillation of every member, Eq. 1, then one
    update on Eq. 5) per distillation layer, the engine's way (``method.loss``: BatchNorm-
    folded frozen copies, early exit at the layer, input gradients only, members x sample
    chunks on single-threaded workers) and, with ``reference``, the reference way
    (:func:`_reference_distill`: full forward passes, target features recomputed every
    step, weight gradients computed and thrown away). Both ways alternate ``repeats`` times
    per layer (one untimed warm-up each before the first); medians are reported (wall and CPU seconds), and
    ``speedup`` is the ratio of the mean reference to the mean engine step. ``profile``
    adds the engine step's time per phase (torch.profiler record_function totals)."""
    dev = select_device(device)
    spec = SPECS[_SHAPES.get(arch, "cifar10")]
    torch.manual_seed(0)
    ensemble = Ensemble(build_classifier(arch, channels=spec.channels, num_classes=spec.num_classes,
                                         mean=spec.mean, std=spec.std) for _ in range(members)).to(dev)
    n_layers = len(ensemble.members[0].feature_layers())
    layers = layers or list(range(1, n_layers + 1))
    bad = [l for l in layers if not 1 <= l <= n_layers]
    if bad:
        raise ValueError(f"layers {bad} out of range 1..{n_layers} for {arch}")
    method = get_method("dverge")(get_method("dverge").Params(), spec)
    optimizer = torch.optim.SGD(ensemble.parameters(), lr=1e-3, momentum=0.9)
    shape = (batch_size, spec.channels, spec.size, spec.size)
    batch = Batch(torch.rand(shape, device=dev), torch.randint(0, 10, (batch_size,), device=dev),
                  torch.rand(shape, device=dev), torch.randint(0, 10, (batch_size,), device=dev))

    def ours():
        ensemble.train()
        loss = method.loss(ensemble, batch).total
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def theirs():
        distilled = [_reference_distill(m, method.layer, batch.x, batch.xs, method.eps) for m in ensemble.members]
        ensemble.train()
        losses = [sum(F.cross_entropy(m(distilled[j]), batch.ys) for j in range(members) if j != i)
                  for i, m in enumerate(ensemble.members)]
        optimizer.zero_grad()
        sum(losses).backward()
        optimizer.step()

    def timed(fn) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - wall, time.process_time() - cpu

    result: dict = {"arch": arch, "members": members, "batch_size": batch_size, "device": str(dev),
                    "threads": torch.get_num_threads(), "repeats": repeats, "machine": _machine()}
    ours_t, theirs_t, ours_cpu, theirs_cpu, runs = {}, {}, {}, {}, {}
    for n, layer in enumerate(layers):
        method.begin_epoch(1, ensemble, random.Random(0))
        method.layer = layer
        if n == 0:  # warm-up (first-call allocations), not timed
            ours()
            if reference:
                theirs()
        mine, ref = [], []
        for _ in range(max(1, repeats)):
            mine.append(timed(ours))
            if reference:
                ref.append(timed(theirs))
        ours_t[str(layer)] = round(statistics.median(w for w, _ in mine), 4)
        ours_cpu[str(layer)] = round(statistics.median(c for _, c in mine), 4)
        runs[str(layer)] = {"ours": [round(w, 3) for w, _ in mine]}
        if reference:
            theirs_t[str(layer)] = round(statistics.median(w for w, _ in ref), 4)
            theirs_cpu[str(layer)] = round(statistics.median(c for _, c in ref), 4)
            runs[str(layer)]["reference"] = [round(w, 3) for w, _ in ref]
    result.update(ours_t)
    result["mean"] = round(sum(ours_t.values()) / len(ours_t), 4)
    result["cpu_seconds"] = ours_cpu
    result["runs"] = runs
    if reference:
        result["reference"] = theirs_t
        result["reference_mean"] = round(sum(theirs_t.values()) / len(theirs_t), 4)
        result["speedup"] = round(result["reference_mean"] / result["mean"], 2)
        result["reference_cpu_seconds"] = theirs_cpu
        result["cpu_speedup"] = round(sum(theirs_cpu.values()) / max(sum(ours_cpu.values()), 1e-9), 2)
        result["speedup_per_layer"] = {k: round(theirs_t[k] / ours_t[k], 2) for k in ours_t}
    if profile:
        result["phases"] = profile_dverge_step(ensemble, method, batch, optimizer, layers)
    result["machine_after"] = _machine()["load_average"]
    return result


def profile_dverge_step(ensemble, method, batch, optimizer, layers: list[int]) -> dict:
    """Seconds per phase of one engine DVERGE step per layer, from torch.profiler's
    record_function totals: ``distill`` (every member's Eq. 1 PGD), ``cross_forward``
    (member i on the other members' distilled images, train mode; on CPU with several
    threads it also holds the backward of the members run as worker tasks, see
    :func:`engine.methods.dverge.cross_distilled_losses`), ``backward`` and ``update``
    (the optimizer step)."""
    from torch.profiler import ProfilerActivity, profile, record_function

    from .methods.dverge import cross_distilled_losses, distill_all

    phases = ("distill", "cross_forward", "backward", "update")
    out = {}
    for layer in layers:
        method.layer = layer
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            ensemble.train()
            with record_function("distill"):
                distilled = distill_all(ensemble, layer, batch, method.params, method.eps)
            with record_function("cross_forward"):
                loss = cross_distilled_losses(ensemble, distilled, batch.ys).sum()
            with record_function("backward"):
                optimizer.zero_grad()
                loss.backward()
            with record_function("update"):
                optimizer.step()
        totals = {e.key: e.cpu_time_total / 1e6 for e in prof.key_averages() if e.key in phases}
        out[str(layer)] = {p: round(totals.get(p, 0.0), 4) for p in phases}
    return out


# --------------------------------------------------------------------------- eval-transferability

def _reference_transfer_matrix(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int,
                               restarts: int, step_size: float, random_start: bool = True) -> dict:
    """DVERGE 4.2 done the reference way, kept only as the benchmark's point of comparison:
    advertorch ``LinfPGDAttack`` per member, one restart at a time, parameters left
    requiring grad (so every step also computes weight gradients), and every target
    evaluated in its own forward pass."""
    from .compat import advertorch

    ensemble.eval()
    k = len(ensemble)
    fooled = torch.zeros(k, k + 1, x.shape[0], dtype=torch.bool)
    for i, source in enumerate(ensemble.members):
        attack = advertorch().LinfPGDAttack(source, loss_fn=torch.nn.CrossEntropyLoss(reduction="sum"), eps=eps,
                                            nb_iter=steps, eps_iter=step_size, rand_init=random_start)
        for _ in range(restarts):
            adv = attack.perturb(x, y)
            with torch.no_grad():
                for j, target in enumerate(ensemble.members):
                    fooled[i, j] |= target(adv).argmax(1) != y
                fooled[i, k] |= ensemble(adv).argmax(1) != y
    ensemble.zero_grad(set_to_none=True)
    rates = fooled.float().mean(-1)
    return {"matrix": rates[:, :k].tolist(), "ensemble": rates[:, k].tolist()}


def bench_eval_transferability(arch: str = "lenet5", members: int = 3, samples: int = 200, steps: int = 50,
                               restarts: int = 5, eps: float | None = None, checkpoint: str | None = None,
                               reference: bool = True, device: str = "auto", seed: int = 0,
                               threads: int | None = None, repeats: int = 1, workers: int | None = None,
                               dataset: str | None = None, random_start: bool = True) -> dict:
    """Throughput of the DVERGE 4.2 transferability protocol (PGD, step ε/5, ``restarts``
    random starts, per member, every target evaluated) done the engine's way
    (:func:`engine.evaluation.transferability.transfer_matrix`) vs the reference way, and
    whether both give the same matrix within sampling noise. With ``checkpoint`` the
    samples are test images every member classifies correctly; otherwise a random-init
    ensemble of ``arch`` attacks random images labelled by the ensemble's own prediction.
    ``dataset`` overrides the checkpoint's test images (e.g. ``folder:DIR`` offline).
    With ``repeats`` > 1 the two ways alternate and the medians are reported (wall-clock
    times on a shared machine vary by 10-20% from run to run). ``random_start=False``
    makes both ways deterministic (PGD from the clean image), so their matrices must then
    be equal, not only within sampling noise."""
    from .evaluation.transferability import correct_samples, transfer_matrix

    dev = select_device(device)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    if checkpoint:
        from .checkpoint import load_checkpoint, read_meta
        from .data import load_split

        meta = read_meta(checkpoint)
        ensemble = load_checkpoint(checkpoint, dev)[0]
        arch, members = meta["arch"], meta["members"]
        images = load_split(dataset or meta["dataset"], "test")
        dataset = meta["dataset"]  # its ε
        x, y = correct_samples(ensemble, images, samples, seed, dev)
    else:
        dataset = _SHAPES.get(arch, "cifar10")
        spec = SPECS[dataset]
        ensemble = Ensemble(build_classifier(arch, channels=spec.channels, num_classes=spec.num_classes,
                                             mean=spec.mean, std=spec.std) for _ in range(members)).to(dev).eval()
        x = torch.rand(samples, spec.channels, spec.size, spec.size)
        with torch.no_grad():
            y = ensemble(x.to(dev)).argmax(1).cpu()
    eps = SPECS[dataset].attack_eps if eps is None and dataset in SPECS else (eps or 0.03)
    n = x.shape[0]
    result: dict = {"arch": arch, "members": members, "samples": n, "steps": steps, "restarts": restarts,
                    "eps": eps, "dataset": dataset, "checkpoint": checkpoint, "device": str(dev),
                    "threads": torch.get_num_threads(), "repeats": repeats}

    def ours() -> dict:
        return transfer_matrix(ensemble, x, y, eps=eps, steps=steps, restarts=restarts,
                               step_size=default_step_size(eps), backend="native", device=dev, seed=seed,
                               workers=workers, random_start=random_start)

    def theirs() -> dict:
        for p in ensemble.parameters():  # the reference way: parameters left requiring grad
            p.requires_grad_(True)
        return _reference_transfer_matrix(ensemble, x.to(dev), y.to(dev), eps=eps, steps=steps,
                                          restarts=restarts, step_size=default_step_size(eps),
                                          random_start=random_start)

    # warm-up of both ways (first-call allocations), not timed
    transfer_matrix(ensemble, x[:8], y[:8], eps=eps, steps=1, restarts=1, backend="native", device=dev)
    if reference:
        _reference_transfer_matrix(ensemble, x[:8].to(dev), y[:8].to(dev), eps=eps, steps=1, restarts=1,
                                   step_size=default_step_size(eps))
    times: dict[str, list[float]] = {"ours": [], "reference": []}
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        mine = ours()
        times["ours"].append(time.perf_counter() - start)
        if reference:
            start = time.perf_counter()
            ref = theirs()
            times["reference"].append(time.perf_counter() - start)
    result["seconds"] = round(statistics.median(times["ours"]), 3)
    result["samples_per_second"] = round(n / result["seconds"], 2)
    result["matrix"] = [[round(v, 4) for v in row] for row in mine["matrix"]]
    result["ensemble"] = [round(v, 4) for v in mine["ensemble"]]
    if reference:
        result["reference_seconds"] = round(statistics.median(times["reference"]), 3)
        result["reference_samples_per_second"] = round(n / result["reference_seconds"], 2)
        result["speedup"] = round(result["reference_seconds"] / result["seconds"], 2)
        if repeats > 1:
            result["runs"] = {k: [round(t, 3) for t in v] for k, v in times.items()}
            result["speedups"] = [round(r / o, 2) for o, r in zip(times["ours"], times["reference"])]
        diff = max(abs(a - b) for ra, rb in zip(mine["matrix"] + [mine["ensemble"]],
                                                  ref["matrix"] + [ref["ensemble"]]) for a, b in zip(ra, rb))
        # two independent estimates of one rate differ by > 4 standard errors (p = 1/2) with
        # probability < 1e-4 per cell
        tolerance = 4 * (2 * 0.25 / max(n, 1)) ** 0.5
        result["reference_matrix"] = [[round(v, 4) for v in row] for row in ref["matrix"]]
        result["reference_ensemble"] = [round(v, 4) for v in ref["ensemble"]]
        result.update(max_abs_difference=round(diff, 4), tolerance=round(tolerance, 4), agree=diff <= tolerance)
    return result


def bench_autoattack(*, samples: int = 32, version: str = "standard", eps: float | None = None,
                     lenet: list[str] | None = None, resnet_checkpoint: str | None = None,
                     resnet_dataset: str | None = None, resnet_eps: float | None = None, compare: bool = False,
                     device: str = "auto", seed: int = 0) -> dict:
    """AutoAttack run time per 1,000 samples (:mod:`engine.attacks.autoattack`).

    LeNet-5: the shipped zoo entries ``lenet`` (default baseline and dverge) on ``samples``
    Fashion-MNIST test images at ε (default: the data set's standard 0.1). ResNet-20: a real
    checkpoint when given (e.g. the imported official DVERGE release, with
    ``resnet_dataset=folder:.../cifar10-jpeg``), else three random-init ResNet-20s on
    random CIFAR-sized images labelled with the ensemble's own predictions, so that every
    sample goes through every component (the slowest case). Time per 1,000 samples depends
    on how many samples survive each component: it is reported with the robust accuracy.
    ``compare`` adds :func:`engine.evaluation.autoattack.pgd_vs_apgd` on the first LeNet entry.
    """
    from .attacks.autoattack import autoattack, torchattacks
    from .checkpoint import load_checkpoint
    from .data import get_spec, load_split
    from .evaluation.autoattack import attackable, pgd_vs_apgd
    from .paths import SHIPPED

    dev = select_device(device)
    out: dict = {"version": version, "samples": samples, "device": str(dev),
                 "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
                 "threads": torch.get_num_threads(), "torch": torch.__version__,
                 "torchattacks": torchattacks().__version__, "runs": []}

    def run(label: str, model, x, y, e: float) -> dict:
        start = time.perf_counter()
        result = autoattack(model, x, y, eps=e, version=version, seed=seed)
        seconds = time.perf_counter() - start
        row = {"ensemble": label, "eps": e, "samples": len(y), "seconds": round(seconds, 2),
               "seconds_per_1000": round(seconds / max(len(y), 1) * 1000, 1),
               "clean_accuracy": result.clean_accuracy, "robust_accuracy": result.robust_accuracy,
               "components": {c["component"]: {"attacked": c["attacked"], "seconds": round(c["seconds"], 2)}
                              for c in result.components}}
        out["runs"].append(row)
        return row

    test = load_split("fashion_mnist", "test").subset(samples, seed)
    x, y = test.images(), test.y
    e = get_spec("fashion_mnist").attack_eps if eps is None else eps
    for name in lenet if lenet is not None else ["baseline", "dverge"]:
        ensemble, _ = load_checkpoint(SHIPPED / name, dev)
        run(f"{name} (shipped, 3 x LeNet-5)", attackable(ensemble).to(dev), x, y, e)
        if compare and "pgd_vs_apgd" not in out:
            out["pgd_vs_apgd"] = dict(pgd_vs_apgd(ensemble, x, y, eps=e, seed=seed, device=dev), ensemble=name)
    if resnet_checkpoint:
        ensemble, meta = load_checkpoint(resnet_checkpoint, dev)
        data = load_split(resnet_dataset or meta["dataset"], "test").subset(samples, seed)
        re = get_spec(resnet_dataset or meta["dataset"]).attack_eps if resnet_eps is None else resnet_eps
        run(f"{resnet_checkpoint} ({meta.get('arch')})", attackable(ensemble).to(dev), data.images(), data.y, re)
    else:
        spec = SPECS["cifar10"]
        torch.manual_seed(seed)
        ensemble = Ensemble(build_classifier("resnet20", channels=3, num_classes=10, mean=spec.mean, std=spec.std)
                            for _ in range(3)).to(dev).eval()
        model = attackable(ensemble).to(dev)
        xr = torch.rand(samples, 3, 32, 32)
        with torch.no_grad():
            yr = model(xr.to(dev)).argmax(-1).cpu()
        run("random-init 3 x ResNet-20 (labels = own predictions)", model, xr,
            yr, spec.attack_eps if resnet_eps is None else resnet_eps)
    return out


def bench_compare_pgd(checkpoints: list[str], *, samples: int = 200, eps: float | None = None, dataset: str | None = None,
                      steps: int = 100, restarts: int = 5, autoattack_version: str | None = "standard",
                      device: str = "auto", seed: int = 0) -> dict:
    """The recorded check of the AutoAttack library against the lab's own attack (issue 11,
    item 1): on each checkpoint, the same seeded ``samples`` test images and the same L∞ ε,
    batched PGD-``steps`` x ``restarts`` (step ε/4) against torchattacks' APGD-CE (100
    iterations) and, unless ``autoattack_version`` is None, the whole AutoAttack
    (:func:`engine.evaluation.autoattack.pgd_vs_apgd`). ``dataset`` overrides the
    checkpoint's (e.g. ``folder:.../cifar10-jpeg`` for an imported CIFAR-10 release); ε
    defaults to the data set's standard budget. A checkpoint is a directory or a shipped
    zoo name."""
    from .checkpoint import load_checkpoint
    from .data import get_spec, load_split
    from .evaluation.autoattack import pgd_vs_apgd
    from .paths import SHIPPED

    dev = select_device(device)
    out: dict = {"device": str(dev), "threads": torch.get_num_threads(), "torch": torch.__version__,
                 "load_average": [round(v, 2) for v in os.getloadavg()], "runs": []}
    for name in checkpoints:
        path = SHIPPED / name if not os.path.isdir(name) and (SHIPPED / name).is_dir() else name
        ensemble, meta = load_checkpoint(path, dev)
        data_name = dataset or meta["dataset"]
        test = load_split(data_name, "test").subset(samples, seed)
        e = get_spec(data_name).attack_eps if eps is None else eps
        start = time.perf_counter()
        row = pgd_vs_apgd(ensemble, test.images(), test.y, eps=e, steps=steps, restarts=restarts, seed=seed,
                          device=dev, autoattack_version=autoattack_version)
        out["runs"].append({"checkpoint": str(name), "dataset": data_name, "arch": meta.get("arch"),
                            "members": len(ensemble.members), **row,
                            "seconds": round(time.perf_counter() - start, 1),
                            "load_average_after": [round(v, 2) for v in os.getloadavg()]})
    return out
