"""The CLI contract: command names, flags and JSON keys that outside scripts depend on."""
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO


def run(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "engine", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def last_json(proc):
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_train_then_info_and_transferability_json(tmp_path):
    out = tmp_path / "run"
    trained = last_json(run("train", "--method", "baseline", "--dataset", "fashion_mnist", "--arch", "lenet5",
                            "--members", "2", "--epochs", "1", "--train-subset", "2000", "--seed", "3",
                            "--device", "cpu", "--out", out, "--json"))
    assert trained["epoch"] == 1 and trained["method"] == "baseline"
    info = last_json(run("info", out, "--json"))
    assert info["members"] == 2 and info["arch"] == "lenet5" and info["seed"] == 3 and len(info["history"]) == 1
    assert "--train-subset" in info["command"]
    result = last_json(run("eval", "transferability", out, "--eps", "0.1", "--steps", "5", "--samples", "50",
                           "--json"))
    for key in ("matrix", "off_diagonal_mean", "member_clean_accuracy", "ensemble_clean_accuracy", "samples", "eps"):
        assert key in result
    assert len(result["matrix"]) == 2 and result["eps"] == 0.1 and result["samples"] <= 50


def test_rerunning_into_an_existing_checkpoint_needs_resume(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--method", "baseline", "--members", "2", "--train-subset", "1000", "--out", out, "--quiet"]
    run(*args, "--epochs", "1")
    again = run(*args, "--epochs", "1", check=False)
    assert again.returncode == 2 and "--resume" in again.stderr
    run(*args, "--epochs", "1", "--resume")


def test_train_seeds_trains_one_run_per_seed_into_a_seed_group(tmp_path):
    out = tmp_path / "group"
    result = last_json(run("train", "--method", "baseline", "--members", "1", "--epochs", "1", "--train-subset",
                           "200", "--batch-size", "100", "--seeds", "0,4", "--out", out, "--json"))
    assert result["seeds"] == [0, 4] and [r["seed"] for r in result["runs"]] == [0, 4]
    for seed in (0, 4):
        info = last_json(run("info", out / f"seed{seed}", "--json"))
        assert info["seed"] == seed and info["epoch"] == 1
    bad = run("train", "--method", "baseline", "--seeds", "0,0", "--out", out, check=False)
    assert bad.returncode == 2 and "distinct" in bad.stderr


def test_import_checkpoint_cli(shared_dir, tmp_path):
    src = shared_dir / "dverge-official" / "baseline_seed0_3x_resnet20_epoch200.pth"
    result = last_json(run("import-checkpoint", src, "--format", "dverge", "--dataset", "cifar10", "--arch",
                           "resnet20", "--out", tmp_path / "imp", "--json"))
    assert result["members"] == 3
    assert last_json(run("info", tmp_path / "imp", "--json"))["source"]["format"] == "dverge"


@pytest.mark.parametrize("args, message", [
    (["train", "--method", "baseline", "--members", "0", "--out", "x"], "invalid training configuration"),
    (["train", "--method", "dverge", "--param", "eps=-2", "--out", "x"], "eps"),
    (["info", "/nonexistent/ckpt"], "not a checkpoint"),
    (["eval", "transferability", "/nonexistent/x.pth", "--eps", "0.1"], "import-checkpoint"),
    (["bench", "compare-pgd", "/nonexistent/ckpt", "--samples", "4"], "not a checkpoint"),
])
def test_bad_input_gives_a_clear_error_and_exit_code_2(args, message):
    proc = run(*args, check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_bench_dverge_step_prints_seconds_per_layer():
    result = last_json(run("bench", "dverge-step", "--arch", "lenet5", "--members", "2", "--batch-size", "32",
                           "--layers", "1,5", "--repeats", "1", "--json"))
    assert set(result) >= {"mean", "1", "5", "reference_mean", "speedup"}
    assert result["mean"] > 0


def test_bench_compare_pgd_prints_both_attacks_on_the_same_samples():
    result = last_json(run("bench", "compare-pgd", "baseline", "--samples", "6", "--steps", "3", "--restarts", "1",
                           "--autoattack", "none", "--json"))
    (row,) = result["runs"]
    assert row["checkpoint"] == "baseline" and row["samples"] == 6 and row["eps"] == 0.1
    assert set(row) >= {"clean_accuracy", "pgd_accuracy", "apgd_ce_accuracy", "pgd_only", "apgd_only", "noise",
                        "pgd_stronger_beyond_noise", "pgd_seconds", "apgd_ce_seconds"}
    assert row["pgd_accuracy"] <= row["clean_accuracy"] and row["apgd_ce_accuracy"] <= row["clean_accuracy"]
    assert "autoattack_accuracy" not in row and result["load_average"]
