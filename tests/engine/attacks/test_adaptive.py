"""Adaptive ensemble attacks: surrogate losses against independent computations,
per-sample worst case, EOT only for random ensembles, and the gradient-masking checklist."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.attacks import adaptive as ad
from engine.attacks.pgd import loss_fn
from engine.ensemble import Ensemble
from engine.evaluation.adaptive import checklist
from tests.engine.attacks.test_autoattack import _linear_problem, exact_linf_robust
from tests.models import Linear


def _ensemble(seed=0, members=3):
    g = torch.Generator().manual_seed(seed)
    return Ensemble(Linear(torch.randn(4, 4, generator=g)) for _ in range(members))


def test_surrogate_outputs_and_losses_match_independent_computations():
    ens = _ensemble()
    x = torch.rand(5, 1, 2, 2)
    y = torch.tensor([0, 1, 2, 3, 0])
    z = [m(x) for m in ens.members]
    mean_softmax = sum(F.softmax(v, -1) for v in z) / 3
    assert torch.allclose(ad.SurrogateModel(ens, "softmax")(x), mean_softmax.log(), atol=1e-6)
    assert torch.allclose(ad.SurrogateModel(ens, "logits")(x), sum(z) / 3, atol=1e-6)
    members = ad.SurrogateModel(ens, "members")(x)
    summed_ce = sum(F.cross_entropy(v, y, reduction="sum") for v in z)
    assert math.isclose(float(loss_fn("nll")(members, y).detach()), float(summed_ce.detach()), rel_tol=1e-5)
    with pytest.raises(ValueError, match="unknown surrogate 'probs'"):
        ad.SurrogateModel(ens, "probs")


def test_worst_case_is_the_and_of_every_attack_and_sound_for_identical_linear_members():
    model, x, y = _linear_problem(n=24)
    ens = Ensemble(Linear(model.weight.detach().clone()) for _ in range(3))  # = the single linear model
    eps = 0.03
    margin, exact = exact_linf_robust(model.weight.detach(), x, y, eps)
    result = ad.adaptive_attack(ens, x, y, eps=eps, steps=20)
    assert set(result.per_attack) == {f"{a}-{s}" for a in ad.ATTACKERS for s in ad.SURROGATES}
    expected = result.clean.clone()
    for mask in result.per_attack.values():
        expected &= mask
    assert torch.equal(result.robust, expected)
    # untargeted attacks: they never break a provably robust sample and find most breakable
    # ones (AutoAttack's targeted components are what make the search complete, see its test)
    assert result.robust[exact].all()
    breakable = (margin < -0.02) & result.clean  # clearly breakable
    assert breakable.sum() >= 5 and (~result.robust[breakable]).float().mean() >= 0.8
    assert not result.randomised


class _Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Linear(torch.randn(4, 4))

    def forward(self, x):
        return self.inner(x + 0.01 * torch.randn_like(x))


def test_eot_attacks_are_added_only_for_a_randomised_ensemble():
    x = torch.rand(4, 1, 2, 2)
    assert ad.is_randomised(Ensemble([_Noisy()]), x)
    assert not ad.is_randomised(_ensemble(), x)
    names = [a.name for a in ad.plan(randomised=True, eot=10)]
    assert "apgd-softmax-eot10" in names and "apgd-members-eot10" in names
    assert not any("eot" in a.name for a in ad.plan(randomised=False, eot=10))
    result = ad.adaptive_attack(Ensemble([_Noisy()]), x, torch.zeros(4, dtype=torch.long), eps=0.05, steps=3, eot=2,
                                attacks=ad.plan(randomised=True, eot=2, attackers=("apgd",), surrogates=("softmax",)))
    assert set(result.per_attack) == {"apgd-softmax", "apgd-softmax-eot2"}


def _checks(**kw):
    args = dict(eps=0.1, n=100, worst=0.3, attacks={"pgd-softmax": 0.3, "pgd-logits": 0.3}, grid_eps=[0.05, 0.1, 0.5, 1.0],
                grid_acc=[0.5, 0.3, 0.0, 0.0], square_only=0, square_accuracy=0.6, members=[0.3, 0.25])
    args.update(kw)
    return {c["check"]: c for c in checklist(**args)}


def test_checklist_passes_a_well_behaved_result_and_flags_each_symptom():
    assert all(c["passed"] for c in _checks().values())
    assert not _checks(grid_acc=[0.3, 0.5, 0.0, 0.0])["monotone in ε"]["passed"]
    assert not _checks(grid_acc=[0.5, 0.3, 0.2, 0.0])["~0 at large ε (0.5)"]["passed"]
    assert not _checks(grid_acc=[0.5, 0.3, 0.0, 0.01])["unbounded attack reaches 100%"]["passed"]
    flagged = _checks(square_only=3)["black-box does not beat white-box"]
    assert not flagged["passed"] and "3 sample(s) broken only by Square" in flagged["detail"]
    assert not _checks(attacks={"pgd-softmax": 0.6, "pgd-logits": 0.3})[
        "softmax attack not weaker than logits attack"]["passed"]
    assert not _checks(worst=0.6)["ensemble not stronger than its best member"]["passed"]
