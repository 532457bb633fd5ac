"""The ``cce-subsets`` analysis: CCE, Transferability among Ensemble Members, Table 6
(computation: :mod:`engine.evaluation.cce_subsets`)."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from ..evaluation import cce_subsets as core
from ..figures import cce_subsets as figures
from . import AnalysisConfig, Context, budget_field, register_analysis, steps_field


class Config(AnalysisConfig):
    eps: Optional[float] = budget_field("L∞ budget; default: the data set's standard budget")
    steps: int = steps_field(20, "PGD steps (CCE Table 6: 20)")
    step_size: Optional[float] = Field(None, gt=0, description="default ε/4 (CCE Table 6: 2/255 at ε=8/255)")


@register_analysis("cce-subsets", title="CCE secure/insecure subsets per member pair", config=Config,
                   figure=figures.cce_subsets_figure, table=figures.cce_subsets_table,
                   reference="CCE, Transferability among Ensemble Members, Table 6")
def compute(ctx: Context, config: Config) -> dict:
    ensemble = ctx.member_pairs("CCE subsets")
    eps = ctx.budget(config.eps)
    data = ctx.test.subset(config.samples, config.seed)
    result = core.cce_subsets(ensemble, data.images(), data.y, eps=eps, steps=config.steps, step_size=config.step_size,
                              seed=config.seed, device=ctx.device, progress=ctx.report)
    result.update(eps=eps, steps=config.steps, samples=len(data), members=len(ensemble))
    return result
