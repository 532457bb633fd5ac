"""Verdicts (pure): one paper claim checked against our per-method numbers.

An ordering claim is checked on our numbers whatever data set the paper used; a paper's
numbers are compared (within the claim's tolerance) only on the same data set with a
comparable protocol.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from ..paper_claims import Claim, Ordering

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_COMPARABLE_DATA = "not comparable (different data set)"
NOT_COMPARABLE_PROTOCOL = "not comparable (different protocol)"
NOT_EVALUATED = "not evaluated"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_COMPARABLE_DATA, NOT_COMPARABLE_PROTOCOL, NOT_EVALUATED)

DATASET_NAMES = {"cifar10": "CIFAR-10", "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


@dataclass
class Row:
    """One checked claim (or one method of a claim with numbers): ours beside the paper's."""

    claim: str
    method: str
    ours: str
    paper: str
    source: str
    paper_setting: str
    verdict: str
    detail: str = ""
    quote: str = ""



def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.3f}"


def check_ordering(check: Ordering, values: dict[str, float]) -> tuple[str, str]:
    """Verdict and explanation of an ordering claim on our per-method values.

    ``lowest``/``less``: every subject strictly below every other method; ``highest``/
    ``greater``: strictly above; ``close``: every subject within ``margin`` of every other.
    A method without a value makes the claim ``not evaluated``."""
    missing = [m for m in (*check.subject, *check.others)
               if values.get(m) is None or not math.isfinite(values[m])]
    if missing:
        return NOT_EVALUATED, "no measurement for " + ", ".join(missing)
    pairs = [(values[s], values[o]) for s in check.subject for o in check.others]
    tests = {"lowest": lambda s, o: s < o, "less": lambda s, o: s < o,
             "highest": lambda s, o: s > o, "greater": lambda s, o: s > o,
             "close": lambda s, o: abs(s - o) <= check.margin}
    ok = all(tests[check.relation](s, o) for s, o in pairs)
    symbol = {"lowest": "<", "less": "<", "highest": ">", "greater": ">", "close": "≈"}[check.relation]
    subjects = ", ".join(f"{m} {_fmt(values[m])}" for m in check.subject)
    others = ", ".join(f"{m} {_fmt(values[m])}" for m in check.others)
    margin = f" (within {check.margin:g})" if check.relation == "close" else ""
    return (REPRODUCED if ok else NOT_REPRODUCED), f"{subjects} {symbol} {others}{margin}"


def check_numbers(paper: list[float], ours: list[float | None], tolerance: float) -> tuple[str, str]:
    """Paper's numbers vs ours at the same points, within an absolute tolerance."""
    if any(o is None for o in ours):
        return NOT_EVALUATED, "not measured at the paper's ε"
    worst = max(abs(p - o) for p, o in zip(paper, ours))
    verdict = REPRODUCED if worst <= tolerance else NOT_REPRODUCED
    return verdict, f"largest difference {worst:.3f} (tolerance {tolerance:g})"


def numeric_verdict(claim: Claim, method: str, our_dataset: str, ours_at: Callable[[float | None], float | None]
                    ) -> tuple[str, str]:
    """Verdict of one method's numbers of a :class:`Numeric` claim. ``ours_at(eps)`` gives
    our value of the claim's quantity at that ε (None = not measured); eps None = the
    quantity has no ε (clean accuracy, diversity)."""
    check = claim.check
    if claim.dataset != our_dataset:
        return NOT_COMPARABLE_DATA, (f"paper: {DATASET_NAMES.get(claim.dataset, claim.dataset)}, ours: "
                                     f"{DATASET_NAMES.get(our_dataset, our_dataset)}")
    if check.comparable:
        return NOT_COMPARABLE_PROTOCOL, check.comparable
    paper = claim.values[method]
    if isinstance(paper, (list, tuple)):
        ours = [ours_at(e) for e in claim.eps]
        return check_numbers(list(paper), ours, check.tolerance)
    return check_numbers([paper], [ours_at(claim.eps[0] if claim.eps else None)], check.tolerance)


def _paper_text(claim: Claim, method: str) -> str:
    value = claim.values[method]
    if isinstance(value, (list, tuple)):
        return ", ".join(("clean" if e == 0 else f"ε={e:g}") + f": {v:.3f}" for e, v in zip(claim.eps, value))
    return (f"ε={claim.eps[0]:g}: " if claim.eps else "") + f"{value:.3f}"


def check_claim(claim: Claim, measurements: dict[str, dict], our_dataset: str, report_eps: float) -> list[Row]:
    """Rows of one claim. ``measurements``: method -> {quantity: value, "<curve>_curve":
    {ε: accuracy}} as produced by :func:`quantities`."""
    setting = f"{DATASET_NAMES.get(claim.dataset, claim.dataset)}, {claim.arch}"
    source = f"{claim.paper}, {claim.where}"
    check = claim.check
    rows = []
    if isinstance(check, Ordering):
        values = {m: measurements.get(m, {}).get(check.quantity) for m in (*check.subject, *check.others)}
        verdict, detail = check_ordering(check, values)
        paper = claim.quote if not claim.values else claim.quote + " [" + "; ".join(
            f"{m}: {_paper_text(claim, m)}" for m in claim.values) + "]"
        rows.append(Row(claim.id, ", ".join(check.subject), detail, paper, source, setting, verdict,
                        _quantity_label(check.quantity, report_eps) + (f". {claim.note}" if claim.note else ""),
                        claim.quote))
        return rows
    curve = _CURVES.get(check.quantity)
    for method in claim.values:
        m = measurements.get(method)

        def ours_at(eps, m=m):
            if m is None:
                return None
            if curve is None:
                return m.get(check.quantity)
            return m.get(curve, {}).get(round(eps, 6)) if eps is not None else None

        if m is None:
            verdict, detail = NOT_EVALUATED, f"no {method} ensemble in the report"
            ours = "–"
        else:
            verdict, detail = numeric_verdict(claim, method, our_dataset, ours_at)
            ours = f"ε={report_eps:g}: {_fmt(m.get(check.quantity))}" if curve else _fmt(m.get(check.quantity))
            if curve and claim.dataset == our_dataset and claim.eps:
                at = [ours_at(e) for e in claim.eps]
                if all(a is not None for a in at):
                    ours = ", ".join(f"ε={e:g}: {a:.3f}" for e, a in zip(claim.eps, at))
        rows.append(Row(claim.id, method, ours, _paper_text(claim, method), source, setting, verdict,
                        detail + (f". {claim.note}" if claim.note else ""), claim.quote))
    return rows


_CURVES = {"whitebox_accuracy": "whitebox_curve", "blackbox_accuracy": "blackbox_curve"}
_LABELS = {
    "clean_accuracy": "ensemble clean accuracy",
    "transferability": "mean off-diagonal attack success rate at ε={eps:g}",
    "whitebox_accuracy": "white-box accuracy at ε={eps:g}",
    "whitebox_mean": "mean white-box accuracy over the ε grid",
    "blackbox_accuracy": "black-box accuracy at ε={eps:g}",
    "blackbox_mean": "mean black-box accuracy over the ε grid",
    "vulnerability_diversity": "DVERGE Eq. 2 vulnerability diversity (pair mean, higher = more diverse)",
    "adp_logdet": "ADP Eq. 3 log det of all members (higher = more diverse)",
    "gradient_cosine": "GAL loss-gradient cosine (pair mean, lower = less coherent)",
    "saliency_cosine": "SMD Eq. 2 saliency cosine (pair mean, lower = less aligned)",
}


def _quantity_label(quantity: str, eps: float) -> str:
    return "ours: " + _LABELS[quantity].format(eps=eps)

