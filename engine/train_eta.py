"""The whole-job ETA of a training run while its baseline pre-training runs.

A method that starts from a baseline (DVERGE, SMD+, TRS, ...) first pre-trains, then runs
its own epochs; during pre-training only the baseline's speed on this machine is measured.
The method's epochs are estimated from it with the *cost ratio* of one method batch to one
baseline batch, measured on earlier runs of the same architecture and data set (the shipped
zoo and the user's ensembles record ``train_seconds`` per epoch in ``meta.json``):

    ETA(job) = ETA(pre-training) + epochs x batches x s_baseline x ratio

with ``s_baseline`` the seconds per pre-training batch measured now and
``ratio = s_method / s_baseline`` from the earlier runs, each the *least* seconds per batch
and member over their epochs (the epoch least slowed down by other load on the machine
that trained them; the ratio of two machine-dependent times is about machine-independent).
Without an earlier run of both kinds there is no estimate (None) and the ETA says only what
follows the pre-training.
"""
from __future__ import annotations

from pathlib import Path


def seconds_per_batch(meta: dict, train_size: int) -> float | None:
    """Least seconds per batch and member over the epochs of one checkpoint (``train_size``:
    the data set's full training split; the run trained on ``config.train_subset`` of it)."""
    config = meta.get("config") or {}
    batch_size = config.get("batch_size")
    images = min(config.get("train_subset") or train_size, train_size)
    times = [h["train_seconds"] for h in meta.get("history") or [] if h.get("train_seconds")]
    if not batch_size or not times or images < batch_size or not meta.get("members"):
        return None
    return min(times) / (images // batch_size) / meta["members"]


def method_cost_ratio(method: str, arch: str, dataset: str, train_size: int, roots: list[Path] | None = None
                      ) -> float | None:
    """Seconds of one ``method`` batch per second of one baseline batch (same architecture
    and data set, per member), from the checkpoints under ``roots`` (default: the shipped
    zoo and the user's ensembles); None without a timed run of both."""
    from .zoo import list_ensembles

    best: dict[str, float] = {}
    for entry in list_ensembles(roots):
        if "error" in entry or entry.get("arch") != arch or entry.get("dataset") != dataset \
                or entry.get("method") not in (method, "baseline"):
            continue
        try:
            from .checkpoint import read_meta
            meta = read_meta(entry["path"])
        except Exception:  # noqa: BLE001 - an unreadable checkpoint only gives no timing
            continue
        spb = seconds_per_batch(meta, train_size)
        if spb is not None:
            best[entry["method"]] = min(spb, best.get(entry["method"], spb))
    if method not in best or "baseline" not in best:
        return None
    return best[method] / best["baseline"]


def whole_job_eta(pretrain_eta: float | None, pretrain_seconds_per_batch: float | None, method_batches: int,
                  ratio: float | None) -> float | None:
    """Seconds left for the whole job during pre-training (the module's equation): the
    pre-training's own ETA plus ``method_batches`` (all the method's epochs) at the measured
    pre-training speed times ``ratio``. None when either part is unknown."""
    if pretrain_eta is None or pretrain_seconds_per_batch is None or ratio is None:
        return None
    return pretrain_eta + method_batches * pretrain_seconds_per_batch * ratio


def pretrain_relay(progress, method_batches: int, ratio: float | None):
    """A progress callback for the pre-training run that passes each report on to
    ``progress`` as phase ``pretrain`` with the whole job's ETA (``job_eta_seconds``)."""
    rate: list[float | None] = [None]

    def relay(p) -> None:
        left = (p.epochs - p.epoch) * p.batches + (p.batches - p.batch)
        if p.eta_seconds is not None and left > 0:
            rate[0] = p.eta_seconds / left  # the pre-training's measured seconds per batch
        job = whole_job_eta(p.eta_seconds, rate[0], method_batches, ratio)
        progress(type(p)(**{**p.__dict__, "phase": "pretrain", "job_eta_seconds": job}))

    return relay
