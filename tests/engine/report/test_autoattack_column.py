"""The report's AutoAttack column: opt-in, beside PGD in the white-box table, with its protocol."""
from engine.report.build import Entry, _section, analysis_configs, quantities


def test_autoattack_is_opt_in_and_quick_only_under_the_quick_protocol():
    assert "autoattack" not in analysis_configs("fashion_mnist", 0.1, 50, "quick", [])
    assert analysis_configs("fashion_mnist", 0.1, 50, "quick", [], autoattack=True)["autoattack"] == \
        {"eps": 0.1, "samples": 50, "quick": True}
    assert analysis_configs("fashion_mnist", 0.1, 50, "paper", [], autoattack=True)["autoattack"]["quick"] is False


def test_whitebox_table_shows_autoattack_beside_pgd_with_its_protocol():
    results = {"whitebox": {"eps": [0.0, 0.1], "accuracy": [0.9, 0.4]},
               "autoattack": {"robust_accuracy": 0.25, "protocol": "AutoAttack standard (...)"}}
    q = quantities(results, 0.1)
    assert q["whitebox_accuracy"] == 0.4 and q["autoattack_accuracy"] == 0.25
    entry = Entry("dverge", "/x", "dverge", "fashion_mnist", 3)
    with_aa = _section("whitebox", {"dverge": q}, {}, [entry], "fashion_mnist", 0.1, {},
                       {"whitebox": {}, "autoattack": {}})
    row = with_aa.measured[0]
    assert row["whitebox_accuracy"] == 0.4 and row["autoattack_accuracy"] == 0.25
    assert row["autoattack_protocol"].startswith("AutoAttack standard")
    without = _section("whitebox", {"dverge": q}, {}, [entry], "fashion_mnist", 0.1, {}, {"whitebox": {}})
    assert "autoattack_accuracy" not in without.measured[0]
