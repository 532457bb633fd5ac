"""On-disk result cache for analyses (diskcache), with no pickle anywhere.

diskcache pickles anything that is not str/bytes/int/float, and unpickling a cache file
someone else wrote runs their code. Results are therefore encoded here into an ``.npz``
blob (a JSON skeleton plus numpy arrays, loaded with ``allow_pickle=False``) and stored as
bytes; :class:`NoPickleDisk` refuses to store or fetch anything diskcache would pickle.

Keys are SHA-256 digests of ``{analysis, version, checkpoint content hash, config}``, so a
retrained or edited checkpoint never hits a stale entry, and a result survives restarts.
"""
from __future__ import annotations

import hashlib
import io
import json
import threading
from pathlib import Path
from typing import Any, Callable

import diskcache
import numpy as np
import torch

from .paths import cache_dir as default_cache_dir

_ARRAY = "__array__"
_LIST = "__list__"


class CacheError(RuntimeError):
    """A cache entry that cannot be decoded safely."""


class NoPickleDisk(diskcache.Disk):
    """diskcache storage that only ever handles str keys and bytes values."""

    def put(self, key):
        if not isinstance(key, str):
            raise TypeError("cache keys must be str")
        return super().put(key)

    def get(self, key, raw):
        if not raw:
            raise CacheError("refusing to unpickle a cache key")
        return super().get(key, raw)

    def store(self, value, read, key=diskcache.core.UNKNOWN):
        if not read and not isinstance(value, bytes):
            raise TypeError("cache values must be bytes (encode them with engine.cache.encode)")
        return super().store(value, read, key=key)

    def fetch(self, mode, filename, value, read):
        if mode == diskcache.core.MODE_PICKLE:
            raise CacheError("refusing to unpickle a cache value")
        return super().fetch(mode, filename, value, read)


def split_arrays(result: Any, marker: str = _ARRAY, *, numeric_only: bool = False) -> tuple[Any, dict[str, np.ndarray]]:
    """A JSON-able skeleton and the named arrays (tensors and numpy arrays nested anywhere).

    Each array becomes ``{marker: name}``; with ``numeric_only`` (formats such as safetensors
    that hold numbers only) non-numeric arrays stay in the skeleton as ``{"__list__": [...]}``.
    """
    arrays: dict[str, np.ndarray] = {}

    def strip(obj):
        if isinstance(obj, torch.Tensor):
            obj = obj.detach().cpu().numpy()
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                raise TypeError("object arrays cannot be cached")
            if numeric_only and obj.dtype.kind not in "biuf":
                return {_LIST: obj.tolist()}
            name = f"a{len(arrays)}"
            arrays[name] = np.ascontiguousarray(obj)
            return {marker: name}
        if isinstance(obj, dict):
            return {str(k): strip(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [strip(v) for v in obj]
        if isinstance(obj, np.generic):
            return obj.item()
        if obj is None or isinstance(obj, (str, bool, int, float)):
            return obj
        raise TypeError(f"cannot cache a value of type {type(obj).__name__}")

    return strip(result), arrays


def join_arrays(skeleton: Any, arrays: dict[str, np.ndarray], marker: str = _ARRAY) -> Any:
    """The inverse of :func:`split_arrays`."""
    def restore(obj):
        if isinstance(obj, dict):
            if set(obj) == {marker}:
                return arrays[obj[marker]]
            if set(obj) == {_LIST}:
                return np.asarray(obj[_LIST])
            return {k: restore(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [restore(v) for v in obj]
        return obj

    return restore(skeleton)


def encode(result: Any) -> bytes:
    """JSON-able values and numpy arrays / tensors (nested anywhere) -> npz bytes."""
    skeleton, arrays = split_arrays(result)
    buffer = io.BytesIO()
    np.savez(buffer, __json__=np.frombuffer(json.dumps(skeleton, allow_nan=True).encode(), dtype=np.uint8), **arrays)
    return buffer.getvalue()


def decode(blob: bytes) -> Any:
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # noqa: BLE001 - any decoding failure is a corrupt entry
        raise CacheError(f"corrupt cache entry: {exc}") from None
    skeleton = json.loads(arrays.pop("__json__").tobytes().decode())
    return join_arrays(skeleton, arrays)


def cache_key(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class ResultCache:
    """``get_or_compute(key, compute)``: the decoded cached value, or compute, store and
    return it. ``hits``/``misses`` count this process's lookups (tests assert on them)."""

    def __init__(self, directory: str | Path | None = None, size_limit: int = 2**31):
        self.directory = Path(directory) if directory else default_cache_dir()
        self._cache = diskcache.Cache(str(self.directory), disk=NoPickleDisk, size_limit=size_limit)
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Any | None:
        try:
            blob = self._cache.get(key)
        except CacheError:
            blob = None
        if blob is None:
            return None
        try:
            return decode(blob)
        except CacheError:
            self._cache.delete(key)  # a corrupt entry is recomputed, never trusted
            return None

    def set(self, key: str, value: Any) -> None:
        self._cache.set(key, encode(value))

    def get_or_compute(self, key: str, compute: Callable[[], Any]) -> Any:
        value = self.get(key)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        value = compute()
        self.set(key, value)
        return value

    def __contains__(self, key: str) -> bool:
        return key in self._cache

    def clear(self) -> None:
        self._cache.clear()

    def close(self) -> None:
        self._cache.close()


_default: ResultCache | None = None
_lock = threading.Lock()


def default_cache() -> ResultCache:
    """The process-wide cache in :func:`default_cache_dir` (opened once)."""
    global _default
    with _lock:
        if _default is None or _default.directory != default_cache_dir():
            _default = ResultCache()
        return _default
