"""Where ensembles live: the shipped ``checkpoints/`` folder of the source tree and the
user's data directory (``$ROBUST_ENSEMBLES_HOME``, default ``~/.local/share/robust-ensembles``),
where everything a user trains or imports goes."""
from __future__ import annotations

import os
from pathlib import Path

from .checkpoint import CheckpointError, META, read_meta

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"


def user_data_dir() -> Path:
    if os.environ.get("ROBUST_ENSEMBLES_HOME"):
        return Path(os.environ["ROBUST_ENSEMBLES_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "robust-ensembles"


def list_ensembles(roots: list[Path] | None = None) -> list[dict]:
    """Summaries of every checkpoint under the roots (shipped first, then the user's),
    skipping unreadable ones but reporting them with their error."""
    roots = roots if roots is not None else [SHIPPED, user_data_dir() / "ensembles"]
    found = []
    for root in roots:
        if not root.is_dir():
            continue
        for meta_path in sorted(root.rglob(META)):
            directory = meta_path.parent
            if directory.name == "pretrain":
                continue
            entry = {"path": str(directory), "name": str(directory.relative_to(root)),
                     "shipped": root == SHIPPED}
            try:
                meta = read_meta(directory)
            except CheckpointError as exc:
                entry["error"] = str(exc)
            else:
                last = (meta.get("history") or [{}])[-1]
                entry.update(method=meta.get("method"), dataset=meta["dataset"], arch=meta["arch"],
                             members=meta["members"], epoch=meta.get("epoch"), complete=meta.get("complete"),
                             accuracy=last.get("ensemble_clean_accuracy"),
                             transferability=last.get("transferability"), history=meta.get("history", []))
            found.append(entry)
    return found
