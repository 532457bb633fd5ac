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



def _dverge_update(dtype, weights=None, **options):
    """Losses, parameter gradients (of Σ weights_i·loss_i) and BatchNorm buffers of one
    DVERGE update of three ResNet-8 members (fixed seeds) on random distilled images
    (16x16: float64 channels-last convolutions have no fast kernel)."""
    from engine.models import build_classifier

    torch.manual_seed(0)
    members = [build_classifier("resnet8", channels=3, num_classes=10, mean=[0.5] * 3, std=[0.3] * 3)
               for _ in range(3)]
    distilled = [torch.rand(8, 3, 16, 16).to(dtype) for _ in range(3)]  # small: float64 convolutions
    ys = torch.randint(0, 10, (8,))
    ensemble = Ensemble(members).to(dtype).train()
    losses = cross_distilled_losses(ensemble, distilled, ys, **options)
    weights = torch.ones(3, dtype=dtype) if weights is None else weights.to(dtype)
    (weights * losses).sum().backward()
    return (losses.detach(), [(n, p.grad) for n, p in ensemble.named_parameters()],
            [b.clone() for b in ensemble.buffers()])


_WEIGHTS = torch.tensor([0.5, 2.0, -1.0])  # ∂total/∂loss_i differs per member


@pytest.mark.parametrize("options", [dict(channels_last=True, workers=2), dict(channels_last=True, workers=3)],
                         ids=["2 workers", "3 workers"])
def test_dverge_update_fast_paths_give_the_plain_losses_and_parameter_gradients(options):
    """Channels-last input (oneDNN's layout) and members' forward+backward as
    single-threaded worker tasks (2 workers: members 0-1 in tasks, member 2 in the
    caller's thread; 3: all in tasks, gradients handed back through the loss): in
    float64 the losses, the gradients of a weighted total and the BatchNorm statistics
    equal one plain backward through the graphs up to rounding."""
    losses, grads, buffers = _dverge_update(torch.float64, _WEIGHTS, **options)
    plain_losses, plain_grads, plain_buffers = _dverge_update(torch.float64, _WEIGHTS, channels_last=False, workers=1)
    assert torch.allclose(losses, plain_losses, rtol=1e-12, atol=0)
    for (name, a), (_, b) in zip(grads, plain_grads):
        assert a is not None and torch.allclose(a, b, rtol=1e-9, atol=1e-12), name
    for a, b in zip(buffers, plain_buffers):
        assert torch.allclose(a.double(), b.double(), rtol=1e-12, atol=1e-14)


def test_dverge_update_fast_paths_in_float32_are_as_close_to_float64_as_the_plain_update():
    """In float32 (where oneDNN runs) the BatchNorm-heavy gradients carry rounding errors
    of order 1e-3 whichever way they are computed; the fast update's error against the
    float64 result must stay of the plain float32 update's size."""
    exact = _dverge_update(torch.float64, channels_last=False, workers=1)[1]

    def error(grads):  # relative error of the whole gradient vector (some entries are rounding noise)
        got, want = (torch.cat([g.double().flatten() for _, g in gs]) for gs in (grads, exact))
        return float((got - want).norm() / want.norm())

    plain = error(_dverge_update(torch.float32, channels_last=False, workers=1)[1])
    fast = error(_dverge_update(torch.float32, channels_last=True, workers=2)[1])
    assert plain < 1e-3 and fast < 3 * plain, (fast, plain)


def test_dverge_update_without_gradients_runs_in_the_callers_thread():
    torch.manual_seed(0)
    members = [Affine(torch.randn(3, 4).tolist()) for _ in range(2)]
    with torch.no_grad():
        got = cross_distilled_losses(Ensemble(members), [torch.rand(5, 4) for _ in range(2)],
                                     torch.tensor([0, 1, 2, 0, 1]), workers=2)
    assert not got.requires_grad and all(p.grad is None for m in members for p in m.parameters())
