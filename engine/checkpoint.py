"""Ensemble checkpoints: a directory of safetensors weights (one file per member) plus
``meta.json`` (method, hyperparameters, data set, architecture, epoch, seed, package
versions, per-epoch history, and the SHA-256 of every file it names).

Crash safety (a kill at any instant leaves the last complete epoch loadable and
resumable): every file of epoch e is written under a fresh, versioned name
(``member_0.e3.safetensors``, ``train_state.e3.pt``; a second save of the same epoch
adds a generation, ``member_0.e3.1.safetensors``), each through
:func:`engine.atomic.atomic_write` (temp file, fsync, rename, fsync of the directory).
Files the published ``meta.json`` names are never overwritten. ``meta.json`` is replaced
atomically *last*: that rename is the commit point. Only after it are the previous
epoch's files and stale temporary files removed. So whatever instant a run dies,
``meta.json`` names files that exist and match their hashes. ``meta.json`` itself is
untrusted input, validated by :mod:`engine.checkpoint_meta` before anything is built.

Nothing is ever unpickled: weights load through safetensors; optimizer state and foreign
``.pth`` files load only in torch's weights-only mode (see ``load_weights_only``).
"""
from __future__ import annotations

import hashlib
import math
import os
import pickle
import platform
import re
import time
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .atomic import (atomic_write, atomic_write_bytes, atomic_write_json, clean_stale_temps, is_temp,  # noqa: F401
                     why_unwritable)
from .checkpoint_meta import (FORMAT, MEMBER_FILE, TRAIN_STATE_FILE, MetaError, member_file_names,
                              parse_meta, validate_meta)
from .ensemble import Ensemble
from .hashing import sha256_file
from .models import build_classifier
from .registry import Registry, UnknownName

META = "meta.json"
MAX_META_READ = 32 * 2**20
TRAIN_STATE = "train_state.pt"  # the name older versions used (still loaded)
_MEMBER_FILE = MEMBER_FILE


class CheckpointError(ValueError):
    """A file or directory is not a valid checkpoint (message says why and what to do)."""


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

def _fresh_name(directory: Path, stem: str, suffix: str) -> str:
    """``stem + suffix``, or ``stem.<g> + suffix`` with the first generation g whose file
    does not exist: a save never overwrites a file the published meta.json may name."""
    name, generation = f"{stem}{suffix}", 0
    while (directory / name).exists():
        generation += 1
        name = f"{stem}.{generation}{suffix}"
    return name


def is_checkpoint_file(name: str) -> bool:
    """Whether a file name is one a checkpoint save writes (weights, train state, meta.json)."""
    return name == META or bool(MEMBER_FILE.fullmatch(name) or TRAIN_STATE_FILE.fullmatch(name))


def save_checkpoint(directory: Path, ensemble: Ensemble, meta: dict,
                    train_state: dict | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write an ensemble and its metadata into ``directory`` (crash-safe: see the module
    docstring). ``dtype`` (e.g. float16, for shipped checkpoints) converts floating tensors
    on save; loading always restores the model's own dtype."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    epoch = int(meta.get("epoch") or 0)
    files = {}
    for i, member in enumerate(ensemble.members):
        name = _fresh_name(directory, f"member_{i}.e{epoch}", ".safetensors")
        state = {k: v.detach().cpu().contiguous() for k, v in member.state_dict().items()}
        if dtype is not None:
            state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        atomic_write(directory / name, lambda tmp, s=state: save_file(s, tmp))
        files[name] = sha256_file(directory / name)
    if train_state is not None:
        name = _fresh_name(directory, f"train_state.e{epoch}", ".pt")
        atomic_write(directory / name, lambda tmp: torch.save(train_state, tmp))
        files[name] = sha256_file(directory / name)
    full = dict(meta, format=FORMAT, members=len(ensemble), files=files,
                saved_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    full.setdefault("versions", package_versions())
    try:
        validate_meta(full, f"{directory / META} (about to be written)")
    except MetaError as exc:
        raise CheckpointError(str(exc)) from None
    atomic_write_json(directory / META, full)  # the commit point
    for old in directory.iterdir():
        if old.is_file() and old.name != META and is_checkpoint_file(old.name) and old.name not in files:
            old.unlink(missing_ok=True)
    clean_stale_temps(directory)
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
    """Metadata of a checkpoint directory, validated against the one schema
    (:mod:`engine.checkpoint_meta`) before anything else reads it."""
    directory = checkpoint_dir(path)
    meta_path = directory / META
    if not meta_path.is_file():
        raise CheckpointError(f"{directory} has no {META}: not a checkpoint directory "
                              "(or a training run that has not finished its first epoch)")
    try:
        with open(meta_path, "rb") as fh:
            raw = fh.read(MAX_META_READ + 1)
    except OSError as exc:
        raise CheckpointError(f"{meta_path} cannot be read ({exc.strerror or exc})") from None
    try:
        return parse_meta(raw, str(meta_path))
    except MetaError as exc:
        raise CheckpointError(str(exc)) from None


def content_hash(path: str | os.PathLike) -> str:
    """A hash identifying the checkpoint's architecture and the *actual bytes* of its
    weight files (for result caches): every member file is hashed and must match
    ``meta.json``, so a modified or deleted file is reported and never served a result
    cached for the original."""
    directory = checkpoint_dir(path)
    meta = read_meta(directory)
    h = hashlib.sha256()
    for key in ("arch", "dataset", "members", "leaky_relu", "num_classes", "channels", "mean", "std"):
        h.update(f"{key}={meta.get(key)};".encode())
    for name in member_files(meta):
        _verified(directory, name, meta["files"][name])
        h.update(meta["files"][name].encode())
    return h.hexdigest()


def member_files(meta: dict) -> list[str]:
    names = [name for _, name in member_file_names(meta["files"])]
    if len(names) != meta["members"]:
        raise CheckpointError(f"meta.json lists {len(names)} member files for {meta['members']} members")
    return names


def _verified(directory: Path, name: str, expected: str) -> Path:
    path = directory / name
    if not path.is_file():
        if path.exists():
            raise CheckpointError(f"{path} is not a regular file; the checkpoint is damaged")
        raise CheckpointError(f"{path} is missing; the checkpoint is incomplete")
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read ({exc.strerror or exc})") from None
    if actual != expected:
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
                       extra: dict | None = None, force: bool = False) -> Path:
    """A read-only copy for shipping: weights only (no optimizer state), optionally in
    float16 (half the size; LeNet-5 accuracy unchanged to 1e-3), with ``extra`` metadata
    (e.g. the recipe and measured metrics). ``out`` must be new, empty or an earlier
    packaged copy (:func:`check_output_dir`)."""
    check_output_dir(out, kind="packaged", force=force)
    ensemble, meta = load_checkpoint(src)
    if not meta.get("complete"):
        raise CheckpointError(f"{src} is an unfinished run; finish it (--resume) before packaging")
    meta = {k: v for k, v in meta.items() if k not in ("files", "saved_at")}
    meta["packaged"] = dict(extra or {}, dtype="float16" if half else "float32")
    out = check_output_dir(out, kind="packaged", force=force)
    if out.resolve() == checkpoint_dir(src).resolve():
        raise CheckpointError(f"--out {out} is the checkpoint being packaged; choose another directory")
    return save_checkpoint(out, ensemble, meta, dtype=torch.float16 if half else None)


# --------------------------------------------------------------------------- output directories

def checkpoint_kind(meta: dict) -> str:
    """``packaged`` (a shipping copy), ``imported`` (a converted foreign file) or ``run``
    (a training run): commands only replace their own kind (see :func:`check_output_dir`)."""
    if meta.get("packaged"):
        return "packaged"
    if isinstance(meta.get("source"), dict) and meta["source"].get("imported_from"):
        return "imported"
    return "run"


def check_writable(out: Path, flag: str = "--out") -> None:
    """Refuse an output path that is a file or cannot be written, before any work."""
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"{flag} {out} is a file, not a directory; choose a directory path")
    why = why_unwritable(out)
    if why:
        raise CheckpointError(f"{flag} {out} {why}")


def check_output_dir(out: str | os.PathLike, *, kind: str, force: bool = False) -> Path:
    """The output directory of a command that writes a checkpoint of ``kind``, checked
    before any work: it must be new, empty, or hold only a checkpoint of the same kind
    (replaced; ``force`` also allows replacing another kind). A directory holding any
    other file is never written into, so nothing the user owns is deleted or replaced."""
    out = Path(out)
    check_writable(out)
    if not out.is_dir():
        return out
    entries = list(out.iterdir())
    foreign = sorted(p.name for p in entries if not (p.is_file() and (is_checkpoint_file(p.name) or is_temp(p.name))))
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise CheckpointError(f"--out {out} is not empty and holds files that are not this command's output "
                              f"({shown}); refusing to write there: choose a new or empty directory")
    if not (out / META).is_file():
        return out  # empty, or the leftovers of a save killed before its first meta.json
    try:
        existing = checkpoint_kind(read_meta(out))
    except CheckpointError as exc:
        raise CheckpointError(f"--out {out} holds a damaged checkpoint ({exc}); delete it or choose "
                              "another directory") from None
    if existing != kind and not force:
        raise CheckpointError(f"--out {out} already holds a {'trained' if existing == 'run' else existing} "
                              f"checkpoint; refusing to replace it with a {kind} one: choose another --out "
                              "(or pass --force to replace it)")
    if not os.access(out, os.W_OK | os.X_OK):
        raise CheckpointError(f"--out {out} cannot be written: no write permission")
    return out


def train_state_file(meta: dict) -> str | None:
    """The train-state file ``meta.json`` names (None for weights-only checkpoints)."""
    names = [n for n in meta["files"] if TRAIN_STATE_FILE.fullmatch(n)]
    if len(names) > 1:
        raise CheckpointError(f"meta.json names {len(names)} train-state files; the checkpoint is damaged")
    return names[0] if names else None


def load_train_state(directory: Path) -> dict | None:
    """Optimizer/scheduler/RNG state of a run, for ``--resume`` (weights_only load)."""
    meta = read_meta(directory)
    name = train_state_file(meta)
    if name is None:
        return None
    path = _verified(Path(directory), name, meta["files"][name])
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

class UnknownFormat(UnknownName, CheckpointError):
    """A checkpoint format no importer reads (a :class:`CheckpointError` too)."""


#: Importers of foreign checkpoint formats: ``(raw, path, spec, arch) -> (ensemble, extra)``,
#: ``raw`` the weights-only loaded file; each registers itself with ``@register_importer``.
IMPORTERS: Registry[Callable[..., tuple[Ensemble, dict]]] = Registry("checkpoint format", error=UnknownFormat)
register_importer = IMPORTERS.register


@register_importer("dverge")
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
        if len(mean) != spec.channels or len(std) != spec.channels:
            raise CheckpointError(f"{path}: '{key}' normalizes with {len(mean)} mean and {len(std)} std values but "
                                  f"{spec.name} has {spec.channels} channels")
        if not all(math.isfinite(v) for v in mean + std) or not all(v > 0 for v in std):
            raise CheckpointError(f"{path}: '{key}' has a non-finite mean/std or a std that is not positive")
        member = build_classifier(arch, channels=spec.channels, num_classes=spec.num_classes, mean=mean, std=std)
        _load_state(member, {k: v.reshape(member.state_dict()[k].shape) if k.startswith("normalizer.") else v
                             for k, v in state.items()}, f"{path} [{key}]")
        members.append(member)
    return Ensemble(members), {"mean": mean, "std": std}


def import_checkpoint(path: str | os.PathLike, *, fmt: str, dataset: str, arch: str,
                      out: str | os.PathLike, method: str = "baseline", force: bool = False) -> Path:
    """Convert a foreign checkpoint into this project's format in ``out`` (new, empty or
    an earlier import: :func:`check_output_dir`)."""
    from .checkpoint_meta import known_arch
    from .data import get_spec

    importer = IMPORTERS.get(fmt)
    try:
        known_arch(arch)
        spec = get_spec(dataset)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    check_output_dir(out, kind="imported", force=force)
    path = Path(path)
    raw = load_weights_only(path)
    ensemble, extra = importer(raw, path, spec, arch)
    match = re.search(r"epoch(\d+)", path.name)
    meta = {"method": method, "method_params": {}, "dataset": dataset, "arch": arch,
            "channels": spec.channels, "num_classes": spec.num_classes, "leaky_relu": False,
            "mean": extra["mean"], "std": extra["std"], "epoch": int(match.group(1)) if match else None,
            "epochs": int(match.group(1)) if match else None, "seed": None, "history": [],
            "source": {"imported_from": str(path.resolve()), "format": fmt, "sha256": sha256_file(path)},
            "complete": True}
    return save_checkpoint(Path(out), ensemble, meta)
