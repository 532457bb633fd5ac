"""Which device computations run on (CUDA when present, otherwise CPU) and how work gets there.

Everything that picks a device (training, analyses, benchmarks) goes through
:func:`select_device`, so ``--device auto|cpu|cuda`` means the same everywhere;
:func:`to_device` (batch copies) and :func:`bf16_autocast` (mixed precision) live here
too, so nothing but the training loop needs to import ``engine.train`` for them.
"""
from __future__ import annotations

import torch


class DeviceError(RuntimeError):
    """A device was requested that this machine does not have."""


def select_device(name: str | torch.device = "auto") -> torch.device:
    """CUDA when present (``auto``), otherwise CPU; ``cuda`` without a GPU is an error."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"--device {name} was requested but no CUDA device is available; "
                          "use --device auto or cpu")
    return torch.device(name)


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host -> device copy of a batch: from pinned (page-locked) memory and non-blocking on
    CUDA, so the copy overlaps the host's work queueing the previous step; a plain
    ``.to`` elsewhere (pinning needs a CUDA driver)."""
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def bf16_autocast(device: torch.device, enabled: bool):
    """bf16 mixed precision on ``device`` (CUDA, or CPU where it runs too: how the tests
    check it against fp32). bf16 keeps fp32's exponent range, so no loss scaling is needed."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)
