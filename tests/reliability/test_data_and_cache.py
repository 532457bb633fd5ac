"""Data faults end in one clear error, never a traceback or a number computed from
nothing; channels are adapted only where unambiguous; a cached result is served only for
exactly the checkpoint bytes and data it was computed from."""
from __future__ import annotations

import gzip
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from .conftest import SHIPPED_BASELINE, assert_cli_error, cli, make_checkpoint, snapshot

EVAL = ["eval", "transferability", "--eps", "0.1", "--samples", "4", "--steps", "1", "--quiet", "--json"]


@pytest.fixture(scope="module")
def fmnist_images():
    from engine.data import load_split

    test = load_split("fashion_mnist", "test")
    return test.x[:40, 0].numpy(), test.y[:40].numpy()


def _folder(root, images, labels, *, mode="L", classes=10, corrupt=None):
    """An image folder test/<class>/<i>.png from Fashion-MNIST images."""
    for c in range(classes):
        (root / "test" / f"c{c:02d}").mkdir(parents=True, exist_ok=True)
    for i, (img, label) in enumerate(zip(images, labels)):
        pixels = img if mode == "L" else np.stack([img] * 3, -1) if mode == "RGB-grey" else \
            np.stack([img, 255 - img, img // 2], -1)
        Image.fromarray(pixels).save(root / "test" / f"c{label:02d}" / f"{i}.png")
    if corrupt:
        (root / "test" / "c00" / corrupt).write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    return root


@pytest.fixture
def baseline(tmp_path):
    """The shipped quick-preset baseline (really trained), copied so tests may damage it."""
    return shutil.copytree(SHIPPED_BASELINE, tmp_path / "baseline")


def _refused(capsys, tmp_path, argv, expected):
    before = snapshot(tmp_path / "ws")
    assert_cli_error(cli(capsys, *argv), expected)
    assert snapshot(tmp_path / "ws") == before


# --------------------------------------------------------------------------- data faults

def test_a_corrupt_jpeg_is_named(capsys, tmp_path, baseline, fmnist_images):
    root = _folder(tmp_path / "ws" / "imgs", *fmnist_images, corrupt="broken.jpg")
    _refused(capsys, tmp_path, [*EVAL, baseline, "--dataset", f"folder:{root}"],
             f"{root}/test/c00/broken.jpg is not a readable image (Truncated File Read); remove or "
             "replace it")


def test_an_empty_split_is_named(capsys, tmp_path, baseline):
    (tmp_path / "ws" / "imgs" / "test").mkdir(parents=True)
    root = tmp_path / "ws" / "imgs"
    _refused(capsys, tmp_path, [*EVAL, baseline, "--dataset", f"folder:{root}"],
             f"{root}/test has no class sub-folders; expected {root}/test/<class>/<image>")


def test_class_folders_without_images_are_named(capsys, tmp_path, baseline):
    root = tmp_path / "ws" / "imgs"
    (root / "test" / "a").mkdir(parents=True)
    (root / "test" / "a" / "readme.txt").write_text("no images here")
    _refused(capsys, tmp_path, [*EVAL, baseline, "--dataset", f"folder:{root}"],
             f"{root}/test holds no images (looked for .png, .jpg, .jpeg, .bmp, .gif, .webp, .tif, .tiff, .ppm, "
             ".pgm files in its class sub-folders)")


def test_a_folder_without_the_test_split_says_what_it_has(capsys, tmp_path, baseline):
    root = tmp_path / "ws" / "imgs"
    (root / "train" / "a").mkdir(parents=True)
    _refused(capsys, tmp_path, [*EVAL, baseline, "--dataset", f"folder:{root}"],
             f"Image folder {root} has no 'test/' split (it has: ['train']). Expected layout: "
             "PATH/train/<class>/*.png and/or PATH/test/<class>/*.png")


def _idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_a_corrupt_gz_is_named(capsys, tmp_path, baseline):
    data = tmp_path / "ws" / "data"
    data.mkdir(parents=True)
    (data / "t10k-images-idx3-ubyte.gz").write_bytes(b"garbage, not gzip")
    _idx(data / "t10k-labels-idx1-ubyte.gz", np.zeros(10))
    _refused(capsys, tmp_path, [*EVAL, baseline, "--data-dir", data],
             f"{data}/t10k-images-idx3-ubyte.gz cannot be read (Not a gzipped file (b'ga')); the file is damaged: "
             "delete it so it is downloaded again, or point --data-dir at an intact copy")


def test_a_truncated_gz_is_named(capsys, tmp_path, baseline):
    data = tmp_path / "ws" / "data"
    data.mkdir(parents=True)
    _idx(data / "t10k-images-idx3-ubyte.gz", np.zeros((10, 28, 28)))
    raw = (data / "t10k-images-idx3-ubyte.gz").read_bytes()
    (data / "t10k-images-idx3-ubyte.gz").write_bytes(raw[: len(raw) // 2])
    _idx(data / "t10k-labels-idx1-ubyte.gz", np.zeros(10))
    _refused(capsys, tmp_path, [*EVAL, baseline, "--data-dir", data],
             f"{data}/t10k-images-idx3-ubyte.gz cannot be read (Compressed file ended before the end-of-stream "
             "marker was reached); the file is damaged: delete it so it is downloaded again, or point --data-dir "
             "at an intact copy")


def test_images_and_labels_of_different_lengths(capsys, tmp_path, baseline):
    data = tmp_path / "ws" / "data"
    data.mkdir(parents=True)
    _idx(data / "t10k-images-idx3-ubyte.gz", np.zeros((10, 28, 28)))
    _idx(data / "t10k-labels-idx1-ubyte.gz", np.zeros(12))
    _refused(capsys, tmp_path, [*EVAL, baseline, "--data-dir", data],
             f"{data}/t10k-images-idx3-ubyte.gz holds 10 images but {data}/t10k-labels-idx1-ubyte.gz 12 labels; "
             "the files do not belong together")


def test_more_classes_than_the_model(capsys, tmp_path, baseline, fmnist_images):
    root = _folder(tmp_path / "ws" / "imgs", *fmnist_images, classes=11)
    _refused(capsys, tmp_path, [*EVAL, baseline, "--dataset", f"folder:{root}"],
             f"data set folder:{root} has 11 classes but the ensemble classifies 10; evaluate it on data with the "
             "classes it was trained on")


def test_colour_images_for_a_greyscale_model(capsys, tmp_path, baseline, fmnist_images):
    root = _folder(tmp_path / "ws" / "imgs", *fmnist_images, mode="RGB")
    _refused(capsys, tmp_path, [*EVAL, baseline, "--dataset", f"folder:{root}"],
             f"data set folder:{root} holds colour images but the model takes greyscale ones; convert the images "
             "to greyscale first (they are not grey stored as RGB)")


def test_images_of_another_size(capsys, tmp_path, baseline, fmnist_images):
    images, labels = fmnist_images
    big = np.stack([np.pad(i, 2) for i in images])
    root = _folder(tmp_path / "ws" / "imgs", big, labels)
    _refused(capsys, tmp_path, [*EVAL, baseline, "--dataset", f"folder:{root}"],
             f"data set folder:{root} has 32x32 images but the ensemble was trained on 28x28 (fashion_mnist); "
             "resize the images first")


def test_no_sample_that_every_member_classifies_correctly_is_an_error_not_zero(capsys, tmp_path, fmnist_images):
    """A random 10-class model on images all of one class it never predicts."""
    images, labels = fmnist_images
    ck = make_checkpoint(tmp_path / "ws" / "random")
    from engine.checkpoint import load_checkpoint

    ensemble, _ = load_checkpoint(ck)
    import torch

    with torch.no_grad():
        predicted = ensemble.member_logits(torch.from_numpy(images[:, None] / 255.0).float()).argmax(-1)
    never = next(c for c in range(10) if not (predicted == c).any(1).any())
    root = _folder(tmp_path / "ws" / "imgs", images, np.full_like(labels, never))
    _refused(capsys, tmp_path, [*EVAL, ck, "--dataset", f"folder:{root}"],
             f"transferability on {ck}: no test sample is classified correctly by every member, so transferability "
             "is undefined; check that the data set matches the ensemble's (classes, image format)")


@pytest.mark.parametrize("mode", ["L", "RGB-grey"])
def test_greyscale_folders_work_with_a_greyscale_model(capsys, tmp_path, baseline, fmnist_images, mode):
    """Greyscale PNGs stay one channel; grey stored as RGB is adapted (R = G = B)."""
    images, labels = fmnist_images
    root = _folder(tmp_path / "imgs", images, labels, mode=mode)
    rc, out, err = cli(capsys, *EVAL, baseline, "--dataset", f"folder:{root}")
    assert rc == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["samples"] == 4 and result["clean_samples"] == 40
    assert result["ensemble_clean_accuracy"] >= 0.6  # a trained model on real Fashion-MNIST images


# --------------------------------------------------------------------------- cache keys

def test_a_modified_or_deleted_member_is_never_served_a_cached_result(capsys, tmp_path, baseline):
    rc, out, err = cli(capsys, *EVAL, baseline)
    assert rc == 0, err
    members = sorted(baseline.glob("member_*.safetensors"))
    original = members[1].read_bytes()
    members[1].write_bytes(members[0].read_bytes())
    assert_cli_error(cli(capsys, *EVAL, baseline),
                     f"{members[1]} does not match the hash recorded in meta.json; the file was modified or damaged")
    members[1].unlink()
    assert_cli_error(cli(capsys, *EVAL, baseline), f"{members[1]} is missing; the checkpoint is incomplete")
    members[1].write_bytes(original)
    rc, again, _ = cli(capsys, *EVAL, baseline)
    assert rc == 0 and json.loads(again.strip().splitlines()[-1]) == json.loads(out.strip().splitlines()[-1])


def test_replaced_folder_images_are_recomputed(tmp_path, baseline, fmnist_images):
    """Same names, count and modification times, other pixels: a new cache key."""
    import os

    from engine import analyses
    from engine.cache import ResultCache

    images, labels = fmnist_images
    root = _folder(tmp_path / "imgs", images[:20], labels[:20])
    config = {"eps": 0.1, "samples": 4, "steps": 1, "dataset": f"folder:{root}"}
    cache = ResultCache(tmp_path / "cache")
    first = analyses.run("transferability", baseline, config, device="cpu", cache=cache)
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*.png")}
    _folder(tmp_path / "imgs", images[20:40], labels[:20])  # other images under the same names
    for p, ns in stamps.items():
        os.utime(p, ns=(ns, ns))
    second = analyses.run("transferability", baseline, config, device="cpu", cache=cache)
    assert (cache.hits, cache.misses) == (0, 2)
    assert first["ensemble_clean_accuracy"] != second["ensemble_clean_accuracy"] or \
        first["member_clean_accuracy"] != second["member_clean_accuracy"]
    analyses.run("transferability", baseline, config, device="cpu", cache=cache)
    assert (cache.hits, cache.misses) == (1, 2)


def test_the_analysis_version_is_part_of_the_key(baseline, monkeypatch):
    import dataclasses

    from engine import analyses

    spec = analyses.get("transferability")
    config = analyses.parse_config(spec, {"eps": 0.1})
    key, _ = analyses.request_key(spec, baseline, config)
    assert spec.version >= 3
    bumped = dataclasses.replace(spec, version=spec.version + 1)
    assert analyses.request_key(bumped, baseline, config)[0] != key
