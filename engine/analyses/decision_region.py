"""The ``decision-region`` analysis: DVERGE Fig. 1, appendix C.1 Fig. 7 (computation:
:mod:`engine.evaluation.decision_region`)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from pydantic import Field, field_validator

from ..checkpoint import load_checkpoint
from ..ensemble import attack_mode
from ..evaluation import AnalysisError
from ..evaluation import decision_region as core
from ..evaluation.selection import check_index, seeded_indices
from ..figures import decision_region as figures
from . import AnalysisConfig, Context, register_analysis


MAX_RESOLUTION = 301  # 301² images per model; the paper's 1000² is too heavy for a browser


class Config(AnalysisConfig):
    index: Optional[int] = Field(None, ge=0, description="test image at the origin (default: a seeded random image)")
    surrogate: Optional[str] = Field(None, description="checkpoint whose adversarial direction is the vertical axis "
                                     "(default: the analysed ensemble itself)")
    extent: float = Field(0.1, gt=0, le=1, description="L∞ distance covered along each axis (±extent)")
    resolution: int = Field(61, ge=3, le=MAX_RESOLUTION, description="grid points per axis (odd: the origin is on "
                            "the grid)")
    batch_size: int = Field(1024, ge=1, le=65536, description="grid images evaluated per forward pass")

    @field_validator("surrogate")
    @classmethod
    def _absolute(cls, value):
        return str(Path(value).expanduser().resolve()) if value else value


@register_analysis("decision-region", title="Decision regions around a test image", config=Config,
                   figure=figures.decision_region_figure, table=figures.decision_region_table,
                   reference="DVERGE Fig. 1, appendix C.1 Fig. 7")
def compute(ctx: Context, config: Config) -> dict:
    test, ensemble = ctx.test, ctx.ensemble
    index = check_index(test, config.index, "index") if config.index is not None else seeded_indices(test, config.seed)[0]
    x = test.images([index]).to(ctx.device)
    y = test.y[[index]].to(ctx.device)
    if config.surrogate:
        surrogate, surrogate_meta = load_checkpoint(config.surrogate, ctx.device)
        if surrogate_meta.get("dataset") != ctx.dataset:
            raise AnalysisError(f"surrogate {config.surrogate} was trained on {surrogate_meta.get('dataset')}, "
                                f"the analysed ensemble on {ctx.dataset}")
        surrogate_name = f"{surrogate_meta.get('method') or 'imported'} x{len(surrogate)} ({Path(config.surrogate).name})"
    else:
        surrogate, surrogate_name = ensemble, "the analysed ensemble itself"
    vertical = core.adversarial_direction(surrogate, x, y)
    horizontal = core.rademacher_direction(x.shape, config.seed).to(ctx.device)
    offsets = torch.linspace(-config.extent, config.extent, config.resolution)
    grid = core.region_grid(ensemble, x, vertical, horizontal, offsets, config.batch_size,
                            progress=lambda d, t: ctx.report(d, t, "decision regions"))
    with attack_mode(ensemble), torch.no_grad():
        logits = ensemble.member_logits(x)
        clean = torch.cat([logits.argmax(-1)[:, 0], logits.softmax(-1).mean(0).argmax(-1)]).cpu().tolist()
    offsets_np = offsets.numpy()
    return {"regions": grid, "offsets": offsets_np.tolist(), "index": index, "label": int(y[0]),
            "image": test.x[index].numpy(), "clean_prediction": clean, "classes": list(test.classes),
            "surrogate": config.surrogate, "surrogate_name": surrogate_name, "extent": config.extent,
            "resolution": config.resolution, "k": len(ensemble), "flip_distance": core.flip_distance(grid, offsets_np),
            "true_class_fraction": (grid == int(y[0])).mean(axis=(1, 2)).tolist()}
