"""Benchmarks: commands that print timings (never timed unit tests).

``dverge-step``: seconds per full DVERGE training step (distillation for every member +
the parameter update) for each distillation layer, on random inputs of the
architecture's shape. With ``reference=True`` the same step is also timed the way the
reference implementation does it -- target features recomputed at every distillation
step, full forward passes, weight gradients computed and thrown away -- and the speedup
is reported.
"""
from __future__ import annotations

import random
import time

import torch
import torch.nn.functional as F

from .data import SPECS
from .ensemble import Ensemble
from .methods import Batch, get_method
from .models import build_classifier
from .train import select_device

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


def bench_dverge_step(arch: str = "resnet20", members: int = 3, batch_size: int = 128,
                      layers: list[int] | None = None, repeats: int = 2, reference: bool = True,
                      device: str = "auto") -> dict:
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

    result: dict = {"arch": arch, "members": members, "batch_size": batch_size, "device": str(dev),
                    "threads": torch.get_num_threads()}
    ours_t, theirs_t = {}, {}
    for layer in layers:
        method.begin_epoch(1, ensemble, random.Random(0))
        method.layer = layer
        ours_t[str(layer)] = round(_time(ours, repeats), 4)
        if reference:
            theirs_t[str(layer)] = round(_time(theirs, repeats), 4)
    result.update(ours_t)
    result["mean"] = round(sum(ours_t.values()) / len(ours_t), 4)
    if reference:
        result["reference"] = theirs_t
        result["reference_mean"] = round(sum(theirs_t.values()) / len(theirs_t), 4)
        result["speedup"] = round(result["reference_mean"] / result["mean"], 2)
    return result
