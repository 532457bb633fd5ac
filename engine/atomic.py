"""The one atomic-write helper of the project.

Every file the engine writes (checkpoint weights, ``meta.json``, training state, job
records, result files, data caches) goes through :func:`atomic_write`: the bytes are
written to a temporary file in the *same directory* (so the final rename never crosses a
file system), the file is flushed and ``fsync``-ed, ``os.replace`` publishes it under its
final name in one step, and the directory is ``fsync``-ed so the rename itself survives a
power loss. A reader therefore sees either the old file or the complete new one, never a
prefix. A process killed between the steps leaves at most a temporary file named
``.<name>.<random>.tmp``; :func:`clean_stale_temps` removes those (checkpoint saves call
it), and nothing ever reads them.

Why own code: the standard library has no atomic-replace-with-fsync helper, and the few
PyPI packages that do (``atomicwrites``) are unmaintained.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

TEMP_SUFFIX = ".tmp"


def _temp_prefix(name: str) -> str:
    return f".{name}."


def fsync_dir(directory: str | os.PathLike) -> None:
    """``fsync`` a directory so renames/creations inside it are durable (no-op where the
    platform cannot open directories, e.g. Windows)."""
    try:
        fd = os.open(str(directory), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, writer: Callable[[str], None]) -> Path:
    """Publish a file atomically: ``writer(tmp_path)`` writes the content to a temporary
    path in the target's directory; it is fsync-ed, renamed onto ``path`` and the
    directory fsync-ed. On any failure (exception or KeyboardInterrupt) the temporary
    file is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path.name), suffix=TEMP_SUFFIX)
    os.close(fd)
    try:
        writer(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    return atomic_write(path, write)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=False).encode())


def write_probe(directory: str | os.PathLike) -> str | None:
    """Why a file cannot be created in the existing ``directory`` (``None`` if it can), found
    by creating and removing a temporary file there. ``os.access`` alone is not enough:
    it reports every directory writable for root, also on read-only or virtual file
    systems (/proc, /sys, a read-only mount), where only a real write tells."""
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=_temp_prefix("write-probe"), suffix=TEMP_SUFFIX)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(probe)
    return None


def why_unwritable(path: str | os.PathLike) -> str | None:
    """Why ``path`` (a directory to create or write into) cannot be written, as the end of a
    sentence ("cannot be created: X is not a directory", ...), or ``None`` if it can: its
    nearest existing ancestor must be a directory where a file can really be created.
    Checked before any work, so a bad ``--out`` never fails after an epoch."""
    parent = Path(path)
    while not parent.exists() and parent.parent != parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot be created: {parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be written: no write permission in {parent}"
    reason = write_probe(parent)
    return f"cannot be written: creating a file in {parent} failed ({reason})" if reason else None


def is_temp(name: str) -> bool:
    """Whether a file name is one of :func:`atomic_write`'s temporary files."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def clean_stale_temps(directory: str | os.PathLike, older_than: float = 0.0) -> list[Path]:
    """Remove temporary files left by killed writers in ``directory`` (not recursive).
    ``older_than`` (seconds) spares files a concurrent writer may still be filling."""
    directory = Path(directory)
    removed = []
    if not directory.is_dir():
        return removed
    now = time.time()
    for entry in directory.iterdir():
        if not is_temp(entry.name) or not entry.is_file():
            continue
        try:
            if now - entry.stat().st_mtime >= older_than:
                entry.unlink()
                removed.append(entry)
        except FileNotFoundError:
            pass
    return removed
