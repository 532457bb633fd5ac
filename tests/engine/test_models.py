"""Architectures: DVERGE layer numbering, feature taps, the official checkpoint layout."""
import pytest
import torch

from engine.ensemble import Ensemble, layer_output
from engine.models import ARCHITECTURES, build_classifier, validate_arch
from engine.registry import UnknownName


def _member(arch, channels=1, leaky=False):
    return build_classifier(arch, channels=channels, num_classes=10, mean=[0.5] * channels,
                            std=[0.25] * channels, leaky=leaky)


@pytest.mark.parametrize("arch, channels, layers", [("lenet5", 1, 5), ("resnet20", 3, 20), ("resnet32", 3, 32),
                                                    ("resnet8", 3, 8)])
def test_feature_layers_follow_dverge_numbering(arch, channels, layers):
    assert len(_member(arch, channels).feature_layers()) == layers


def test_resnet20_tap_7_13_19_are_the_resblock_outputs_and_20_the_logits():
    model = _member("resnet20", 3).eval()
    x = torch.rand(2, 3, 32, 32)
    assert layer_output(model, 7, x).shape == (2, 16, 32, 32)
    assert layer_output(model, 13, x).shape == (2, 32, 16, 16)
    assert layer_output(model, 19, x).shape == (2, 64, 8, 8)
    assert torch.allclose(layer_output(model, 20, x), model(x))


def test_block_output_tap_is_before_the_relu():
    model = _member("resnet20", 3).eval()
    out = layer_output(model, 3, torch.rand(4, 3, 32, 32))
    assert (out < 0).any(), "a pre-activation tensor has negative entries"


def test_layer_output_stops_the_forward_pass_early():
    model = _member("lenet5").eval()
    calls = []
    model.model.fc3.register_forward_hook(lambda *a: calls.append(1))
    layer_output(model, 2, torch.rand(1, 1, 28, 28))
    assert calls == []


def test_layer_output_rejects_out_of_range_layers():
    with pytest.raises(ValueError, match="1..5"):
        layer_output(_member("lenet5"), 6, torch.rand(1, 1, 28, 28))


def test_leaky_relu_variant_passes_negative_gradients():
    model = _member("lenet5", leaky=True)
    assert any(isinstance(m, torch.nn.LeakyReLU) and m.negative_slope == 0.1 for m in model.modules())


def test_unknown_architectures_are_refused_with_the_choices():
    for bad in ("resnet21", "resnet2", "resnet", "vgg16"):
        with pytest.raises(ValueError, match="lenet5"):
            validate_arch(bad)
    with pytest.raises(UnknownName, match=r"unknown architecture 'vgg16'; choose from: lenet5, resnet<6n\+2>"):
        validate_arch("vgg16")
    assert validate_arch("resnet110") == "resnet110"  # any 6n+2 depth, not only the listed ones


@pytest.mark.parametrize("arch", ARCHITECTURES.names())
def test_every_registered_architecture_builds_and_classifies(arch):
    channels, size = (1, 28) if arch == "lenet5" else (3, 32)
    model = _member(arch, channels).eval()
    x = torch.rand(2, channels, size, size)
    with torch.no_grad():
        assert model(x).shape == (2, 10)
    depth = 5 if arch == "lenet5" else int(arch[len("resnet"):])
    assert len(model.feature_layers()) == depth  # DVERGE numbering: one tap per layer


def test_normalization_is_inside_the_model():
    model = _member("lenet5")
    assert torch.equal(model.normalizer(torch.full((1, 1, 2, 2), 0.75)), torch.ones(1, 1, 2, 2))


def test_ensemble_prediction_is_the_mean_of_member_softmax():
    ens = Ensemble([_member("lenet5") for _ in range(3)]).eval()
    x = torch.rand(5, 1, 28, 28)
    expected = torch.stack([m(x).softmax(-1) for m in ens.members]).mean(0)
    assert torch.allclose(ens(x), expected, atol=1e-6)
    assert torch.allclose(ens.log_probs(x).exp(), expected, atol=1e-6)
    assert ens.member_logits(x).shape == (3, 5, 10)


def test_official_dverge_state_dict_keys_match(shared_dir):
    from engine.checkpoint import load_weights_only

    raw = load_weights_only(shared_dir / "dverge-official" / "baseline_seed0_3x_resnet20_epoch200.pth")
    ours = build_classifier("resnet20", channels=3, num_classes=10, mean=[0.5] * 3, std=[0.2] * 3).state_dict()
    assert set(raw["model0"]) == set(ours)


def test_inference_copy_folds_batchnorm_without_changing_the_function():
    from engine.models import inference_copy

    torch.manual_seed(0)
    model = _member("resnet20", channels=3).eval()
    for m in model.modules():  # trained-looking statistics, so folding has something to do
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    copy = inference_copy(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in copy.modules())
    assert not any(p.requires_grad for p in copy.parameters())
    assert all(p.requires_grad for p in model.parameters())  # the original is untouched
    x = torch.rand(4, 3, 32, 32, requires_grad=True)
    torch.testing.assert_close(copy(x), model(x), rtol=1e-4, atol=1e-4)
    (g_copy,) = torch.autograd.grad(copy(x).logsumexp(1).sum(), x)
    (g_model,) = torch.autograd.grad(model(x).logsumexp(1).sum(), x)
    torch.testing.assert_close(g_copy, g_model, rtol=1e-3, atol=1e-5)
    # feature taps still see the conv+BN output
    torch.testing.assert_close(layer_output(copy, 2, x), layer_output(model, 2, x), rtol=1e-4, atol=1e-4)
