"""The ``diversity`` analysis: DVERGE Eq. 2 / 4.2, ADP Eq. 3, GAL, SMD Eq. 2 per member pair
(computation: :mod:`engine.evaluation.diversity`)."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from ..evaluation import diversity as core
from ..evaluation.transferability import correct_samples
from ..figures import diversity as figures
from . import MAX_SAMPLES, AnalysisConfig, Context, budget_field, register_analysis, steps_field


class Config(AnalysisConfig):
    samples: int = Field(200, ge=1, le=MAX_SAMPLES,
                         description="test images all members classify correctly (paper: 1000)")
    metrics: list[core.MetricName] = Field(list(core.METRICS), min_length=1, description="metrics to compute")
    eps: Optional[float] = budget_field("distillation ε of Eq. 2 (default: the data set's training ε, "
                                        "0.07 on CIFAR-10)")
    steps: int = steps_field(10, "distillation PGD steps (paper: 10, step ε/10)")
    layer: Optional[int] = Field(None, ge=1, description="fixed feature layer (default: uniformly random per sample)")


@register_analysis("diversity", title="Diversity metrics per member pair", config=Config,
                   figure=figures.diversity_figure, table=figures.diversity_table,
                   reference="DVERGE Eq. 2 / 4.2, ADP Eq. 3, GAL, SMD Eq. 2")
def compute(ctx: Context, config: Config) -> dict:
    ensemble = ctx.member_pairs("diversity metrics")
    eps = ctx.budget(config.eps, "distill_eps")
    x, y = correct_samples(ensemble, ctx.test, config.samples, config.seed, ctx.device)
    if len(y) == 0:
        raise ValueError("no test sample is classified correctly by every member, so the diversity metrics "
                         "are undefined; check that the data set matches the ensemble's")
    result = {}
    result["metrics"] = core.diversity_metrics(
        ensemble, x, y, config.metrics, eps=eps, steps=config.steps, layer=config.layer, seed=config.seed,
        progress=lambda done, total: ctx.report(done, total, "distilling (DVERGE Eq. 1)"))
    result.update(samples=int(x.shape[0]), eps=eps, steps=config.steps, members=len(ensemble))
    return result
