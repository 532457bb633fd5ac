"""Data sets: where they are found, how they are held in memory, how batches are drawn.

Every split is decoded once into a uint8 tensor held in memory (Fashion-MNIST is 47 MB,
CIFAR-10 150 MB), so batches are plain tensor indexing. Inputs handed to models are
float in [0, 1]; per-channel normalization lives inside the model (``engine.models``), so
attacks and ε are always expressed in pixel space.

Names: ``fashion_mnist`` (default), ``mnist``, ``cifar10`` and ``folder:PATH`` (an image
folder with ``train/`` and/or ``test/`` class sub-folders, read by torchvision's
ImageFolder).
"""
from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from .paths import download_dir

DATA_DIR_ENV = "ROBUST_ENSEMBLES_DATA"
DEFAULT_DATASET = "fashion_mnist"


class DataNotFoundError(RuntimeError):
    """A data set could not be found locally nor downloaded."""


class DataError(DataNotFoundError):
    """A data set was found but cannot be used (corrupt, empty, unreadable, inconsistent).
    A subclass of :class:`DataNotFoundError` so every caller that reports missing data as
    one clear message reports this too."""


@dataclass(frozen=True)
class DataSpec:
    """What the engine needs to know about a data set besides its pixels.

    ``distill_eps`` is DVERGE's feature-distillation budget (Eq. 1), ``attack_eps`` the
    standard evaluation budget, ``advt_eps``/``advt_step`` the PGD used inside
    adversarial training (AdvT, DVERGE+AdvT, CCE). ``eps_grid`` is the one ε grid of the
    data set (L∞, images in [0, 1], ``attack_eps`` included): the app's ε slider, the
    default white-box and black-box curves and the report's curves.
    """

    name: str
    channels: int
    size: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: str  # "cifar" (random crop 4 + horizontal flip) or "none"
    distill_eps: float
    attack_eps: float
    advt_eps: float
    advt_step: float
    eps_grid: tuple[float, ...]

    def __post_init__(self):
        if self.attack_eps not in self.eps_grid or list(self.eps_grid) != sorted(set(self.eps_grid)):
            raise ValueError(f"{self.name}: eps_grid must be increasing and hold attack_eps={self.attack_eps}")


# Budgets for 28x28 grey-scale data. Fashion-MNIST's standard L∞ attack budget is 0.1
# (SMD paper, Fig. 2 range). DVERGE's distillation budget must be large enough that the
# distilled image really carries the target's features (appendix B, Table 2: a larger ε
# gives a closer feature match and a larger diversity loss); 0.07 on CIFAR is ~2x the
# 8/255 test budget, and the same ratio on Fashion-MNIST gives 0.2, which in a short run
# here drove within-ensemble transferability at ε=0.1 well below 0.15 at ~87% accuracy.
#
# ε grids: Fashion-MNIST's spans up to twice its standard budget; MNIST's reaches the 0.3
# of the ADP/SMD MNIST results; CIFAR-10's is DVERGE's (appendix C.3, Tables 4-5).
_GREY = dict(channels=1, size=28, num_classes=10, augment="none",
             distill_eps=0.2, attack_eps=0.1, advt_eps=0.1, advt_step=0.02,
             eps_grid=(0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.12, 0.15, 0.2))
_COLOUR32 = dict(channels=3, size=32, num_classes=10, augment="cifar",
                 distill_eps=0.07, attack_eps=0.03, advt_eps=8 / 255, advt_step=2 / 255,
                 eps_grid=(0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07))

SPECS: dict[str, DataSpec] = {
    "fashion_mnist": DataSpec("fashion_mnist", mean=(0.2860,), std=(0.3530,), **_GREY),
    "mnist": DataSpec("mnist", mean=(0.1307,), std=(0.3081,), **dict(_GREY, eps_grid=(0.05, 0.1, 0.15, 0.2, 0.25, 0.3))),
    # CIFAR-10 statistics as used by the DVERGE reference normalizer.
    "cifar10": DataSpec("cifar10", mean=(0.4914, 0.4822, 0.4465),
                        std=(0.2023, 0.1994, 0.2010), **_COLOUR32),
}

CLASSES = {
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                      "Shirt", "Sneaker", "Bag", "Ankle boot"],
    "mnist": [str(i) for i in range(10)],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                "ship", "truck"],
}


@dataclass
class ImageData:
    """One split in memory: ``x`` uint8 [N, C, H, W], ``y`` int64 [N]."""

    x: torch.Tensor
    y: torch.Tensor
    classes: list[str]

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def images(self, index=slice(None)) -> torch.Tensor:
        """Float images in [0, 1]."""
        return self.x[index].float().div_(255.0)

    def subset(self, n: int | None, seed: int = 0) -> "ImageData":
        """A seeded random subset of ``n`` examples (all of them when ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self), generator=g)[:n]
        return ImageData(self.x[idx], self.y[idx], self.classes)


# --------------------------------------------------------------------------- locations

def search_roots(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Where data is looked for, in order: ``--data-dir``, ``$ROBUST_ENSEMBLES_DATA``,
    the user cache."""
    roots = []
    if data_dir:
        roots.append(Path(data_dir))
    if os.environ.get(DATA_DIR_ENV):
        roots.append(Path(os.environ[DATA_DIR_ENV]))
    roots.append(download_dir() / "data")
    return roots


_SYSTEM_DIRS = {
    # Debian's package dataset-fashion-mnist installs the four idx .gz files here.
    "fashion_mnist": [Path("/usr/share/datasets/fashion-mnist")],
    "mnist": [Path("/usr/share/datasets/mnist")],
}
_TORCHVISION_FOLDER = {"fashion_mnist": "FashionMNIST", "mnist": "MNIST"}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _read_idx(path: Path) -> np.ndarray:
    """Parse an idx file (LeCun's format), gzipped or not.

    Written here because torchvision's reader wants the files un-gzipped inside its own
    folder layout, while Debian ships them gzipped; the format is a 4-byte magic (type,
    ndim), ndim big-endian uint32 sizes, then the raw uint8 array.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path} cannot be read ({exc}); the file is damaged: delete it so it is "
                        "downloaded again, or point --data-dir at an intact copy") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] not in (1, 3):
        raise DataError(f"{path} is not a uint8 idx file (damaged or not MNIST-format data)")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path} is truncated (its header is incomplete)")
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path} is truncated or damaged ({data.size} of {int(np.prod(dims))} bytes)")
    return data.reshape(tuple(dims))


def _find_idx_pair(directory: Path, split: str) -> tuple[Path, Path] | None:
    found = []
    for stem in _IDX_FILES[split]:
        for candidate in (directory / stem, directory / f"{stem}.gz"):
            if candidate.is_file():
                found.append(candidate)
                break
        else:
            return None
    return found[0], found[1]


def _idx_candidate_dirs(name: str, roots: list[Path]) -> list[Path]:
    dirs = []
    for root in roots:
        dirs += [root / _TORCHVISION_FOLDER[name] / "raw", root / name, root]
    return dirs + _SYSTEM_DIRS.get(name, [])


def _load_idx_dataset(name: str, split: str, roots: list[Path], allow_download: bool) -> ImageData:
    candidates = _idx_candidate_dirs(name, roots)
    for directory in candidates:
        pair = _find_idx_pair(directory, split)
        if pair:
            images, labels = _read_idx(pair[0]), _read_idx(pair[1])
            if images.ndim != 3 or labels.ndim != 1:
                raise DataError(f"{pair[0]} / {pair[1]}: expected images [N, H, W] and labels [N], found shapes "
                                f"{list(images.shape)} and {list(labels.shape)}")
            if len(images) != len(labels):
                raise DataError(f"{pair[0]} holds {len(images)} images but {pair[1]} {len(labels)} labels; "
                                "the files do not belong together")
            if len(labels) and int(labels.max()) >= len(CLASSES[name]):
                raise DataError(f"{pair[1]} has label {int(labels.max())}, but {name} has {len(CLASSES[name])} classes")
            x = torch.from_numpy(images.copy()).unsqueeze(1)
            y = torch.from_numpy(labels.astype(np.int64))
            return ImageData(x, y, CLASSES[name])
    if allow_download:
        _try_download(name, roots[-1] if roots else download_dir() / "data", candidates)
        return _load_idx_dataset(name, split, roots, allow_download=False)
    raise _not_found(name, candidates)


def _try_download(name: str, root: Path, looked: list[Path]) -> None:
    import torchvision.datasets as tvd

    cls = {"fashion_mnist": tvd.FashionMNIST, "mnist": tvd.MNIST, "cifar10": tvd.CIFAR10}[name]
    root.mkdir(parents=True, exist_ok=True)
    try:
        cls(str(root), train=True, download=True)
        cls(str(root), train=False, download=True)
    except Exception as exc:  # network errors come in many types
        raise _not_found(name, looked, download_error=exc) from exc


def _not_found(name: str, looked: list[Path], download_error: Exception | None = None) -> DataNotFoundError:
    lines = [f"Data set '{name}' was not found. Looked in:"]
    lines += [f"  - {p}" for p in dict.fromkeys(looked)]
    if download_error is not None:
        lines.append(f"Downloading it with torchvision failed: {type(download_error).__name__}: {download_error}")
    lines.append("To fix: connect to the internet once (torchvision downloads it into the user cache), "
                 f"or pass --data-dir DIR / set ${DATA_DIR_ENV} to a folder holding it")
    if name == "fashion_mnist":
        lines.append("  (on Debian/Ubuntu: apt-get install dataset-fashion-mnist)")
    if name == "cifar10":
        lines.append("  (or use any image folder with --dataset folder:PATH, e.g. the CIFAR-10 JPEG test set)")
    return DataNotFoundError("\n".join(lines))


def _load_cifar10(split: str, roots: list[Path], allow_download: bool) -> ImageData:
    import torchvision.datasets as tvd

    for root in roots:
        if (root / "cifar-10-batches-py").is_dir():
            ds = tvd.CIFAR10(str(root), train=(split == "train"), download=False)
            x = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))
            return ImageData(x, torch.tensor(ds.targets, dtype=torch.int64), CLASSES["cifar10"])
    looked = [root / "cifar-10-batches-py" for root in roots]
    if allow_download:
        _try_download("cifar10", roots[-1], looked)
        return _load_cifar10(split, roots, allow_download=False)
    raise _not_found("cifar10", looked)


# --------------------------------------------------------------------------- image folders

def _folder_path(name: str) -> Path:
    return Path(name.split(":", 1)[1]).expanduser()


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
_GREY_MODES = ("L", "1", "I", "I;16", "LA")
MAX_FOLDER_IMAGES = 1_000_000


def _folder_samples(split_dir: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """(classes, [(image file, class index)]) of ``split_dir/<class>/<image>``, sorted
    like torchvision's ImageFolder. Every filesystem error is a :class:`DataError`."""
    try:
        classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not classes:
            raise DataError(f"{split_dir} has no class sub-folders; expected {split_dir}/<class>/<image>")
        samples = []
        for index, name in enumerate(classes):
            for file in sorted((split_dir / name).rglob("*")):
                if file.suffix.lower() in IMAGE_EXTENSIONS and file.is_file():
                    samples.append((file, index))
            if len(samples) > MAX_FOLDER_IMAGES:
                raise DataError(f"{split_dir} holds more than {MAX_FOLDER_IMAGES} images")
    except PermissionError as exc:
        raise DataError(f"{exc.filename or split_dir} cannot be read (permission denied)") from None
    except OSError as exc:
        raise DataError(f"{exc.filename or split_dir} cannot be read ({exc.strerror or exc})") from None
    if not samples:
        raise DataError(f"{split_dir} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)} files in its "
                        "class sub-folders)")
    return classes, samples


def _open_image(path: Path, mode: str | None = None):
    """The decoded image converted to ``mode``, or (mode=None) its header's mode only."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if mode is None:
                return img.mode
            img.load()
            return img.convert(mode)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path} is not a readable image ({reason}); remove or replace it") from None


def _load_folder(name: str, split: str) -> ImageData:
    """Decode an image folder split once (cached as .npz, keyed by the files' content).
    Greyscale folders stay one-channel; a folder mixing grey and colour images is read
    as colour. Images of other sizes are resized to the first image's size."""
    root = _folder_path(name)
    split_dir = root / split
    if not split_dir.is_dir():
        try:
            present = [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
        except OSError:
            present = []
        raise DataNotFoundError(
            f"Image folder {root} has no '{split}/' split (it has: {present or 'nothing'}). "
            "Expected layout: PATH/train/<class>/*.png and/or PATH/test/<class>/*.png")
    classes, samples = _folder_samples(split_dir)
    cache = download_dir() / "folders" / f"{folder_fingerprint(split_dir, classes, samples)[:32]}.npz"
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as npz:
                return ImageData(torch.from_numpy(npz["x"]), torch.from_numpy(npz["y"]), list(classes))
        except Exception:  # noqa: BLE001 - a damaged cache file is rebuilt, never trusted
            cache.unlink(missing_ok=True)
    mode = "L" if all(_open_image(path) in _GREY_MODES for path, _ in samples) else "RGB"
    size = None
    xs = None
    for i, (path, _) in enumerate(samples):
        img = _open_image(path, mode)
        if size is None:
            size = img.size
            xs = np.empty((len(samples), size[1], size[0], 1 if mode == "L" else 3), dtype=np.uint8)
        if img.size != size:
            img = img.resize(size)
        xs[i] = np.asarray(img).reshape(xs.shape[1:])
    x = np.ascontiguousarray(xs.transpose(0, 3, 1, 2))
    y = np.asarray([label for _, label in samples], dtype=np.int64)
    try:
        _atomic_save_npz(cache, x=x, y=y)
    except OSError:
        pass  # an unwritable cache only costs the decoding next time
    return ImageData(torch.from_numpy(x), torch.from_numpy(y), list(classes))


def folder_fingerprint(split_dir: Path, classes: list[str] | None = None, samples=None) -> str:
    """Content hash of an image folder split: every image's relative path, class and
    bytes. Decoded caches and analysis results are keyed by it, so replacing images
    never serves results of the old ones."""
    from .hashing import sha256_files

    if samples is None:
        classes, samples = _folder_samples(split_dir)
    try:
        return sha256_files([(f"{classes[label]}/{path.relative_to(split_dir)}", path) for path, label in samples])
    except OSError as exc:
        raise DataError(f"{exc.filename or split_dir} cannot be read ({exc.strerror or exc})") from None


def fingerprint(name: str, split: str = "test") -> str | None:
    """What a result computed on data set ``name`` depends on beyond its name: the content
    hash of a ``folder:`` split (None for the standard data sets, which never change)."""
    if not name.startswith("folder:"):
        return None
    split_dir = _folder_path(name) / split
    if not split_dir.is_dir():
        return None
    return folder_fingerprint(split_dir)


def _atomic_save_npz(path: Path, **arrays) -> None:
    from .atomic import atomic_write

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    atomic_write(path, write)


def folder_spec(name: str, data: ImageData) -> DataSpec:
    """Spec of an image folder: shape and class count from the images, normalization
    statistics measured on (up to 10,000 of) them, budgets of the matching standard set
    (CIFAR-like for colour, MNIST-like for grey)."""
    sample = data.subset(10_000).images()
    c, size = int(sample.shape[1]), int(sample.shape[-1])
    mean = tuple(round(float(v), 4) for v in sample.mean(dim=(0, 2, 3)))
    std = tuple(round(max(float(v), 1e-3), 4) for v in sample.std(dim=(0, 2, 3)))
    budgets = dict(_COLOUR32 if c == 3 else _GREY)
    budgets.update(channels=c, size=size, num_classes=len(data.classes))
    budgets["augment"] = "cifar" if c == 3 else "none"
    return DataSpec(name, mean=mean, std=std, **budgets)


def adapt_channels(data: ImageData, channels: int, origin: str = "the data") -> ImageData:
    """``data`` with ``channels`` channels where that is unambiguous: grey -> colour by
    repeating the channel; colour -> grey only when every image is grey already (R = G =
    B). Anything else is a :class:`DataError`, never a silent guess."""
    have = int(data.x.shape[1])
    if have == channels:
        return data
    if have == 1 and channels == 3:
        return ImageData(data.x.expand(-1, 3, -1, -1).contiguous(), data.y, data.classes)
    if have == 3 and channels == 1:
        x = data.x
        if bool((x[:, 0] == x[:, 1]).all()) and bool((x[:, 0] == x[:, 2]).all()):
            return ImageData(x[:, :1].contiguous(), data.y, data.classes)
        raise DataError(f"{origin} holds colour images but the model takes greyscale ones; convert the images "
                        "to greyscale first (they are not grey stored as RGB)")
    raise DataError(f"{origin} has {have}-channel images but the model takes {channels} channels")


# --------------------------------------------------------------------------- public API

def validate_name(name: str) -> str:
    if name in SPECS:
        return name
    if name.startswith("folder:") and len(name) > len("folder:"):
        return name
    raise ValueError(f"Unknown data set '{name}'. Choose one of {sorted(SPECS)} or folder:PATH")


def load_split(name: str, split: str, data_dir: str | os.PathLike | None = None,
               allow_download: bool = True) -> ImageData:
    """Load one split (``train`` or ``test``) of a data set into memory."""
    validate_name(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    if name.startswith("folder:"):
        return _load_folder(name, split)
    roots = search_roots(data_dir)
    if name == "cifar10":
        return _load_cifar10(split, roots, allow_download)
    return _load_idx_dataset(name, split, roots, allow_download)


def get_spec(name: str, data_dir: str | os.PathLike | None = None) -> DataSpec:
    """The :class:`DataSpec` of a data set (folders are inspected)."""
    validate_name(name)
    if name in SPECS:
        return SPECS[name]
    root = _folder_path(name)
    split = "train" if (root / "train").is_dir() else "test"
    return folder_spec(name, load_split(name, split, data_dir))


# --------------------------------------------------------------------------- batches

def _augment_cifar(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random crop with 4-pixel zero padding plus random horizontal flip, per sample.

    Done on the whole batch with tensor ops (torchvision's transforms apply one random
    crop to a whole batch, or run per PIL image, ~50x slower on 2 cores).
    """
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=g)
    dx = torch.randint(0, 9, (n,), generator=g)
    rows = (dy[:, None] + torch.arange(h)[None, :])  # [n, h]
    cols = (dx[:, None] + torch.arange(w)[None, :])  # [n, w]
    idx_n = torch.arange(n)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    flip = torch.rand(n, generator=g) < 0.5
    out[flip] = out[flip].flip(-1)
    return out.contiguous()


AUGMENTATIONS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "none": lambda x, g: x,
    "cifar": _augment_cifar,
}


def batches(data: ImageData, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None,
            augment: str = "none", drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (images in [0,1], labels) batches; augmentation is applied per sample."""
    n = len(data)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    aug = AUGMENTATIONS[augment]
    stop = n - (n % batch_size) if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        x = data.images(idx)
        if augment != "none":
            x = aug(x, generator if generator is not None else torch.default_generator)
        yield x, data.y[idx]


def num_batches(data: ImageData, batch_size: int, drop_last: bool = False) -> int:
    return len(data) // batch_size if drop_last else -(-len(data) // batch_size)
