"""DVERGE feature distillation (Eq. 1)."""
import pytest
import torch

from engine.attacks import distill
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
