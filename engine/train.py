"""The one training loop for every method.

Per epoch: the method's per-epoch choice (DVERGE's random layer), one optimizer step per
batch on the method's loss, the learning-rate schedule (÷10 at 50% and 75% of the
epochs, DVERGE appendix A), a cheap evaluation (clean accuracy and a within-ensemble
transferability estimate, so DVERGE Fig. 2 can be drawn from the history) and an atomic
checkpoint with everything needed to resume.
"""
from __future__ import annotations

import contextlib
import fcntl
import math
import os
import random
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import checkpoint as ckpt
from . import data
from .config import TrainConfig, make_config
from .device import bf16_autocast, select_device, to_device  # noqa: F401 - re-exported: engine.train.to_device stays importable
from .ensemble import Ensemble
from .evaluation.accuracy import clean_accuracy
from .evaluation.diversity import diversity_metrics
from .evaluation.transferability import correct_samples, transfer_matrix
from .methods import Batch, get_method
from .models import build_classifier
from .train_eta import method_cost_ratio, pretrain_relay


class TrainingError(RuntimeError):
    """A run cannot start or continue (message says why and what to do)."""


@dataclass
class Progress:
    """One progress report: the CLI renders it with tqdm, the app polls the job store."""

    phase: str  # "pretrain" or "train"
    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based within the epoch
    batches: int
    losses: dict = field(default_factory=dict)
    eta_seconds: float | None = None  # this phase's time left
    history: dict | None = None  # set on the last report of an epoch
    # the whole job's time left (pre-training + the method's epochs; engine/train_eta.py);
    # None while it cannot be estimated
    job_eta_seconds: float | None = None


ProgressFn = Callable[[Progress], None]


#: on a GPU, the loop reads its loss sums (a host-device sync) at most this often
REPORT_SECONDS = 0.5


class _LossSums:
    """Per-epoch loss sums kept on the device (see :func:`train`): the total, per member and
    per named term; plain numbers (e.g. DVERGE's layer) are kept as they are."""

    def __init__(self, members: int, device: torch.device):
        self.total = torch.zeros((), device=device)
        self.members = torch.zeros(members, device=device)
        self.terms: dict[str, torch.Tensor | float] = {}
        self.bad = torch.zeros((), dtype=torch.bool, device=device)
        self.device = device

    def add(self, losses) -> None:
        total = losses.total.detach().float()
        self.bad |= ~torch.isfinite(total)
        self.total += total
        self.members += torch.as_tensor(losses.members, dtype=torch.float32, device=self.device)
        for k, v in losses.terms.items():
            if k != "layer":
                v = v.detach().float() if isinstance(v, torch.Tensor) else float(v)
                self.terms[k] = self.terms.get(k, 0.0) + v

    def finite(self) -> bool:
        return not bool(self.bad)

    def first_bad(self) -> float:
        return float("nan") if bool(torch.isnan(self.total)) else float(self.total)

    @staticmethod
    def report(losses) -> dict:
        """The last batch's losses as plain numbers (what progress reports show)."""
        return {"total": float(losses.total.detach()), "members": [float(v) for v in losses.members],
                **{k: float(v) for k, v in losses.terms.items()}}

    def means(self, n: int) -> dict:
        return {"loss": float(self.total) / n, "member_loss": [float(v) / n for v in self.members.tolist()],
                **{k: float(v) / n for k, v in self.terms.items()}}


def lr_milestones(epochs: int) -> list[int]:
    return sorted({m for m in (round(0.5 * epochs), round(0.75 * epochs)) if 0 < m < epochs})


def _optimizer(method, params, lr: float | None):
    recipe = method.optimizer
    lr = lr if lr is not None else recipe.lr
    if recipe.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=recipe.weight_decay)


def _same_run(meta: dict, config: TrainConfig) -> list[str]:
    old = meta.get("config", {})
    keys = ("method", "dataset", "arch", "members", "seed", "batch_size", "method_params", "train_subset")
    return [k for k in keys if old.get(k) != getattr(config, k)]


def _fresh_ensemble(config: TrainConfig, spec: data.DataSpec, leaky: bool) -> Ensemble:
    return Ensemble(build_classifier(config.arch, channels=spec.channels, num_classes=spec.num_classes,
                                     mean=spec.mean, std=spec.std, leaky=leaky) for _ in range(config.members))


def _initial_ensemble(config, spec, method_cls, out: Path, progress, device, method_batches: int = 0,
                      train_size: int = 0) -> tuple[Ensemble, str | None]:
    if config.init_from:
        source, meta = ckpt.load_checkpoint(config.init_from)
        problems = [f"{k}: {meta.get(k)} != {getattr(config, k)}" for k in ("arch", "dataset", "members")
                    if meta.get(k) != getattr(config, k)]
        if problems:
            raise TrainingError(f"--from {config.init_from} does not match this run ({'; '.join(problems)})")
        ensemble = _fresh_ensemble(config, spec, method_cls.leaky_relu)
        ensemble.load_state_dict(source.state_dict())
        return ensemble, str(Path(config.init_from).resolve())
    if method_cls.starts_from_baseline and config.pretrain_epochs > 0:
        # The same run as `train --method baseline` with this preset and seed would do.
        pre = make_config("baseline", config.preset, dataset=config.dataset, arch=config.arch,
                          members=config.members, epochs=config.pretrain_epochs, batch_size=config.batch_size,
                          seed=config.seed, device=config.device, bf16=config.bf16, data_dir=config.data_dir,
                          history_samples=config.history_samples, history_eps=config.history_eps,
                          eval_samples=config.eval_samples)
        pre_dir = out / "pretrain"
        relay = None
        if progress:
            ratio = method_cost_ratio(config.method, config.arch, config.dataset, train_size)
            relay = pretrain_relay(progress, config.epochs * method_batches, ratio)
        train(pre, pre_dir, resume=True, progress=relay, device=device)
        source, _ = ckpt.load_checkpoint(pre_dir)
        ensemble = _fresh_ensemble(config, spec, method_cls.leaky_relu)
        ensemble.load_state_dict(source.state_dict())
        return ensemble, str(pre_dir.resolve())
    return _fresh_ensemble(config, spec, method_cls.leaky_relu), None


def _evaluate(ensemble: Ensemble, test: data.ImageData, config: TrainConfig, spec, device) -> dict:
    """Per-epoch history: clean accuracy, and on ``history_samples`` test images all members
    classify correctly the within-ensemble transferability (DVERGE Fig. 2) and the cheap
    diversity metrics: DVERGE Eq. 2 at the data set's distillation ε (random layer per
    sample), ADP's log-det, GAL's gradient and SMD's saliency cosines (pair means). On 100
    samples of the quick preset they add about 1 s of CPU per epoch. Every random draw
    uses a seeded local generator (the transfer estimate re-seeds the global one itself),
    so resumed runs stay bit-identical."""
    subset = test.subset(config.eval_samples, seed=1234)
    result = clean_accuracy(ensemble, subset.images(), subset.y, device=device)
    if config.history_samples and len(ensemble) > 1:
        eps = config.history_eps or spec.attack_eps
        x, y = correct_samples(ensemble, test, config.history_samples, seed=4321, device=device)
        if len(y):
            t = transfer_matrix(ensemble, x, y, eps=eps, steps=10, restarts=1, device=device, seed=4321)
            result.update(transferability=t["off_diagonal_mean"], transfer_matrix=t["matrix"],
                          transfer_eps=eps, transfer_samples=int(len(y)))
            start = time.time()
            d = diversity_metrics(ensemble, x, y, eps=spec.distill_eps, steps=10, seed=4321)
            result.update(vulnerability_diversity=d["vulnerability"]["mean"], diversity_matrix=d["vulnerability"]["matrix"],
                          diversity_eps=spec.distill_eps, adp_logdet=d["adp_logdet"]["ensemble"],
                          gradient_cosine=d["gradient_cosine"]["mean"], saliency_cosine=d["saliency_cosine"]["mean"],
                          diversity_seconds=round(time.time() - start, 2))
    return result


LOCK = ".lock"
_RUN_ENTRIES = {"pretrain", LOCK}


def check_run_dir(out: Path, resume: bool) -> None:
    """Refuse, before any work, an ``--out`` that is a file, cannot be written, holds
    files that are not this run's, or holds a checkpoint without ``--resume``."""
    try:
        ckpt.check_writable(out)
    except ckpt.CheckpointError as exc:
        raise TrainingError(str(exc)) from None
    if not out.is_dir():
        return
    foreign = sorted(p.name for p in out.iterdir()
                     if p.name not in _RUN_ENTRIES and not (p.is_file() and (ckpt.is_checkpoint_file(p.name)
                                                                              or ckpt.is_temp(p.name))))
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise TrainingError(f"--out {out} holds files that are not a training run's ({shown}); refusing to write "
                            "there: choose a new or empty directory")
    if (out / ckpt.META).is_file() and not resume:
        raise TrainingError(f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out")
    if not os.access(out, os.W_OK | os.X_OK):
        raise TrainingError(f"--out {out} cannot be written: no write permission")


def check_method(config: TrainConfig, spec: data.DataSpec | None = None):
    """The run's method object, its hyperparameters checked against the architecture
    (``Method.check``) before any work; ``spec`` defaults to the standard data set's (a
    ``folder:`` set is then checked when the run starts, still before its first batch)."""
    spec = spec or data.SPECS.get(config.dataset)
    if spec is None:
        return None
    method_cls = get_method(config.method)
    method = method_cls(config.params(), spec)
    try:
        method.check(build_classifier(config.arch, channels=spec.channels, num_classes=spec.num_classes,
                                      mean=spec.mean, std=spec.std, leaky=method_cls.leaky_relu))
    except ValueError as exc:
        raise TrainingError(f"invalid hyperparameters for {config.method}: {exc}") from None
    return method


@contextlib.contextmanager
def run_lock(out: Path):
    """One writer per run directory: a second ``train`` (or job) on the same ``--out``
    while one is running is refused instead of interleaving two runs' files."""
    out.mkdir(parents=True, exist_ok=True)
    fh = open(out / LOCK, "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TrainingError(f"{out} is being written by another training run; wait for it to finish "
                                "or choose another --out") from None
        yield
    finally:
        fh.close()


def train(config: TrainConfig, out: str | Path, *, resume: bool = False, progress: ProgressFn | None = None,
          device: torch.device | None = None, command: str | None = None) -> Path:
    """Train (or resume) the run described by ``config`` into the checkpoint dir ``out``.
    Everything that can be checked is checked before the first batch (output directory,
    hyperparameters against the architecture, data)."""
    out = Path(out)
    check_run_dir(out, resume)
    device = device or select_device(config.device)
    method_cls = get_method(config.method)
    spec = data.get_spec(config.dataset, config.data_dir)
    method = check_method(config, spec)
    if (out / ckpt.META).is_file():
        mismatch = _same_run(ckpt.read_meta(out), config)
        if mismatch:
            raise TrainingError(f"{out} holds a different run (differs in: {', '.join(mismatch)}); "
                                "choose another --out to start a new one")
    full_train = data.load_split(config.dataset, "train", config.data_dir)
    train_data = full_train.subset(config.train_subset, config.seed)
    test_data = data.load_split(config.dataset, "test", config.data_dir)
    method.epochs = config.epochs
    with run_lock(out):
        return _train(config, out, resume, progress, device, command, method_cls, spec, method,
                      train_data, test_data, len(full_train))


def _train(config, out, resume, progress, device, command, method_cls, spec, method, train_data, test_data,
           train_size: int) -> Path:
    existing = (out / ckpt.META).is_file()
    if existing and not resume:
        raise TrainingError(f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out")
    state = None
    if existing:
        meta = ckpt.read_meta(out)
        mismatch = _same_run(meta, config)
        if mismatch:
            raise TrainingError(f"{out} holds a different run (differs in: {', '.join(mismatch)}); "
                                "choose another --out to start a new one")
        ensemble, _ = ckpt.load_checkpoint(out)
        state = ckpt.load_train_state(out)
        history, start_epoch, init_from = meta.get("history", []), int(meta["epoch"]), meta.get("init_from")
        if start_epoch >= config.epochs:
            return out
    else:
        random.seed(config.seed)
        torch.manual_seed(config.seed)
        ensemble, init_from = _initial_ensemble(config, spec, method_cls, out, progress, device,
                                                method_batches=data.num_batches(train_data, config.batch_size,
                                                                                drop_last=True),
                                                train_size=train_size)
        history, start_epoch = [], 0

    ensemble.to(device)
    optimizer = _optimizer(method, ensemble.parameters(), config.lr)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, lr_milestones(config.epochs), 0.1)
    rng = random.Random(config.seed)
    batch_gen = torch.Generator().manual_seed(config.seed)
    source_gen = torch.Generator().manual_seed(config.seed + 1)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rng.setstate(_to_random_state(state["python_rng"]))
        batch_gen.set_state(state["batch_gen"])
        source_gen.set_state(state["source_gen"])
        torch.set_rng_state(state["torch_rng"])

    n_batches = data.num_batches(train_data, config.batch_size, drop_last=True)
    if n_batches == 0:
        raise TrainingError(f"the training set ({len(train_data)} images) is smaller than one batch ({config.batch_size})")
    autocast = bf16_autocast(device, config.bf16)
    base_meta = {"method": config.method, "method_params": config.method_params, "dataset": config.dataset,
                 "arch": config.arch, "channels": spec.channels, "num_classes": spec.num_classes,
                 "mean": list(spec.mean), "std": list(spec.std), "leaky_relu": method_cls.leaky_relu,
                 "epochs": config.epochs, "seed": config.seed, "config": config.model_dump(),
                 "init_from": init_from, "command": command or shlex.join([sys.executable, *sys.argv])}
    run_start, batches_run = time.time(), 0
    total_batches_left = (config.epochs - start_epoch) * n_batches

    def eta() -> float:
        return (time.time() - run_start) / max(batches_run, 1) * (total_batches_left - batches_run)

    for epoch in range(start_epoch + 1, config.epochs + 1):
        epoch_start = time.time()
        info = method.begin_epoch(epoch, ensemble, rng)
        # Sums stay on the device: a float() per batch would make the host wait for the GPU
        # every step. They are read when a report is due (every batch on CPU, where reading
        # costs nothing; at most every REPORT_SECONDS on a GPU) and at the end of the epoch.
        sums = _LossSums(len(ensemble), device)
        last_sync = time.time()
        source_iter = (data.batches(train_data, config.batch_size, shuffle=True, generator=source_gen,
                                    augment=spec.augment, drop_last=True) if method.needs_source_batch else None)
        ensemble.train()
        for b, (x, y) in enumerate(data.batches(train_data, config.batch_size, shuffle=True, generator=batch_gen,
                                                augment=spec.augment, drop_last=True), start=1):
            batch = Batch(to_device(x, device), to_device(y, device))
            if source_iter is not None:
                xs, ys = next(source_iter)
                batch.xs, batch.ys = to_device(xs, device), to_device(ys, device)
            with autocast:
                losses = method.loss(ensemble, batch)
            optimizer.zero_grad(set_to_none=True)
            losses.total.backward()
            optimizer.step()
            batches_run += 1
            sums.add(losses)
            sync = device.type != "cuda" or b == n_batches or time.time() - last_sync >= REPORT_SECONDS
            if not sync:
                continue
            last_sync = time.time()
            if not sums.finite():
                raise TrainingError(f"loss became {sums.first_bad()} at epoch {epoch} (by batch {b}); "
                                    "lower the learning rate (--lr) or resume from the last checkpoint")
            if progress:
                left = eta()
                progress(Progress("train", epoch, config.epochs, b, n_batches, sums.report(losses),
                                  eta_seconds=left, job_eta_seconds=left))
        epoch_lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        entry = {"epoch": epoch, "lr": epoch_lr,
                 **info, **sums.means(n_batches),
                 "train_seconds": round(time.time() - epoch_start, 2)}
        entry.update(_evaluate(ensemble, test_data, config, spec, device))
        history.append(entry)
        train_state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                       "python_rng": _from_random_state(rng.getstate()), "batch_gen": batch_gen.get_state(),
                       "source_gen": source_gen.get_state(), "torch_rng": torch.get_rng_state()}
        ckpt.save_checkpoint(out, ensemble, dict(base_meta, epoch=epoch, history=history,
                                                 complete=epoch == config.epochs), train_state)
        if progress:
            left = eta()
            progress(Progress("train", epoch, config.epochs, n_batches, n_batches, {}, eta_seconds=left,
                              history=entry, job_eta_seconds=left))
    return out


def _from_random_state(state: tuple) -> dict:
    """Python's RNG state as tensors (so it loads with weights_only=True)."""
    version, internal, gauss = state
    return {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss": math.nan if gauss is None else gauss}


def _to_random_state(saved: dict) -> tuple:
    gauss = saved["gauss"]
    return (saved["version"], tuple(int(v) for v in saved["internal"].tolist()),
            None if isinstance(gauss, float) and math.isnan(gauss) else gauss)
