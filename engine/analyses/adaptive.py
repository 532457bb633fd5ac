"""The ``adaptive`` analysis: adaptive ensemble attacks and the gradient-masking checklist
(Tramèr et al. 2020; Athalye et al. 2018; computation: :mod:`engine.evaluation.adaptive`)."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from ..attacks.autoattack import VERSIONS, library_version
from ..evaluation import adaptive as core
from ..figures import adaptive as figures
from . import MAX_SAMPLES, AnalysisConfig, Context, register_analysis, steps_field


class Config(AnalysisConfig):
    samples: int = Field(200, ge=1, le=MAX_SAMPLES, description="test images evaluated")
    eps: Optional[float] = Field(None, ge=0, le=1, description="L∞ budget; default: the data set's standard ε")
    steps: int = steps_field(50, "PGD / APGD iterations per attack")
    restarts: int = Field(1, ge=1, le=20, description="PGD random starts")
    eot: int = Field(20, ge=1, le=200, description="EOT draws per gradient (used only if the ensemble is random)")
    square_queries: int = Field(1000, ge=1, le=20000, description="queries of the black-box Square check")
    checks: bool = Field(True, description="run the gradient-masking checklist (ε grid, Square, members)")


def depends_on(config: Config, dataset: str) -> dict:
    """Cache-key material beyond the config: the check grid, Square's fixed parameters, the
    attack plan (attackers, surrogates), PGD's step and APGD's ρ, and the library version."""
    from ..attacks import adaptive as attacks

    return {"grid": [*core.GRID_FACTORS, core.LARGE_EPS, core.UNBOUNDED_EPS], "square": VERSIONS["standard"]["square"],
            "attackers": list(attacks.ATTACKERS), "surrogates": list(attacks.SURROGATES),
            "pgd_step_divisor": attacks.PGD_STEP_DIVISOR, "apgd_rho": attacks.APGD_RHO,
            "library": library_version()}


@register_analysis("adaptive", title="Adaptive ensemble attacks", config=Config, figure=figures.adaptive_figure,
                   table=figures.adaptive_table,
                   reference="Tramèr et al. 2020; Athalye et al. 2018; DVERGE appendix C.3", depends_on=depends_on)
def compute(ctx: Context, config: Config) -> dict:
    spec = ctx.spec
    data = ctx.test.subset(config.samples, config.seed)
    return core.adaptive_evaluation(ctx.ensemble, data.images(), data.y,
                                    eps=spec.attack_eps if config.eps is None else config.eps,
                                    attack_eps=spec.attack_eps, steps=config.steps, restarts=config.restarts,
                                    eot=config.eot, square_queries=config.square_queries, checks=config.checks,
                                    seed=config.seed, device=ctx.device, progress=ctx.report)
