"""``python -m engine bench eval-transferability``: both ways run and give the same matrix."""
import json

import pytest

from engine.bench import bench_eval_transferability
from engine.cli import main


def test_engine_and_reference_transferability_agree(quick_baseline):
    """With PGD started at the clean image both ways are deterministic and compute the same
    attack (native PGD == advertorch's, tests/engine/attacks/test_pgd.py), so the matrices
    must match: at most one of the 40 samples may flip in a cell (a gradient sign decided
    by float rounding), not the ~0.45 that sampling noise of random starts would allow."""
    r = bench_eval_transferability(checkpoint=str(quick_baseline), samples=40, steps=5, restarts=1, device="cpu",
                                   random_start=False)
    assert r["samples"] == 40 and len(r["matrix"]) == 3 and len(r["reference_matrix"]) == 3
    assert r["max_abs_difference"] <= 1 / 40 + 1e-9, (r["matrix"], r["reference_matrix"])
    assert r["agree"]
    diagonal = [r["matrix"][i][i] for i in range(3)]
    assert min(diagonal) > 0.5  # white-box PGD fools the undefended members it attacks
    assert r["speedup"] == pytest.approx(r["reference_seconds"] / r["seconds"], abs=0.01)


def test_cli_prints_json(capsys):
    assert main(["bench", "eval-transferability", "--samples", "8", "--steps", "1", "--restarts", "1",
                 "--device", "cpu", "--repeats", "2", "--workers", "2"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"seconds", "reference_seconds", "samples_per_second", "speedup", "agree"} <= set(out)
    assert out["device"] == "cpu"  # every bench command says where it ran
    # the two ways alternate; the reported times are the medians of both runs
    assert len(out["runs"]["ours"]) == len(out["runs"]["reference"]) == len(out["speedups"]) == 2
    assert min(out["runs"]["ours"]) <= out["seconds"] <= max(out["runs"]["ours"])


def test_dverge_step_prints_the_device_it_ran_on(capsys):
    assert main(["bench", "dverge-step", "--arch", "lenet5", "--members", "2", "--batch-size", "8", "--layers", "1",
                 "--repeats", "1", "--no-reference", "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["device"] == "cpu"

