"""AutoAttack: per-sample worst case over the components, exactness on a linear model,
monotonicity in ε, and ≈0 % robust for an undefended model at a large ε."""
import pytest
import torch

from engine.attacks import autoattack as aa
from engine.attacks.registry import EnsembleLogProbs
from engine.checkpoint import load_checkpoint
from engine.data import load_split
from tests.conftest import REPO
from tests.models import Linear


class _Fake:
    """A stand-in for one torchattacks component: moves chosen samples (identified by
    their first pixel) by ``shift`` on the second pixel, and records what it was given."""

    def __init__(self, breaks: set[int], shift: float, seen: list):
        self.breaks, self.shift, self.seen = breaks, shift, seen

    def __call__(self, x, y):
        ids = [round(float(v) * 100) for v in x[:, 0, 0, 0]]
        self.seen.append(ids)
        adv = x.clone()
        for row, i in enumerate(ids):
            if i in self.breaks:
                adv[row, 0, 0, 1] += self.shift
        return adv


def _two_pixel_model():
    # class 0 iff pixel0 > pixel1: logits = [p0 - p1, p1 - p0]
    return Linear(torch.tensor([[1.0, -1.0], [-1.0, 1.0]]))


def test_worst_case_over_components_and_only_still_robust_samples_attacked(monkeypatch):
    model = _two_pixel_model()
    # sample i: pixel0 = i/100 (its id), pixel1 = pixel0 - 0.2 => class 0 with margin 0.2 ... except sample 9
    ids = list(range(1, 10))
    x = torch.tensor([[i / 100 + 0.5, i / 100 + 0.3] for i in ids]).view(-1, 1, 1, 2)
    x[:, 0, 0, 0] = torch.tensor([i / 100 for i in ids])
    x[:, 0, 0, 1] = x[:, 0, 0, 0] - 0.02  # margin 0.02 in pixel1: a shift of 0.03 breaks it
    y = torch.zeros(len(ids), dtype=torch.long)
    y[-1] = 1  # sample 9 is misclassified from the start
    seen = {name: [] for name in aa.COMPONENTS}
    plan = {"apgd-ce": ({1, 2}, 0.03), "apgd-t": ({1, 3}, 0.03), "fab-t": ({4}, 0.5),  # 0.5: out of budget
            "square": ({5}, 0.03)}

    def fake_build(name, model, **kw):
        breaks, shift = plan[name]
        return _Fake(breaks, shift, seen[name])

    monkeypatch.setattr(aa, "build_component", fake_build)
    result = aa.autoattack(model, x, y, eps=0.04, version="quick")
    # clean: 1..8 correct, 9 wrong; apgd-ce breaks 1, 2; apgd-t then 3 (1 is gone); fab-t's move of
    # sample 4 is projected back to ε = 0.04 -- still breaks it (margin 0.02); square breaks 5.
    assert result.clean.tolist() == [True] * 8 + [False]
    assert result.robust.tolist() == [False] * 5 + [True] * 3 + [False]
    assert result.broken_by == ["apgd-ce", "apgd-ce", "apgd-t", "fab-t", "square", "", "", "", ""]
    assert seen["apgd-ce"] == [[1, 2, 3, 4, 5, 6, 7, 8]]
    assert seen["apgd-t"] == [[3, 4, 5, 6, 7, 8]]
    assert seen["fab-t"] == [[4, 5, 6, 7, 8]]
    assert seen["square"] == [[5, 6, 7, 8]]
    assert [c["broken"] for c in result.components] == [2, 1, 1, 1]
    assert result.robust_accuracy == pytest.approx(3 / 9)
    # every counted break is an input inside the ε-ball that we classified ourselves
    assert (result.adversarial - x).abs().max() <= 0.04 + 1e-6


def test_an_out_of_budget_candidate_is_projected_and_not_counted(monkeypatch):
    model = _two_pixel_model()
    x = torch.tensor([[0.01, 0.0]]).view(1, 1, 1, 2) + torch.tensor([0.0, 0.0]).view(1, 1, 1, 2)
    x[0, 0, 0, 1] = x[0, 0, 0, 0] - 0.3  # margin 0.3: unbreakable at ε = 0.1 (needs a 0.3 shift)
    x = x + 0.4
    x[0, 0, 0, 0] = 0.01 + 0.4
    monkeypatch.setattr(aa, "build_component", lambda name, model, **kw: _Fake({41}, 0.9, []))
    result = aa.autoattack(model, x, torch.zeros(1, dtype=torch.long), eps=0.1, version="quick")
    assert result.clean.tolist() == [True] and result.robust.tolist() == [True]
    assert result.broken_by == [""]


def _linear_problem(n=40, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(classes, 4, generator=g)
    weight -= weight.mean(1, keepdim=True)  # rows sum to 0: the decision depends on x - 0.5 only
    x = 0.3 + 0.4 * torch.rand(n, 1, 2, 2, generator=g)  # x ± 0.1 stays inside [0, 1]: the box never binds
    model = Linear(weight)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def exact_linf_robust(weight, x, y, eps):
    """Hand computation for a linear model: robust iff every pairwise margin
    (w_y - w_j)·x exceeds ε ||w_y - w_j||_1 (the worst δ is -ε sign(w_y - w_j))."""
    flat = x.flatten(1)
    diff = weight[y][:, None, :] - weight[None, :, :]  # [N, C, D]
    margin = (diff * flat[:, None, :]).sum(-1) - eps * diff.abs().sum(-1)
    margin[torch.arange(len(y)), y] = float("inf")
    return margin.min(1).values, margin.min(1).values > 0


def test_autoattack_is_exact_on_a_linear_model_and_monotone_in_eps():
    model, x, y = _linear_problem(n=24)
    accuracies = []
    for eps in (0.01, 0.03, 0.1):
        margin, exact = exact_linf_robust(model.weight.detach(), x, y, eps)
        clear = margin.abs() > 0.02  # leave out samples within rounding of the boundary
        result = aa.autoattack(model, x, y, eps=eps, version="quick", overrides={"square": {"queries": 100}})
        assert result.robust[clear].tolist() == exact[clear].tolist()
        assert exact.any() and (~exact).any()
        accuracies.append(result.robust_accuracy)
    assert accuracies == sorted(accuracies, reverse=True) and accuracies[0] > accuracies[-1]


def test_undefended_ensemble_is_almost_never_robust_at_a_large_eps():
    ensemble, _ = load_checkpoint(REPO / "checkpoints" / "baseline")
    data = load_split("fashion_mnist", "test").subset(16, seed=1)
    result = aa.autoattack(EnsembleLogProbs(ensemble), data.images(), data.y, eps=0.3, version="quick")
    assert result.clean_accuracy >= 0.75
    assert result.robust_accuracy <= 1 / 16


def test_quick_and_standard_protocols():
    assert aa.VERSIONS["standard"]["apgd-ce"]["steps"] == 100
    assert aa.VERSIONS["standard"]["apgd-t"]["targets"] == 9
    assert aa.VERSIONS["standard"]["fab-t"]["targets"] == 9
    assert aa.VERSIONS["standard"]["square"]["queries"] == 5000
    assert aa.protocol("quick", {"square": {"queries": 7}})["square"]["queries"] == 7
    with pytest.raises(ValueError, match="unknown AutoAttack component 'nope'"):
        aa.protocol("standard", {"nope": {}})
    with pytest.raises(ValueError, match="unknown AutoAttack version"):
        aa.protocol("fast")


def test_components_are_configured_with_the_papers_iterations():
    model = Linear(torch.randn(10, 4))
    built = {name: aa.build_component(name, model, norm="linf", eps=0.1, seed=0, num_classes=10,
                                      params=aa.VERSIONS["standard"][name]) for name in aa.COMPONENTS}
    assert built["apgd-ce"].steps == 100 and built["apgd-ce"].loss == "ce"
    assert built["apgd-t"].steps == 100 and built["apgd-t"].n_target_classes == 9
    assert built["fab-t"].steps == 100 and built["fab-t"].multi_targeted and built["fab-t"].n_target_classes == 9
    assert built["square"].n_queries == 5000 and built["square"].p_init == 0.8


def test_the_callers_random_state_is_untouched():
    model, x, y = _linear_problem(n=8)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    aa.autoattack(model, x, y, eps=0.03, version="quick", components=("apgd-ce",))
    assert torch.equal(torch.rand(3), expected)
