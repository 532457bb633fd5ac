"""Training history, DVERGE Fig. 2: per-epoch diversity and within-ensemble transferability
(and clean accuracy, the diversity metrics of the other papers, the per-member losses), read
from the history the training loop records in the checkpoint's meta.json
(:func:`engine.train._evaluate`). Nothing is recomputed; going through the registry gives
it the same CLI, cache and exports as every other analysis.

DVERGE 4.2: "the diversity increases while the transferability decreases as the training
proceeds" -- diversity is Eq. (2) at the training distillation ε, transferability the mean
off-diagonal PGD success rate at the standard attack ε.
"""
from __future__ import annotations

from pathlib import Path

from ..checkpoint import CheckpointError, read_meta

#: scalar per-epoch keys, in display order (older checkpoints lack the diversity ones).
SCALARS = ("lr", "layer", "loss", "ensemble_clean_accuracy", "transferability", "vulnerability_diversity",
           "adp_logdet", "gradient_cosine", "saliency_cosine", "train_seconds")
#: per-member keys (a list of K values per epoch).
PER_MEMBER = ("member_loss", "member_clean_accuracy")
#: per-epoch keys that are not series (matrices and the settings of the estimates).
SETTINGS = ("transfer_eps", "transfer_samples", "diversity_eps")
SKIP = {"epoch", "transfer_matrix", "diversity_matrix", "diversity_seconds", *SETTINGS}


def _row(entry: dict, phase: str, epoch: int) -> dict:
    row = {"epoch": epoch, "phase": phase}
    for key in SCALARS + PER_MEMBER:
        if key in entry:
            row[key] = entry[key]
    # method-specific loss terms (e.g. ADP's log ensemble diversity, DVERGE+AdvT's parts)
    for key, value in entry.items():
        if key not in row and key not in SKIP and isinstance(value, (int, float)) and not isinstance(value, bool):
            row[key] = value
    return row


def _settings(history: list[dict]) -> dict:
    found = {}
    for entry in history:
        for key in SETTINGS:
            if key in entry:
                found[key] = entry[key]
    return found


def _pretrain_history(meta: dict) -> list[dict]:
    source = meta.get("init_from")
    if not source or not Path(source).is_dir():
        return []
    try:
        return read_meta(source).get("history", [])
    except CheckpointError:
        return []


def training_history(meta: dict, pretrain: bool = False) -> dict:
    """Rows (one per epoch) of a checkpoint's history; with ``pretrain``, first the epochs
    of the run it started from (DVERGE's baseline pre-training), numbered consecutively."""
    history = meta.get("history") or []
    if not history:
        raise ValueError("this checkpoint records no training history (imported weights, or trained "
                         "before histories were kept); retrain it with `python -m engine train`")
    before = _pretrain_history(meta) if pretrain else []
    rows = [_row(e, "pretrain", i + 1) for i, e in enumerate(before)]
    rows += [_row(e, "train", len(before) + int(e.get("epoch", i + 1))) for i, e in enumerate(history)]
    return {"history": rows, "pretrain_epochs": len(before), "epochs": len(rows),
            "members": meta.get("members"), **_settings(history)}
