"""Tiny models whose answers can be computed by hand (shared by several tests)."""
from torch import nn


class Linear(nn.Module):
    """logits = W · flatten(x): its decision regions on a plane, and every input gradient
    of logit t (= W[t], noise or not), can be computed by hand."""

    def __init__(self, weight):
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, x):
        return x.flatten(1) @ self.weight.T
