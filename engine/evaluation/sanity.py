"""Sanity checks on evaluation results that flag an unreliable robustness estimate.

Gradient masking (DVERGE appendix C.3, after Athalye et al. 2018): a white-box attacker
knows strictly more than a black-box transfer attacker, so at the same budget ε the
white-box accuracy should never exceed the black-box accuracy. When it does (DVERGE
reports 4.9 % white-box > 0.4 % black-box for ADP/8 at ε = 0.02), the gradients the
white-box attack follows are uninformative ("obfuscated"), and the white-box number
over-states robustness.
"""
from __future__ import annotations

import math


def gradient_masking_warnings(whitebox_result: dict, blackbox_result: dict, *, margin: float = 0.0,
                              tolerance: float = 1e-6) -> list[str]:
    """One warning per budget ε > 0 where white-box accuracy > black-box accuracy + margin.

    Both results are dicts with ``eps`` (list) and ``accuracy`` (list of the same length,
    fractions in [0, 1]); budgets are matched within ``tolerance``, and budgets present in
    only one of them are ignored. ε = 0 is skipped (both are clean accuracy there).
    ``margin`` allows for sampling noise when the two were measured on different samples.
    """
    for name, result in (("white-box", whitebox_result), ("black-box", blackbox_result)):
        if "eps" not in result or "accuracy" not in result:
            raise ValueError(f"the {name} result needs 'eps' and 'accuracy' lists")
        if len(result["eps"]) != len(result["accuracy"]):
            raise ValueError(f"the {name} result has {len(result['eps'])} ε values but "
                             f"{len(result['accuracy'])} accuracies")
    warnings = []
    for eps, white in zip(whitebox_result["eps"], whitebox_result["accuracy"]):
        if eps <= tolerance:
            continue
        black = next((acc for e, acc in zip(blackbox_result["eps"], blackbox_result["accuracy"])
                      if math.isclose(e, eps, rel_tol=0.0, abs_tol=tolerance)), None)
        if black is None or white is None or not white > black + margin:
            continue
        warnings.append(f"ε={eps:g}: white-box accuracy {100 * white:.1f}% exceeds black-box transfer accuracy "
                        f"{100 * black:.1f}% — the white-box attack is probably failing (gradient masking / "
                        f"obfuscated gradients, DVERGE appendix C.3); use more PGD steps and restarts or a "
                        f"gradient-free attack before trusting the white-box number")
    return warnings
