"""Ensemble checkpoints: a directory of safetensors weights (one file per member) plus
``meta.json`` (method, hyperparameters, data set, architecture, epoch, seed, package
versions, per-epoch history, and the SHA-256 of every weight file).

Writes are atomic and crash-safe: weight files of epoch e get fresh names
(``member_0.e3.safetensors``), ``meta.json`` is replaced atomically last, and only then are
the previous epoch's files removed. Whatever instant a run dies, ``meta.json`` names files
that exist and match their hashes. Nothing is ever unpickled: weights load through
safetensors; optimizer state and foreign ``.pth`` files load only in torch's
weights-only mode (see ``load_weights_only``).
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .ensemble import Ensemble
from .models import build_classifier

FORMAT = "robust-ensembles/1"
META = "meta.json"
TRAIN_STATE = "train_state.pt"
_MEMBER_FILE = re.compile(r"member_(\d+)\.e(\d+)\.safetensors")


class CheckpointError(ValueError):
    """A file or directory is not a valid checkpoint (message says why and what to do)."""


# --------------------------------------------------------------------------- atomic writes

def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(Path(path), json.dumps(obj, indent=2, sort_keys=False).encode())


def _atomic_save(path: Path, writer) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    import numpy
    import safetensors

    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "numpy": numpy.__version__, "safetensors": safetensors.__version__}
    try:
        import torchvision

        versions["torchvision"] = torchvision.__version__
    except Exception:  # torchvision is optional for the engine core
        pass
    return versions


# --------------------------------------------------------------------------- save / load

def save_checkpoint(directory: Path, ensemble: Ensemble, meta: dict,
                    train_state: dict | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write an ensemble and its metadata into ``directory`` (see module docstring).
    ``dtype`` (e.g. float16, for shipped checkpoints) converts floating tensors on save;
    loading always restores the model's own dtype."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    epoch = int(meta.get("epoch") or 0)
    files = {}
    for i, member in enumerate(ensemble.members):
        name = f"member_{i}.e{epoch}.safetensors"
        state = {k: v.detach().cpu().contiguous() for k, v in member.state_dict().items()}
        if dtype is not None:
            state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        _atomic_save(directory / name, lambda tmp, s=state: save_file(s, tmp))
        files[name] = sha256_file(directory / name)
    if train_state is not None:
        _atomic_save(directory / TRAIN_STATE, lambda tmp: torch.save(train_state, tmp))
        files[TRAIN_STATE] = sha256_file(directory / TRAIN_STATE)
    full = dict(meta, format=FORMAT, members=len(ensemble), files=files,
                saved_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    full.setdefault("versions", package_versions())
    atomic_write_json(directory / META, full)
    for stale in directory.glob("member_*.safetensors"):
        if stale.name not in files:
            stale.unlink(missing_ok=True)
    return directory


def checkpoint_dir(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        return path
    if path.name == META:
        return path.parent
    if path.suffix in (".pth", ".pt"):
        raise CheckpointError(
            f"{path} is a raw PyTorch file, not an ensemble checkpoint directory. If it is a "
            "DVERGE release checkpoint, import it first: python -m engine import-checkpoint "
            f"{path} --format dverge --dataset cifar10 --arch resnet20 --out DIR")
    raise CheckpointError(f"{path} is not a checkpoint: expected a directory holding {META}")


def read_meta(path: str | os.PathLike) -> dict:
    """Metadata of a checkpoint directory, validated."""
    directory = checkpoint_dir(path)
    meta_path = directory / META
    if not meta_path.is_file():
        raise CheckpointError(f"{directory} has no {META}: not a checkpoint directory "
                              "(or a training run that has not finished its first epoch)")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{meta_path} is not valid JSON ({exc}); the checkpoint is damaged") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_path} is not a {FORMAT} checkpoint (format={meta.get('format') if isinstance(meta, dict) else None!r})")
    for key in ("arch", "dataset", "members", "channels", "num_classes", "mean", "std", "files"):
        if key not in meta:
            raise CheckpointError(f"{meta_path} lacks the field '{key}'")
    return meta


def content_hash(path: str | os.PathLike) -> str:
    """A hash identifying the checkpoint's weights and architecture (for result caches)."""
    meta = read_meta(path)
    h = hashlib.sha256()
    for key in ("arch", "dataset", "members", "leaky_relu", "num_classes"):
        h.update(f"{key}={meta.get(key)};".encode())
    for name in sorted(meta["files"]):
        if name != TRAIN_STATE:
            h.update(meta["files"][name].encode())
    return h.hexdigest()


def member_files(meta: dict) -> list[str]:
    names = sorted((n for n in meta["files"] if _MEMBER_FILE.fullmatch(n)),
                   key=lambda n: int(_MEMBER_FILE.fullmatch(n).group(1)))
    if len(names) != meta["members"]:
        raise CheckpointError(f"meta.json lists {len(names)} member files for {meta['members']} members")
    return names


def _verified(directory: Path, name: str, expected: str) -> Path:
    path = directory / name
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; the checkpoint is incomplete")
    if sha256_file(path) != expected:
        raise CheckpointError(f"{path} does not match the hash recorded in meta.json; "
                              "the file was modified or damaged")
    return path


def build_ensemble(meta: dict) -> Ensemble:
    return Ensemble(build_classifier(meta["arch"], channels=meta["channels"], num_classes=meta["num_classes"],
                                     mean=meta["mean"], std=meta["std"], leaky=bool(meta.get("leaky_relu")))
                    for _ in range(meta["members"]))


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[Ensemble, dict]:
    """(ensemble in eval mode, metadata) of a checkpoint directory."""
    directory = checkpoint_dir(path)
    meta = read_meta(directory)
    try:
        ensemble = build_ensemble(meta)
    except ValueError as exc:
        raise CheckpointError(f"{directory}: {exc}") from exc
    for member, name in zip(ensemble.members, member_files(meta)):
        file = _verified(directory, name, meta["files"][name])
        try:
            state = load_file(str(file))
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(f"{file} is not a readable safetensors file: {exc}") from exc
        _load_state(member, state, str(file))
    return ensemble.to(device).eval(), meta


def _load_state(module: torch.nn.Module, state: dict, origin: str) -> None:
    try:
        result = module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[:6]
        raise CheckpointError(f"{origin} does not fit the architecture: " + " ".join(first)) from exc
    del result


def package_checkpoint(src: str | os.PathLike, out: str | os.PathLike, *, half: bool = True,
                       extra: dict | None = None) -> Path:
    """A read-only copy for shipping: weights only (no optimizer state), optionally in
    float16 (half the size; LeNet-5 accuracy unchanged to 1e-3), with ``extra`` metadata
    (e.g. the recipe and measured metrics)."""
    ensemble, meta = load_checkpoint(src)
    if not meta.get("complete"):
        raise CheckpointError(f"{src} is an unfinished run; finish it (--resume) before packaging")
    meta = {k: v for k, v in meta.items() if k not in ("files", "saved_at")}
    meta["packaged"] = dict(extra or {}, dtype="float16" if half else "float32")
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    return save_checkpoint(out, ensemble, meta, dtype=torch.float16 if half else None)


def load_train_state(directory: Path) -> dict | None:
    """Optimizer/scheduler/RNG state of a run, for ``--resume`` (weights_only load)."""
    meta = read_meta(directory)
    if TRAIN_STATE not in meta["files"]:
        return None
    path = _verified(Path(directory), TRAIN_STATE, meta["files"][TRAIN_STATE])
    return load_weights_only(path)


def load_weights_only(path: str | os.PathLike) -> Any:
    """``torch.load`` that refuses anything but tensors and plain containers."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError,
            TypeError, ImportError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(
            f"{path} could not be loaded as a weights-only PyTorch file ({reason}). It is "
            "damaged, not a PyTorch checkpoint, or contains objects other than tensors "
            "(which are refused for safety).") from exc


# --------------------------------------------------------------------------- import

def _import_dverge(raw: Any, path: Path, spec, arch: str) -> tuple[Ensemble, dict]:
    """The DVERGE reference code's format: {"model0": state_dict, "model1": ...}, each
    state_dict of a wrapper with ``normalizer.mean/std`` and ``model.*``."""
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: expected a dict of members, found {type(raw).__name__}")
    keys = sorted((k for k in raw if re.fullmatch(r"model\d+", str(k))), key=lambda k: int(k[5:]))
    if not keys or keys != [f"model{i}" for i in range(len(keys))]:
        raise CheckpointError(f"{path}: not the DVERGE format (expected keys model0, model1, ...; "
                              f"found {sorted(map(str, raw))[:6]})")
    members = []
    mean = std = None
    for key in keys:
        state = raw[key]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"{path}: '{key}' is not a state dict of tensors")
        if "normalizer.mean" not in state or "normalizer.std" not in state:
            raise CheckpointError(f"{path}: '{key}' has no normalizer.mean/std")
        mean = [float(v) for v in state["normalizer.mean"].flatten()]
        std = [float(v) for v in state["normalizer.std"].flatten()]
        if len(mean) != spec.channels:
            raise CheckpointError(f"{path}: '{key}' normalizes {len(mean)} channels but {spec.name} has {spec.channels}")
        member = build_classifier(arch, channels=spec.channels, num_classes=spec.num_classes, mean=mean, std=std)
        _load_state(member, {k: v.reshape(member.state_dict()[k].shape) if k.startswith("normalizer.") else v
                             for k, v in state.items()}, f"{path} [{key}]")
        members.append(member)
    return Ensemble(members), {"mean": mean, "std": std}


IMPORTERS = {"dverge": _import_dverge}


def import_checkpoint(path: str | os.PathLike, *, fmt: str, dataset: str, arch: str,
                      out: str | os.PathLike, method: str = "baseline") -> Path:
    """Convert a foreign checkpoint into this project's format in ``out``."""
    from .data import get_spec

    if fmt not in IMPORTERS:
        raise CheckpointError(f"Unknown format '{fmt}'. Known: {', '.join(IMPORTERS)}")
    path = Path(path)
    raw = load_weights_only(path)
    spec = get_spec(dataset)
    ensemble, extra = IMPORTERS[fmt](raw, path, spec, arch)
    match = re.search(r"epoch(\d+)", path.name)
    meta = {"method": method, "method_params": {}, "dataset": dataset, "arch": arch,
            "channels": spec.channels, "num_classes": spec.num_classes, "leaky_relu": False,
            "mean": extra["mean"], "std": extra["std"], "epoch": int(match.group(1)) if match else None,
            "epochs": int(match.group(1)) if match else None, "seed": None, "history": [],
            "source": {"imported_from": str(path.resolve()), "format": fmt, "sha256": sha256_file(path)},
            "complete": True}
    return save_checkpoint(Path(out), ensemble, meta)
