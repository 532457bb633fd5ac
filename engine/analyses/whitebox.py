"""The ``whitebox`` analysis: DVERGE 4.3, Fig. 4 (right), Table 5 (computation:
:mod:`engine.evaluation.whitebox`)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator

from ..attacks.pgd import STEP_RATIO
from ..evaluation import whitebox as core
from ..evaluation.protocols import PROTOCOLS
from ..figures import whitebox as figures
from . import AnalysisConfig, Context, register_analysis, steps_field


class Config(AnalysisConfig):
    eps: Optional[list[float]] = Field(None, description="L∞ budgets (images in [0, 1]; default: the data set's "
                                       "ε grid); 0 = clean accuracy, always included")
    protocol: Literal["quick", "paper"] = Field("quick", description="; ".join(
        f"{p.name}: PGD-{p.pgd_steps}, {p.pgd_restarts} start(s)" for p in PROTOCOLS.values()))
    steps: Optional[int] = steps_field(None, "PGD steps (overrides the protocol)")
    restarts: Optional[int] = Field(None, ge=1, le=20, description="random starts (overrides the protocol)")

    @field_validator("eps")
    @classmethod
    def _grid(cls, eps: list[float] | None) -> list[float] | None:
        if eps is None:
            return None
        if any(not 0 <= e <= 1 for e in eps):
            raise ValueError("every ε must lie in [0, 1] (images are in [0, 1])")
        return sorted(set(eps) | {0.0})


@register_analysis("whitebox", title="White-box robustness vs ε", config=Config, figure=figures.whitebox_figure,
                   table=figures.whitebox_table, reference="DVERGE 4.3, Fig. 4 (right), appendix C.3 Table 5")
def compute(ctx: Context, config: Config) -> dict:
    steps, restarts = core.resolve_protocol(config.protocol, config.steps, config.restarts)
    spec = ctx.spec
    eps = config.eps if config.eps is not None else [0.0, *spec.eps_grid]
    data = ctx.test.subset(config.samples, config.seed)
    accuracy = core.accuracy_vs_eps(ctx.ensemble, data.images(), data.y, eps, steps=steps, restarts=restarts,
                                    seed=config.seed, device=ctx.device, progress=ctx.report)
    return {"eps": list(eps), "accuracy": accuracy, "clean_accuracy": accuracy[0],
            "samples": len(data), "steps": steps, "restarts": restarts, "step_size": f"ε/{STEP_RATIO}",
            "protocol": config.protocol, "attack_eps": spec.attack_eps}
