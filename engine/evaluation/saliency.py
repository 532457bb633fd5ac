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

import torch
from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

from ..ensemble import Ensemble, attack_mode
from ..losses import pairwise_cosine, pairwise_cosine_lse


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
