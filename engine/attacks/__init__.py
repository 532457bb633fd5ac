"""Attacks used by training and evaluation. Inputs are images in [0, 1]. Every attack
the lab runs is in the registry (:mod:`engine.attacks.registry`: ``ATTACKS``,
``run_attack``)."""
from .distill import distill
from .pgd import advertorch_pgd, pgd
from .registry import ATTACKS, AttackError, AttackSpec, EnsembleLogProbs, run_attack

__all__ = ["ATTACKS", "AttackError", "AttackSpec", "EnsembleLogProbs", "advertorch_pgd", "distill", "pgd",
           "run_attack"]
