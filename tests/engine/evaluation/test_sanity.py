"""Gradient-masking flag of DVERGE appendix C.3: white-box accuracy must not exceed
black-box accuracy at the same ε."""
import pytest

from engine.evaluation.sanity import gradient_masking_warnings


def test_flags_exactly_the_budgets_where_whitebox_beats_blackbox():
    # DVERGE Table 4/5, ADP/8: 4.9 % white-box > 0.4 % black-box at ε = 0.02.
    white = {"eps": [0.0, 0.01, 0.02, 0.03], "accuracy": [0.934, 0.127, 0.049, 0.025]}
    black = {"eps": [0.0, 0.01, 0.02, 0.03], "accuracy": [0.934, 0.500, 0.004, 0.025]}
    warnings = gradient_masking_warnings(white, black)
    assert len(warnings) == 1  # ε=0.01 is fine, ε=0.03 is a tie (not "exceeds")
    assert warnings[0].startswith("ε=0.02:") and "4.9%" in warnings[0] and "0.4%" in warnings[0]


def test_matches_budgets_within_tolerance_and_ignores_unmatched_ones():
    white = {"eps": [0.1, 0.2, 0.3], "accuracy": [0.5, 0.4, 0.3]}
    black = {"eps": [0.1 + 1e-9, 0.30000000000000004], "accuracy": [0.2, 0.9]}  # float noise
    warnings = gradient_masking_warnings(white, black)
    assert [w.split(":")[0] for w in warnings] == ["ε=0.1"]


def test_skips_clean_point_and_respects_margin():
    white = {"eps": [0.0, 0.05], "accuracy": [0.95, 0.31]}
    black = {"eps": [0.0, 0.05], "accuracy": [0.90, 0.30]}
    assert len(gradient_masking_warnings(white, black)) == 1
    assert gradient_masking_warnings(white, black, margin=0.02) == []


def test_rejects_malformed_results():
    with pytest.raises(ValueError, match="black-box"):
        gradient_masking_warnings({"eps": [0.1], "accuracy": [0.3]}, {"eps": [0.1, 0.2], "accuracy": [0.3]})
    with pytest.raises(ValueError, match="white-box"):
        gradient_masking_warnings({"accuracy": [0.3]}, {"eps": [0.1], "accuracy": [0.3]})
