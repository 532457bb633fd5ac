"""DVERGE feature distillation (Eq. 1)."""
import copy
import random

import pytest
import torch
import torch.nn.functional as F

from engine.attacks import distill
from engine.attacks.distill import distill_members
from engine.data import SPECS
from engine.ensemble import Ensemble
from engine.methods import Batch, get_method
from engine.bench import _reference_distill
from engine.checkpoint import load_checkpoint
from engine.ensemble import layer_output
from engine.models import build_classifier


@pytest.fixture(scope="module")
def pair(fmnist_test):
    a = fmnist_test.subset(64, seed=1).images()
    b = fmnist_test.subset(64, seed=2).images()
    return a, b


@pytest.mark.parametrize("layer", [1, 3, 5])
def test_distillation_moves_features_toward_the_target_within_eps_of_the_source(quick_baseline, pair, layer):
    model = load_checkpoint(quick_baseline)[0].members[0]
    target, source = pair
    out = distill(model, layer, target, source, eps=0.2, steps=10)
    assert (out - source).abs().max() <= 0.2 + 1e-6 and out.min() >= 0 and out.max() <= 1
    with torch.no_grad():
        goal = layer_output(model, layer, target)
        before = (layer_output(model, layer, source) - goal).flatten(1).norm(dim=1)
        after = (layer_output(model, layer, out) - goal).flatten(1).norm(dim=1)
    assert after.mean() < 0.8 * before.mean()


def test_distilled_images_are_classified_as_the_target_class(quick_baseline, fmnist_test):
    model = load_checkpoint(quick_baseline)[0].members[0]
    target = fmnist_test.subset(200, seed=1)
    source = fmnist_test.subset(200, seed=2)
    out = distill(model, 5, target.images(), source.images(), eps=0.2)
    with torch.no_grad():
        agree = (model(out).argmax(1) == target.y).float().mean()
    assert agree > 0.5  # the distilled image carries the target's features (DVERGE 3.1)


@pytest.mark.parametrize("arch, shape, layer", [("lenet5", (8, 1, 28, 28), 2), ("resnet8", (8, 3, 32, 32), 5)])
def test_fast_distillation_equals_the_reference_procedure(arch, shape, layer):
    torch.manual_seed(0)
    model = build_classifier(arch, channels=shape[1], num_classes=10, mean=[0.5] * shape[1], std=[0.3] * shape[1])
    target, source = torch.rand(shape), torch.rand(shape)
    ours = distill(model, layer, target, source, eps=0.1)
    theirs = _reference_distill(model, layer, target, source, eps=0.1)
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


def _members(arch, shape, dtype):
    """Three random members whose BatchNorm statistics are not the identity."""
    torch.manual_seed(0)
    members = [build_classifier(arch, channels=shape[1], num_classes=10, mean=[0.5] * shape[1],
                                std=[0.3] * shape[1]).to(dtype) for _ in range(3)]
    for m in members:
        with torch.no_grad():
            m.train()(torch.rand(32, *shape[1:], dtype=dtype))  # running statistics
    return members


@pytest.mark.parametrize("arch, shape, layer, workers", [("lenet5", (6, 1, 28, 28), 2, 2),
                                                         ("resnet8", (6, 3, 32, 32), 5, 2),
                                                         ("resnet8", (3, 1, 28, 28), 8, 1)])
def test_all_members_distilled_at_once_equal_the_plain_per_member_distillation(arch, shape, layer, workers):
    # float64: the folded BatchNorm and the sample chunks change rounding only, far below
    # anything that could flip the sign of a step
    members = _members(arch, shape, torch.float64)
    target, source = torch.rand(shape, dtype=torch.float64), torch.rand(shape, dtype=torch.float64)
    flags = [m.training for m in members]
    fast = distill_members(members, layer, target, source, eps=0.1, workers=workers)
    plain = [distill(m, layer, target, source, eps=0.1) for m in members]
    for a, b in zip(fast, plain):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert torch.allclose(a, b, rtol=0, atol=1e-9), (a - b).abs().max()
    # the members themselves are untouched: still in train mode, no gradients
    assert [m.training for m in members] == flags
    assert all(p.grad is None and p.requires_grad for m in members for p in m.parameters())


@pytest.mark.parametrize("arch, shape, layer", [("lenet5", (6, 1, 28, 28), 2), ("resnet8", (6, 3, 32, 32), 5)])
def test_all_members_in_one_loop_the_cuda_path_equal_the_plain_per_member_distillation(arch, shape, layer):
    """``together`` (the default on CUDA; forced here on CPU): one PGD loop over the
    members' concatenated images, one backward per step for all of them."""
    members = _members(arch, shape, torch.float64)
    target, source = torch.rand(shape, dtype=torch.float64), torch.rand(shape, dtype=torch.float64)
    flags = [m.training for m in members]
    together = distill_members(members, layer, target, source, eps=0.1, together=True)
    plain = [distill(m, layer, target, source, eps=0.1) for m in members]
    assert len(together) == len(members)
    for a, b in zip(together, plain):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert torch.allclose(a, b, rtol=0, atol=1e-9), (a - b).abs().max()
    assert [m.training for m in members] == flags
    assert all(p.grad is None and p.requires_grad for m in members for p in m.parameters())


def test_dverge_step_losses_equal_the_straightforward_computation():
    """The DVERGE loss (Eq. 5) of the fast step vs plain per-member distillation and a
    separate cross-entropy per (member, other member's images), fixed seeds."""
    members = _members("resnet8", (8, 3, 32, 32), torch.float64)
    plain_members = copy.deepcopy(members)  # the step's train-mode forward moves BatchNorm statistics
    ensemble = Ensemble(members).train()
    method = get_method("dverge")(get_method("dverge").Params(layer=4), SPECS["cifar10"])
    method.begin_epoch(1, ensemble, random.Random(0))
    g = torch.Generator().manual_seed(1)
    x, xs = torch.rand(8, 3, 32, 32, generator=g, dtype=torch.float64), torch.rand(8, 3, 32, 32, generator=g,
                                                                                  dtype=torch.float64)
    ys = torch.randint(0, 10, (8,), generator=g)
    losses = method.loss(ensemble, Batch(x, torch.zeros_like(ys), xs, ys))
    plain = [distill(m, 4, x, xs, eps=method.eps) for m in plain_members]
    with torch.no_grad():  # train mode: one forward over the other members' images (shared BN statistics)
        expected = [2 * F.cross_entropy(m(torch.cat([plain[j] for j in range(3) if j != i])), ys.repeat(2))
                    for i, m in enumerate(plain_members)]
    assert losses.members == pytest.approx([float(e) for e in expected], rel=1e-9)
    assert float(losses.total) == pytest.approx(float(sum(expected)), rel=1e-9)

