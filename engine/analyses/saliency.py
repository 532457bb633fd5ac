"""The ``saliency`` analysis: SMD Eq. 2, Fig. 1 (right) (computation:
:mod:`engine.evaluation.saliency`)."""
from __future__ import annotations

from typing import Literal, Optional

import numpy as np
import torch
from pydantic import Field

from ..ensemble import attack_mode
from ..evaluation import AnalysisError
from ..evaluation import saliency as core
from ..evaluation.selection import check_index, seeded_indices
from ..figures import saliency as figures
from . import AnalysisConfig, Context, register_analysis


class Config(AnalysisConfig):
    indices: Optional[list[int]] = Field(None, description="test images (default: `images` seeded random ones)")
    images: int = Field(1, ge=1, le=16, description="seeded random images when indices is not given")
    method: Literal["saliency", "integrated_gradients", "smoothgrad"] = Field("saliency",
                                                                              description="attribution method")
    target: Optional[int] = Field(None, ge=0, description="class attributed (default: each image's true class)")
    noise_std: float = Field(0.1, gt=0, le=1, description="SmoothGrad noise std (images in [0, 1])")
    nt_samples: int = Field(32, ge=1, le=500, description="SmoothGrad noisy samples")
    ig_steps: int = Field(32, ge=2, le=1000, description="Integrated Gradients steps (black baseline)")


@register_analysis("saliency", title="Saliency maps and their alignment", config=Config,
                   figure=figures.saliency_figure, table=figures.saliency_table, reference="SMD Eq. 2, Fig. 1 (right)")
def compute(ctx: Context, config: Config) -> dict:
    test, ensemble = ctx.test, ctx.ensemble
    if config.indices is not None:
        if not config.indices:
            raise AnalysisError("indices is empty: give at least one test index")
        indices = [check_index(test, i, "indices") for i in config.indices]
    else:
        indices = seeded_indices(test, config.seed, config.images)
    x = test.images(indices).to(ctx.device)
    y = test.y[indices].to(ctx.device)
    n_classes = len(test.classes)
    if config.target is not None and config.target >= n_classes:
        raise AnalysisError(f"target={config.target}: choose a class in 0..{n_classes - 1}")
    target = torch.full_like(y, config.target) if config.target is not None else y
    ctx.report(0, 2, "attributions")
    maps = core.member_attributions(ensemble, x, target, config).sum(2)  # [K, B, H, W]
    ctx.report(1, 2, "saliency alignment")
    cos, lse = core.saliency_alignment_matrix(ensemble, x, y)
    with attack_mode(ensemble), torch.no_grad():
        logits = ensemble.member_logits(x)
        preds = torch.cat([logits.argmax(-1), logits.softmax(-1).mean(0).argmax(-1)[None]])  # [K+1, B]
    ctx.report(2, 2, "saliency alignment")
    k = len(ensemble)
    off = cos[:, ~torch.eye(k, dtype=torch.bool)].mean(1) if k > 1 else torch.full((len(indices),), float("nan"))
    return {"indices": indices, "labels": y.cpu().tolist(), "targets": target.cpu().tolist(),
            "images": test.x[indices].numpy(),  # uint8 [B, C, H, W]
            "maps": maps.cpu().numpy().astype(np.float32),  # [K, B, H, W]
            "alignment": cos.cpu().numpy(),  # [B, K, K]
            "mean_alignment": off.cpu().tolist(), "smd_loss": lse.cpu().tolist(),
            "prediction": preds.cpu().tolist(), "k": k,
            "classes": list(test.classes), "attribution": config.method, "noise_std": config.noise_std,
            "nt_samples": config.nt_samples, "ig_steps": config.ig_steps}
