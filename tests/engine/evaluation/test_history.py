"""The history analysis (DVERGE Fig. 2) reads the per-epoch history training records, and
training records the diversity metrics every epoch."""
import math

import pytest
import torch
import torch.nn.functional as F

from engine import analyses
from engine.checkpoint import load_checkpoint, read_meta
from engine.config import make_config
from engine.evaluation.history import training_history
from engine.evaluation.transferability import correct_samples
from engine.export import export_bytes
from engine.train import train

DIVERSITY_KEYS = ("vulnerability_diversity", "adp_logdet", "gradient_cosine", "saliency_cosine")


def test_one_row_per_epoch_with_the_recorded_values(quick_baseline):
    result = analyses.run("history", quick_baseline)
    history = read_meta(quick_baseline)["history"]
    rows = result["history"]
    assert [r["epoch"] for r in rows] == [h["epoch"] for h in history] == list(range(1, len(history) + 1))
    for row, h in zip(rows, history):
        assert row["transferability"] == h["transferability"]
        assert row["ensemble_clean_accuracy"] == h["ensemble_clean_accuracy"]
        assert row["member_loss"] == h["member_loss"] and row["phase"] == "train"
    assert result["transfer_eps"] == history[-1]["transfer_eps"]


def test_dverge_history_can_start_with_its_baseline_pretraining(quick_zoo, quick_baseline):
    dverge = quick_zoo.get("dverge", init_from=str(quick_baseline))
    result = analyses.run("history", dverge, {"pretrain": True})
    before = len(read_meta(read_meta(dverge)["init_from"])["history"])
    after = len(read_meta(dverge)["history"])
    assert result["pretrain_epochs"] == before and result["epochs"] == before + after
    assert [r["phase"] for r in result["history"]] == ["pretrain"] * before + ["train"] * after
    assert [r["epoch"] for r in result["history"]] == list(range(1, before + after + 1))
    # DVERGE Fig. 2's trend: training lowers the within-ensemble transferability
    assert result["history"][-1]["transferability"] < result["history"][before - 1]["transferability"]


def test_figure_and_table_export(quick_zoo, quick_baseline):
    results = [(analyses.label(p), analyses.run("history", p, {"pretrain": True}))
               for p in (quick_baseline, quick_zoo.get("dverge", init_from=str(quick_baseline)))]
    history = analyses.get("history")
    assert export_bytes(history, results, "png", smooth=2).startswith(b"\x89PNG")
    lines = export_bytes(history, results, "csv").decode().strip().splitlines()
    assert len(lines) == 1 + sum(r["epochs"] for _, r in results)
    assert lines[0].startswith("ensemble,method,dataset,epoch,phase")


def test_a_checkpoint_without_history_is_refused_clearly():
    with pytest.raises(ValueError, match="no training history"):
        training_history({"members": 3})


def test_a_new_training_run_records_the_diversity_metrics_every_epoch(tmp_path, fmnist_test):
    # lr 0.1: one short epoch must leave test images that every member classifies correctly
    config = make_config("baseline", "quick", epochs=1, train_subset=2000, lr=0.1, eval_samples=500,
                         history_samples=50, device="cpu")
    train(config, tmp_path)
    entry = read_meta(tmp_path)["history"][0]
    for key in DIVERSITY_KEYS:
        assert math.isfinite(entry[key]), key
    assert entry["vulnerability_diversity"] > 0
    # GAL's loss-gradient cosine, recomputed by hand on the same samples (the 50 test images every
    # member classifies correctly, in the history's seeded order): mean over samples and pairs
    ensemble, _ = load_checkpoint(tmp_path)
    ensemble.eval()
    x, y = correct_samples(ensemble, fmnist_test, 50, seed=4321)
    grads = []
    for member in ensemble.members:
        xk = x.clone().requires_grad_(True)
        F.cross_entropy(member(xk), y, reduction="sum").backward()
        grads.append(xk.grad.flatten(1))
    pairs = [F.cosine_similarity(grads[i], grads[j], dim=1).mean() for i in range(len(grads))
             for j in range(i + 1, len(grads))]
    assert entry["gradient_cosine"] == pytest.approx(float(torch.stack(pairs).mean()), abs=1e-4)
    k = config.members
    matrix = entry["diversity_matrix"]
    assert len(matrix) == k and all(matrix[i][j] == matrix[j][i] for i in range(k) for j in range(k))
    assert entry["diversity_eps"] == 0.2 and "transferability" in entry  # existing keys stay
    row = analyses.run("history", tmp_path)["history"][0]
    assert all(row[key] == entry[key] for key in DIVERSITY_KEYS)
