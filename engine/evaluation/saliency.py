"""Per-member attribution maps of a few test images, and their saliency alignment.

Maps come from captum (one per member, signed, summed over colour channels):

- ``saliency``: ∂f_m(x)[t]/∂x, the gradient of the target logit (Simonyan et al. 2014;
  exactly the SMD paper's saliency map s_m when t is the true class);
- ``integrated_gradients``: Sundararajan et al. 2017, from a black image;
- ``smoothgrad``: saliency averaged over ``nt_samples`` Gaussian-noised copies
  (Smilkov et al. 2017; captum ``NoiseTunnel(Saliency)``), noise std ``noise_std`` in
  pixel units of [0, 1] images.

The target t is the true class by default. Whatever the chosen map, each image's
*alignment* is computed on the SMD paper's true-class saliency maps s_m = ∂f_m(x)[y]/∂x:
the pairwise cosine matrix cos(s_m, s_l) and SMD Eq. (2),
L_SMD(x) = log Σ_{m<l} exp(cos(s_m, s_l)) (``engine.losses``, the quantity SMD training
minimises). Low alignment means the members are sensitive to different pixels.
"""
from __future__ import annotations

from typing import Literal, Optional

import numpy as np
import torch
from captum.attr import IntegratedGradients, NoiseTunnel, Saliency
from pydantic import Field

from ..analysis import Analysis, AnalysisConfig, AnalysisError, Context
from ..ensemble import Ensemble, attack_mode
from ..figures import saliency as figures
from ..losses import pairwise_cosine, pairwise_cosine_lse
from .selection import check_index, seeded_indices


class Config(AnalysisConfig):
    indices: Optional[list[int]] = Field(None, description="test images (default: `images` seeded random ones)")
    images: int = Field(1, ge=1, le=16, description="seeded random images when indices is not given")
    method: Literal["saliency", "integrated_gradients", "smoothgrad"] = Field("saliency",
                                                                              description="attribution method")
    target: Optional[int] = Field(None, ge=0, description="class attributed (default: each image's true class)")
    noise_std: float = Field(0.1, gt=0, le=1, description="SmoothGrad noise std (images in [0, 1])")
    nt_samples: int = Field(32, ge=1, le=500, description="SmoothGrad noisy samples")
    ig_steps: int = Field(32, ge=2, le=1000, description="Integrated Gradients steps (black baseline)")


def _saliency(model, x, target, config):
    return Saliency(model).attribute(x, target=target, abs=False)


def _integrated_gradients(model, x, target, config):
    return IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=target,
                                                n_steps=config.ig_steps)


def _smoothgrad(model, x, target, config):
    return NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=config.nt_samples,
                                                  stdevs=config.noise_std, target=target, abs=False)


METHODS = {"saliency": _saliency, "integrated_gradients": _integrated_gradients, "smoothgrad": _smoothgrad}


def member_attributions(ensemble: Ensemble, x: torch.Tensor, target: torch.Tensor, config) -> torch.Tensor:
    """Attribution of every member, [K, B, C, H, W] (``config.method`` and its settings)."""
    attribute = METHODS[config.method]
    x = x.detach().clone().requires_grad_(True)  # captum would set it (with a warning)
    # captum's NoiseTunnel draws from the global generator: seed it without disturbing it
    with attack_mode(ensemble), torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return torch.stack([attribute(member, x, target, config).detach() for member in ensemble.members])


def saliency_alignment_matrix(ensemble: Ensemble, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos(s_m, s_l) as [B, K, K], SMD Eq. 2 L_SMD [B]) of the true-class saliency maps."""
    x = x.detach().clone().requires_grad_(True)
    with attack_mode(ensemble):
        maps = torch.stack([Saliency(m).attribute(x, target=y, abs=False).detach() for m in ensemble.members])
    cos = pairwise_cosine(maps).permute(2, 0, 1)
    lse = pairwise_cosine_lse(maps) if len(ensemble) > 1 else torch.full((x.shape[0],), float("nan"))
    return cos, lse


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
    maps = member_attributions(ensemble, x, target, config).sum(2)  # [K, B, H, W]
    ctx.report(1, 2, "saliency alignment")
    cos, lse = saliency_alignment_matrix(ensemble, x, y)
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


ANALYSIS = Analysis(name="saliency", title="Saliency maps and their alignment", config=Config, compute=compute,
                    figure=figures.saliency_figure, table=figures.saliency_table,
                    reference="SMD Eq. 2, Fig. 1 (right)")
