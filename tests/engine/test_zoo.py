"""The user's zoo: uploads are validated before anything appears, names never become
paths, shipped ensembles cannot be deleted, and the shipped zoo covers every method."""
from __future__ import annotations

import io
import pickle
import zipfile

import pytest

from engine import zoo
from engine.checkpoint import CheckpointError, load_checkpoint, read_meta


@pytest.fixture
def home(monkeypatch, tmp_path):
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(tmp_path))
    return tmp_path


def _zip_of(directory, prefix="ckpt/") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for f in directory.iterdir():
            if f.is_file():
                zf.write(f, prefix + f.name)
    return buffer.getvalue()


def test_a_zipped_checkpoint_is_installed_under_a_safe_name(home, quick_baseline):
    target = zoo.install_upload("mine.zip", _zip_of(quick_baseline), "../../etc/my baseline")
    assert target.parent == zoo.user_ensembles_dir() and target.name == "etc-my-baseline"
    ensemble, meta = load_checkpoint(target)
    assert len(ensemble) == meta["members"] == read_meta(quick_baseline)["members"]
    with pytest.raises(CheckpointError, match="already exists"):
        zoo.install_upload("mine.zip", _zip_of(quick_baseline), "etc-my-baseline")


def test_a_tampered_or_hostile_upload_is_refused_and_leaves_nothing(home, quick_baseline, tmp_path):
    data = bytearray(_zip_of(quick_baseline))
    bad = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            payload = src.read(info)
            if info.filename.endswith(".safetensors"):
                payload = payload[:-8] + b"\0" * 8  # weights changed after hashing
            dst.writestr(info, payload)
    with pytest.raises(CheckpointError):
        zoo.install_upload("x.zip", bad.getvalue(), "tampered")

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"model0": Evil()}))
    with pytest.raises(CheckpointError, match="weights-only"):
        zoo.install_upload("evil.pth", evil.read_bytes(), "evil", dataset="cifar10", arch="resnet20")
    with pytest.raises(CheckpointError, match="zip"):
        zoo.install_upload("x.zip", b"not a zip", "junk")
    assert not any(zoo.user_ensembles_dir().glob("*")) if zoo.user_ensembles_dir().exists() else True


def test_the_official_dverge_release_imports_from_an_upload(home, shared_dir):
    pth = shared_dir / "dverge-official" / "baseline_seed0_3x_resnet20_epoch200.pth"
    target = zoo.install_upload(pth.name, pth.read_bytes(), "dverge-official", dataset="cifar10", arch="resnet20")
    meta = read_meta(target)
    assert (meta["arch"], meta["members"], meta["dataset"]) == ("resnet20", 3, "cifar10")


def test_only_user_ensembles_can_be_deleted(home, quick_baseline):
    target = zoo.install_upload("b.zip", _zip_of(quick_baseline), "doomed")
    zoo.delete_ensemble(target)
    assert not target.exists()
    with pytest.raises(CheckpointError, match="not a user ensemble"):
        zoo.delete_ensemble(quick_baseline)


SHIPPED_METHODS = {"baseline", "adp", "gal", "dverge", "dverge_advt", "advt", "smd", "smd_plus", "cce", "trs",
                   "igat_adp", "igat_dverge"}


def test_the_shipped_zoo_has_every_method_and_the_surrogates():
    shipped = [e for e in zoo.list_ensembles([zoo.SHIPPED]) if "error" not in e]
    if not shipped:
        pytest.skip("no shipped zoo in this checkout (bash checkpoints/build_zoo.sh builds it)")
    by_name = {e["name"]: e for e in shipped}
    assert SHIPPED_METHODS <= {e["method"] for e in shipped}
    modes = {read_meta(e["path"])["method_params"].get("mode") for e in shipped if e["method"] == "cce"}
    assert modes == {"rm", "dm"}
    assert [by_name[f"surrogate_{k}"]["members"] for k in (3, 5, 8)] == [3, 5, 8]
    for e in shipped:
        meta = read_meta(e["path"])
        assert e["complete"] and meta["command"].startswith("python -m engine train")
        assert meta["packaged"]["recipe"] == "checkpoints/build_zoo.sh"
        assert not (zoo.SHIPPED / e["name"] / "train_state.pt").exists()
    total = sum(f.stat().st_size for f in zoo.SHIPPED.rglob("*") if f.is_file())
    # small enough to clone and to carry to a GPU machine (64 MiB with the code): 17 LeNet-5
    # ensembles, the seed groups (seeds 1 and 2 of the 13 methods, checkpoints/seeds/) and the
    # shipped first-view results (checkpoints/results/): 18.1 MiB
    assert total < 20 * 2**20
