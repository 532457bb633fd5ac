"""The diversity losses of the four papers as plain tensor functions.

Kept free of models and training state so each can be checked by hand
(``tests/engine/test_losses.py``). Shapes: K members, B samples, L classes, D input dims.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

_TINY = 1e-20


def entropy(probs: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shannon entropy -Σ p log p (natural log) along ``dim``."""
    return -(probs * torch.log(probs + _TINY)).sum(dim)


def ensemble_diversity_logdet(member_probs: torch.Tensor, y: torch.Tensor,
                              det_offset: float = 1e-6) -> torch.Tensor:
    """log ED, ADP Eq. (3): log det(M̃ᵀM̃ + δI) per sample, [B].

    M̃ = (F̃¹, ..., F̃ᴷ) holds each member's non-maximal predictions (the true class y
    removed, order kept) normalized to unit L2 norm; δ keeps the log finite when two
    members agree exactly.
    """
    k, b, l = member_probs.shape
    keep = torch.ones(b, l, dtype=torch.bool, device=member_probs.device)
    keep[torch.arange(b), y] = False
    non_max = member_probs.permute(1, 0, 2)[keep.unsqueeze(1).expand(b, k, l)].view(b, k, l - 1)
    unit = non_max / non_max.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    gram = unit @ unit.transpose(1, 2) + det_offset * torch.eye(k, device=unit.device)
    return torch.logdet(gram)


def adp_regularizer(member_probs: torch.Tensor, y: torch.Tensor, alpha: float, beta: float,
                    det_offset: float = 1e-6) -> torch.Tensor:
    """ADP_{α,β}(x, y) = α·H(mean prediction) + β·log ED, ADP Eq. (5), per sample [B]."""
    ens_entropy = entropy(member_probs.mean(0))
    return alpha * ens_entropy + beta * ensemble_diversity_logdet(member_probs, y, det_offset)


def pairwise_cosine_lse(vectors: torch.Tensor) -> torch.Tensor:
    """log Σ_{i<j} exp(cos(v_i, v_j)) per sample, [B], for vectors [K, B, ...].

    GAL's coherence of input gradients (Kariyappa & Qureshi 2019) and SMD's Eq. (2)
    alignment of saliency maps are both this quantity of different vectors.
    """
    k = vectors.shape[0]
    if k < 2:
        raise ValueError("pairwise similarity needs at least two members")
    flat = vectors.flatten(2)
    unit = flat / flat.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    i, j = torch.triu_indices(k, k, offset=1)
    cos = (unit[i] * unit[j]).sum(-1)  # [pairs, B]
    return torch.logsumexp(cos, dim=0)


def pairwise_cosine(vectors: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every member pair, [K, K, B] (diagonal = 1)."""
    flat = vectors.flatten(2)
    unit = flat / flat.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return torch.einsum("ibd,jbd->ijb", unit, unit)


def cce_member_losses(clean_logits: torch.Tensor, adv_logits: torch.Tensor, y: torch.Tensor,
                      lambda_pm: float, lambda_dm: float) -> torch.Tensor:
    """CCE Eq. (5), one loss per member, [K] (each averaged over the batch).

    ``clean_logits`` [K, B, L]: member n on x. ``adv_logits`` [K, K, B, L]: entry [n, i] is
    member n on x_aⁱ, the adversarial example of member i. For member n:

        C(fⁿ(x)) + C(fⁿ(x_aⁿ)) + 1/(N-1) Σ_{i≠n} [ λpm·p_yⁿ(x_aⁱ)·C(fⁿ(x_aⁱ))
                                                 - λdm·(1 - p_yⁿ(x_aⁱ))·H(fⁿ(x_aⁱ)) ]

    with the soft indicator p_yⁿ(x_aⁱ) detached (CCE: "stopping gradient") and H the
    entropy of member n's softmax.
    """
    k = clean_logits.shape[0]
    losses = []
    for n in range(k):
        loss = F.cross_entropy(clean_logits[n], y) + F.cross_entropy(adv_logits[n, n], y)
        if k > 1:
            cross = 0.0
            for i in range(k):
                if i == n:
                    continue
                logits = adv_logits[n, i]
                probs = logits.softmax(-1)
                indicator = probs.gather(1, y[:, None]).squeeze(1).detach()
                ce = F.cross_entropy(logits, y, reduction="none")
                cross = cross + (lambda_pm * indicator * ce - lambda_dm * (1 - indicator) * entropy(probs)).mean()
            loss = loss + cross / (k - 1)
        losses.append(loss)
    return torch.stack(losses)
