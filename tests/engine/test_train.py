"""The training loop: history, resume equivalence, refusal to clobber, config validation."""
import pytest
import torch
from pydantic import ValidationError

from engine import checkpoint as ckpt
from engine.config import TrainConfig, make_config
from engine.data import load_split
from engine.train import Progress, TrainingError, lr_milestones, train
from engine.train_eta import method_cost_ratio

TINY = dict(dataset="fashion_mnist", arch="lenet5", members=2, epochs=2, train_subset=1024, batch_size=128,
            history_samples=20, eval_samples=200, device="cpu")


def test_history_records_accuracy_and_transferability_every_epoch(tmp_path):
    seen = []
    train(TrainConfig(method="baseline", **TINY), tmp_path, progress=seen.append)
    meta = ckpt.read_meta(tmp_path)
    assert [h["epoch"] for h in meta["history"]] == [1, 2] and meta["complete"]
    for h in meta["history"]:
        assert len(h["member_clean_accuracy"]) == 2 and len(h["member_loss"]) == 2
        # the transfer estimate: counts over transfer_samples; the mean is the off-diagonal mean
        n, matrix = h["transfer_samples"], h["transfer_matrix"]
        assert 0 < n <= TINY["history_samples"]
        assert all(abs(v * n - round(v * n)) < 1e-6 for row in matrix for v in row)
        assert h["transferability"] == pytest.approx((matrix[0][1] + matrix[1][0]) / 2)
    # the last epoch's clean accuracy is the saved ensemble's (mean member softmax, DVERGE
    # 4.1) on the seeded eval subset, recomputed here by hand
    ensemble, _ = ckpt.load_checkpoint(tmp_path)
    subset = load_split("fashion_mnist", "test").subset(TINY["eval_samples"], seed=1234)
    with torch.no_grad():
        probs = torch.stack([m.eval()(subset.images()).softmax(-1) for m in ensemble.members])
    last = meta["history"][-1]
    ensemble_correct = probs.mean(0).argmax(-1) == subset.y
    assert last["ensemble_clean_accuracy"] == pytest.approx(float(ensemble_correct.float().mean()))
    assert last["member_clean_accuracy"] == pytest.approx([float((p.argmax(-1) == subset.y).float().mean())
                                                           for p in probs])
    batches = [p for p in seen if p.history is None]
    assert batches and all(isinstance(p, Progress) and len(p.losses["members"]) == 2 for p in batches)
    assert batches[-1].eta_seconds == pytest.approx(0, abs=1e-6)
    assert meta["config"]["method"] == "baseline" and meta["seed"] == 0


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("method", ["baseline", "dverge"])
def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, method):
    config = TrainConfig(method=method, **TINY)
    full = train(config, tmp_path / "full")

    def die_in_second_epoch(p: Progress):
        if p.epoch == 2 and p.batch == 3 and p.history is None:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train(config, tmp_path / "cut", progress=die_in_second_epoch)
    assert ckpt.read_meta(tmp_path / "cut")["epoch"] == 1
    train(config, tmp_path / "cut", resume=True)
    a, _ = ckpt.load_checkpoint(full)
    b, meta = ckpt.load_checkpoint(tmp_path / "cut")
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)
    assert [h["epoch"] for h in meta["history"]] == [1, 2]


def test_an_existing_checkpoint_is_not_overwritten_without_resume(tmp_path):
    config = TrainConfig(method="baseline", **dict(TINY, epochs=1))
    train(config, tmp_path)
    with pytest.raises(TrainingError, match="--resume"):
        train(config, tmp_path)


def test_resume_refuses_a_different_run(tmp_path):
    train(TrainConfig(method="baseline", **dict(TINY, epochs=1)), tmp_path)
    with pytest.raises(TrainingError, match="different run"):
        train(TrainConfig(method="adp", **dict(TINY, epochs=1)), tmp_path, resume=True)


def test_dverge_without_from_pretrains_a_baseline_first(tmp_path):
    seen = []
    train(TrainConfig(method="dverge", pretrain_epochs=1, **dict(TINY, epochs=1)), tmp_path, progress=seen.append)
    assert ckpt.read_meta(tmp_path / "pretrain")["method"] == "baseline"
    meta = ckpt.read_meta(tmp_path)
    assert meta["init_from"].endswith("pretrain") and 1 <= meta["history"][0]["layer"] <= 5
    # the whole job's ETA: during pre-training, its own ETA plus the DVERGE epoch still to come
    # (1 epoch x 1024 // 128 batches) at the measured pre-training speed times DVERGE's cost per
    # batch relative to a baseline batch on the shipped zoo's runs (engine/train_eta.py)
    ratio = method_cost_ratio("dverge", "lenet5", "fashion_mnist", len(load_split("fashion_mnist", "train")))
    assert ratio is not None and ratio > 2  # a DVERGE batch distils features: several baseline batches
    pre = [p for p in seen if p.phase == "pretrain" and p.history is None and p.batch < p.batches]
    assert pre and all(p.job_eta_seconds is not None for p in pre)
    for p in pre:
        rate = p.eta_seconds / ((p.epochs - p.epoch) * p.batches + p.batches - p.batch)
        assert p.job_eta_seconds == pytest.approx(p.eta_seconds + 8 * rate * ratio)
    # in the method's phase the whole job's ETA is that phase's
    method = [p for p in seen if p.phase == "train"]
    assert method and all(p.job_eta_seconds == p.eta_seconds for p in method)


def test_from_checkpoint_must_match_the_run(tmp_path):
    train(TrainConfig(method="baseline", **dict(TINY, epochs=1)), tmp_path / "base")
    with pytest.raises(TrainingError, match="members"):
        train(TrainConfig(method="dverge", init_from=str(tmp_path / "base"), **dict(TINY, epochs=1, members=3)),
              tmp_path / "d")


@pytest.mark.parametrize("bad", [dict(method="nope"), dict(method="baseline", members=0),
                                 dict(method="baseline", dataset="imagenet"), dict(method="baseline", arch="vgg"),
                                 dict(method="dverge", method_params={"eps": -1}),
                                 dict(method="adp", method_params={"gamma": 1}),
                                 dict(method="cce", method_params={"mode": "xx"})])
def test_invalid_configurations_are_rejected(bad):
    with pytest.raises((ValidationError, ValueError)):
        TrainConfig(**bad)


def test_presets_fill_in_and_explicit_values_win():
    quick = make_config("dverge", "quick")
    assert (quick.dataset, quick.arch, quick.members, quick.pretrain_epochs) == ("fashion_mnist", "lenet5", 3, 4)
    assert make_config("dverge", "quick", epochs=7).epochs == 7
    paper = make_config("baseline", "paper")
    assert (paper.dataset, paper.arch, paper.epochs) == ("cifar10", "resnet20", 200)


def test_learning_rate_drops_at_half_and_three_quarters():
    assert lr_milestones(200) == [100, 150]
    assert lr_milestones(4) == [2, 3]
    assert lr_milestones(1) == []
