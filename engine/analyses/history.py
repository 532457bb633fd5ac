"""The ``history`` analysis: DVERGE 4.2, Fig. 2, from the history training recorded
(:mod:`engine.evaluation.history`)."""
from __future__ import annotations

from pydantic import Field

from ..evaluation import history as core
from ..figures import history as figures
from . import AnalysisConfig, Context, register_analysis


class Config(AnalysisConfig):
    pretrain: bool = Field(False, description="prepend the history of the run this one started from "
                                              "(the baseline pre-training of DVERGE-family methods)")


@register_analysis("history", title="Training history: diversity and transferability", config=Config,
                   figure=figures.history_figure, table=figures.history_table, reference="DVERGE 4.2, Fig. 2")
def compute(ctx: Context, config: Config) -> dict:
    """``samples``/``seed`` are unused: the history was measured during training."""
    return core.training_history(ctx.meta, config.pretrain)
