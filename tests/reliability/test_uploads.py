"""Uploads (the zoo page's "Validate and add"): only files meta.json lists are extracted,
sizes and ratios are bounded, every archive fault is one message, nothing is installed
unless everything checks out, and the user's zoo is unchanged by a refused upload."""
from __future__ import annotations

import io
import json
import zipfile

import pytest

from engine.checkpoint import CheckpointError

from .conftest import make_checkpoint, matches, snapshot


def _zip(files: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def good(tmp_path):
    ck = make_checkpoint(tmp_path / "src" / "ck", train_state=False)
    return {f"ck/{p.name}": p.read_bytes() for p in ck.iterdir()}


def _with_meta(good, **changes):
    files = dict(good)
    meta = json.loads(files["ck/meta.json"])
    meta.update(changes)
    files["ck/meta.json"] = json.dumps(meta).encode()
    return files


def _flip_crc(data: bytes) -> bytes:
    """Corrupt the first stored file's data so its CRC no longer matches."""
    raw = bytearray(data)
    header = raw.index(b"PK\x03\x04")
    name_len = int.from_bytes(raw[header + 26:header + 28], "little")
    extra_len = int.from_bytes(raw[header + 28:header + 30], "little")
    start = header + 30 + name_len + extra_len
    raw[start + 10] ^= 0xFF
    return bytes(raw)


def _lying_size(data: bytes) -> bytes:
    """Shrink every declared uncompressed size (local and central headers) to 10 bytes."""
    raw = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = raw.find(signature)
        while pos != -1:
            raw[pos + offset:pos + offset + 4] = (10).to_bytes(4, "little")
            pos = raw.find(signature, pos + 4)
    return bytes(raw)


def _bomb(good):
    files = dict(good)
    files["ck/member_0.e1.safetensors"] = b"\0" * (5 * 2**20)
    return files


REFUSED = [
    ("not-a-zip", lambda g: b"this is not a zip", "not a valid zip archive: File is not a zip file"),
    ("empty-zip", lambda g: _zip({}), "the archive must hold exactly one meta.json (found 0)"),
    ("two-metas", lambda g: _zip({**g, "other/meta.json": g["ck/meta.json"]}),
     "the archive must hold exactly one meta.json (found 2)"),
    ("listed-file-missing", lambda g: _zip({k: v for k, v in g.items() if "member_1" not in k}),
     "the archive lacks files its meta.json lists: member_1.e1.safetensors"),
    ("meta-history-a-number", lambda g: _zip(_with_meta(g, history=5)),
     "meta.json in the archive is not a valid checkpoint description (history: Input should be a valid list)"),
    ("meta-members-1e9", lambda g: _zip(_with_meta(g, members=10**9)),
     "meta.json in the archive is not a valid checkpoint description (members: Input should be less than or equal to 64)"),
    ("meta-path-in-file-name", lambda g: _zip(_with_meta(g, files={"../../x.safetensors": "0" * 64})),
     "meta.json in the archive is not a valid checkpoint description (files: Value error, file name '../../x.safetensors' is not a plain file name)"),
    ("bad-crc", lambda g: _flip_crc(_zip(g, zipfile.ZIP_STORED)),
     "the archive is damaged or unsupported (Bad CRC-32 for file 'ck/member_…'); create it again with `zip -r NAME.zip CHECKPOINT_DIR`"),
    ("lying-size-headers", lambda g: _lying_size(_zip(g)),  # zipfile reads only the declared 10 bytes
     "the archive is damaged or unsupported (Bad CRC-32 for file 'ck/meta.json'); create it again with `zip -r NAME.zip CHECKPOINT_DIR`"),
    ("compression-bomb", lambda g: _zip(_bomb(g)),
     "ck/member_0.e1.safetensors expands to more than allowed"),
    ("tampered-weights", lambda g: _zip({**g, "ck/member_1.e1.safetensors": g["ck/member_0.e1.safetensors"]}),
     "…/member_1.e1.safetensors does not match the hash recorded in meta.json; the file was modified or damaged"),
    ("unsupported-suffix", None, "unsupported upload '.tar': a .zip of a checkpoint directory or a DVERGE .pth"),
    ("pth-garbage", None, "…upload.pth could not be loaded as a weights-only PyTorch file (…"),
]


@pytest.mark.parametrize("build,expected", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_bad_upload_is_one_clear_error_and_installs_nothing(tmp_path, good, build, expected):
    from engine.zoo import install_upload, user_ensembles_dir

    existing = make_checkpoint(user_ensembles_dir() / "mine")
    before = snapshot(tmp_path / "home")
    if build is None:
        name, data = ("upload.tar", b"x") if "'.tar'" in expected else ("upload.pth", b"garbage")
        kwargs = {"dataset": "cifar10", "arch": "resnet20"}
    else:
        name, data, kwargs = "upload.zip", build(good), {}
    with pytest.raises(CheckpointError) as info:
        install_upload(name, data, "new", **kwargs)
    assert matches(expected, str(info.value)), str(info.value)
    assert snapshot(tmp_path / "home") == before and existing.is_dir()


def test_only_listed_files_are_extracted(tmp_path, good):
    """A 150 MB file the meta.json does not list (compressed to almost nothing) is ignored."""
    from engine.zoo import install_upload

    files = dict(good)
    files["ck/huge.bin"] = b"\0" * (150 * 2**20)
    files["ck/.hidden"] = b"x"
    data = _zip(files)
    assert len(data) < 2**20
    target = install_upload("upload.zip", data, "colleague")
    assert sorted(p.name for p in target.iterdir()) == sorted(k.split("/")[1] for k in good)


def test_a_name_already_taken_is_refused(tmp_path, good):
    from engine.zoo import install_upload, user_ensembles_dir

    make_checkpoint(user_ensembles_dir() / "taken")
    before = snapshot(tmp_path / "home")
    with pytest.raises(CheckpointError) as info:
        install_upload("upload.zip", _zip(good), "taken")
    assert str(info.value) == "an ensemble named 'taken' already exists; choose another name"
    assert snapshot(tmp_path / "home") == before


def test_a_dverge_pth_with_a_five_value_std_is_refused(tmp_path):
    import torch

    from engine.checkpoint import import_checkpoint
    from engine.models import build_classifier

    member = build_classifier("resnet8", channels=3, num_classes=10, mean=[0.5] * 3, std=[0.25] * 3)
    state = dict(member.state_dict())
    state["normalizer.std"] = torch.full((5,), 0.25)
    source = tmp_path / "bad_std.pth"
    torch.save({"model0": state}, source)
    before = snapshot(tmp_path)
    with pytest.raises(CheckpointError) as info:
        import_checkpoint(source, fmt="dverge", dataset="cifar10", arch="resnet8", out=tmp_path / "out")
    assert str(info.value) == (f"{source}: 'model0' normalizes with 3 mean and 5 std values but cifar10 has "
                               "3 channels")
    assert snapshot(tmp_path) == before
