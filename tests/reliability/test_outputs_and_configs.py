"""Output directories and configurations are checked before any work: a command only
creates a new directory or replaces its own output of the same kind (``--force``: another
checkpoint kind, never other files); a bad --out or hyperparameter fails at once with one
``error:`` line and every file as it was."""
from __future__ import annotations

import json

import pytest
import torch

from .conftest import assert_cli_error, cli, make_checkpoint, snapshot


@pytest.fixture
def ws(tmp_path):
    """A workspace: a finished run, an unfinished one, a user's folder, a plain file and a
    tiny DVERGE-format release file."""
    from engine.models import build_classifier

    tmp_path = tmp_path / "ws"

    make_checkpoint(tmp_path / "run")
    make_checkpoint(tmp_path / "other_run", seed=1)
    make_checkpoint(tmp_path / "unfinished", complete=False)
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "notes.txt").write_text("my notes")
    (tmp_path / "file.txt").write_text("a file")
    members = {f"model{i}": build_classifier("resnet8", channels=3, num_classes=10, mean=[0.5] * 3,
                                               std=[0.25] * 3).state_dict() for i in range(2)}
    torch.save(members, tmp_path / "release_epoch7.pth")
    return tmp_path


def _refused(capsys, ws, argv, expected):
    before = snapshot(ws)
    assert_cli_error(cli(capsys, *argv), expected.format(ws=ws))
    assert snapshot(ws) == before


REFUSED = [
    ("package-into-user-folder", ["package", "{ws}/run", "--out", "{ws}/user"],
     "--out {ws}/user is not empty and holds files that are not this command's output (notes.txt); refusing to "
     "write there: choose a new or empty directory"),
    ("package-into-user-folder-force", ["package", "{ws}/run", "--out", "{ws}/user", "--force"],
     "--out {ws}/user is not empty and holds files that are not this command's output (notes.txt); refusing to "
     "write there: choose a new or empty directory"),
    ("package-onto-a-file", ["package", "{ws}/run", "--out", "{ws}/file.txt"],
     "--out {ws}/file.txt is a file, not a directory; choose a directory path"),
    ("package-under-a-file", ["package", "{ws}/run", "--out", "{ws}/file.txt/sub"],
     "--out {ws}/file.txt/sub cannot be created: {ws}/file.txt is not a directory"),
    ("package-over-a-trained-run", ["package", "{ws}/run", "--out", "{ws}/other_run"],
     "--out {ws}/other_run already holds a trained checkpoint; refusing to replace it with a packaged one: "
     "choose another --out (or pass --force to replace it)"),
    ("package-onto-itself", ["package", "{ws}/run", "--out", "{ws}/run"],
     "--out {ws}/run already holds a trained checkpoint; refusing to replace it with a packaged one: "
     "choose another --out (or pass --force to replace it)"),
    ("package-an-unfinished-run", ["package", "{ws}/unfinished", "--out", "{ws}/new"],
     "{ws}/unfinished is an unfinished run; finish it (--resume) before packaging"),
    ("import-over-a-trained-run", ["import-checkpoint", "{ws}/release_epoch7.pth", "--format", "dverge", "--dataset",
                                   "cifar10", "--arch", "resnet8", "--out", "{ws}/run"],
     "--out {ws}/run already holds a trained checkpoint; refusing to replace it with a imported one: choose "
     "another --out (or pass --force to replace it)"),
    ("import-into-user-folder", ["import-checkpoint", "{ws}/release_epoch7.pth", "--format", "dverge", "--dataset",
                                 "cifar10", "--arch", "resnet8", "--out", "{ws}/user", "--force"],
     "--out {ws}/user is not empty and holds files that are not this command's output (notes.txt); refusing to "
     "write there: choose a new or empty directory"),
    ("import-onto-a-file", ["import-checkpoint", "{ws}/release_epoch7.pth", "--format", "dverge", "--dataset",
                            "cifar10", "--arch", "resnet8", "--out", "{ws}/file.txt"],
     "--out {ws}/file.txt is a file, not a directory; choose a directory path"),
    ("import-absurd-arch", ["import-checkpoint", "{ws}/release_epoch7.pth", "--format", "dverge", "--dataset",
                            "cifar10", "--arch", "resnet600002", "--out", "{ws}/new"],
     "resnet depth 600002 is larger than supported (110)"),
    ("import-wrong-arch", ["import-checkpoint", "{ws}/release_epoch7.pth", "--format", "dverge", "--dataset",
                           "cifar10", "--arch", "resnet20", "--out", "{ws}/new"],
     "{ws}/release_epoch7.pth [model0] does not fit the architecture: …"),
    ("import-wrong-dataset-channels", ["import-checkpoint", "{ws}/release_epoch7.pth", "--format", "dverge",
                                       "--dataset", "fashion_mnist", "--arch", "resnet8", "--out", "{ws}/new"],
     "{ws}/release_epoch7.pth: 'model0' normalizes with 3 mean and 3 std values but fashion_mnist has 1 channels"),
    ("train-onto-a-file", ["train", "--method", "baseline", "--out", "{ws}/file.txt", "--quiet"],
     "--out {ws}/file.txt is a file, not a directory; choose a directory path"),
    ("train-under-a-file", ["train", "--method", "baseline", "--out", "{ws}/file.txt/run", "--quiet"],
     "--out {ws}/file.txt/run cannot be created: {ws}/file.txt is not a directory"),
    ("train-into-user-folder", ["train", "--method", "baseline", "--out", "{ws}/user", "--quiet"],
     "--out {ws}/user holds files that are not a training run's (notes.txt); refusing to write there: choose a "
     "new or empty directory"),
    ("train-over-a-checkpoint", ["train", "--method", "baseline", "--out", "{ws}/run", "--quiet"],
     "{ws}/run already holds a checkpoint; pass --resume to continue it or choose another --out"),
    ("train-resume-a-different-run", ["train", "--method", "adp", "--out", "{ws}/run", "--resume", "--quiet"],
     "{ws}/run holds a different run (differs in: method, …); choose another --out to start a new one"),
    ("dverge-layer-99", ["train", "--method", "dverge", "--param", "layer=99", "--out", "{ws}/new", "--quiet"],
     "invalid hyperparameters for dverge: --param layer=99: this architecture has 5 feature layers (choose 1..5)"),
    ("jobs-submit-dverge-layer-99", ["jobs", "submit", "--method", "dverge", "--param", "layer=99", "--store",
                                     "{ws}/../store"],
     "invalid hyperparameters for dverge: --param layer=99: this architecture has 5 feature layers (choose 1..5)"),
    ("unknown-param", ["train", "--method", "dverge", "--param", "bogus=1", "--out", "{ws}/new", "--quiet"],
     "invalid training configuration: invalid hyperparameters for dverge: bogus: Extra inputs are not permitted"),
    ("param-without-value", ["train", "--method", "dverge", "--param", "layer", "--out", "{ws}/new", "--quiet"],
     "--param expects KEY=VALUE, got 'layer'"),
    ("absurd-members", ["train", "--method", "baseline", "--members", "1000000000", "--out", "{ws}/new", "--quiet"],
     "invalid training configuration: members: Input should be less than or equal to 16"),
    ("absurd-arch", ["train", "--method", "baseline", "--arch", "vgg", "--out", "{ws}/new", "--quiet"],
     "invalid training configuration: arch: unknown architecture 'vgg'; choose from: lenet5, resnet<6n+2>…"),
    ("unknown-choice", ["train", "--method", "trs", "--param", "smoothness=bogus", "--out", "{ws}/new", "--quiet"],
     "invalid training configuration: invalid hyperparameters for trs: smoothness: Input should be 'paper' or "
     "'code'"),
    ("export-under-a-file", ["export", "history", "{ws}/run", "--format", "json", "--out", "{ws}/file.txt/x.json"],
     "--out {ws}/file.txt/x.json cannot be created: {ws}/file.txt is not a directory"),
    ("report-onto-a-file", ["report", "{ws}/run", "--out", "{ws}/file.txt", "--quiet"],
     "--out {ws}/file.txt is a file, not a directory; choose a directory path"),
    ("report-under-a-file", ["report", "{ws}/run", "--out", "{ws}/file.txt/report", "--quiet"],
     "--out {ws}/file.txt/report cannot be created: {ws}/file.txt is not a directory"),
    ("import-under-a-file", ["import-checkpoint", "{ws}/release_epoch7.pth", "--format", "dverge", "--dataset",
                             "cifar10", "--arch", "resnet8", "--out", "{ws}/file.txt/imp"],
     "--out {ws}/file.txt/imp cannot be created: {ws}/file.txt is not a directory"),
    # Unwritable for everyone, root included (CI runs as root, where permission bits and
    # os.access say "writable"): nothing can be created in /proc; found by a real write probe.
    ("train-unwritable", ["train", "--method", "baseline", "--out", "/proc/robust-ensembles-run", "--quiet"],
     "--out /proc/robust-ensembles-run cannot be written: creating a file in /proc failed (…)"),
    ("package-unwritable", ["package", "{ws}/run", "--out", "/proc/robust-ensembles-pkg"],
     "--out /proc/robust-ensembles-pkg cannot be written: creating a file in /proc failed (…)"),
    ("import-unwritable", ["import-checkpoint", "{ws}/release_epoch7.pth", "--format", "dverge", "--dataset",
                           "cifar10", "--arch", "resnet8", "--out", "/proc/robust-ensembles-imp"],
     "--out /proc/robust-ensembles-imp cannot be written: creating a file in /proc failed (…)"),
    ("export-unwritable", ["export", "history", "{ws}/run", "--format", "json", "--out", "/proc/robust-ensembles.json"],
     "--out /proc/robust-ensembles.json cannot be written: creating a file in /proc failed (…)"),
    ("report-unwritable", ["report", "{ws}/run", "--out", "/proc/robust-ensembles-report", "--quiet"],
     "--out /proc/robust-ensembles-report cannot be written: creating a file in /proc failed (…)"),
    ("eval-a-missing-path", ["eval", "history", "{ws}/nowhere", "--quiet"],
     "{ws}/nowhere is not a checkpoint: expected a directory holding meta.json"),
    ("eval-a-raw-pth", ["eval", "history", "{ws}/release_epoch7.pth", "--quiet"],
     "{ws}/release_epoch7.pth is a raw PyTorch file, not an ensemble checkpoint directory. If it is a DVERGE "
     "release checkpoint, import it first: …"),
    ("eval-a-user-folder", ["eval", "history", "{ws}/user", "--quiet"],
     "{ws}/user has no meta.json: not a checkpoint directory (or a training run that has not finished its first "
     "epoch)"),
]


@pytest.mark.parametrize("argv,expected", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_bad_output_or_configuration_is_refused_before_any_work(capsys, ws, argv, expected):
    _refused(capsys, ws, [a.format(ws=ws) for a in argv], expected)
    assert not (ws / "new").exists()


def test_package_replaces_only_its_own_earlier_output(capsys, ws):
    for _ in range(2):
        rc, out, _ = cli(capsys, "package", ws / "run", "--out", ws / "pk", "--json")
        assert rc == 0 and json.loads(out.strip().splitlines()[-1])["dtype"] == "float16"
    names = sorted(p.name for p in (ws / "pk").iterdir())
    assert names == ["member_0.e1.1.safetensors", "member_1.e1.1.safetensors", "meta.json"]


def test_force_replaces_another_checkpoint_kind_but_nothing_else(capsys, ws):
    rc, _, _ = cli(capsys, "package", ws / "run", "--out", ws / "other_run", "--force", "--json")
    assert rc == 0
    meta = json.loads((ws / "other_run" / "meta.json").read_text())
    assert meta["packaged"]["dtype"] == "float16"
    assert sorted(p.name for p in (ws / "other_run").iterdir()) == sorted([*meta["files"], "meta.json"])


def test_import_into_an_empty_directory_then_over_its_own_import(capsys, ws):
    (ws / "empty").mkdir()
    for _ in range(2):
        rc, out, _ = cli(capsys, "import-checkpoint", ws / "release_epoch7.pth", "--format", "dverge", "--dataset",
                         "cifar10", "--arch", "resnet8", "--out", ws / "empty", "--json")
        assert rc == 0 and json.loads(out.strip().splitlines()[-1])["members"] == 2
    meta = json.loads((ws / "empty" / "meta.json").read_text())
    assert meta["epoch"] == 7 and meta["source"]["format"] == "dverge"
