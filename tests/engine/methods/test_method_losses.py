"""Method losses against independent computations on tiny, checkable cases."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.data import SPECS
from engine.ensemble import Ensemble
from engine.methods import METHODS, Batch
from engine.methods.dverge import cross_distilled_losses
from engine.gradients import input_gradients


class Affine(nn.Module):
    """logits = W x (flattened): input gradients are rows of W, checkable by hand."""

    def __init__(self, weight):
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(weight))

    def forward(self, x):
        return x.flatten(1) @ self.weight.T


def test_dverge_loss_sums_ce_on_the_other_members_distilled_images():
    torch.manual_seed(0)
    members = [Affine(torch.randn(3, 4).tolist()) for _ in range(3)]
    ens = Ensemble(members)
    distilled = [torch.rand(5, 4) for _ in range(3)]
    ys = torch.tensor([0, 1, 2, 0, 1])
    got = cross_distilled_losses(ens, distilled, ys)
    for i in range(3):
        expected = sum(F.cross_entropy(members[i](distilled[j]), ys) for j in range(3) if j != i)
        assert got[i].item() == pytest.approx(expected.item(), rel=1e-6)


def test_input_gradients_are_separate_per_member():
    w1 = [[1.0, 0.0], [0.0, 2.0]]
    w2 = [[0.0, 3.0], [1.0, 1.0]]
    ens = Ensemble([Affine(w1), Affine(w2)])
    x = torch.rand(4, 2)
    y = torch.tensor([0, 1, 1, 0])
    # saliency of the true-class logit of an affine model is row y of its weight
    grads, _ = input_gradients(ens, x, lambda logits, k: (logits.gather(1, y[:, None]).sum(), None), False)
    assert torch.equal(grads[0], torch.tensor(w1)[y]) and torch.equal(grads[1], torch.tensor(w2)[y])


def test_gal_term_is_log_sum_exp_of_gradient_cosines():
    ens = Ensemble([Affine([[1.0, 0.0], [0.0, 1.0]]), Affine([[0.0, 1.0], [1.0, 0.0]])])
    method = METHODS["gal"](METHODS["gal"].Params(lam=0.5), SPECS["fashion_mnist"])
    x, y = torch.tensor([[0.0, 0.0]]), torch.tensor([0])
    # At x = 0 both members predict uniformly: ∇CE = (p - onehot(y)) W = ½(row1 - row0)... per member:
    g1 = 0.5 * (torch.tensor([0.0, 1.0]) - torch.tensor([1.0, 0.0]))  # W1 rows e0, e1
    g2 = 0.5 * (torch.tensor([1.0, 0.0]) - torch.tensor([0.0, 1.0]))  # W2 rows e1, e0
    cos = float(F.cosine_similarity(g1, g2, dim=0))
    losses = method.loss(ens, Batch(x, y))
    assert float(losses.terms["gradient_coherence"]) == pytest.approx(cos)  # one pair: log exp(cos)
    assert losses.total.item() == pytest.approx(2 * math.log(2) + 0.5 * cos)
