"""Results shipped with the zoo (engine/shipped_results.py): complete for every first-view
request, small, stored without pickle, current for today's checkpoints and code, copied
into an empty user cache without overwriting, and never served once stale."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
from engine import analyses
from engine import shipped_results as sr
from engine.cache import ResultCache
from tests.conftest import REPO

RESULTS = REPO / "checkpoints" / "results"


def test_every_first_view_request_of_the_default_selection_is_shipped_and_current():
    for name in sr.FIRST_VIEW_ENSEMBLES:
        checkpoint = REPO / "checkpoints" / name
        for analysis_name, config in sr.first_view_requests("fashion_mnist"):
            analysis = analyses.get(analysis_name)
            key, _ = analyses.request_key(analysis, checkpoint, analyses.parse_config(analysis, config))
            entry = RESULTS / f"{key}.json"
            assert entry.is_file(), (f"{name}: {analysis_name} {config} is not shipped (or stale): rerun "
                                     "`python -m engine shipped-results --build`")
            request = json.loads(entry.read_text())
            assert (request["analysis"], request["checkpoint"], request["version"]) == \
                   (analysis_name, name, analysis.version)


def test_every_request_of_the_report_pages_first_open_is_shipped_and_current():
    """The Reproduction report page at its defaults (every shipped ensemble, report ε, 100
    samples): transferability, white-box, black-box and diversity of each, all shipped."""
    requests = sr.report_requests()
    assert {a for _, a, _ in requests} == {"transferability", "whitebox", "blackbox", "diversity"}
    assert {n for n, _, _ in requests} >= {"baseline", "dverge", "trs", "igat_dverge"}
    for name, analysis_name, config in requests:
        analysis = analyses.get(analysis_name)
        key, _ = analyses.request_key(analysis, REPO / "checkpoints" / name, analyses.parse_config(analysis, config))
        assert (RESULTS / f"{key}.json").is_file(), f"{name}: {analysis_name} {config} is not shipped (or stale)"


def test_shipped_results_are_small_and_hold_no_pickle():
    files = list(RESULTS.iterdir())
    assert {f.suffix for f in files} <= {".json", ".safetensors"}
    assert sum(f.stat().st_size for f in files) < 8 * 2**20
    for f in files:
        if f.suffix == ".safetensors":
            assert f.with_suffix(".json").is_file()  # no orphan arrays


def test_shipped_results_name_no_directory_of_the_machine_they_were_built_on():
    for entry in RESULTS.glob("*.json"):
        text = entry.read_text()
        assert '"/' not in text, f"{entry.name} holds an absolute path"


def test_paths_inside_the_checkout_are_written_relative_to_it(tmp_path):
    base = tmp_path / "checkout"
    result = {"surrogates": [{"path": str(base / "checkpoints" / "surrogate_3"), "name": "surrogate_3"}],
              "elsewhere": "/data/mine", "note": "checkpoints/x"}
    path = sr.write_entry(tmp_path / "results", "k" * 64, {"analysis": "blackbox"}, result, base=base)
    _, back = sr.read_entry(path)
    assert back == {"surrogates": [{"path": "checkpoints/surrogate_3", "name": "surrogate_3"}],
                    "elsewhere": "/data/mine", "note": "checkpoints/x"}


def test_an_entry_round_trips_arrays_strings_and_numbers(tmp_path):
    result = {"matrix": np.arange(6, dtype=np.float32).reshape(2, 3), "labels": np.array(["a", "b"]),
              "n": np.int64(3), "nested": [{"x": np.ones(2, dtype=np.uint8)}, None, "text", 0.5]}
    path = sr.write_entry(tmp_path, "k" * 64, {"analysis": "diversity"}, result)
    request, back = sr.read_entry(path)
    assert request["analysis"] == "diversity" and request["key"] == "k" * 64
    np.testing.assert_array_equal(back["matrix"], result["matrix"])
    assert back["matrix"].dtype == np.float32 and list(back["labels"]) == ["a", "b"]
    assert back["n"] == 3 and back["nested"][1:] == [None, "text", 0.5]
    np.testing.assert_array_equal(back["nested"][0]["x"], [1, 1])


def test_seeding_fills_an_empty_cache_with_the_same_results_and_overwrites_nothing(tmp_path):
    cache = ResultCache(tmp_path / "cache")
    counts = sr.seed_cache(cache)
    shipped = len(list(RESULTS.glob("*.json")))
    assert counts == {"added": shipped, "present": 0, "stale": 0, "unreadable": 0}
    checkpoint = REPO / "checkpoints" / "dverge"
    config = dict(sr.PAGE_DEFAULTS["transferability"], eps=0.1)
    hit = analyses.cached("transferability", checkpoint, config, cache=cache)
    _, expected = sr.read_entry(RESULTS / f"{analyses.request_key(analyses.get('transferability'), checkpoint, analyses.parse_config(analyses.get('transferability'), config))[0]}.json")
    np.testing.assert_array_equal(hit["matrix"], expected["matrix"])
    assert hit["config"]["eps"] == 0.1 and hit["config"]["samples"] == 200
    # a user's own result under a shipped key is kept
    key = next(RESULTS.glob("*.json")).stem
    cache.set(key, {"mine": 1})
    assert sr.seed_cache(cache) == {"added": 0, "present": shipped, "stale": 0, "unreadable": 0}
    assert cache.get(key) == {"mine": 1}


def test_a_rebuilt_checkpoint_or_bumped_analysis_version_makes_entries_stale(tmp_path, monkeypatch):
    root = tmp_path / "zoo"
    for name in {json.loads(p.read_text())["checkpoint"] for p in RESULTS.glob("*.json")}:  # the report's too
        shutil.copytree(REPO / "checkpoints" / name, root / name)
    # "retrain" dverge: another member file (different bytes, meta.json updated accordingly)
    meta = json.loads((root / "dverge" / "meta.json").read_text())
    member = next(n for n in meta["files"] if n.startswith("member_0"))
    shutil.copy(root / "baseline" / next(n for n in json.loads((root / "baseline" / "meta.json").read_text())["files"]
                                          if n.startswith("member_0")), root / "dverge" / member)
    from engine.hashing import sha256_file
    meta["files"][member] = sha256_file(root / "dverge" / member)
    (root / "dverge" / "meta.json").write_text(json.dumps(meta))
    # and bump an analysis version
    diversity = analyses.get("diversity")
    monkeypatch.setitem(analyses.ANALYSES._entries, "diversity", replace(diversity, version=diversity.version + 1))
    cache = ResultCache(tmp_path / "cache")
    counts = sr.seed_cache(cache, root=root)
    entries = [json.loads(p.read_text()) for p in RESULTS.glob("*.json")]
    stale = sum(1 for e in entries if e["checkpoint"] == "dverge" or e["analysis"] == "diversity")
    assert counts["stale"] == stale and counts["added"] == len(entries) - stale and counts["unreadable"] == 0
    assert analyses.cached("transferability", root / "dverge", dict(sr.PAGE_DEFAULTS["transferability"], eps=0.1),
                           cache=cache) is None  # never served for the rebuilt checkpoint
    assert analyses.cached("transferability", root / "baseline", dict(sr.PAGE_DEFAULTS["transferability"], eps=0.1),
                           cache=cache) is not None


def test_the_shipped_black_box_result_is_what_a_fresh_computation_gives():
    """Cheaply: every transfer set is generated on its own (surrogate, attack, loss, ε, seeded
    generator), so the request narrowed to one attack, loss and ε recomputes exactly the
    shipped result's entry for them (3 sets of 100 samples instead of 108)."""
    checkpoint = REPO / "checkpoints" / "dverge"
    blackbox = analyses.get("blackbox")
    config = analyses.parse_config(blackbox, sr.PAGE_DEFAULTS["blackbox"])
    key, _ = analyses.request_key(blackbox, checkpoint, config)
    _, shipped = sr.read_entry(RESULTS / f"{key}.json")
    assert shipped["samples"] == config.samples and len(shipped["surrogates"]) == 3
    i = shipped["eps"].index(0.1)
    narrow = dict(sr.PAGE_DEFAULTS["blackbox"], attacks=["mdi2fgsm"], losses=["ce"], eps=[0.1])
    fresh = _fresh("blackbox", checkpoint, narrow)  # an empty cache: nothing reused
    assert fresh["per_attack"]["mdi2fgsm/ce"] == [shipped["per_attack"]["mdi2fgsm/ce"][i]]
    assert fresh["clean_accuracy"] == shipped["clean_accuracy"]
    # all-or-nothing: the overall accuracy is at most every attack's
    for e, overall in enumerate(shipped["accuracy"]):
        assert overall <= min(v[e] for v in shipped["per_attack"].values()) <= shipped["clean_accuracy"]


def _fresh(name, checkpoint, config):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return analyses.run(name, checkpoint, config, cache=ResultCache(tmp))
