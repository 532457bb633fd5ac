"""Evaluations of trained ensembles (accuracy, within-ensemble transferability)."""
