"""Adversarial detection by ensemble entropy and ADP diversity (ADP 4.5, CCE): ROC/AUC
computed by hand-checkable rules, scores checked against hand-computed values."""
import math

import numpy as np
import pytest
import torch

from engine import analyses
from engine.cache import ResultCache
from engine.evaluation import detection

BENIGN = np.array([0.1, 0.4, 0.35, 0.8])
ADVERSARIAL = np.array([0.9, 0.4, 0.7])


def test_auc_is_the_fraction_of_correctly_ordered_pairs_with_ties_counting_half():
    # 0.9 beats all 4 benign; 0.4 beats 0.1 and 0.35 and ties 0.4; 0.7 beats 0.1, 0.4, 0.35
    assert detection.auc(BENIGN, ADVERSARIAL) == pytest.approx((4 + 2.5 + 3) / 12)
    assert detection.auc([0, 1], [2, 3]) == 1.0 and detection.auc([2, 3], [0, 1]) == 0.0
    assert detection.auc([5, 5, 5], [5, 5]) == 0.5


def test_roc_curve_by_hand_and_its_area_equals_the_rank_auc():
    fpr, tpr = detection.roc_curve(BENIGN, ADVERSARIAL)
    # thresholds 0.9, 0.8, 0.7, 0.4 (one benign + one adversarial tie), 0.35, 0.1
    np.testing.assert_allclose(fpr, [0, 0, 0.25, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 1 / 3, 2 / 3, 1, 1, 1])
    assert np.trapezoid(tpr, fpr) == pytest.approx(detection.auc(BENIGN, ADVERSARIAL))
    rng = np.random.default_rng(0)
    neg, pos = rng.normal(0, 1, 500).round(1), rng.normal(1, 1, 400).round(1)  # many ties
    fpr, tpr = detection.roc_curve(neg, pos)
    assert np.trapezoid(tpr, fpr) == pytest.approx(detection.auc(neg, pos))
    small_f, small_t = detection.downsample(fpr, tpr, 20)
    assert len(small_f) <= 20 and (small_f[0], small_t[0], small_f[-1], small_t[-1]) == (0, 0, 1, 1)


def test_scores_by_hand_diversity_uses_the_predicted_label():
    # two members, three classes; the mean prediction (0.65, 0.15, 0.2) predicts class 0.
    p = torch.tensor([[[0.7, 0.2, 0.1]], [[0.6, 0.1, 0.3]]], dtype=torch.float64)
    (ent_fn, ent_sign, _), (div_fn, div_sign, _) = detection.SCORES["entropy"], detection.SCORES["diversity"]
    assert float(ent_fn(p)) == pytest.approx(-sum(q * math.log(q) for q in (0.65, 0.15, 0.2)), rel=1e-6)
    # non-maximal parts (0.2, 0.1) and (0.1, 0.3): cosine 0.05 / sqrt(0.05 * 0.1) = 1/√2, so
    # det [[1, c], [c, 1]] = 1/2 (δ = 1e-6 aside)
    assert float(div_fn(p)) == pytest.approx(math.log(0.5), abs=1e-4)
    assert ent_sign > 0 and div_sign < 0  # higher entropy / lower diversity flag adversarial inputs


def test_run_end_to_end_and_second_request_is_served_from_cache(quick_baseline, tmp_path):
    cache = ResultCache(tmp_path)
    config = {"samples": 60, "steps": 5, "attacks": ["pgd", "fgsm"]}
    result = analyses.run("detection", quick_baseline, config, device="cpu", cache=cache)
    assert result["eps"] == 0.1  # Fashion-MNIST's standard budget by default
    for attack in ("pgd", "fgsm"):
        a = result["attacks"][attack]
        assert a["adversarial_accuracy"] < result["clean_accuracy"]
        for score in ("entropy", "diversity"):
            s = a["scores"][score]
            assert len(s["fpr"]) == len(s["tpr"]) <= 200
            # 60 + 60 scores: the curve is not downsampled, so its area is the Mann-Whitney AUC
            assert np.trapezoid(s["tpr"], s["fpr"]) == pytest.approx(s["auc"])
            assert (s["fpr"][0], s["tpr"][0], s["fpr"][-1], s["tpr"][-1]) == (0, 0, 1, 1)
            assert np.all(np.diff(s["fpr"]) >= 0) and np.all(np.diff(s["tpr"]) >= 0)
    # the attack pushes the baseline's predictions towards uncertainty
    assert result["attacks"]["pgd"]["scores"]["entropy"]["auc"] > 0.5

    def must_not_compute(*_a, **_k):
        raise AssertionError("recomputed a cached result")

    again = analyses.run("detection", quick_baseline, config, device="cpu", cache=cache, progress=must_not_compute)
    assert (cache.hits, cache.misses) == (1, 1)
    assert again["attacks"]["pgd"]["scores"]["entropy"]["auc"] == result["attacks"]["pgd"]["scores"]["entropy"]["auc"]


@pytest.mark.parametrize("name", detection.SCORES.names())
def test_every_detection_score_gives_one_finite_value_per_input(name):
    score = detection.SCORES.get(name)
    probs = torch.rand(3, 7, 10, generator=torch.Generator().manual_seed(0)).softmax(-1)  # [K, B, C]
    values = score.statistic(probs)
    assert values.shape == (7,) and torch.isfinite(values).all()
    assert score.sign in (-1.0, 1.0) and "adversarial" in score.meaning
