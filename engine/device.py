"""Which device computations run on: CUDA when present, otherwise CPU.

Everything that picks a device (training, analyses, benchmarks) goes through
:func:`select_device`, so ``--device auto|cpu|cuda`` means the same everywhere.
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

