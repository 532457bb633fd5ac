"""CIFAR ResNet-(6n+2) (He et al. 2016, option-B shortcuts), laid out like the DVERGE
reference code so its release checkpoints load: conv1/bn1 stem, layer1-3 of n BasicBlocks
(16/32/64 channels; the first block of layer2/3 strides 2 with a 1x1 conv + BN
``downsample``), global 8x8 average pool, ``fc``."""
from __future__ import annotations

import re

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .input_conv import InputConv2d
from .layers import activation
from .registry import ARCHITECTURES, ArchBuilder


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int, leaky: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act = activation(leaky)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))
        # Identity whose output is the block's pre-activation sum: a hook point only.
        self.preact = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.act(self.preact(out + shortcut))

    def fold_batchnorm(self) -> None:
        """Eval-mode BatchNorm folded into the convolution before it; each BN becomes an
        Identity, so its feature tap still sees the same tensor."""
        self.conv1, self.bn1 = fuse_conv_bn_eval(self.conv1, self.bn1), nn.Identity()
        self.conv2, self.bn2 = fuse_conv_bn_eval(self.conv2, self.bn2), nn.Identity()
        if self.downsample is not None:
            self.downsample = nn.Sequential(fuse_conv_bn_eval(self.downsample[0], self.downsample[1]))


class CifarResNet(nn.Module):
    """Feature layers (6n+2 of them; 20 for ResNet-20, DVERGE numbering): stem conv+bn;
    for every block its inner conv+bn and its output before the ReLU; the logits."""

    def __init__(self, depth: int = 20, channels: int = 3, num_classes: int = 10, leaky: bool = False):
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.conv1 = InputConv2d(channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.act = activation(leaky)
        in_planes = 16
        layers = []
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(in_planes, planes, stride if b == 0 else 1, leaky))
                in_planes = planes
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))

    def fold_batchnorm(self) -> None:
        """Every eval-mode BatchNorm folded into its convolution (an inference-only model:
        same function, fewer operations; see :func:`engine.models.inference_copy`)."""
        self.conv1, self.bn1 = fuse_conv_bn_eval(self.conv1, self.bn1), nn.Identity()
        for block in self.blocks():
            block.fold_batchnorm()

    def blocks(self) -> list[BasicBlock]:
        return [b for layer in (self.layer1, self.layer2, self.layer3) for b in layer]

    def feature_layers(self) -> list[nn.Module]:
        taps: list[nn.Module] = [self.bn1]
        for block in self.blocks():
            taps += [block.bn1, block.preact]
        return taps + [self.fc]


def resnet_builder(name: str) -> ArchBuilder | None:
    """``resnet<6n+2>`` (resnet8, resnet14, resnet20, ...): the builder; any other name: None."""
    match = re.fullmatch(r"resnet(\d+)", name)
    if not match or (int(match.group(1)) - 2) % 6 or int(match.group(1)) < 8:
        return None
    depth = int(match.group(1))
    return lambda channels, num_classes, leaky: CifarResNet(depth, channels, num_classes, leaky)


ARCHITECTURES.register_family("resnet<6n+2>", resnet_builder,
                              examples=("resnet20", "resnet32", "resnet44", "resnet56"))
