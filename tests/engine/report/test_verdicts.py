"""The report's verdicts (engine/report/verdicts.py) on hand-made measurements, and the
transcribed claims they check."""
from engine import paper_claims as pc
from engine import report as rep
from engine.paper_claims import Claim, Numeric, Ordering

KNOWN_METHODS = {"baseline", "adp", "gal", "dverge", "smd", "smd_plus", "advt", "dverge_advt", "cce_rm", "cce_dm",
                 "trs", "igat_adp", "igat_dverge"}


# --------------------------------------------------------------------------- orderings


def test_lowest_is_reproduced_only_when_subject_is_strictly_below_every_other():
    check = Ordering("transferability", ("dverge",), "lowest", ("baseline", "adp", "gal"))
    verdict, detail = rep.check_ordering(check, {"dverge": 0.05, "baseline": 0.9, "adp": 0.4, "gal": 0.3})
    assert verdict == rep.REPRODUCED and "dverge 0.050" in detail
    assert rep.check_ordering(check, {"dverge": 0.35, "baseline": 0.9, "adp": 0.4, "gal": 0.3})[0] == rep.NOT_REPRODUCED
    assert rep.check_ordering(check, {"dverge": 0.3, "baseline": 0.9, "adp": 0.4, "gal": 0.3})[0] == rep.NOT_REPRODUCED


def test_greater_with_several_subjects_needs_every_subject_above_every_other():
    check = Ordering("whitebox_mean", ("smd", "smd_plus"), "greater", ("baseline", "dverge"))
    assert rep.check_ordering(check, {"smd": 0.3, "smd_plus": 0.4, "baseline": 0.1, "dverge": 0.2})[0] == rep.REPRODUCED
    assert rep.check_ordering(check, {"smd": 0.15, "smd_plus": 0.4, "baseline": 0.1, "dverge": 0.2})[0] \
        == rep.NOT_REPRODUCED


def test_close_uses_the_margin_and_a_missing_method_is_not_evaluated():
    check = Ordering("clean_accuracy", ("dverge",), "close", ("baseline",), margin=0.03)
    assert rep.check_ordering(check, {"dverge": 0.86, "baseline": 0.88})[0] == rep.REPRODUCED
    assert rep.check_ordering(check, {"dverge": 0.80, "baseline": 0.88})[0] == rep.NOT_REPRODUCED
    verdict, detail = rep.check_ordering(check, {"dverge": 0.86})
    assert verdict == rep.NOT_EVALUATED and "baseline" in detail
    assert rep.check_ordering(check, {"dverge": 0.86, "baseline": float("nan")})[0] == rep.NOT_EVALUATED


def test_orderings_from_cifar_papers_are_checked_on_fashion_mnist():
    claim = next(c for c in pc.CLAIMS if c.id == "dverge-lowest-transfer")
    assert claim.dataset == "cifar10"
    ours = {"baseline": {"transferability": 0.8}, "adp": {"transferability": 0.3},
            "gal": {"transferability": 0.2}, "dverge": {"transferability": 0.04}}
    [row] = rep.check_claim(claim, ours, "fashion_mnist", 0.1)
    assert row.verdict == rep.REPRODUCED
    ours["gal"]["transferability"] = 0.01
    assert rep.check_claim(claim, ours, "fashion_mnist", 0.1)[0].verdict == rep.NOT_REPRODUCED


# --------------------------------------------------------------------------- the papers' numbers


def test_cifar_numbers_are_never_compared_with_fashion_mnist_numbers():
    claim = next(c for c in pc.CLAIMS if c.id == "dverge-fig3")
    ours = {m: {"transferability": v} for m, v in claim.values.items()}  # even identical numbers
    rows = rep.check_claim(claim, ours, "fashion_mnist", 0.1)
    assert [r.method for r in rows] == list(claim.values)
    assert {r.verdict for r in rows} == {rep.NOT_COMPARABLE_DATA}


def test_same_data_set_numbers_are_compared_within_the_tolerance():
    claim = Claim("x", "clean_accuracy", "P", "T1", "q", "fashion_mnist", "3 x LeNet-5",
                  Numeric("clean_accuracy", tolerance=0.03), values={"baseline": 0.919, "smd": 0.911})
    rows = rep.check_claim(claim, {"baseline": {"clean_accuracy": 0.90}, "smd": {"clean_accuracy": 0.85}},
                           "fashion_mnist", 0.1)
    assert [r.verdict for r in rows] == [rep.REPRODUCED, rep.NOT_REPRODUCED]
    assert rep.check_claim(claim, {"baseline": {"clean_accuracy": 0.90}}, "fashion_mnist", 0.1)[1].verdict \
        == rep.NOT_EVALUATED


def test_curves_are_compared_at_the_papers_eps_and_a_different_protocol_is_not_comparable():
    claim = Claim("x", "whitebox", "P", "T", "q", "fashion_mnist", "-", Numeric("whitebox_accuracy", tolerance=0.05),
                  values={"adp": [0.9, 0.5]}, eps=(0.0, 0.1))
    close = {"adp": {"whitebox_accuracy": 0.52, "whitebox_curve": {0.0: 0.88, 0.1: 0.52}}}
    assert rep.check_claim(claim, close, "fashion_mnist", 0.1)[0].verdict == rep.REPRODUCED
    far = {"adp": {"whitebox_accuracy": 0.2, "whitebox_curve": {0.0: 0.88, 0.1: 0.2}}}
    assert rep.check_claim(claim, far, "fashion_mnist", 0.1)[0].verdict == rep.NOT_REPRODUCED
    unmeasured = {"adp": {"whitebox_curve": {0.0: 0.88}}}
    assert rep.check_claim(claim, unmeasured, "fashion_mnist", 0.1)[0].verdict == rep.NOT_EVALUATED
    smd = next(c for c in pc.CLAIMS if c.id == "smd-t1-pgd")  # F-MNIST, but PGD-10 at ε=0.3
    rows = rep.check_claim(smd, {m: {"whitebox_curve": {0.3: v[0]}} for m, v in smd.values.items()},
                           "fashion_mnist", 0.1)
    assert {r.verdict for r in rows} == {rep.NOT_COMPARABLE_PROTOCOL}


def test_transcribed_claims_are_consistent():
    ids = [c.id for c in pc.CLAIMS]
    assert len(ids) == len(set(ids))
    assert {c.table for c in pc.CLAIMS} == set(pc.TABLES)
    for c in pc.CLAIMS:
        methods = set(c.values)
        if isinstance(c.check, Ordering):
            methods |= set(c.check.subject) | set(c.check.others)
        assert methods <= KNOWN_METHODS, c.id
        for v in c.values.values():
            assert (len(v) == len(c.eps)) if isinstance(v, list) else 0 <= v <= 1, c.id
    # DVERGE §4.2: "only 3-6% of them could lead to misclassification on other sub-models"
    fig3 = pc.DVERGE_FIG3["dverge"]
    assert all(0.03 <= fig3[i][j] <= 0.06 for i in range(3) for j in range(3) if i != j)
    # ... and "ADP exhibits transference of 60% to 70%" (entries 0.58-0.73; mean inside the range)
    assert 0.60 <= pc.off_diagonal_mean(pc.DVERGE_FIG3["adp"]) <= 0.70
