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
