"""The ``distill`` analysis: DVERGE 3.1, Eq. 1; appendix B, Table 2 (computation:
:mod:`engine.evaluation.distill`)."""
from __future__ import annotations

from typing import Optional

import torch
from pydantic import Field

from ..ensemble import attack_mode, num_feature_layers
from ..evaluation import AnalysisError
from ..evaluation import distill as core
from ..evaluation.selection import check_index, seeded_indices
from ..figures import distill as figures
from ..methods.dverge import DVERGEParams
from . import AnalysisConfig, Context, budget_field, register_analysis, steps_field


_TRAINING = DVERGEParams.model_fields  # the defaults DVERGE training distills with


class Config(AnalysisConfig):
    target_index: Optional[int] = Field(None, ge=0, description="test image x whose features are distilled "
                                        "(default: a seeded random image)")
    source_index: Optional[int] = Field(None, ge=0, description="test image x_s the distilled image stays "
                                        "ε-close to (default: a seeded image of another class)")
    members: Optional[list[int]] = Field(None, description="members to distill with (default: all)")
    layers: Optional[list[int]] = Field(None, description="feature layers, 1-based DVERGE numbering "
                                        "(default: first, middle and last)")
    eps: Optional[float] = budget_field("distillation ε (default: the data set's, as DVERGE training)")
    steps: int = steps_field(_TRAINING["steps"].default, "PGD steps of the distillation")
    step_size: Optional[float] = Field(None, gt=0, description="default ε/steps")
    momentum: float = Field(_TRAINING["momentum"].default, ge=0, description="momentum of the distillation PGD")


def _check_choices(values: list[int], valid: range, field: str) -> list[int]:
    bad = [v for v in values if v not in valid]
    if bad or not values:
        raise AnalysisError(f"{field}={values}: choose values in {valid.start}..{valid.stop - 1}")
    return list(dict.fromkeys(values))


@register_analysis("distill", title="DVERGE distilled images", config=Config, figure=figures.distilled_figure,
                   table=figures.distilled_table, reference="DVERGE 3.1, Eq. 1; appendix B, Table 2")
def compute(ctx: Context, config: Config) -> dict:
    test, ensemble = ctx.test, ctx.ensemble
    target_index = (check_index(test, config.target_index, "target_index") if config.target_index is not None
                    else seeded_indices(test, config.seed)[0])
    target_label = int(test.y[target_index])
    if config.source_index is not None:
        source_index = check_index(test, config.source_index, "source_index")
    else:
        source_index = seeded_indices(test, config.seed, salt=1, exclude_label=target_label)[0]
    source_label = int(test.y[source_index])
    n_layers = num_feature_layers(ensemble.members[0])
    members = _check_choices(config.members if config.members is not None else list(range(len(ensemble))),
                             range(len(ensemble)), "members")
    layers = _check_choices(config.layers if config.layers is not None else core.default_layers(n_layers),
                            range(1, n_layers + 1), "layers")
    eps = ctx.budget(config.eps, "distill_eps")
    step_size = config.step_size if config.step_size is not None else eps / config.steps
    target = test.images([target_index]).to(ctx.device)
    source = test.images([source_index]).to(ctx.device)
    with torch.no_grad(), attack_mode(ensemble):
        clean = ensemble.member_logits(torch.cat([target, source]))
        clean_pred = torch.cat([clean.argmax(-1), clean.softmax(-1).mean(0).argmax(-1)[None]])  # [K+1, 2]
    result = core.distilled_gallery(ensemble, target, source, source_label, members=members, layers=layers, eps=eps,
                                    steps=config.steps, step_size=step_size, momentum=config.momentum,
                                    progress=lambda d, t: ctx.report(d, t, "distilling"))
    result.update(target_index=target_index, source_index=source_index, target_label=target_label,
                  source_label=source_label, target_image=test.x[target_index].numpy(),
                  source_image=test.x[source_index].numpy(),  # uint8 [C, H, W]
                  target_prediction=clean_pred[:, 0].cpu().tolist(), source_prediction=clean_pred[:, 1].cpu().tolist(),
                  members=members, layers=layers, num_layers=n_layers, eps=eps, steps=config.steps,
                  step_size=step_size, momentum=config.momentum, classes=list(test.classes), k=len(ensemble))
    return result
