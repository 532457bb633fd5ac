"""CCE Table 6: secure/insecure subsets of a member pair and the T, nT, a_single metrics."""
import numpy as np
import pytest

from engine import analyses
from engine.cache import ResultCache
from engine.evaluation.cce_subsets import subset_fractions, transferability_t


def test_subset_counting_by_hand():
    #            samples: 0  1  2  3  4  5
    correct_i = np.array([1, 1, 0, 0, 1, 0], bool)
    correct_j = np.array([1, 0, 1, 0, 1, 0], bool)
    ensemble = np.array([1, 1, 0, 0, 1, 1], bool)  # sample 5: a third member outvotes the pair
    r = subset_fractions(correct_i, correct_j, ensemble)
    assert r["counts"] == {"S11": 2, "S10": 1, "S01": 1, "S00": 2}
    assert (r["s11"], r["s10"], r["s01"], r["s00"]) == pytest.approx((2 / 6, 1 / 6, 1 / 6, 2 / 6))
    assert r["a_en"] == pytest.approx(4 / 6)
    assert r["nT"] == pytest.approx(1 - 4 / 6 - 2 / 6)  # the paper's formula: 0
    assert r["a_single"] == pytest.approx(4 / 6 - 2 / 6)
    assert r["nT_counted"] == pytest.approx(1 / 6)  # sample 2: ensemble fooled, pair not both fooled
    assert r["a_single_counted"] == pytest.approx(1 / 6)  # sample 1: ensemble right, only member i right


def test_formulas_reproduce_the_papers_table6_row_for_two_members():
    # ADV-EN in CCE Table 6 (1,000 images): |S11| 24.0, |S01| 17.0, |S10| 13.0, |S00| 46.0,
    # a(en,en) 40.7 -> nT 13.3, a_single 16.7. With two members the ensemble is right on all of
    # S11 (CCE Lemma 1 ii), never on S00, and on 167 of the 300 single-member images.
    ci = np.r_[np.ones(240), np.zeros(170), np.ones(130), np.zeros(460)].astype(bool)
    cj = np.r_[np.ones(240), np.ones(170), np.zeros(130), np.zeros(460)].astype(bool)
    ens = np.r_[np.ones(240), np.ones(100), np.zeros(70), np.ones(67), np.zeros(63), np.zeros(460)].astype(bool)
    r = subset_fractions(ci, cj, ens)
    assert (r["s11"], r["s01"], r["s10"], r["s00"], r["a_en"]) == pytest.approx((0.24, 0.17, 0.13, 0.46, 0.407))
    assert r["nT"] == pytest.approx(0.133) and r["a_single"] == pytest.approx(0.167)
    assert r["nT_counted"] == pytest.approx(r["nT"]) and r["a_single_counted"] == pytest.approx(r["a_single"])


def test_transferability_t_from_cross_accuracies():
    # cross[s][t]: accuracy of member t on member s's PGD examples (CCE-RM row: T = 33.7)
    cross = [[0.417, 0.60], [0.577, 0.414]]
    assert transferability_t(cross, 0, 1) == pytest.approx(0.60 - 0.417 + 0.577 - 0.414)


def test_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        subset_fractions([True, False], [True], [True, True])


def test_run_end_to_end_and_second_request_is_served_from_cache(quick_baseline, tmp_path):
    cache = ResultCache(tmp_path)
    config = {"samples": 50, "steps": 5}
    result = analyses.run("cce-subsets", quick_baseline, config, device="cpu", cache=cache)
    k = result["members"]
    assert len(result["pairs"]) == k * (k - 1) // 2 and len(result["cross"]) == k
    for pair in result["pairs"]:
        assert pair["s11"] + pair["s10"] + pair["s01"] + pair["s00"] == pytest.approx(1.0)
        assert sum(pair["counts"].values()) == result["samples"] == 50
        assert pair["T"] == pytest.approx(transferability_t(result["cross"], pair["i"], pair["j"]))
    # a member attacked directly is fooled more often than its partners are by the same examples
    cross = np.array(result["cross"])
    assert np.all(np.diag(cross)[:, None] <= cross + 1e-9)

    def must_not_compute(*_a, **_k):
        raise AssertionError("recomputed a cached result")

    again = analyses.run("cce-subsets", quick_baseline, config, device="cpu", cache=cache, progress=must_not_compute)
    assert (cache.hits, cache.misses) == (1, 1) and again["pairs"][0]["T"] == result["pairs"][0]["T"]
