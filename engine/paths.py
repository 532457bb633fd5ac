"""Where the lab keeps things on disk; every directory is one function here.

* :data:`SHIPPED`: the source tree's shipped model zoo (``checkpoints/``;
  ``$ROBUST_ENSEMBLES_SHIPPED`` points elsewhere, e.g. an empty directory for a clean-slate
  test);
* :func:`home_dir`: the user's data directory (``$ROBUST_ENSEMBLES_HOME``, default
  ``$XDG_DATA_HOME/robust-ensembles`` = ``~/.local/share/robust-ensembles``), holding
  :func:`ensembles_dir` (what the user trains or imports; never the source tree),
  :func:`jobs_dir` (the training job store) and, unless moved, :func:`cache_dir`;
* :func:`cache_dir`: analysis results (``$ROBUST_ENSEMBLES_CACHE``);
* :func:`download_dir`: downloaded data sets (``$XDG_CACHE_HOME/robust-ensembles``).
"""
from __future__ import annotations

import os
from pathlib import Path

SHIPPED = Path(os.environ.get("ROBUST_ENSEMBLES_SHIPPED") or Path(__file__).resolve().parents[1] / "checkpoints")


def home_dir() -> Path:
    if os.environ.get("ROBUST_ENSEMBLES_HOME"):
        return Path(os.environ["ROBUST_ENSEMBLES_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "robust-ensembles"


def ensembles_dir() -> Path:
    return home_dir() / "ensembles"


def jobs_dir() -> Path:
    return home_dir() / "jobs"


def cache_dir() -> Path:
    if os.environ.get("ROBUST_ENSEMBLES_CACHE"):
        return Path(os.environ["ROBUST_ENSEMBLES_CACHE"])
    return home_dir() / "cache"


def download_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "robust-ensembles"
