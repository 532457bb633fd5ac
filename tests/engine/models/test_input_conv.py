"""The grayscale first convolution: with frozen weights its input gradient takes a faster
route that must equal autograd's; while training it is a plain ``nn.Conv2d``."""
import pytest
import torch
from torch import nn

from engine.models.input_conv import InputConv2d


def _pair(padding, bias=True):
    torch.manual_seed(0)
    fast = InputConv2d(1, 6, 5, padding=padding, bias=bias)
    plain = nn.Conv2d(1, 6, 5, padding=padding, bias=bias)
    plain.load_state_dict(fast.state_dict())
    return fast, plain


@pytest.mark.parametrize("padding,bias", [(2, True), (0, True), (1, False), ((2, 1), True)])
def test_frozen_input_gradient_equals_autograds(padding, bias):
    fast, plain = _pair(padding, bias)
    for p in [*fast.parameters(), *plain.parameters()]:
        p.requires_grad_(False)
    x = torch.rand(4, 1, 28, 28)
    upstream = torch.randn_like(plain(x))
    grads = []
    for conv in (fast, plain):
        xi = x.clone().requires_grad_(True)
        out = conv(xi)
        (grad,) = torch.autograd.grad(out, xi, upstream)
        grads.append((out, grad))
    assert torch.equal(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-5, atol=1e-5)
    assert grads[0][1].abs().sum() > 0


def test_hand_checkable_gradient_of_a_single_tap_kernel():
    # a 3x3 kernel with one non-zero tap w at the centre: dL/dx = w * dL/dy, pixel for pixel
    conv = InputConv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1] = 3.0
    conv.weight.requires_grad_(False)
    x = torch.rand(1, 1, 5, 5, requires_grad=True)
    upstream = torch.arange(25.0).view(1, 1, 5, 5)
    (grad,) = torch.autograd.grad(conv(x), x, upstream)
    assert torch.equal(grad, 3.0 * upstream)


def test_training_still_gets_weight_gradients_and_the_state_dict_is_a_conv2ds():
    fast, plain = _pair(2)
    x = torch.rand(4, 1, 28, 28, requires_grad=True)
    fast(x).square().sum().backward()
    plain(x).square().sum().backward()
    torch.testing.assert_close(fast.weight.grad, plain.weight.grad)
    assert list(fast.state_dict()) == list(plain.state_dict())
