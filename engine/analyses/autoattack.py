"""The ``autoattack`` analysis: Croce & Hein 2020 on the whole ensemble (computation:
:mod:`engine.evaluation.autoattack`, attacks: :mod:`engine.attacks.autoattack`)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from ..attacks.autoattack import autoattack, library_version, protocol
from ..evaluation import autoattack as core
from ..figures import autoattack as figures
from . import MAX_SAMPLES, AnalysisConfig, Context, register_analysis


class Config(AnalysisConfig):
    samples: int = Field(200, ge=1, le=MAX_SAMPLES, description="test images evaluated")
    eps: Optional[float] = Field(None, ge=0, le=64,
                                 description="budget (images in [0, 1]); default: the data set's standard ε")
    norm: Literal["linf", "l2"] = Field("linf", description="threat model")
    quick: bool = Field(False, description="quick variant: APGD 20 iterations, 3 targets, Square 500 queries "
                                           "(labelled 'quick'; under-estimates the attack)")

    @property
    def version(self) -> str:
        return "quick" if self.quick else "standard"


def depends_on(config: Config, dataset: str) -> dict:
    """Cache-key material beyond the config: every component parameter of the version run
    and the library version, so changing either never serves a stale number."""
    return {"components": protocol(config.version), "library": library_version()}


@register_analysis("autoattack", title="AutoAttack robustness", config=Config, figure=figures.autoattack_figure,
                   table=figures.autoattack_table,
                   reference="Croce & Hein 2020 (standard AutoAttack); DVERGE 4.3 reports PGD only",
                   depends_on=depends_on)
def compute(ctx: Context, config: Config) -> dict:
    eps = core.default_eps(ctx.dataset, config.norm, ctx.data_dir) if config.eps is None else config.eps
    data = ctx.test.subset(config.samples, config.seed)
    x, y = data.images(), data.y
    model = core.attackable(ctx.ensemble).to(ctx.device)
    result = autoattack(model, x, y, eps=eps, norm=config.norm, version=config.version, seed=config.seed,
                        progress=ctx.report)
    return {"eps": eps, "norm": config.norm, "version": config.version, "samples": len(data),
            "clean_accuracy": result.clean_accuracy, "robust_accuracy": result.robust_accuracy,
            "components": result.components, "robust": result.robust.numpy(),
            "broken_by": result.broken_by, "attack_eps": ctx.spec.attack_eps,
            "protocol": core.describe(config.version, config.norm, eps)}
