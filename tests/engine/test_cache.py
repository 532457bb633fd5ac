"""The result cache: exact round trips without pickle, refusal of pickled entries, and a
second identical analysis request served without recomputing."""
from __future__ import annotations

import pickle

import diskcache
import numpy as np
import pytest

from engine import analyses
from engine.cache import CacheError, NoPickleDisk, ResultCache, decode, encode


def test_results_round_trip_with_nested_arrays_and_no_pickle():
    value = {"a": 1, "b": [0.5, None, float("nan")], "nested": {"img": np.arange(6, dtype=np.float16).reshape(2, 3)},
             "list": [np.array([1, 2], dtype=np.int64), "text"]}
    back = decode(encode(value))
    assert back["a"] == 1 and back["b"][:2] == [0.5, None] and np.isnan(back["b"][2])
    assert back["nested"]["img"].dtype == np.float16 and (back["nested"]["img"] == value["nested"]["img"]).all()
    assert (back["list"][0] == [1, 2]).all() and back["list"][1] == "text"
    with pytest.raises(TypeError):
        encode({"obj": object()})
    with pytest.raises(TypeError):
        encode({"obj": np.array([object()], dtype=object)})


def test_pickled_or_corrupt_entries_are_never_loaded(tmp_path):
    raw = diskcache.Cache(str(tmp_path))  # someone else's writer, default (pickling) disk
    raw.set("evil", {"x": 1})  # stored pickled
    raw.set("junk", b"not an npz")
    raw.close()
    cache = ResultCache(tmp_path)
    assert cache.get("evil") is None  # refused, not unpickled
    assert cache.get("junk") is None  # corrupt: dropped, to be recomputed
    with pytest.raises(TypeError):
        NoPickleDisk(str(tmp_path)).store({"x": 1}, read=False)
    with pytest.raises(CacheError):
        NoPickleDisk(str(tmp_path)).fetch(diskcache.core.MODE_PICKLE, None, pickle.dumps(1), False)


def test_a_second_identical_request_is_served_from_the_cache(tmp_path, quick_baseline, monkeypatch):
    cache = ResultCache(tmp_path / "cache")
    config = {"eps": 0.1, "samples": 30, "steps": 3, "examples": 2}
    first = analyses.run("transferability", quick_baseline, config, device="cpu", cache=cache)
    assert (cache.hits, cache.misses) == (0, 1)

    def no_recompute(*_args, **_kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr("engine.evaluation.transferability.transferability", no_recompute)
    second = analyses.run("transferability", quick_baseline, config, device="cpu", cache=ResultCache(tmp_path / "cache"))
    assert second["matrix"] == first["matrix"]
    assert (second["examples"]["adversarial"] == first["examples"]["adversarial"]).all()
    # a different configuration is a different entry
    assert analyses.cached("transferability", quick_baseline, dict(config, eps=0.05), cache=cache) is None
