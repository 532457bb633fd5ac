"""A kill at any instant of a checkpoint save leaves the last complete epoch loadable and
resumable (engine.checkpoint's save order: versioned files, meta.json published last).

The writer is stopped at every file-replace and file-delete boundary of a save, two
ways: an injected exception (in process) and a real ``os._exit`` of a forked writer (no
clean-up code runs, temporary files stay behind). Afterwards the checkpoint must load
with exactly one complete epoch's weights and train state, and the next save must leave
no stale file behind. End to end, a training run killed while saving its last epoch and
then resumed ends with the weights of an uninterrupted run, bit for bit."""
from __future__ import annotations

import multiprocessing
import os

import pytest
import torch

from engine import checkpoint as ckpt

from .conftest import make_checkpoint

# A 2-member save with train state: 4 replaces (2 members, train state, meta.json), then
# 3 deletions of the previous epoch's files.
BOUNDARIES = 7


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so no ``except Exception`` swallows it."""


def _faulty(monkeypatch, kill_at: int, how: str = "raise"):
    """Make the ``kill_at``-th os.replace/os.unlink call of the process die before acting."""
    calls = {"n": 0}
    real_replace, real_unlink = os.replace, os.unlink

    def gate():
        calls["n"] += 1
        if calls["n"] == kill_at + 1:
            if how == "exit":
                os._exit(17)
            raise Killed()

    def replace(src, dst, *a, **k):
        gate()
        return real_replace(src, dst, *a, **k)

    def unlink(path, *a, **k):
        if not os.path.basename(str(path)).startswith("."):  # temp clean-up is not a boundary
            gate()
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "unlink", unlink)
    return calls


def _epoch_two(path):
    from engine.ensemble import Ensemble
    from engine.models import build_classifier

    torch.manual_seed(2)
    ensemble = Ensemble(build_classifier("lenet5", channels=1, num_classes=10, mean=[0.5], std=[0.25])
                        for _ in range(2))
    meta = {k: v for k, v in ckpt.read_meta(path).items() if k not in ("files", "saved_at")}
    return ensemble, dict(meta, epoch=2, epochs=2)


def _state(path):
    ensemble, meta = ckpt.load_checkpoint(path)
    return meta["epoch"], [p.clone() for p in ensemble.parameters()], ckpt.load_train_state(path)


def _check_recovered(path, before, after_params, kill_at):
    epoch, params, train_state = _state(path)
    expected_epoch = 1 if kill_at < 4 else 2  # meta.json's replace (the 4th) is the commit point
    assert epoch == expected_epoch
    reference = before[1] if epoch == 1 else after_params
    assert all(torch.equal(a, b) for a, b in zip(params, reference))
    assert float(train_state["optimizer"]["step"]) == float(epoch)
    # Resuming: the next save succeeds and leaves only its own files.
    ensemble, meta = _epoch_two(path)
    ckpt.save_checkpoint(path, ensemble, dict(meta, epoch=3), {"optimizer": {"step": torch.tensor(3.0)}})
    names = sorted(os.listdir(path))
    assert names == ["member_0.e3.safetensors", "member_1.e3.safetensors", "meta.json", "train_state.e3.pt"]
    assert _state(path)[0] == 3


@pytest.mark.parametrize("kill_at", range(BOUNDARIES))
def test_an_exception_at_every_write_boundary_leaves_a_loadable_resumable_checkpoint(tmp_path, monkeypatch, kill_at):
    path = make_checkpoint(tmp_path / "run", epoch=1)
    before = _state(path)
    ensemble, meta = _epoch_two(path)
    after_params = [p.detach().clone() for p in ensemble.parameters()]
    calls = _faulty(monkeypatch, kill_at)
    with pytest.raises(Killed):
        ckpt.save_checkpoint(path, ensemble, meta, {"optimizer": {"step": torch.tensor(2.0)}})
    assert calls["n"] == kill_at + 1
    monkeypatch.undo()
    _check_recovered(path, before, after_params, kill_at)


def _killed_writer(path, kill_at):
    import pytest as _pytest

    mp = _pytest.MonkeyPatch()
    _faulty(mp, kill_at, how="exit")
    ensemble, meta = _epoch_two(path)
    ckpt.save_checkpoint(path, ensemble, meta, {"optimizer": {"step": torch.tensor(2.0)}})
    os._exit(0)


@pytest.mark.parametrize("kill_at", [0, 2, 3, 4])
def test_a_real_kill_of_the_writer_leaves_a_loadable_checkpoint_and_its_temp_files_are_cleaned(tmp_path, kill_at):
    path = make_checkpoint(tmp_path / "run", epoch=1)
    before = _state(path)
    ensemble, _ = _epoch_two(path)
    after_params = [p.detach().clone() for p in ensemble.parameters()]
    child = multiprocessing.get_context("fork").Process(target=_killed_writer, args=(path, kill_at))
    child.start()
    child.join(120)
    assert child.exitcode == 17
    leftovers = [n for n in os.listdir(path) if n.endswith(".tmp")]
    assert len(leftovers) == (1 if kill_at < 4 else 0)  # the file whose rename never happened
    _check_recovered(path, before, after_params, kill_at)


# --------------------------------------------------------------------------- end to end

def _config(**kw):
    from engine.config import make_config

    return make_config("baseline", dataset="fashion_mnist", arch="lenet5", members=2, epochs=2, batch_size=50,
                       train_subset=100, eval_samples=100, history_samples=0, device="cpu", seed=3, **kw)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from engine.train import train

    out = train(_config(), tmp_path_factory.mktemp("reference") / "run")
    return [p.clone() for p in ckpt.load_checkpoint(out)[0].parameters()]


@pytest.mark.parametrize("kill_at", [0, 3, 4])
def test_a_run_killed_while_saving_its_last_epoch_resumes_to_identical_weights(tmp_path, monkeypatch, uninterrupted,
                                                                             kill_at):
    from engine.train import train

    real_save = ckpt.save_checkpoint

    def save(directory, ensemble, meta, *a, **k):
        if meta["epoch"] == 2:
            _faulty(monkeypatch, kill_at)
        return real_save(directory, ensemble, meta, *a, **k)

    monkeypatch.setattr(ckpt, "save_checkpoint", save)
    with pytest.raises(Killed):
        train(_config(), tmp_path / "run")
    monkeypatch.undo()
    assert ckpt.read_meta(tmp_path / "run")["epoch"] == (1 if kill_at < 4 else 2)
    train(_config(), tmp_path / "run", resume=True)
    params = list(ckpt.load_checkpoint(tmp_path / "run")[0].parameters())
    assert all(torch.equal(a, b) for a, b in zip(params, uninterrupted))


def test_a_second_writer_on_the_same_run_is_refused(tmp_path):
    from engine.train import TrainingError, run_lock, train

    out = tmp_path / "run"
    with run_lock(out):
        with pytest.raises(TrainingError) as info:
            train(_config(), out)
    assert str(info.value) == (f"{out} is being written by another training run; wait for it to finish "
                               "or choose another --out")
    assert sorted(os.listdir(out)) == [".lock"]
