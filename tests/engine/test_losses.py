"""Each diversity loss against a computation done by hand on a tiny case."""
import math

import pytest
import torch
import torch.nn.functional as F

from engine.losses import (adp_regularizer, cce_member_losses, ensemble_diversity_logdet, entropy,
                           pairwise_cosine, pairwise_cosine_lse)


def test_entropy_of_uniform_is_log_of_class_count():
    assert entropy(torch.full((4,), 0.25)).item() == pytest.approx(math.log(4))
    assert entropy(torch.tensor([1.0, 0.0, 0.0])).item() == pytest.approx(0.0, abs=1e-12)


def test_log_ensemble_diversity_of_two_members_is_log_sine_squared():
    # y = 0, so the non-maximal predictions are (0.3, 0.2) and (0.2, 0.3):
    # cos = 0.12 / 0.13 = 12/13, det of the Gram matrix = 1 - cos² = 25/169.
    probs = torch.tensor([[[0.5, 0.3, 0.2]], [[0.5, 0.2, 0.3]]])
    value = ensemble_diversity_logdet(probs, torch.tensor([0]), det_offset=1e-12)
    assert value.item() == pytest.approx(math.log(25 / 169), rel=1e-5)


def test_log_ensemble_diversity_is_zero_for_orthogonal_non_maximal_predictions():
    # y = 1; non-maximal parts (0.4, 0) and (0, 0.3) are orthogonal: det = 1.
    probs = torch.tensor([[[0.4, 0.6, 0.0]], [[0.0, 0.7, 0.3]]])
    assert ensemble_diversity_logdet(probs, torch.tensor([1]), det_offset=1e-12).item() == pytest.approx(0.0, abs=1e-6)


def test_log_ensemble_diversity_ignores_the_true_class_entry():
    a = torch.tensor([[[0.5, 0.3, 0.2]], [[0.5, 0.2, 0.3]]])
    b = torch.tensor([[[0.9, 0.06, 0.04]], [[0.1, 0.36, 0.54]]])  # same directions off y=0
    y = torch.tensor([0])
    assert ensemble_diversity_logdet(a, y).item() == pytest.approx(ensemble_diversity_logdet(b, y).item(), rel=1e-5)


def test_adp_regularizer_is_alpha_entropy_plus_beta_logdet():
    probs = torch.tensor([[[0.5, 0.3, 0.2]], [[0.5, 0.2, 0.3]]])
    mean = [0.5, 0.25, 0.25]
    h = -sum(p * math.log(p) for p in mean)
    expected = 2.0 * h + 0.5 * math.log(25 / 169)
    got = adp_regularizer(probs, torch.tensor([0]), alpha=2.0, beta=0.5, det_offset=1e-12)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_pairwise_cosine_lse_sums_over_unordered_pairs():
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 3.0])
    vectors = torch.stack([e1, 2 * e1, e2]).unsqueeze(1)  # K=3, B=1
    # pairs (0,1): cos 1, (0,2): 0, (1,2): 0
    assert pairwise_cosine_lse(vectors).item() == pytest.approx(math.log(math.e + 2))
    assert pairwise_cosine(vectors)[:, :, 0].tolist() == [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]


def test_pairwise_cosine_lse_of_opposite_vectors():
    v = torch.tensor([[[1.0, 1.0]], [[-1.0, -1.0]]])
    assert pairwise_cosine_lse(v).item() == pytest.approx(-1.0)


def _hand_ce(logits, y):
    return -logits[y] + math.log(sum(math.exp(v) for v in logits))


def _hand_softmax(logits):
    z = sum(math.exp(v) for v in logits)
    return [math.exp(v) / z for v in logits]


@pytest.mark.parametrize("lambda_pm, lambda_dm", [(1.0, 1.0), (0.0, 5.0)])
def test_cce_loss_matches_equation_5_by_hand(lambda_pm, lambda_dm):
    y = 1
    clean = [[0.0, 2.0, 0.0], [1.0, 1.0, 0.0]]
    # adv[n][i]: member n on the adversarial example of member i
    adv = [[[2.0, 0.0, 0.0], [0.5, 1.0, 0.0]],
           [[0.0, 0.0, 1.0], [1.0, 0.0, 2.0]]]
    expected = []
    for n in range(2):
        other = 1 - n
        p = _hand_softmax(adv[n][other])
        h = -sum(q * math.log(q) for q in p)
        value = _hand_ce(clean[n], y) + _hand_ce(adv[n][n], y)
        value += lambda_pm * p[y] * _hand_ce(adv[n][other], y) - lambda_dm * (1 - p[y]) * h
        expected.append(value)
    got = cce_member_losses(torch.tensor(clean).unsqueeze(1), torch.tensor(adv).unsqueeze(2),
                            torch.tensor([y]), lambda_pm, lambda_dm)
    assert got.tolist() == pytest.approx(expected, rel=1e-5, abs=1e-5)


def test_cce_soft_indicator_carries_no_gradient():
    y = torch.tensor([0])
    clean = torch.zeros(2, 1, 3)
    adv = torch.tensor([[[[0.3, 0.1, -0.2]], [[0.2, 0.5, 0.1]]],
                        [[[0.0, 0.4, 0.2]], [[0.1, 0.0, 0.3]]]], requires_grad=True)
    cce_member_losses(clean, adv, y, 1.0, 1.0)[0].backward()
    # Independent computation: the indicator frozen as a constant.
    logits = adv.detach()[0, 1, 0].clone().requires_grad_(True)
    p = logits.softmax(-1)
    ind = float(p[0].detach())
    loss = ind * F.cross_entropy(logits[None], y) - (1 - ind) * entropy(p)
    loss.backward()
    assert torch.allclose(adv.grad[0, 1, 0], logits.grad, atol=1e-6)
