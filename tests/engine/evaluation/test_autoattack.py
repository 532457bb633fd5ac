"""AutoAttack and adaptive analyses: the cache key covers every attack parameter."""
import copy

import pytest

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


def test_quick_results_are_labelled(tmp_path):
    result = analyses.run("autoattack", CKPT, {"samples": 4, "quick": True, "eps": 0.0},
                          cache=ResultCache(tmp_path))
    assert result["version"] == "quick" and "AutoAttack quick" in result["protocol"]
    assert result["robust_accuracy"] == result["clean_accuracy"]  # ε = 0: nothing to attack
