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
CANDIDATES = 32  # seeded test images tried for an informative default slice


class Config(AnalysisConfig):
    index: Optional[int] = Field(None, ge=0, description="test image at the origin (default: the first seeded random "
                                 "image whose slice crosses a decision boundary)")
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


def informative_index(test, model, seed: int, offsets: torch.Tensor, device) -> tuple[int, str]:
    """(index, rule): the first of ``CANDIDATES`` seeded test images whose adversarial line
    crosses a decision boundary of ``model``, else the first candidate."""
    candidates = seeded_indices(test, seed, min(CANDIDATES, len(test)))
    for tried, index in enumerate(candidates, start=1):
        x, y = test.images([index]).to(device), test.y[[index]].to(device)
        try:
            direction = core.adversarial_direction(model, x, y)
        except AnalysisError:  # zero input gradient: no direction at this image
            continue
        if core.crosses_boundary(model, x, direction, offsets):
            return index, f"first of {tried} seeded test images whose slice crosses a decision boundary"
    return candidates[0], f"none of {len(candidates)} seeded test images crosses a boundary within ±extent: the first"


@register_analysis("decision-region", title="Decision regions around a test image", config=Config,
                   figure=figures.decision_region_figure, table=figures.decision_region_table,
                   reference="DVERGE Fig. 1, appendix C.1 Fig. 7",
                   version=2)  # 2: the default image is the first informative one
def compute(ctx: Context, config: Config) -> dict:
    """Default image: a random test image is often classified the same over the whole
    ball (identical squares say nothing), so without ``index`` the image is the first of
    ``CANDIDATES`` seeded test images whose vertical line crosses a decision boundary of
    the model defining the direction (the surrogate, else the analysed ensemble): its
    slice shows at least two classes. If none does, the first candidate. ``index_rule``
    in the result says which happened."""
    test, ensemble = ctx.test, ctx.ensemble
    if config.surrogate:
        surrogate, surrogate_meta = load_checkpoint(config.surrogate, ctx.device)
        if surrogate_meta.get("dataset") != ctx.dataset:
            raise AnalysisError(f"surrogate {config.surrogate} was trained on {surrogate_meta.get('dataset')}, "
                                f"the analysed ensemble on {ctx.dataset}")
        surrogate_name = f"{surrogate_meta.get('method') or 'imported'} x{len(surrogate)} ({Path(config.surrogate).name})"
    else:
        surrogate, surrogate_name = ensemble, "the analysed ensemble itself"
    offsets = torch.linspace(-config.extent, config.extent, config.resolution)
    if config.index is not None:
        index, rule = check_index(test, config.index, "index"), "chosen (index)"
    else:
        index, rule = informative_index(test, surrogate, config.seed, offsets, ctx.device)
    x = test.images([index]).to(ctx.device)
    y = test.y[[index]].to(ctx.device)
    vertical = core.adversarial_direction(surrogate, x, y)
    horizontal = core.rademacher_direction(x.shape, config.seed).to(ctx.device)
    grid = core.region_grid(ensemble, x, vertical, horizontal, offsets, config.batch_size,
                            progress=lambda d, t: ctx.report(d, t, "decision regions"))
    with attack_mode(ensemble), torch.no_grad():
        logits = ensemble.member_logits(x)
        clean = torch.cat([logits.argmax(-1)[:, 0], logits.softmax(-1).mean(0).argmax(-1)]).cpu().tolist()
    offsets_np = offsets.numpy()
    return {"regions": grid, "offsets": offsets_np.tolist(), "index": index, "index_rule": rule, "label": int(y[0]),
            "image": test.x[index].numpy(), "clean_prediction": clean, "classes": list(test.classes),
            "surrogate": config.surrogate, "surrogate_name": surrogate_name, "extent": config.extent,
            "resolution": config.resolution, "k": len(ensemble), "flip_distance": core.flip_distance(grid, offsets_np),
            "true_class_fraction": (grid == int(y[0])).mean(axis=(1, 2)).tolist()}
