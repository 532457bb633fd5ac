"""Content hashes of files, for integrity checks and cache keys.

Cache keys must follow the *bytes* a result was computed from (a checkpoint's weight
files, an image folder), not their paths or modification times, which a copy or an
edit can keep. Hashing is memoized per (path, device, inode, size, mtime, ctime): every
write changes a file's ctime, which no user-level call can set back, so a modified file
is always hashed again while an unchanged one is hashed once per process.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

_MEMO: dict[tuple, str] = {}
_MEMO_LIMIT = 200_000


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file's bytes (memoized, see the module docstring)."""
    st = os.stat(path)
    key = (os.fspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    digest = _MEMO.get(key)
    if digest is not None:
        return digest
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    if len(_MEMO) > _MEMO_LIMIT:
        _MEMO.clear()
    _MEMO[key] = digest = h.hexdigest()
    return digest


def sha256_files(paths: list[tuple[str, str | os.PathLike]]) -> str:
    """One digest over (label, file) pairs: labels (e.g. relative path and class) and the
    bytes of every file, in the given order."""
    h = hashlib.sha256()
    for label, path in paths:
        h.update(f"{label}\0{sha256_file(Path(path))}\n".encode())
    return h.hexdigest()
