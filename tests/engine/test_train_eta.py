"""The whole-job ETA during baseline pre-training (engine/train_eta.py): the method's
epochs are estimated from their cost per batch relative to a baseline batch on earlier runs."""
from __future__ import annotations

import json
import shutil

import pytest

from engine.train import Progress
from engine.train_eta import method_cost_ratio, pretrain_relay, seconds_per_batch
from tests.conftest import REPO

ZOO = REPO / "checkpoints"


def test_the_cost_ratio_is_the_least_seconds_per_batch_and_member_of_each_kind(tmp_path):
    for name in ("surrogate_3", "surrogate_5", "dverge"):
        shutil.copytree(ZOO / name, tmp_path / name)
    # read off the shipped meta.json files: surrogate_3 (baseline, 3 members, all 60000 images,
    # batch 128: 468 batches) 15.56 s at best, surrogate_5 (5 members) 26.15 s, dverge (3
    # members, 25600 images: 200 batches) 95.02 s
    assert [h["train_seconds"] for h in json.loads((tmp_path / "dverge" / "meta.json").read_text())["history"]] \
        == [104.02, 95.02]
    baseline = min(15.56 / 468 / 3, 26.15 / 468 / 5)
    assert method_cost_ratio("dverge", "lenet5", "fashion_mnist", 60000, roots=[tmp_path]) == \
        pytest.approx(95.02 / 200 / 3 / baseline)
    # no timed run of the method (or of the baseline) on this architecture: no estimate
    assert method_cost_ratio("trs", "lenet5", "fashion_mnist", 60000, roots=[tmp_path]) is None
    assert method_cost_ratio("dverge", "resnet20", "fashion_mnist", 60000, roots=[tmp_path]) is None
    shutil.rmtree(tmp_path / "surrogate_3"), shutil.rmtree(tmp_path / "surrogate_5")
    assert method_cost_ratio("dverge", "lenet5", "fashion_mnist", 60000, roots=[tmp_path]) is None


def test_seconds_per_batch_needs_timed_epochs():
    meta = {"members": 2, "config": {"batch_size": 100, "train_subset": None}, "history": [{"train_seconds": 9.0}]}
    assert seconds_per_batch(meta, 1000) == pytest.approx(9.0 / 10 / 2)
    assert seconds_per_batch(dict(meta, history=[{}]), 1000) is None


def test_the_relay_adds_the_method_epochs_at_the_pre_training_speed():
    seen = []
    relay = pretrain_relay(seen.append, method_batches=200, ratio=12.0)
    # baseline pre-training, epoch 1/4 of 468 batches, batch 68: 400 + 3 x 468 = 1804 batches
    # left in 902 s, i.e. 0.5 s per batch; DVERGE's 200 batches at 12 x 0.5 s: 1200 s more
    relay(Progress("train", 1, 4, 68, 468, {}, eta_seconds=902.0, job_eta_seconds=902.0))
    assert seen[-1].phase == "pretrain" and seen[-1].eta_seconds == 902.0
    assert seen[-1].job_eta_seconds == pytest.approx(902.0 + 1200.0)
    # the last batch (nothing left to time): the speed measured before
    relay(Progress("train", 4, 4, 468, 468, {}, eta_seconds=0.0))
    assert seen[-1].job_eta_seconds == pytest.approx(1200.0)
    # no earlier run of the method: no whole-job estimate
    unknown = []
    pretrain_relay(unknown.append, 200, None)(Progress("train", 1, 4, 68, 468, {}, eta_seconds=902.0))
    assert unknown[-1].job_eta_seconds is None and unknown[-1].eta_seconds == 902.0
