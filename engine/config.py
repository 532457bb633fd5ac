"""Training configuration: typed, validated once at the edge (CLI, app), with presets.

A preset fills in what the user did not say; anything given explicitly wins. ``quick``
is sized for a 2-core laptop CPU (Fashion-MNIST, LeNet-5, minutes per method); ``paper``
follows the DVERGE paper's CIFAR-10 / ResNet-20 / 200-epoch setup.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import data
from .fields import FieldSpec, specs
from .methods import get_method
from .models import validate_arch

# --------------------------------------------------------------------------- presets
# Quick-preset sizes were measured on a 2-core CPU: one epoch of 3 LeNet-5 members on the
# full 60k Fashion-MNIST takes ~20 s for baseline/ADP, ~2.5x that for the double-backprop
# methods (GAL, SMD), ~0.3 s per batch for DVERGE (3 distillations of 10 steps) and
# PGD-based methods. Budgets below keep each method to roughly 1-4 minutes.
#
# SGD methods use lr 0.01 in the quick preset: the paper's 0.1 is tuned for ResNet-20 with
# BatchNorm; LeNet-5 has no normalization layers and at 0.1 its members end in noisy,
# idiosyncratic solutions (measured: within-ensemble transferability 0.25 at ε=0.1 vs
# 0.45 at 0.01, same accuracy), which would understate what a baseline ensemble shares.
_QUICK_BASE = dict(dataset="fashion_mnist", arch="lenet5", members=3, batch_size=128, epochs=4)
_SGD_LENET = dict(lr=0.01)
_QUICK_DVERGE = dict(pretrain_epochs=4, epochs=2, train_subset=25_600, lr=0.01)
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "quick": {
        "*": _QUICK_BASE,
        "baseline": _SGD_LENET,
        "gal": dict(epochs=2),
        "smd": dict(epochs=2),
        "dverge": _QUICK_DVERGE,
        "smd_plus": dict(_QUICK_DVERGE, lr=None),
        "dverge_advt": dict(_QUICK_DVERGE, train_subset=6_400),
        "advt": dict(_SGD_LENET, epochs=2, train_subset=15_000),
        "cce": dict(_SGD_LENET, epochs=1, train_subset=30_000),
        # TRS costs ~8x a baseline batch (double backprop, 6-step PGD on the gradient
        # magnitude); after the baseline warm-up, 2 epochs of 60 batches (Adam 1e-3).
        "trs": dict(pretrain_epochs=4, epochs=2, train_subset=7_680),
        # iGAT adds a 20-step PGD on the whole ensemble per batch (~7x an ADP batch). The
        # shipped zoo starts igat_adp from the trained ADP run and igat_dverge from the
        # trained DVERGE run (--from; the paper's iGAT improves a base method's ensemble),
        # then trains base + iGAT for 2 short epochs.
        "igat_adp": dict(epochs=2, train_subset=7_680),
        "igat_dverge": dict(_QUICK_DVERGE, epochs=2, train_subset=5_120),
    },
    "paper": {
        "*": dict(dataset="cifar10", arch="resnet20", members=3, batch_size=128, epochs=200),
        "dverge": dict(pretrain_epochs=200),
        "dverge_advt": dict(pretrain_epochs=200),
        "smd_plus": dict(pretrain_epochs=200),
        "trs": dict(pretrain_epochs=200, epochs=120),  # TRS code: 120 epochs, Adam 1e-3
        "igat_dverge": dict(pretrain_epochs=200),
    },
}


def problems(exc: ValueError) -> str:
    """A configuration error as one line: a pydantic validation failure as ``field: message;
    ...`` (what the CLI's ``error:`` line and the app show; pydantic's own text spans several
    lines), any other ValueError as its message."""
    if not isinstance(exc, ValidationError):
        return str(exc)

    def message(error) -> str:
        msg = error["msg"].removeprefix("Value error, ")
        return f"{'.'.join(map(str, error['loc']))}: {msg}" if error["loc"] else msg
    return "; ".join(message(e) for e in exc.errors())


class TrainConfig(BaseModel):
    """Everything that determines a training run."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field(title="Method")
    dataset: str = Field(data.DEFAULT_DATASET, title="Data set",
                         description="fashion_mnist (default), mnist, cifar10 or folder:PATH")
    arch: str = Field("lenet5", title="Architecture", description="lenet5 (default; grey 28x28 images) or "
                      "resnet<6n+2> (as in the DVERGE paper)")
    members: int = Field(3, ge=1, le=16, title="Members", description="number of sub-models in the ensemble")
    epochs: int = Field(4, ge=1, le=10_000, title="Epochs",
                        description="epochs of the method itself (after any baseline pre-training)")
    batch_size: int = Field(128, ge=2, le=8192, title="Batch size")
    lr: float | None = Field(None, gt=0, le=10, title="Learning rate",
                             description="overrides the method's paper learning rate; divided by 10 at 50% and "
                                         "75% of the epochs (DVERGE appendix A)")
    seed: int = Field(0, ge=0, title="Seed")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", title="Device")
    bf16: bool = Field(False, title="bf16", description="bf16 autocast (mixed precision; meant for CUDA, checked against fp32)")
    preset: Literal["quick", "paper"] | None = Field(None, title="Preset", description=(
        "defaults for what is not given; quick: Fashion-MNIST / LeNet-5, minutes on a laptop CPU; "
        "paper: CIFAR-10 / ResNet-20 / 200 epochs (needs a GPU)"))
    init_from: str | None = Field(None, title="Start from", description="checkpoint to start from (DVERGE: a "
                                  "trained baseline)")
    pretrain_epochs: int = Field(0, ge=0, le=10_000, title="Baseline pre-training epochs",
                                 description="baseline pre-training epochs for DVERGE-family methods when no "
                                             "--from is given (DVERGE Algorithm 1 starts from a trained baseline)")
    train_subset: int | None = Field(None, ge=100, title="Training images",
                                     description="train on a seeded random subset of this many images")
    method_params: dict[str, Any] = Field(default_factory=dict, title="Method hyperparameters",
                                          description="method hyperparameter, e.g. eps=0.2")
    history_samples: int = Field(100, ge=0, le=10_000, title="History samples",
                                 description="samples of the per-epoch transferability estimate")
    history_eps: float | None = Field(None, gt=0, le=1, title="History ε",
                                      description="ε of that estimate (default: the data set's)")
    eval_samples: int = Field(2000, ge=100, title="Evaluation samples",
                              description="test samples for per-epoch clean accuracy")
    data_dir: str | None = Field(None, title="Data directory", description="a folder to look for the data set in first "
                                 "(also $ROBUST_ENSEMBLES_DATA)")

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        get_method(v)
        return v

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        return data.validate_name(v)

    @field_validator("arch")
    @classmethod
    def _arch(cls, v: str) -> str:
        return validate_arch(v)

    @model_validator(mode="after")
    def _params(self):
        method = get_method(self.method)
        try:
            parsed = method.Params(**self.method_params)
        except ValidationError as exc:
            raise ValueError(f"invalid hyperparameters for {self.method}: {problems(exc)}") from None
        self.method_params = parsed.model_dump(exclude_none=True)
        return self

    def params(self):
        """The method's validated hyperparameter object."""
        return get_method(self.method).Params(**self.method_params)


def make_config(method: str, preset: str | None = None, **explicit: Any) -> TrainConfig:
    """Build a config: preset defaults for ``method`` first, explicit values (not None) win."""
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"Unknown preset '{preset}'. Choose one of: {', '.join(PRESETS)}")
        values.update(PRESETS[preset]["*"])
        values.update(PRESETS[preset].get(method, {}))
    values.update({k: v for k, v in explicit.items() if v is not None})
    return TrainConfig(method=method, preset=preset, **values)


def train_fields() -> list[FieldSpec]:
    """:class:`TrainConfig` as field specs: the ``train`` and ``jobs submit`` flags and the
    Train page's form are generated from these (:mod:`engine.fields`), so they cannot drift.
    Two flags keep their historical names: ``--from`` (init_from), ``--param`` (method_params)."""
    from .methods import METHODS

    return specs(TrainConfig, flag={"init_from": "--from", "method_params": "--param"},
                 choices={"method": list(METHODS)}, suggestions={"dataset": list(data.SPECS)})
