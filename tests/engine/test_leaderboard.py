"""Leaderboard: one row per zoo ensemble, numbers from (cached) analyses with their source,
exports, and the CLI's errors."""
import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from engine import analyses as analysis
from engine.cache import ResultCache
from engine.cli import main
from engine.leaderboard import export, leaderboard, table, to_csv
from tests.conftest import REPO

COLUMNS = ["clean_accuracy", "pgd", "train_seconds"]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    for name in ("baseline", "dverge"):
        shutil.copytree(REPO / "checkpoints" / name, root / name)
    return root


def test_rows_come_from_cached_analyses_and_name_their_source(zoo, tmp_path):
    cache = ResultCache(tmp_path / "cache")
    config = {"dataset": "fashion_mnist", "samples": 8}
    empty = leaderboard(config, cached_only=True, roots=[zoo], cache=cache, columns=COLUMNS)
    assert [r["pgd"] for r in empty["rows"]] == [None, None] and len(empty["missing"]) == 4
    board = leaderboard(config, roots=[zoo], cache=cache, columns=COLUMNS, device="cpu")
    assert [r["method"] for r in board["rows"]] == ["baseline", "dverge"] and board["eps"] == 0.1
    for row in board["rows"]:
        source = row["sources"]["pgd"]
        assert source["analysis"] == "whitebox" and source["config"]["eps"] == [0.1]
        assert source["command"].startswith(f"python -m engine eval whitebox {row['path']} --eps 0.1")
        whitebox = analysis.cached("whitebox", row["path"], source["config"], cache=cache)
        assert row["pgd"] == whitebox["accuracy"][1] and row["clean_accuracy"] == whitebox["accuracy"][0]
        assert row["pgd"] < row["clean_accuracy"]
        assert row["train_seconds"] > 0
    again = leaderboard(config, cached_only=True, roots=[zoo], cache=cache, columns=COLUMNS)
    assert table(again) == table(board) and not again["missing"]
    parsed = list(csv.DictReader(io.StringIO(to_csv(board))))
    assert [r["ensemble"] for r in parsed] == [r["ensemble"] for r in board["rows"]]
    out = export(board, tmp_path / "board.json")
    assert json.loads(out.read_text())["rows"][0]["sources"]["pgd"]["analysis"] == "whitebox"
    with pytest.raises(ValueError, match="unsupported leaderboard export '.xlsx'"):
        export(board, tmp_path / "board.xlsx")
    assert not (tmp_path / "board.xlsx").exists()


def test_exported_html_and_png_show_numbers_not_computed_yet_as_empty_cells_and_csv_as_empty_fields(zoo, tmp_path):
    from engine.leaderboard import EMPTY_CELL, export_bytes, figure

    for grouped in (False, True):  # with seed groups, every column has a "_std" twin
        board = leaderboard({"dataset": "fashion_mnist", "samples": 8, "seed_groups": grouped}, cached_only=True,
                            roots=[zoo], cache=ResultCache(tmp_path / "cache"), columns=COLUMNS)
        assert [r["pgd"] for r in board["rows"]] == [None, None]
        cells = [str(v) for column in figure(board).data[0].cells.values for v in column]  # the HTML and PNG table
        assert "None" not in cells and cells.count(EMPTY_CELL) >= 2, cells
        assert "None" not in export_bytes(board, "html").decode()
        parsed = list(csv.DictReader(io.StringIO(to_csv(board))))
        assert [r["pgd"] for r in parsed] == ["", ""]


@pytest.fixture(scope="module")
def seeded_zoo(tmp_path_factory):
    """dverge with its shipped seeds 1 and 2, and the 5-member surrogate (a group of one)."""
    root = tmp_path_factory.mktemp("seeded")
    for name in ("dverge", "seeds/dverge/seed1", "seeds/dverge/seed2", "surrogate_5"):
        shutil.copytree(REPO / "checkpoints" / name, root / name)
    return root


def test_seed_groups_give_one_row_per_group_with_mean_and_sample_std_over_its_seeds(seeded_zoo, tmp_path):
    from engine.jobs.analysis import leaderboard_items
    from engine.leaderboard import train_seconds

    config = {"dataset": "fashion_mnist", "samples": 8, "seed_groups": True}
    board = leaderboard(config, cached_only=True, roots=[seeded_zoo], cache=ResultCache(tmp_path / "cache"),
                        columns=["pgd", "train_seconds"])
    dverge, surrogate = board["rows"]
    seeds = [seeded_zoo / "dverge", seeded_zoo / "seeds/dverge/seed1", seeded_zoo / "seeds/dverge/seed2"]
    assert dverge["seeds"] == 3 and dverge["seed_paths"] == [str(p) for p in seeds]
    assert dverge["ensemble"].endswith(" · 3 seeds") and surrogate["seeds"] == 1
    cost = [sum(h["train_seconds"] for h in json.loads((p / "meta.json").read_text())["history"]) for p in seeds]
    assert [train_seconds(json.loads((p / "meta.json").read_text())) for p in seeds] == pytest.approx(cost)
    mean = sum(cost) / 3
    assert dverge["train_seconds"] == pytest.approx(mean)
    assert dverge["train_seconds_std"] == pytest.approx((sum((c - mean) ** 2 for c in cost) / 2) ** 0.5)
    assert surrogate["train_seconds_std"] is None  # one seed: no spread
    # nothing computed: the group's cell waits for every seed, and the job asks for each of them
    assert dverge["pgd"] is None and dverge["pgd_std"] is None
    assert sorted(m["checkpoint"] for m in board["missing"]) == sorted(map(str, [*seeds, seeded_zoo / "surrogate_5"]))
    assert sorted(i["checkpoint"] for i in leaderboard_items(board)) == sorted(
        map(str, [*seeds, seeded_zoo / "surrogate_5"]))
    assert dverge["sources"]["pgd"]["command"].endswith(" --group")
    assert list(table(board)[0]) == ["ensemble", "method", "members", "arch", "shipped", "seeds",
                                     "pgd", "pgd_std", "train_seconds", "train_seconds_std"]
    # without seed groups: a row per checkpoint (unchanged columns), each saying which stands for its group
    flat = leaderboard(dict(config, seed_groups=False), cached_only=True, roots=[seeded_zoo],
                       columns=["train_seconds"])
    assert [(r["group_size"], r["representative"]) for r in flat["rows"]] == [(3, True), (3, False), (3, False),
                                                                                (1, True)]
    assert list(table(flat)[0]) == ["ensemble", "method", "members", "arch", "shipped", "train_seconds"]


@pytest.mark.parametrize("args, message", [
    (["--columns", "pgd,speed"], "error: unknown leaderboard column(s) speed"),
    (["--dataset", "imagenet"], "error: invalid leaderboard configuration: Unknown data set 'imagenet'"),
    (["--out", "board.xlsx"], "error: --out must end in .csv, .html, .png or .json"),
])
def test_cli_bad_input_gives_one_error_line_and_exit_2(args, message, capsys):
    assert main(["leaderboard", "--cached-only", *args]) == 2
    assert capsys.readouterr().err.strip().startswith(message)


def test_cli_job_submits_the_missing_numbers_as_one_background_analysis_job(tmp_path, monkeypatch, capsys):
    from engine import jobs

    home = tmp_path / "home"
    for name in ("baseline", "dverge"):
        shutil.copytree(REPO / "checkpoints" / name, home / "ensembles" / name)
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(home))
    monkeypatch.setattr("engine.zoo.SHIPPED", tmp_path / "no-shipped-zoo")
    monkeypatch.setenv(jobs.MAX_JOBS_ENV, "0")  # paused: the job is queued, nothing runs in this test
    seed = 7919  # a config no other test computes, so nothing is cached yet
    assert main(["leaderboard", "--samples", "9", "--seed", str(seed), "--columns", "clean_accuracy,pgd",
                 "--job", "--json"]) == 0
    submitted = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (job,) = jobs.JobStore().list()
    assert submitted["id"] == job.id and job.kind == "analysis" and job.state == "queued"
    assert job.config["label"] == "leaderboard"
    # clean accuracy and PGD both come from the whitebox analysis: one item per ensemble
    assert sorted((i["analysis"], Path(i["checkpoint"]).name) for i in job.config["items"]) == [
        ("whitebox", "baseline"), ("whitebox", "dverge")]
    assert all(i["config"]["samples"] == 9 for i in job.config["items"])
