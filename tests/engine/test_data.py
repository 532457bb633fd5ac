"""Data sets: real Fashion-MNIST offline, clear errors, image folders, augmentation."""
import gzip

import numpy as np
import pytest
import torch
from PIL import Image

from engine import data


def test_fashion_mnist_loads_offline_in_full(fmnist_train, fmnist_test):
    assert fmnist_train.x.shape == (60_000, 1, 28, 28) and fmnist_train.x.dtype == torch.uint8
    assert fmnist_test.x.shape == (10_000, 1, 28, 28)
    assert sorted(fmnist_test.y.unique().tolist()) == list(range(10))
    assert torch.bincount(fmnist_test.y).tolist() == [1000] * 10
    imgs = fmnist_test.images(slice(0, 10))
    assert imgs.dtype == torch.float32 and torch.equal(imgs * 255, fmnist_test.x[:10].float())


def test_missing_data_names_every_place_looked_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setitem(data._SYSTEM_DIRS, "mnist", [tmp_path / "system"])
    with pytest.raises(data.DataNotFoundError) as info:
        data.load_split("mnist", "train", data_dir=tmp_path / "mine", allow_download=False)
    message = str(info.value)
    for place in (tmp_path / "mine", tmp_path / "cache", tmp_path / "system"):
        assert str(place) in message
    assert "--data-dir" in message


def test_data_dir_with_gzipped_idx_files_is_used(tmp_path):
    def idx(path, array):
        header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
        with gzip.open(path, "wb") as fh:
            fh.write(header + array.astype(np.uint8).tobytes())

    folder = tmp_path / "mnist"
    folder.mkdir()
    idx(folder / "t10k-images-idx3-ubyte.gz", np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256)
    idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([3, 7]))
    split = data.load_split("mnist", "test", data_dir=tmp_path, allow_download=False)
    assert split.y.tolist() == [3, 7] and split.x.shape == (2, 1, 28, 28)


def test_truncated_idx_file_is_reported(tmp_path):
    path = tmp_path / "bad.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"abc")
    with pytest.raises(data.DataNotFoundError, match="truncated"):
        data._read_idx(path)


def test_image_folder_dataset(tmp_path):
    for split in ("train", "test"):
        for label, colour in (("cat", 40), ("dog", 200)):
            d = tmp_path / split / label
            d.mkdir(parents=True)
            for i in range(3):
                Image.fromarray(np.full((8, 8, 3), colour + i, np.uint8)).save(d / f"{i}.png")
    name = f"folder:{tmp_path}"
    test = data.load_split(name, "test")
    assert test.classes == ["cat", "dog"] and test.x.shape == (6, 3, 8, 8)
    spec = data.get_spec(name)
    assert spec.channels == 3 and spec.num_classes == 2 and spec.size == 8


def test_image_folder_without_the_split_says_what_it_has(tmp_path):
    (tmp_path / "test" / "a").mkdir(parents=True)
    with pytest.raises(data.DataNotFoundError, match="no 'train/' split"):
        data.load_split(f"folder:{tmp_path}", "train")


def test_unknown_dataset_names_the_choices():
    with pytest.raises(ValueError, match="fashion_mnist"):
        data.validate_name("imagenet")


def test_cifar_augmentation_crops_and_flips_each_sample_independently():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, 32, 32)
    out = data.AUGMENTATIONS["cifar"](x, g)
    assert out.shape == x.shape
    same = [(out[i] == x[i]).all().item() for i in range(64)]
    assert 0 < sum(same) < 64  # some samples untouched (no shift, no flip), most changed


def test_batches_cover_the_split_once_per_epoch(fmnist_test):
    sub = fmnist_test.subset(1000, seed=0)
    seen = torch.cat([y for _, y in data.batches(sub, 128, shuffle=True, generator=torch.Generator().manual_seed(1))])
    assert sorted(seen.tolist()) == sorted(sub.y.tolist())
