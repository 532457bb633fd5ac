"""The ``blackbox`` analysis: DVERGE 4.3, Fig. 4, App. Table 4 (computation:
:mod:`engine.evaluation.blackbox`)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator

from ..checkpoint import CheckpointError, content_hash, read_meta
from ..evaluation import AnalysisError
from ..evaluation import blackbox as core
from ..evaluation.protocols import PROTOCOLS
from ..figures import blackbox as figures
from . import AnalysisConfig, Context, register_analysis, steps_field


class Config(AnalysisConfig):
    surrogates: list[str] = Field(default_factory=list, description=(
        "hold-out surrogate checkpoints (default: zoo entries named surrogate*; make one with "
        "python -m engine train --method baseline --seed 1 --members 3 --out DIR)"))
    eps: Optional[list[float]] = Field(None, description="ε grid (default: the data set's; CIFAR-10: 0.01..0.07)")
    protocol: Literal["quick", "paper"] = Field("quick", description="quick: 20 iterations; paper: 100")
    steps: Optional[int] = steps_field(None, "attack iterations (default: the protocol's)")
    restarts: int = Field(3, ge=1, le=20, description="random starts of PGD with momentum (paper: 3)")
    attacks: list[str] = Field(default_factory=lambda: list(core.TRANSFER_ATTACKS),
                               description=f"subset of {','.join(core.TRANSFER_ATTACKS)}")
    losses: list[str] = Field(default_factory=lambda: list(core.LOSSES), description="subset of ce,cw")
    batch_size: int = Field(250, ge=1, le=5000, description="attack batch size")

    @field_validator("eps")
    @classmethod
    def _eps(cls, v):
        if v is not None and (not v or any(not 0 < e <= 1 for e in v)):
            raise ValueError("eps must be a non-empty list of budgets in (0, 1]")
        return sorted(v) if v is not None else v

    @field_validator("attacks")
    @classmethod
    def _attacks(cls, v):
        bad = [a for a in v if a not in core.TRANSFER_ATTACKS]
        if bad or not v:
            raise ValueError(f"attacks must be a non-empty subset of {', '.join(core.TRANSFER_ATTACKS)}; got {v}")
        return v

    @field_validator("losses")
    @classmethod
    def _losses(cls, v):
        if not v or any(l not in core.LOSSES for l in v):
            raise ValueError(f"losses must be a non-empty subset of {', '.join(core.LOSSES)}; got {v}")
        return v


def surrogate_hashes(config: Config, dataset: str) -> dict:
    """The surrogates a request would use, by content hash (part of its cache key, so a
    surrogate added to, replaced in or removed from the zoo is never served stale)."""
    hashes = []
    for path in list(config.surrogates) or core.find_surrogates(dataset):
        try:
            hashes.append(content_hash(path))
        except (CheckpointError, OSError, KeyError, ValueError):
            hashes.append(f"unreadable:{path}")  # compute() reports it clearly
    return {"surrogates": sorted(hashes)}


def resolve_surrogates(config: Config, dataset: str, target_hash: str | None = None) -> list[str]:
    paths = list(config.surrogates) or core.find_surrogates(dataset)
    if not paths:
        raise AnalysisError(
            f"black-box evaluation needs hold-out surrogate ensembles trained on {dataset} and none were given "
            "or found. Train one (a baseline with another seed), e.g.\n"
            f"  python -m engine train --method baseline --dataset {dataset} --seed 1 --members 3 "
            "--out ~/.local/share/robust-ensembles/ensembles/surrogate-baseline-3\n"
            "(DVERGE uses three: --members 3, 5 and 8) and pass them with --surrogates DIR1,DIR2 or name their "
            "directories surrogate* in the zoo.")
    for path in paths:
        meta = read_meta(path)
        if meta["dataset"] != dataset:
            raise AnalysisError(f"surrogate {path} was trained on {meta['dataset']}, the target on {dataset}")
        if target_hash is not None and content_hash(path) == target_hash:
            raise AnalysisError(f"surrogate {path} is the evaluated ensemble itself: that is a white-box attack, "
                                "not a transfer attack; use a hold-out ensemble")
    return paths


@register_analysis("blackbox", title="Black-box transfer robustness", config=Config, figure=figures.blackbox_figure,
                   table=figures.blackbox_table, reference="DVERGE 4.3, Fig. 4, App. Table 4",
                   depends_on=surrogate_hashes)
def compute(ctx: Context, config: Config) -> dict:
    surrogates = resolve_surrogates(config, ctx.dataset, content_hash(ctx.checkpoint))
    data = ctx.test.subset(config.samples, config.seed)
    steps = config.steps or PROTOCOLS[config.protocol].transfer_steps
    result = core.blackbox(ctx.ensemble, data.images(), data.y, surrogates, dataset=ctx.dataset,
                           eps=config.eps or core.default_eps(ctx.dataset, ctx.data_dir), steps=steps,
                           restarts=config.restarts,
                           attacks=config.attacks, losses=config.losses, seed=config.seed,
                           batch_size=config.batch_size, device=ctx.device, cache=ctx.cache,
                           progress=lambda done, total: ctx.report(done, total, "black-box transfer"))
    result["protocol"] = config.protocol
    return result
