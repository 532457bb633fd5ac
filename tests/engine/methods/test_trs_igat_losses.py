"""TRS and iGAT loss terms against independent computations on affine members
(logits = W x, so ∇ₓ CE = Wᵀ(softmax(Wx) - onehot(y)) by hand)."""
import math

import pytest
import torch
import torch.nn.functional as F

from engine.data import SPECS
from engine.ensemble import Ensemble
from engine.methods import METHODS, Batch
from engine.methods.igat import allocation_weights, igat_terms
from engine.methods.trs import smooth_perturbation, trs_terms
from tests.engine.methods.test_method_losses import Affine

FMNIST = SPECS["fashion_mnist"]


def ce_input_grad(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, batch: int) -> torch.Tensor:
    """∇ₓ of the batch-mean CE of the affine model W, per row: (softmax(Wx) - e_y) W / batch."""
    p = torch.softmax(x @ w.T, -1)
    return (p - F.one_hot(y, w.shape[0]).float()) @ w / batch


def expected_trs(ws, x, y, x_smooth, y_smooth, smoothness="paper"):
    """(per-member CE, L_sim, L_smooth) by hand. L_smooth "paper": mean over members and rows
    of the per-sample ‖∇ₓ CE(x_b, y_b)‖₂; "code": 2·mean_b ‖∇ₓ(batch-mean CE)_b‖²."""
    b, n_clean = len(x), len(x) - len(x_smooth)
    ces = [F.cross_entropy(x @ w.T, y).item() for w in ws]
    grads = [ce_input_grad(w, x, y, b) for w in ws]
    cosines = [abs(F.cosine_similarity(grads[i][r], grads[j][r], dim=0).item())
               for i in range(len(ws)) for j in range(i + 1, len(ws)) for r in range(b)]
    similarity = sum(cosines) / len(cosines)
    magnitudes = []
    for w, g in zip(ws, grads):
        rows = torch.cat([g[:n_clean], ce_input_grad(w, x_smooth, y_smooth, b)])
        if smoothness == "paper":
            magnitudes.append(sum(float((r * b).norm()) for r in rows) / b)  # r carries 1/b
        else:
            magnitudes.append(2 * sum(float(r @ r) for r in rows) / b)
    return ces, similarity, sum(magnitudes) / len(magnitudes)


def affine_ensemble(seed=0, k=3, classes=3, dims=4):
    torch.manual_seed(seed)
    ws = [torch.randn(classes, dims) for _ in range(k)]
    return ws, Ensemble([Affine(w.tolist()) for w in ws])


@pytest.mark.parametrize("smoothness", ["paper", "code"])
def test_trs_terms_match_hand_computed_gradients(smoothness):
    ws, ens = affine_ensemble()
    x, y = torch.rand(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    x_smooth = torch.rand(3, 4)
    per_member, sim, smooth = trs_terms(ens, x, y, x_smooth, y[3:], smoothness)
    ces, e_sim, e_smooth = expected_trs(ws, x, y, x_smooth, y[3:], smoothness)
    assert per_member.tolist() == pytest.approx(ces, rel=1e-5)
    assert sim.item() == pytest.approx(e_sim, rel=1e-5)
    assert smooth.item() == pytest.approx(e_smooth, rel=1e-5)


def test_trs_paper_smoothness_does_not_depend_on_the_batch_size_and_the_code_form_scales_with_its_inverse_square():
    # the same rows, once alone and once repeated 4 times: the per-sample norm is unchanged,
    # the code's squared norm of the batch-mean CE's gradient drops 16-fold
    ws, ens = affine_ensemble(seed=2)
    x, y = torch.rand(2, 4), torch.tensor([0, 2])
    x4, y4 = x.repeat(4, 1), y.repeat(4)
    def smooth(xs, ys, form):  # the second half "perturbed" to itself: L_smooth over the batch as is
        return trs_terms(ens, xs, ys, xs[len(xs) // 2:], ys[len(ys) // 2:], form)[2].item()

    paper = [smooth(x, y, "paper"), smooth(x4, y4, "paper")]
    code = [smooth(x, y, "code"), smooth(x4, y4, "code")]
    assert paper[0] == pytest.approx(paper[1], rel=1e-5)
    assert code[0] == pytest.approx(16 * code[1], rel=1e-5)


def test_trs_defaults_to_the_papers_smoothness_form():
    assert METHODS["trs"].Params().smoothness == "paper"


def test_trs_similarity_term_is_zero_for_orthogonal_and_one_for_opposite_gradients():
    # two classes; at x = 0 both members predict ½/½ so ∇CE = ½ (row_other - row_y) / B
    x, y = torch.zeros(1, 2), torch.tensor([0])
    orthogonal = Ensemble([Affine([[1.0, 0.0], [0.0, 0.0]]), Affine([[0.0, 1.0], [0.0, 0.0]])])
    opposite = Ensemble([Affine([[1.0, 0.0], [0.0, 0.0]]), Affine([[-1.0, 0.0], [0.0, 0.0]])])
    assert trs_terms(orthogonal, x, y, x, y)[1].item() == pytest.approx(0.0, abs=1e-7)
    assert trs_terms(opposite, x, y, x, y)[1].item() == pytest.approx(1.0)  # |cos| = |-1|


def test_trs_loss_is_ce_plus_weighted_terms():
    ws, ens = affine_ensemble(seed=1)
    params = METHODS["trs"].Params(lambda_a=3.0, lambda_b=7.0, delta_init=1e-9, delta_max=1e-9)
    method = METHODS["trs"](params, FMNIST)
    x, y = torch.rand(4, 4) * 0.8 + 0.1, torch.tensor([2, 1, 0, 1])
    losses = method.loss(ens, Batch(x, y))
    ces, sim, smooth = expected_trs(ws, x, y, x[2:], y[2:])  # δ ≈ 0: the perturbed half is x itself
    assert losses.total.item() == pytest.approx(sum(ces) + 3.0 * sim + 7.0 * smooth, rel=1e-5)
    assert losses.terms["gradient_abs_cosine"] == pytest.approx(sim, rel=1e-5)


def test_smoothness_pgd_moves_to_the_edge_of_the_ball_where_the_gradient_grows():
    # One input dim, two classes, W = [[0], [4]]: with y = 0 the wrong class gains with x,
    # |∇ₓCE| = 4·p₁(x) grows with x, so every signed step goes +δ/3 and 6 steps from any
    # start in the ball end at x + δ.
    ens = Ensemble([Affine([[0.0], [4.0]])])
    x, y = torch.tensor([[0.2], [0.5], [0.97]]), torch.tensor([0, 0, 0])
    out = smooth_perturbation(ens, x, y, delta=0.06, steps=6, batch_size=3)
    assert out.squeeze(1).tolist() == pytest.approx([0.26, 0.56, 1.0])  # clipped to [0, 1]


def test_trs_radius_grows_from_delta0_to_deltam_over_training():
    method = METHODS["trs"](METHODS["trs"].Params(), SPECS["cifar10"])
    assert (method.delta_init, method.delta_max) == pytest.approx((0.01, 0.03))  # the authors' CIFAR-10 values
    assert [method.radius(e, 4) for e in (1, 2, 3, 4)] == pytest.approx([0.01, 0.015, 0.02, 0.025])
    fm = METHODS["trs"](METHODS["trs"].Params(), FMNIST)
    assert (fm.delta_init, fm.delta_max) == pytest.approx((0.1 / 3, 0.1))


def test_igat_allocation_weights_are_two_to_the_rank_of_the_true_class_probability():
    true_probs = torch.tensor([[0.1, 0.9], [0.5, 0.05], [0.3, 0.5]])  # [K=3, B=2]
    weights = allocation_weights(true_probs)
    assert weights.flatten().tolist() == pytest.approx([1 / 7, 4 / 7, 2 / 7, 4 / 7, 1 / 7, 2 / 7])


def test_igat_terms_match_hand_computation():
    logits = torch.tensor([[[2.0, 0.0, 1.0], [0.0, 3.0, 0.0]],   # member 0 on x̃_0, x̃_1
                           [[0.0, 1.0, 0.5], [1.0, 1.0, 2.0]]])  # member 1
    y = torch.tensor([0, 1])
    selected, fooled = torch.tensor([1, 0]), torch.tensor([True, False])
    alloc, reg = igat_terms(logits, y, selected, fooled)
    p = logits.softmax(-1)
    # only x̃_0 counts (the ensemble is right on x̃_1); it went to member 1; N = 2
    assert alloc.item() == pytest.approx(-math.log(p[1, 0, 0].item()) / 2, rel=1e-6)
    worst0 = p[0, 0, 2].item()  # member 0's most probable wrong class on x̃_0 is class 2
    worst1 = p[1, 0, 1].item()  # member 1's is class 1
    assert reg.item() == pytest.approx((-math.log(1 - worst0) - math.log(1 - worst1)) / 2, rel=1e-6)


def test_igat_regularizer_clips_a_certain_wrong_prediction_at_099():
    logits = torch.tensor([[[0.0, 50.0]]])
    _, reg = igat_terms(logits, torch.tensor([0]), torch.tensor([0]), torch.tensor([True]))
    assert reg.item() == pytest.approx(-math.log(0.01), rel=1e-6)


def test_igat_adp_is_adp_plus_weighted_terms_on_the_global_adversarial_examples(monkeypatch):
    # One member: the allocation is certain, so the whole loss is checkable by hand.
    w = torch.tensor([[1.0, -1.0], [-1.0, 1.0], [0.5, 0.5]])
    ens = Ensemble([Affine(w.tolist())])
    x, y = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 1, 0, 1])
    x_adv = torch.tensor([[0.1, 0.9], [0.2, 0.8]])  # class 1 wins on both: x̃_0 fooled, x̃_1 not
    cls = METHODS["igat_adp"]
    method = cls(cls.Params(igat_alpha=2.0, igat_beta=3.0), FMNIST)
    monkeypatch.setattr(method, "global_adversarial", lambda ens, xa, ya: x_adv)
    losses = method.loss(ens, Batch(x, y))
    adp = METHODS["adp"](METHODS["adp"].Params(), FMNIST).loss(ens, Batch(x, y)).total.item()
    p = torch.softmax(x_adv @ w.T, -1)
    alloc = -math.log(p[0, 0].item()) / 2
    reg = -math.log(1 - p[0, 1].item()) / 2
    assert losses.terms["igat_fooled"] == 0.5
    assert losses.total.item() == pytest.approx(adp + 2.0 * alloc + 3.0 * reg, rel=1e-5)


def test_igat_methods_take_their_base_methods_recipe():
    assert METHODS["igat_adp"].optimizer == METHODS["adp"].optimizer
    assert METHODS["igat_dverge"].needs_source_batch and METHODS["igat_dverge"].starts_from_baseline
    assert not METHODS["igat_adp"].starts_from_baseline
    assert set(METHODS["dverge"].Params.model_fields) < set(METHODS["igat_dverge"].Params.model_fields)
