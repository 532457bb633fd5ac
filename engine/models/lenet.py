"""LeNet-5 (LeCun et al. 1998) for 28x28 inputs: the SMD paper's
Fashion-MNIST/MNIST member."""
from __future__ import annotations

import torch
from torch import nn

from .input_conv import InputConv2d
from .layers import activation
from .registry import register_architecture


class LeNet5(nn.Module):
    """conv 5x5 (6) - pool - conv 5x5 (16) - pool - fc 120 - fc 84 - fc classes.

    Feature layers (5, DVERGE numbering): conv1, conv2, fc1, fc2 (each before its
    activation) and the logits.
    """

    def __init__(self, channels: int = 1, num_classes: int = 10, leaky: bool = False):
        super().__init__()
        self.conv1 = InputConv2d(channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)
        self.act = activation(leaky)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act(self.conv1(x)))
        x = self.pool(self.act(self.conv2(x)))
        x = torch.flatten(x, 1)
        if x.shape[1] != self.fc1.in_features:
            raise ValueError(f"LeNet5 expects 28x28 inputs (got features {x.shape[1]})")
        x = self.act(self.fc1(x))
        x = self.act(self.fc2(x))
        return self.fc3(x)

    def feature_layers(self) -> list[nn.Module]:
        return [self.conv1, self.conv2, self.fc1, self.fc2, self.fc3]


@register_architecture("lenet5")
def lenet5(channels: int, num_classes: int, leaky: bool) -> LeNet5:
    return LeNet5(channels, num_classes, leaky)
