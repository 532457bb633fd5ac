"""The attack registry: every attack stays inside its ε-ball and [0, 1], hurts an undefended
model, never leaves parameter gradients; SGM scales exactly the residual branch."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.attacks.registry import (ATTACKS, AttackError, EnsembleLogProbs, enforce_budget, perturbation_size,
                                     raw_attack, run_attack, skip_gradient)
from engine.registry import UnknownName
from engine.checkpoint import load_checkpoint
from engine.data import SPECS
from engine.models import Classifier
from engine.models.resnet import BasicBlock

#: a budget per norm that an undefended Fashion-MNIST model does not survive
EPS = {"linf": 0.1, "l2": 2.0, "l1": 15.0, "l0": 0.05}
#: small, fast settings: each attack runs in about a second on 24 images
FAST = {"pgd": dict(steps=10), "pgd-batched": dict(steps=10, restarts=2), "cw-l2": dict(steps=30, search_steps=2),
        "ead": dict(steps=30, search_steps=2), "spsa": dict(steps=5, samples=32, lr=0.05),
        "mdi2fgsm": dict(steps=10), "sgm": dict(steps=10)}
N = 24


@pytest.fixture(scope="module")
def lenet_batch(quick_baseline, fmnist_test):
    ensemble, _ = load_checkpoint(quick_baseline)
    sub = fmnist_test.subset(200, seed=11)
    x, y = sub.images(), sub.y
    member = ensemble.members[0]
    with torch.no_grad():
        ok = member(x).argmax(1) == y  # attack correctly classified samples only
    return ensemble, x[ok][:N], y[ok][:N]


@pytest.fixture(scope="module")
def tiny_resnet(fmnist_train):
    """A real (if small) trained residual model: a stride-2 stem and two ``BasicBlock``s
    (the blocks of engine/models/resnet.py), one Adam epoch on 3,000 Fashion-MNIST images,
    then BatchNorm statistics recomputed over 1,000 of them (a few seconds on a CPU)."""
    torch.manual_seed(0)
    spec = SPECS["fashion_mnist"]
    net = nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                        BasicBlock(16, 16, 1, False), BasicBlock(16, 32, 2, False),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    model = Classifier(net, spec.mean, spec.std)
    data = fmnist_train.subset(3000, seed=0)
    x, y = data.images(), data.y
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for start in range(0, len(x), 100):
        loss = F.cross_entropy(model(x[start:start + 100]), y[start:start + 100])
        opt.zero_grad()
        loss.backward()
        opt.step()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    with torch.no_grad():
        model(x[:1000])
    model.zero_grad(set_to_none=True)
    model.eval()
    return model


def resnet_batch(model, fmnist_test):
    sub = fmnist_test.subset(300, seed=5)
    x, y = sub.images(), sub.y
    with torch.no_grad():
        ok = model(x).argmax(1) == y
    assert ok.float().mean() > 0.5, "the tiny ResNet did not learn (chance is 0.1)"
    return x[ok][:N], y[ok][:N]


def _accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


@pytest.mark.parametrize("name", [n for n in ATTACKS if n != "sgm"])
def test_every_attack_stays_in_its_ball_and_fools_an_undefended_member(name, lenet_batch):
    """The attack's own output is checked, before ``run_attack`` enforces the budget: every
    L∞ attack must project into its ball and [0, 1] by itself; the minimal-perturbation
    attacks (L2, L1, L0) have no budget of their own and are brought into the ball by
    :func:`enforce_budget`."""
    ensemble, x, y = lenet_batch
    member, spec = ensemble.members[0], ATTACKS[name]
    eps = EPS[spec.norm]
    raw = raw_attack(name, member, x, y, eps=eps, generator=torch.Generator().manual_seed(0), **FAST.get(name, {}))
    assert raw.dim() == 5 and raw.shape[1:] == x.shape
    if spec.norm == "linf":
        assert perturbation_size("linf", x, raw).max() <= eps + 1e-6, f"{name} leaves its L∞ ball"
        assert raw.min() >= -1e-6 and raw.max() <= 1 + 1e-6, f"{name} leaves [0, 1]"  # float rounding, as for the ball
    adv = enforce_budget(spec.norm, x, raw, eps)  # what run_attack returns
    assert perturbation_size(spec.norm, x, adv).max() <= eps * (1 + 1e-5) + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    fooled = max(1 - _accuracy(member, a, y) for a in adv)  # x are all correctly classified
    assert fooled >= 0.3, f"{name} fooled only {fooled:.2f} of an undefended member's correct samples"
    assert all(p.grad is None for p in ensemble.parameters())


def test_run_attack_is_the_raw_attack_with_its_budget_enforced(lenet_batch):
    ensemble, x, y = lenet_batch
    member = ensemble.members[0]
    raw = raw_attack("cw-l2", member, x, y, eps=0.5, steps=10, search_steps=1)
    assert torch.equal(run_attack("cw-l2", member, x, y, eps=0.5, steps=10, search_steps=1),
                       enforce_budget("l2", x, raw, 0.5))


def test_sgm_stays_in_its_ball_and_fools_a_trained_resnet(tiny_resnet, fmnist_test):
    x, y = resnet_batch(tiny_resnet, fmnist_test)
    adv = run_attack("sgm", tiny_resnet, x, y, eps=0.1, **FAST["sgm"])
    assert (adv - x).abs().max() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert 1 - _accuracy(tiny_resnet, adv[0], y) >= 0.5
    assert all(p.grad is None for p in tiny_resnet.parameters())


def test_sgm_scales_only_the_residual_branch(tiny_resnet):
    """Independent construction: relu(γ f(z) + (1-γ) f(z).detach() + z) has the block's value
    and a gradient whose residual-branch part is scaled by γ, the shortcut's not."""
    block = tiny_resnet.model[3]
    z = torch.randn(4, 16, 14, 14)

    def branch(t):
        return block.bn2(block.conv2(block.act(block.bn1(block.conv1(t)))))

    expected_z = z.clone().requires_grad_(True)
    f = branch(expected_z)
    torch.relu(0.2 * f + 0.8 * f.detach() + expected_z).sum().backward()
    with skip_gradient(tiny_resnet, 0.2):
        ours_z = z.clone().requires_grad_(True)
        block(ours_z).sum().backward()
    plain_z = z.clone().requires_grad_(True)
    block(plain_z).sum().backward()
    assert torch.allclose(ours_z.grad, expected_z.grad, atol=1e-5)
    assert not torch.allclose(ours_z.grad, plain_z.grad, atol=1e-3)
    tiny_resnet.zero_grad(set_to_none=True)


def test_sgm_with_gamma_one_is_plain_pgd(tiny_resnet, fmnist_test):
    x, y = resnet_batch(tiny_resnet, fmnist_test)
    sgm = run_attack("sgm", tiny_resnet, x, y, eps=0.1, gamma=1.0, steps=5)
    plain = run_attack("pgd-batched", tiny_resnet, x, y, eps=0.1, steps=5, random_start=False)
    assert torch.allclose(sgm, plain, atol=1e-6)


def test_sgm_refuses_a_model_without_residual_blocks(lenet_batch):
    ensemble, x, y = lenet_batch
    with pytest.raises(AttackError, match="residual blocks.*LeNet5"):
        run_attack("sgm", ensemble.members[0], x, y, eps=0.1)
    with pytest.raises(AttackError, match="residual blocks"):
        run_attack("sgm", EnsembleLogProbs(ensemble), x, y, eps=0.1)


def test_ensemble_level_attack_lowers_ensemble_accuracy(lenet_batch):
    ensemble, x, y = lenet_batch
    model = EnsembleLogProbs(ensemble)
    adv = run_attack("mdi2fgsm", model, x, y, eps=0.1, steps=10, generator=torch.Generator().manual_seed(1))
    assert _accuracy(model, adv[0], y) < _accuracy(model, x, y) - 0.3


def test_budgets_are_enforced_by_rescaling_or_truncating():
    x = torch.full((2, 1, 4, 4), 0.5)
    adv = x + torch.linspace(-0.4, 0.4, 32).view(2, 1, 4, 4)
    l2 = enforce_budget("l2", x, adv[None], 0.3)[0]
    assert torch.allclose((l2 - x).flatten(1).norm(dim=1), torch.tensor([0.3, 0.3]), atol=1e-6)
    assert torch.allclose((l2 - x) / (adv - x), ((l2 - x) / (adv - x)).flatten(1)[:, :1, None, None].expand_as(x))
    l1 = enforce_budget("l1", x, adv, 1.0)
    assert torch.allclose((l1 - x).abs().flatten(1).sum(1), torch.tensor([1.0, 1.0]), atol=1e-5)
    l0 = enforce_budget("l0", x, adv, 0.25)  # 4 of 16 values
    changed = (l0 != x).flatten(1)
    assert changed.sum(1).tolist() == [4, 4]
    big = (adv - x).abs().flatten(1).topk(4, dim=1).indices
    assert changed.gather(1, big).all()
    linf = enforce_budget("linf", x, adv, 0.1)
    assert (linf - x).abs().max() <= 0.1 + 1e-7


def test_unknown_attack_and_parameters_are_clear_errors(lenet_batch):
    ensemble, x, y = lenet_batch
    with pytest.raises(AttackError, match="unknown attack 'nope'; choose from: ") as err:
        run_attack("nope", ensemble.members[0], x, y, eps=0.1)
    assert isinstance(err.value, UnknownName) and set(err.value.choices) == set(ATTACKS.names())
    with pytest.raises(AttackError, match="fgsm"):
        run_attack("fgsm", ensemble.members[0], x, y, eps=0.1, steps=3)
