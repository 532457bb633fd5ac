"""DVERGE feature distillation, Eq. (1) of Yang et al. 2020:

    x'_{f_i^l}(x, x_s) = argmin_z || f_i^l(z) - f_i^l(x) ||_2^2   s.t. ||z - x_s||_∞ <= ε

solved with PGD with momentum (Dong et al. 2018; DVERGE 4.1): the gradient is
L1-normalized per sample, accumulated with momentum μ and followed by its sign; 10 steps
of ε/10 from the source image. The target features are computed once (they do not depend
on z) and only the input gradient is computed (parameters frozen), and the forward pass
stops at layer l.

:func:`distill_members` is what DVERGE's training step runs: every member's distillation
at once, on inference copies of the members (frozen, eval mode, BatchNorm folded into the
convolutions, channels-last on CPU), split into independent (member, sample chunk) tasks
on single-threaded worker threads (:mod:`engine.parallel`). Each sample's distillation
depends on that sample only (eval-mode BatchNorm, per-sample L1 normalization), so the
split changes nothing but speed; ``tests/engine/attacks/test_distill.py`` compares it
with the plain per-member loop. On CUDA all members run in one PGD loop over their
concatenated images instead (:func:`distill_together`; tested on CPU against the same loop). ``python -m engine bench dverge-step`` measures it.

It runs in fp32 even inside bf16 autocast: every step follows the *sign* of the
gradient, which turns bf16 rounding into flipped steps (measured on a fixed batch of 3
LeNet-5 members: cosine 0.987 between the bf16 and fp32 training gradients with bf16
distillation; tests/engine/test_train_device.py checks > 0.99 with this fp32 one).
"""
from __future__ import annotations

import copy
import math

import torch

from ..ensemble import attack_mode, layer_output
from ..models import Classifier, inference_copy
from ..parallel import cpu_workers, run_tasks, split


def distill(model: Classifier, layer: int, target: torch.Tensor, source: torch.Tensor, *,
            eps: float, steps: int = 10, step_size: float | None = None,
            momentum: float = 1.0) -> torch.Tensor:
    """Images within ε of ``source`` whose layer-``layer`` features match ``target``'s."""
    step_size = eps / steps if step_size is None else step_size
    with attack_mode(model), torch.autocast(source.device.type, enabled=False):
        with torch.no_grad():
            goal = layer_output(model, layer, target)
        z = source.detach().clone()
        velocity = torch.zeros_like(z)
        for _ in range(steps):
            z.requires_grad_(True)
            loss = (layer_output(model, layer, z) - goal).pow(2).sum()
            (grad,) = torch.autograd.grad(loss, z)
            norm = grad.abs().flatten(1).sum(1).clamp_min(1e-12).view(-1, *([1] * (z.dim() - 1)))
            velocity = momentum * velocity + grad / norm
            z = z.detach() - step_size * velocity.sign()
            z = torch.min(torch.max(z, source - eps), source + eps).clamp(0, 1)
    return z.detach()


def distill_together(models: list[Classifier], layer: int, target: torch.Tensor, source: torch.Tensor, *,
                     eps: float, steps: int = 10, step_size: float | None = None,
                     momentum: float = 1.0) -> list[torch.Tensor]:
    """:func:`distill` for every model in one PGD loop (the CUDA path): the K members'
    images are one ``[K*B, ...]`` tensor, member k's forward runs on its slice, and one
    backward of the summed Eq. 1 losses gives every slice its own member's gradient (the
    other terms do not depend on it). The per-sample L1 normalization, momentum and sign
    step are per sample, so the result is that of K separate :func:`distill` calls, with
    one autograd call per step instead of K and no host round trip between members."""
    step_size = eps / steps if step_size is None else step_size
    k, b = len(models), source.shape[0]
    with torch.autocast(source.device.type, enabled=False):
        with torch.no_grad():
            goals = [layer_output(m, layer, target) for m in models]
        origin = source.detach().repeat(k, *([1] * (source.dim() - 1)))
        z = origin.clone()
        velocity = torch.zeros_like(z)
        for _ in range(steps):
            z.requires_grad_(True)
            loss = sum((layer_output(m, layer, z[i * b:(i + 1) * b]) - goals[i]).pow(2).sum()
                       for i, m in enumerate(models))
            (grad,) = torch.autograd.grad(loss, z)
            norm = grad.abs().flatten(1).sum(1).clamp_min(1e-12).view(-1, *([1] * (z.dim() - 1)))
            velocity = momentum * velocity + grad / norm
            z = z.detach() - step_size * velocity.sign()
            z = torch.min(torch.max(z, origin - eps), origin + eps).clamp(0, 1)
    return list(z.detach().split(b))


def fast_copy(model: Classifier, device) -> Classifier:
    """The inference copy a distillation runs on: frozen, eval mode, BatchNorm folded into
    the convolutions (the same function up to float rounding) and, on CPU, channels-last
    (oneDNN's native layout: no reorder around every convolution)."""
    clone = inference_copy(model)
    if torch.device(device).type == "cpu":
        clone = clone.to(memory_format=torch.channels_last)
    return clone


def distill_members(models: list[Classifier], layer: int, target: torch.Tensor, source: torch.Tensor, *,
                    eps: float, steps: int = 10, step_size: float | None = None, momentum: float = 1.0,
                    workers: int | None = None, together: bool | None = None) -> list[torch.Tensor]:
    """:func:`distill` for every model (same ``target`` and ``source``): X'_j per member j
    (DVERGE Algorithm 1, lines 12-13), computed on :func:`fast_copy` copies as
    (member, sample chunk) tasks on ``workers`` threads (default
    :func:`engine.parallel.cpu_workers`), or, with ``together`` (default on CUDA: the
    thread fan-out is for CPUs), all members in one loop (:func:`distill_together`). The models themselves are left untouched (their
    train/eval flags and gradients included)."""
    device = source.device
    if together is None:
        together = device.type == "cuda"
    if together:
        copies = [fast_copy(m, device) for m in models]
        with attack_mode(*copies):
            return distill_together(copies, layer, target, source, eps=eps, steps=steps, step_size=step_size,
                                    momentum=momentum)
    workers = cpu_workers(device) if workers is None else max(1, workers)
    channels_last = device.type == "cpu" and source.dim() == 4
    if channels_last:
        target = target.contiguous(memory_format=torch.channels_last)
        source = source.contiguous(memory_format=torch.channels_last)
    # enough chunks per member that the tasks divide evenly among the workers
    chunks = workers // math.gcd(len(models), workers)
    tasks = [(j, a, b) for j in range(len(models)) for a, b in split(source.shape[0], chunks)]
    # one copy per task: concurrent tasks must not share a module (layer_output hooks it)
    first = [fast_copy(m, device) for m in models]
    copies = {t: first[t[0]] if t[1] == 0 else copy.deepcopy(first[t[0]]) for t in tasks}

    def task(t):
        j, a, b = t
        return distill(copies[t], layer, target[a:b], source[a:b], eps=eps, steps=steps, step_size=step_size,
                       momentum=momentum)

    parts: list[list[torch.Tensor]] = [[] for _ in models]
    for (j, _, _), z in zip(tasks, run_tasks(task, tasks, workers)):
        parts[j].append(z)
    return [torch.cat(p).contiguous() for p in parts]
