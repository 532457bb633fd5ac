"""The ``detection`` analysis: ADP 4.5 / Fig. 4; CCE adversarial detectability, Figs. 3-4
(computation: :mod:`engine.evaluation.detection`)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from ..evaluation import detection as core
from ..figures import detection as figures
from . import AnalysisConfig, Context, budget_field, register_analysis, steps_field


class Config(AnalysisConfig):
    eps: Optional[float] = budget_field("L∞ budget; default: the data set's standard budget")
    attacks: list[Literal["pgd", "fgsm"]] = Field(["pgd"],
                                                  description="attacks producing the adversarial inputs")
    steps: int = steps_field(20, "PGD steps (random start, step ε/5)")


@register_analysis("detection", title="Adversarial detection (ROC / AUC)", config=Config,
                   figure=figures.detection_figure, table=figures.detection_table,
                   reference="ADP 4.5 / Fig. 4; CCE adversarial detectability, Figs. 3-4")
def compute(ctx: Context, config: Config) -> dict:
    eps = ctx.budget(config.eps)
    data = ctx.test.subset(config.samples, config.seed)
    attacks = list(dict.fromkeys(config.attacks))
    result = core.detection(ctx.ensemble, data.images(), data.y, eps=eps, attacks=attacks, steps=config.steps,
                            seed=config.seed, device=ctx.device, progress=ctx.report)
    result.update(eps=eps, samples=len(data), steps=config.steps)
    return result
