"""Seed groups are recognised from meta.json (same configuration, other seed), and every
``eval``/``export`` accepts one: a group directory (``train --seeds OUT``) or ``--group``."""
from __future__ import annotations

import json
import shutil

import pytest

from engine import seed_groups
from engine.checkpoint import read_meta
from tests.conftest import REPO
from tests.engine.cli.test_commands import last_json, run

SHIPPED = REPO / "checkpoints"


def _copy(src, dst, **meta_changes):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("pretrain"))
    if meta_changes:
        meta = json.loads((dst / "meta.json").read_text())
        for key, value in meta_changes.items():
            meta[key] = value
            meta.setdefault("config", {})[key] = value
        (dst / "meta.json").write_text(json.dumps(meta))
    return dst


def test_seeds_of_one_configuration_are_one_group_wherever_they_started_from(tmp_path):
    # the shipped baseline and surrogate_3 are both `train --preset quick --method baseline`, seeds 0 and 100
    a, b = read_meta(SHIPPED / "baseline"), read_meta(SHIPPED / "surrogate_3")
    assert a["seed"] != b["seed"] and seed_groups.group_key(a) == seed_groups.group_key(b)
    moved = _copy(SHIPPED / "baseline", tmp_path / "b7", seed=7, init_from="/elsewhere/pretrained")
    assert seed_groups.group_key(read_meta(moved)) == seed_groups.group_key(a)
    other = read_meta(SHIPPED / "surrogate_5")  # 5 members: another configuration
    assert seed_groups.group_key(other) != seed_groups.group_key(a)
    group = seed_groups.find_group(SHIPPED / "baseline", [SHIPPED / "surrogate_5", moved, SHIPPED / "surrogate_3",
                                                          SHIPPED / "dverge"])
    assert [read_meta(p)["seed"] for p in group] == [0, 7, 100]


def test_a_group_directory_is_its_checkpoints_by_seed(tmp_path):
    _copy(SHIPPED / "surrogate_3", tmp_path / "g" / "seed100")
    _copy(SHIPPED / "baseline", tmp_path / "g" / "seed0")
    assert seed_groups.is_group_directory(tmp_path / "g") and not seed_groups.is_group_directory(SHIPPED / "baseline")
    assert [p.name for p in seed_groups.expand(tmp_path / "g")] == ["seed0", "seed100"]
    assert seed_groups.expand(SHIPPED / "baseline") == [SHIPPED / "baseline"]


def test_a_directory_mixing_configurations_is_refused_by_name(tmp_path):
    _copy(SHIPPED / "baseline", tmp_path / "mixed" / "baseline")
    _copy(SHIPPED / "dverge", tmp_path / "mixed" / "dverge", seed=1)
    with pytest.raises(seed_groups.SeedGroupError) as err:
        seed_groups.expand(tmp_path / "mixed")
    assert str(err.value) == (f"{tmp_path / 'mixed'} is not one seed group: its checkpoints differ in more than the "
                              "seed (baseline, dverge); give them one by one")


def test_a_zoo_listing_collapses_to_one_entry_per_seed_group_standing_for_its_lowest_seed():
    from engine.zoo import list_ensembles

    entries = [e for e in list_ensembles([SHIPPED]) if "error" not in e]
    listed = {e["name"]: e for e in seed_groups.collapse(entries)}
    # the shipped extra seeds are not entries of their own: their seed-0 entry stands for them
    assert not [n for n in listed if n.startswith("seeds/")] and "surrogate_3" not in listed
    for name in ("dverge", "trs", "adp"):
        assert listed[name]["seeds"] == [0, 1, 2]
        assert listed[name]["group"] == [str(SHIPPED / name), str(SHIPPED / "seeds" / name / "seed1"),
                                         str(SHIPPED / "seeds" / name / "seed2")]
    assert listed["baseline"]["seeds"] == [0, 1, 2, 100]  # surrogate_3: the same recipe with seed 100
    assert listed["surrogate_5"]["group"] == [str(SHIPPED / "surrogate_5")]  # 5 members: its own configuration
    # every entry is in exactly one group, and the listing keeps the zoo's order
    assert sorted(p for e in listed.values() for p in e["group"]) == sorted(e["path"] for e in entries)
    order = [e["path"] for e in entries]
    assert [order.index(e["path"]) for e in listed.values()] == sorted(order.index(e["path"]) for e in listed.values())


def test_collapse_uses_the_meta_the_zoo_listing_loaded_and_reads_no_file(monkeypatch):
    from engine.zoo import list_ensembles

    entries = [e for e in list_ensembles([SHIPPED]) if "error" not in e]
    expected = seed_groups.collapse([{"path": e["path"]} for e in entries])  # entries without meta read theirs

    def no_read(path):
        raise AssertionError(f"collapse read {path}/meta.json again")

    monkeypatch.setattr(seed_groups, "read_meta", no_read)
    assert [(e["path"], e["group"], e["seeds"]) for e in seed_groups.collapse(entries)] == \
        [(e["path"], e["group"], e["seeds"]) for e in expected]


def test_collapse_keeps_unreadable_and_imported_entries_as_their_own(tmp_path):
    broken = _copy(SHIPPED / "baseline", tmp_path / "broken")
    (broken / "meta.json").write_text("{")
    imported = _copy(SHIPPED / "surrogate_3", tmp_path / "imported")
    meta = json.loads((imported / "meta.json").read_text())
    meta.pop("config")
    (imported / "meta.json").write_text(json.dumps(meta))
    rerun = _copy(SHIPPED / "baseline", tmp_path / "my-baseline")  # the shipped recipe again, same seed
    entries = [{"path": str(p)} for p in (broken, imported, SHIPPED / "baseline", tmp_path / "gone", rerun)]
    assert [(e["path"], e["group"]) for e in seed_groups.collapse(entries)] == [
        (e["path"], [e["path"]]) for e in entries]
    # a group holds one run per seed: the rerun stands alone, the next seed joins the first group
    other = _copy(SHIPPED / "baseline", tmp_path / "b7", seed=7)
    listed = seed_groups.collapse([{"path": str(p)} for p in (SHIPPED / "baseline", rerun, other)])
    assert [e["group"] for e in listed] == [[str(SHIPPED / "baseline"), str(other)], [str(rerun)]]


@pytest.mark.slow  # four CLI processes: ~40 s on an idle machine
def test_eval_on_a_group_directory_reports_mean_and_std_over_seeds(tmp_path):
    _copy(SHIPPED / "baseline", tmp_path / "g" / "seed0")
    _copy(SHIPPED / "surrogate_3", tmp_path / "g" / "seed100")
    args = ["--samples", "20", "--steps", "2", "--eps", "0,0.1", "--cache-dir", tmp_path / "cache"]
    group = last_json(run("eval", "whitebox", tmp_path / "g", *args, "--json"))
    seeds = [last_json(run("eval", "whitebox", tmp_path / "g" / s, *args, "--json")) for s in ("seed0", "seed100")]
    assert group["seeds"] == [0, 100] and group["n_seeds"] == 2
    for i in range(2):
        values = [s["accuracy"][i] for s in seeds]
        assert group["accuracy"][i] == pytest.approx(sum(values) / 2)
        assert group["seed_std"]["accuracy"][i] == pytest.approx(abs(values[0] - values[1]) / 2 ** 0.5)
    text = run("eval", "whitebox", tmp_path / "g", *args).stdout
    assert "(g) · mean of 2 seeds" in text and "seeds=2" in text
    bad = run("eval", "whitebox", tmp_path / "nothing-here", *args, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")


def test_the_report_compares_seed_zero_of_each_method_not_the_shipped_extra_seeds():
    from engine.report.build import entries_from

    names = [e.name for e in entries_from(None)]
    assert "dverge" in names and not any(n.startswith(f"{seed_groups.SEEDS_DIR}/") for n in names)
    assert (SHIPPED / seed_groups.SEEDS_DIR / "dverge" / "seed1" / "meta.json").is_file()
    dverge = seed_groups.expand(SHIPPED / "dverge", group=True)
    assert [read_meta(p)["seed"] for p in dverge][:2] == [0, 1]
