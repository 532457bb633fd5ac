"""The first convolution of a grayscale model, with a fast input gradient for attacks.

Attacks differentiate the loss with respect to the *input* only (parameters are frozen by
``engine.ensemble.attack_mode``). On CPU, PyTorch computes the input gradient of a
convolution with a single input channel (LeNet-5 or ResNet on Fashion-MNIST) through a
generic oneDNN backward kernel that is 3-4x slower than the forward pass. The same
gradient is a depthwise convolution of the output gradient with the flipped kernels,
summed over output channels, which oneDNN runs fast. This is written by hand because
no library offers it; it changes nothing but speed (the test compares it with autograd).

While the weights require grad (training), the layer is a plain ``nn.Conv2d``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _SingleChannelConv(torch.autograd.Function):
    """``conv2d(x, w, b, padding)`` for x [B, 1, H, W], stride 1, frozen w and b."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                padding: tuple[int, int]) -> torch.Tensor:
        ctx.save_for_backward(weight)
        ctx.padding = padding
        return F.conv2d(x, weight, bias, padding=padding)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (weight,) = ctx.saved_tensors
        out_channels, _, kh, kw = weight.shape
        # dL/dx = sum_o corr(grad_out[:, o], flip(w[o, 0])): depthwise, then a channel sum
        kernels = weight.flip(2, 3)
        padding = (kh - 1 - ctx.padding[0], kw - 1 - ctx.padding[1])
        per_channel = F.conv2d(grad_out, kernels, padding=padding, groups=out_channels)
        return per_channel.sum(1, keepdim=True), None, None, None


class InputConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, same state dict) that takes the fast input-gradient
    route when it applies: one input channel, stride 1, no dilation, zero padding given as
    numbers, weights frozen, and gradients being recorded."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (self.in_channels == 1 and self.groups == 1 and self.stride == (1, 1) and self.dilation == (1, 1)
                and self.padding_mode == "zeros" and not isinstance(self.padding, str)
                and not self.weight.requires_grad and x.requires_grad and torch.is_grad_enabled()):
            return _SingleChannelConv.apply(x, self.weight, self.bias, self.padding)
        return super().forward(x)
