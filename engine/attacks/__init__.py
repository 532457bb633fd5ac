"""Attacks used by training and evaluation. Inputs are images in [0, 1]; budgets are L∞."""
from .distill import distill
from .pgd import advertorch_pgd, pgd

__all__ = ["advertorch_pgd", "distill", "pgd"]
