"""Mean ± std over seeds (engine.evaluation.seeds): checked against numpy on hand-made
results, for any result shape and any table builder."""
from __future__ import annotations

import numpy as np
import pytest

from engine.evaluation import AnalysisError
from engine.evaluation.seeds import aggregate, seed_std, seed_table

RESULTS = [
    {"eps": 0.1, "samples": 100, "method": "dverge", "accuracy": [0.9, 0.5, 0.2],
     "matrix": [[1.0, 0.1], [0.2, 1.0]], "nested": {"rate": 0.3}, "images": np.zeros((2, 1, 4, 4))},
    {"eps": 0.1, "samples": 100, "method": "dverge", "accuracy": [0.8, 0.4, 0.3],
     "matrix": [[1.0, 0.3], [0.1, 1.0]], "nested": {"rate": 0.5}, "images": np.ones((2, 1, 4, 4))},
    {"eps": 0.1, "samples": 100, "method": "dverge", "accuracy": [0.7, 0.6, 0.1],
     "matrix": [[1.0, 0.2], [0.6, 1.0]], "nested": {"rate": 0.1}, "images": np.ones((2, 1, 4, 4))},
]


def test_every_measurement_is_the_numpy_mean_and_sample_std_over_seeds():
    agg = aggregate(RESULTS, seeds=[0, 1, 2], checkpoints=["a/seed0", "a/seed1", "a/seed2"])
    acc = np.array([r["accuracy"] for r in RESULTS])
    np.testing.assert_allclose(agg["accuracy"], acc.mean(0))
    np.testing.assert_allclose(agg["seed_std"]["accuracy"], acc.std(0, ddof=1))
    mat = np.array([r["matrix"] for r in RESULTS])
    np.testing.assert_allclose(agg["matrix"], mat.mean(0))
    np.testing.assert_allclose(agg["seed_std"]["matrix"], mat.std(0, ddof=1))
    rates = np.array([r["nested"]["rate"] for r in RESULTS])
    assert agg["nested"]["rate"] == pytest.approx(rates.mean())
    assert seed_std(agg, "nested", "rate") == pytest.approx(rates.std(ddof=1))
    assert (agg["seeds"], agg["n_seeds"], agg["seed_checkpoints"]) == ([0, 1, 2], 3, ["a/seed0", "a/seed1", "a/seed2"])


def test_settings_stay_exact_and_raw_arrays_come_from_the_first_seed():
    agg = aggregate(RESULTS)
    assert agg["eps"] == 0.1 and agg["samples"] == 100 and isinstance(agg["samples"], int)
    assert agg["method"] == "dverge" and agg["seed_std"]["method"] is None
    assert agg["seed_std"]["eps"] == 0.0
    assert agg["images"] is RESULTS[0]["images"]  # images are not averaged into a blur


def test_a_plain_result_has_no_seed_std():
    assert seed_std(RESULTS[0], "accuracy") is None
    assert seed_std(RESULTS[0], "accuracy", default=0.0) == 0.0


def test_an_empty_group_is_refused():
    with pytest.raises(AnalysisError, match="a seed group needs at least one checkpoint"):
        aggregate([])


def _table(results):
    return [{"ensemble": label, "eps": r["eps"], "level": i, "accuracy": a}
            for label, r in results for i, a in enumerate(r["accuracy"])]


def test_any_table_gains_a_std_column_for_what_varies_over_seeds():
    agg = aggregate(RESULTS)
    rows = seed_table(_table, [("dverge", agg)])
    acc = np.array([r["accuracy"] for r in RESULTS])
    assert [r["accuracy"] for r in rows] == pytest.approx(list(acc.mean(0)))
    assert [r["accuracy_std"] for r in rows] == pytest.approx(list(acc.std(0, ddof=1)))
    assert all("eps_std" not in r and "level_std" not in r and r["seeds"] == 3 for r in rows)
    # a single run's table is what the builder gives
    assert seed_table(_table, [("one", RESULTS[0])]) == _table([("one", RESULTS[0])])
