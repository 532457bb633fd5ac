"""AutoAttack and adaptive analyses: the cache key covers every attack parameter; the
PGD-vs-APGD cross-check finds both attacks' answer on a model solved by hand and flags a
library attack weaker than the lab's PGD."""
import copy

import pytest
import torch
from torch import nn

from engine import analyses
from engine.attacks import autoattack as aa
from engine.cache import ResultCache
from tests.conftest import REPO

CKPT = REPO / "checkpoints" / "baseline"

#: one changed value per config field (every field must appear here: see the first test)
CHANGES = {
    "autoattack": {"samples": 7, "seed": 1, "dataset": "mnist", "eps": 0.05, "norm": "l2", "quick": True},
    "adaptive": {"samples": 7, "seed": 1, "dataset": "mnist", "eps": 0.05, "steps": 3, "restarts": 2, "eot": 5,
                 "square_queries": 9, "checks": False},
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_every_config_field_changes_the_cache_key(name):
    entry = analyses.get(name)
    assert set(CHANGES[name]) == set(entry.config.model_fields), "a new field needs a row in CHANGES"
    base, _ = analyses.request_key(entry, CKPT, entry.config())
    keys = {base}
    for field, value in CHANGES[name].items():
        key, _ = analyses.request_key(entry, CKPT, entry.config(**{field: value}))
        assert key not in keys, f"changing {field} left the cache key unchanged"
        keys.add(key)


@pytest.mark.parametrize("version", ["standard", "quick"])
def test_every_component_parameter_changes_the_autoattack_cache_key(monkeypatch, version):
    entry = analyses.get("autoattack")
    config = entry.config(quick=version == "quick")
    base, _ = analyses.request_key(entry, CKPT, config)
    for component, params in aa.VERSIONS[version].items():
        for param, value in params.items():
            changed = copy.deepcopy(aa.VERSIONS)  # a shallow copy would change the real parameters for later tests
            changed[version][component][param] = value * 2 + 1
            monkeypatch.setattr(aa, "VERSIONS", changed)
            key, _ = analyses.request_key(entry, CKPT, config)
            assert key != base, f"{component}.{param} is not in the cache key"
            monkeypatch.undo()


@pytest.mark.parametrize("constant, value", [("ATTACKERS", ("pgd",)), ("SURROGATES", ("softmax", "logits")),
                                             ("PGD_STEP_DIVISOR", 5), ("APGD_RHO", 0.5)])
def test_every_fixed_adaptive_attack_parameter_changes_the_adaptive_cache_key(monkeypatch, constant, value):
    from engine.attacks import adaptive as attacks

    entry = analyses.get("adaptive")
    base, _ = analyses.request_key(entry, CKPT, entry.config())
    monkeypatch.setattr(attacks, constant, value)
    key, _ = analyses.request_key(entry, CKPT, entry.config())
    assert key != base, f"{constant} is not in the adaptive cache key"


def test_the_library_version_is_in_both_cache_keys(monkeypatch):
    from engine.analyses import adaptive as adaptive_analysis
    from engine.analyses import autoattack as autoattack_analysis

    for name, module in (("autoattack", autoattack_analysis), ("adaptive", adaptive_analysis)):
        entry = analyses.get(name)
        base, _ = analyses.request_key(entry, CKPT, entry.config())
        monkeypatch.setattr(module, "library_version", lambda: "torchattacks 0.0-other")
        key, _ = analyses.request_key(entry, CKPT, entry.config())
        assert key != base, f"{name}: the torchattacks version is not in the cache key"
        monkeypatch.undo()


def test_quick_results_are_labelled(tmp_path):
    result = analyses.run("autoattack", CKPT, {"samples": 4, "quick": True, "eps": 0.0},
                          cache=ResultCache(tmp_path))
    assert result["version"] == "quick" and "AutoAttack quick" in result["protocol"]
    assert result["robust_accuracy"] == result["clean_accuracy"]  # ε = 0: nothing to attack


class _Wrapped(nn.Module):
    """A hand-solvable linear model in the shape of a classifier (``.model``), so that it
    can be an ensemble member."""

    def __init__(self, linear):
        super().__init__()
        self.model = linear

    def forward(self, x):
        return self.model(x)


def _linear_ensemble(n=32):
    from engine.ensemble import Ensemble
    from tests.engine.attacks.test_autoattack import _linear_problem

    model, x, y = _linear_problem(n=n, seed=3)
    return Ensemble([_Wrapped(model)]), model, x, y


def test_pgd_and_apgd_ce_both_find_the_exact_answer_on_a_linear_model():
    from engine.evaluation.autoattack import pgd_vs_apgd
    from tests.engine.attacks.test_autoattack import exact_linf_robust

    ensemble, model, x, y = _linear_ensemble()
    eps = 0.03
    margin, exact = exact_linf_robust(model.weight.detach(), x, y, eps)
    assert exact.any() and (~exact).any()
    result = pgd_vs_apgd(ensemble, x, y, eps=eps, steps=20, restarts=2)
    near = int((margin.abs() <= 0.02).sum())  # within rounding of the boundary: either answer
    expected = float(exact.float().mean())
    assert abs(result["pgd_accuracy"] - expected) <= near / len(y)
    assert abs(result["apgd_ce_accuracy"] - expected) <= near / len(y)
    assert result["pgd_only"] <= near and not result["pgd_stronger_beyond_noise"]
    assert result["noise"] == pytest.approx((expected * (1 - expected) / len(y)) ** 0.5, abs=near / len(y))


def test_a_library_attack_weaker_than_pgd_is_flagged(monkeypatch):
    from engine.evaluation import autoattack as core

    ensemble, _, x, y = _linear_ensemble()
    # an "APGD-CE" that returns its input: every correct sample survives it
    monkeypatch.setattr(core, "run_component", lambda name, model, x, y, **kw: x.clone())
    result = core.pgd_vs_apgd(ensemble, x, y, eps=0.1, steps=20, restarts=1)
    assert result["apgd_ce_accuracy"] == result["clean_accuracy"] == 1.0
    assert result["pgd_accuracy"] < 0.5
    assert result["pgd_only"] == round((1.0 - result["pgd_accuracy"]) * len(y)) and result["apgd_only"] == 0
    assert result["pgd_stronger_beyond_noise"]


def test_the_whole_autoattack_runs_on_the_same_samples_with_apgd_ce_at_100_iterations():
    from engine.attacks import autoattack as aa
    from engine.evaluation.autoattack import pgd_vs_apgd

    ensemble, model, x, y = _linear_ensemble(n=16)
    result = pgd_vs_apgd(ensemble, x, y, eps=0.03, steps=10, restarts=1, autoattack_version="quick")
    assert "APGD-CE 100 it." in result["autoattack"] and "Square 500 queries" in result["autoattack"]
    assert aa.VERSIONS["quick"]["apgd-ce"]["steps"] == 20  # the override did not leak into the table
    assert result["autoattack_accuracy"] <= result["apgd_ce_accuracy"]
    assert result["pgd_only_vs_autoattack"] == 0
    assert sum(result["broken_by"].values()) == round((result["clean_accuracy"] - result["autoattack_accuracy"]) * 16)
