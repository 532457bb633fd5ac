"""Shared fixtures: real Fashion-MNIST and quick-preset ensembles trained once per session.

Ensembles are trained by the engine exactly as ``python -m engine train --preset quick``
does. Set ROBUST_ENSEMBLES_TEST_CACHE=DIR to keep them between local runs (a run that
finds a complete checkpoint there reuses it; CI always starts empty).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

import engine  # noqa: F401  (first: the engine's thread policy, engine/threads.py, before torch loads)
import torch  # noqa: E402

from engine import data  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ROBUST_ENSEMBLES_SHARED_DATA", REPO.parent / "shared" / "data"))

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session", autouse=True)
def isolated_result_cache(tmp_path_factory):
    """Analyses cache into a per-session directory, never the user's."""
    directory = tmp_path_factory.mktemp("result-cache")
    previous = os.environ.get("ROBUST_ENSEMBLES_CACHE")
    os.environ["ROBUST_ENSEMBLES_CACHE"] = str(directory)
    yield directory
    if previous is None:
        os.environ.pop("ROBUST_ENSEMBLES_CACHE", None)
    else:
        os.environ["ROBUST_ENSEMBLES_CACHE"] = previous


@pytest.fixture(scope="session")
def fmnist_test() -> data.ImageData:
    return data.load_split("fashion_mnist", "test")


@pytest.fixture(scope="session")
def fmnist_train() -> data.ImageData:
    return data.load_split("fashion_mnist", "train")


@pytest.fixture(scope="session")
def zoo_dir():
    cached = os.environ.get("ROBUST_ENSEMBLES_TEST_CACHE")
    if cached:
        Path(cached).mkdir(parents=True, exist_ok=True)
        yield Path(cached)
        return
    root = Path(tempfile.mkdtemp(prefix="robust-ensembles-test-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


class QuickZoo:
    """Trains quick-preset ensembles on demand, once per session."""

    def __init__(self, root: Path):
        self.root = root

    def get(self, method: str, **overrides) -> Path:
        from engine.checkpoint import read_meta
        from engine.config import make_config
        from engine.train import train

        tag = "".join(f"-{k}={v}" for k, v in sorted(overrides.items()) if k != "init_from")
        name = method + re.sub(r"[^A-Za-z0-9=._-]+", "_", tag)
        out = self.root / name
        if (out / "meta.json").is_file() and read_meta(out).get("complete"):
            return out
        method_params = overrides.pop("method_params", None)
        config = make_config(method, "quick", method_params=method_params, device="cpu", **overrides)
        return train(config, out, resume=True)


@pytest.fixture(scope="session")
def quick_zoo(zoo_dir) -> QuickZoo:
    return QuickZoo(zoo_dir)


@pytest.fixture(scope="session")
def quick_baseline(quick_zoo) -> Path:
    return quick_zoo.get("baseline")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``shared/data`` beside the repository (CI has it; set ROBUST_ENSEMBLES_SHARED_DATA elsewhere)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set ROBUST_ENSEMBLES_SHARED_DATA)")
    return SHARED_DATA


# The slow suite: real browser sessions, a real Ray instance, every figure kind rendered
# in Chromium, the analyses benchmark in child processes. `bash .ci/run` (the README's
# test command) runs the rest; `python3 -m pytest -q -m slow tests` runs these.
SLOW_FILES = {"tests/app/test_browser.py", "tests/engine/jobs/test_ray_executor.py",
              "tests/engine/test_export_layout.py", "tests/engine/test_bench_analyses.py"}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: in the slow suite (not run by .ci/run)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(item.fspath).resolve().relative_to(REPO).as_posix() in SLOW_FILES:
            item.add_marker(pytest.mark.slow)
