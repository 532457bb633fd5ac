"""The ``transferability`` analysis: DVERGE 4.2 / Fig. 3 (computation:
:mod:`engine.evaluation.transferability`)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from ..evaluation import transferability as core
from ..figures import transferability as figures
from . import AnalysisConfig, Context, register_analysis, steps_field


class Config(AnalysisConfig):
    eps: float = Field(gt=0, le=1, description="L∞ budget (images in [0, 1])")
    steps: int = steps_field(20, "PGD steps (paper: 50)")
    restarts: int = Field(1, ge=1, le=20, description="random starts (paper: 5)")
    step_size: Optional[float] = Field(None, gt=0, description="default ε/5")
    backend: Literal["native", "advertorch"] = "native"
    examples: int = Field(8, ge=0, le=64, description="adversarial examples kept per source member")


@register_analysis("transferability", title="Within-ensemble transferability", config=Config,
                   figure=figures.transferability_figure, table=figures.transferability_table,
                   reference="DVERGE 4.2, Fig. 3",
                   # 3: per-sample seeded random starts and the ε/5 default step changed the
                   # numbers twice since version 1; results cached before are not served
                   version=3)
def compute(ctx: Context, config: Config) -> dict:
    result = core.transferability(ctx.ensemble, ctx.test, eps=config.eps, samples=config.samples, steps=config.steps,
                                  restarts=config.restarts, step_size=config.step_size, backend=config.backend,
                                  seed=config.seed, device=ctx.device, examples=config.examples,
                                  progress=lambda done, total: ctx.report(done, total, "transferability"))
    return dict(classes=list(ctx.test.classes)) | result
