"""The ``whitebox`` analysis: DVERGE 4.3, Fig. 4 (right), Table 5 (computation:
:mod:`engine.evaluation.whitebox`)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator

from ..attacks.pgd import STEP_RATIO
from ..data import get_spec
from ..evaluation import whitebox as core
from ..figures import whitebox as figures
from . import AnalysisConfig, Context, register_analysis


class Config(AnalysisConfig):
    eps: list[float] = Field(list(core.DEFAULT_EPS),
                             description="L∞ budgets (images in [0, 1]); 0 = clean accuracy, always included")
    protocol: Literal["quick", "paper"] = Field("quick", description="paper: PGD-50, 5 restarts; quick: PGD-20, 1")
    steps: Optional[int] = Field(None, ge=1, le=1000, description="PGD steps (overrides the protocol)")
    restarts: Optional[int] = Field(None, ge=1, le=20, description="random starts (overrides the protocol)")

    @field_validator("eps")
    @classmethod
    def _grid(cls, eps: list[float]) -> list[float]:
        if any(not 0 <= e <= 1 for e in eps):
            raise ValueError("every ε must lie in [0, 1] (images are in [0, 1])")
        return sorted(set(eps) | {0.0})


@register_analysis("whitebox", title="White-box robustness vs ε", config=Config, figure=figures.whitebox_figure,
                   table=figures.whitebox_table, reference="DVERGE 4.3, Fig. 4 (right), appendix C.3 Table 5")
def compute(ctx: Context, config: Config) -> dict:
    steps, restarts = core.resolve_protocol(config.protocol, config.steps, config.restarts)
    ensemble = ctx.ensemble
    data = ctx.test.subset(config.samples, config.seed)
    x, y = data.images(), data.y
    accuracy = core.accuracy_vs_eps(ensemble, x, y, config.eps, steps=steps, restarts=restarts, seed=config.seed,
                               device=ctx.device, progress=ctx.report)
    return {"eps": list(config.eps), "accuracy": accuracy, "clean_accuracy": accuracy[0],
            "samples": len(data), "steps": steps, "restarts": restarts, "step_size": f"ε/{STEP_RATIO}",
            "protocol": config.protocol, "attack_eps": get_spec(ctx.dataset, ctx.data_dir).attack_eps}
