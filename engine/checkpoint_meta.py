"""The one schema of a checkpoint's ``meta.json``, checked before anything is built.

``meta.json`` comes from users, colleagues' zips and old runs, so it is untrusted input:
a wrong type (``"members": "three"``, ``"files": [...]``), an absurd size
(``"members": 10**9``, ``resnet600002``), a hostile nesting (100k-deep lists) or a file
name with a path in it must end in one clear message, never in a TypeError, a
RecursionError, a path outside the checkpoint or models built until memory runs out.
:func:`parse_meta` is the single entry point: bounded bytes, bounded JSON depth and
string lengths, then a strict pydantic model (no type coercion) with bounded counts,
known architectures and self-consistent fields. Unknown extra keys are kept (newer
versions may add some) but fall under the same depth/size bounds.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

FORMAT = "robust-ensembles/1"

MAX_META_BYTES = 32 * 2**20  # a 10,000-epoch history with matrices stays far below
MAX_DEPTH = 32
MAX_STRING = 100_000
MAX_MEMBERS = 64
MAX_CLASSES = 1000
MAX_RESNET_DEPTH = 110  # the deepest CIFAR ResNet of He et al. (2016), Table 6
MAX_HISTORY = 100_000
#: file names a checkpoint may list: one plain path component, never hidden (temporary files)
FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
SHA256 = re.compile(r"[0-9a-f]{64}")
#: weight files: member index, epoch, and a generation when an epoch is saved twice
MEMBER_FILE = re.compile(r"member_(\d+)\.e(\d+)(?:\.(\d+))?\.safetensors")
#: optimizer/RNG state for --resume (``train_state.pt`` in checkpoints of older versions)
TRAIN_STATE_FILE = re.compile(r"train_state(?:\.e(\d+)(?:\.(\d+))?)?\.pt")


def member_file_names(files) -> list[tuple[int, str]]:
    """(member index, name) of the member weight files among ``files``, by index."""
    found = [(int(m.group(1)), n) for n in files if (m := MEMBER_FILE.fullmatch(n))]
    return sorted(found)


class MetaError(ValueError):
    """``meta.json`` is not a valid checkpoint description (message says which field)."""


def _check_shape(obj: Any) -> None:
    """Depth, container sizes and string lengths, iteratively (no recursion to exhaust)."""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                raise MetaError(f"a string of {len(value)} characters (limit {MAX_STRING})")
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise MetaError(f"nested deeper than {MAX_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and len(key) > MAX_STRING:
                    raise MetaError("a key longer than allowed")
                stack.append((item, depth + 1))
        elif isinstance(value, float) and not math.isfinite(value) and depth <= 1:
            raise MetaError("a non-finite number at the top level")


def known_arch(arch: str) -> str:
    """``lenet5`` or ``resnet<6n+2>`` up to ResNet-110 (bounded: a meta.json asking for
    resnet600002 must not build it)."""
    from .models import validate_arch

    validate_arch(arch)
    match = re.fullmatch(r"resnet(\d+)", arch)
    if match and int(match.group(1)) > MAX_RESNET_DEPTH:
        raise ValueError(f"resnet depth {match.group(1)} is larger than supported ({MAX_RESNET_DEPTH})")
    return arch


class CheckpointMeta(BaseModel):
    """What the engine reads from ``meta.json`` (strict types: JSON ``"3"`` is not 3)."""

    model_config = ConfigDict(extra="allow", strict=True)

    format: Literal["robust-ensembles/1"]
    arch: str = Field(max_length=32)
    dataset: str = Field(max_length=4096)
    members: int = Field(ge=1, le=MAX_MEMBERS)
    channels: int = Field(ge=1, le=4)
    num_classes: int = Field(ge=2, le=MAX_CLASSES)
    mean: list[float] = Field(min_length=1, max_length=4)
    std: list[float] = Field(min_length=1, max_length=4)
    files: dict[str, str] = Field(max_length=2 * MAX_MEMBERS + 8)
    method: Optional[str] = Field(None, max_length=64)
    method_params: dict[str, Any] = Field(default_factory=dict, max_length=64)
    epoch: Optional[int] = Field(None, ge=0, le=1_000_000)
    epochs: Optional[int] = Field(None, ge=0, le=1_000_000)
    seed: Optional[int] = None
    leaky_relu: Optional[bool] = None
    complete: Optional[bool] = None
    history: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_HISTORY)
    init_from: Optional[str] = Field(None, max_length=4096)
    command: Optional[str] = Field(None, max_length=MAX_STRING)
    saved_at: Optional[str] = Field(None, max_length=64)
    versions: Optional[dict[str, str]] = None
    source: Optional[dict[str, Any]] = None
    config: Optional[dict[str, Any]] = None
    packaged: Optional[dict[str, Any]] = None

    @field_validator("arch")
    @classmethod
    def _arch(cls, v: str) -> str:
        return known_arch(v)

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        from .data import validate_name

        return validate_name(v)

    @field_validator("mean", "std")
    @classmethod
    def _finite(cls, v: list[float]) -> list[float]:
        if not all(math.isfinite(x) for x in v):
            raise ValueError("must hold finite numbers")
        return v

    @field_validator("files")
    @classmethod
    def _files(cls, v: dict[str, str]) -> dict[str, str]:
        for name, digest in v.items():
            if not FILE_NAME.fullmatch(name):
                raise ValueError(f"file name {name[:80]!r} is not a plain file name")
            if not SHA256.fullmatch(digest):
                raise ValueError(f"the hash of {name} is not a SHA-256 hex digest")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"mean and std must have one value per channel ({self.channels}); "
                             f"found {len(self.mean)} and {len(self.std)}")
        if not all(s > 0 for s in self.std):
            raise ValueError("std values must be positive")
        names = member_file_names(self.files)
        if len(names) != self.members:
            raise ValueError(f"lists {len(names)} member files for {self.members} members")
        indices = sorted(index for index, _ in names)
        if indices != list(range(self.members)):
            raise ValueError(f"member files are numbered {indices}, expected 0..{self.members - 1}")
        return self


def validate_meta(obj: Any, origin: str = "meta.json") -> dict:
    """The validated ``meta.json`` object (the same dict, unchanged), or :class:`MetaError`."""
    if not isinstance(obj, dict):
        raise MetaError(f"{origin} must hold a JSON object, found {type(obj).__name__}")
    if obj.get("format") != FORMAT:
        raise MetaError(f"{origin} is not a {FORMAT} checkpoint (format={str(obj.get('format'))[:80]!r})")
    try:
        _check_shape(obj)
    except MetaError as exc:
        raise MetaError(f"{origin} is malformed: {exc}") from None
    try:
        CheckpointMeta.model_validate(obj)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'meta'}: {e['msg']}" for e in exc.errors()[:5])
        raise MetaError(f"{origin} is not a valid checkpoint description ({problems})") from None
    return obj


def parse_meta(raw: bytes, origin: str = "meta.json") -> dict:
    """Parse and validate the bytes of a ``meta.json``."""
    if len(raw) > MAX_META_BYTES:
        raise MetaError(f"{origin} is {len(raw) / 2**20:.0f} MB, more than a checkpoint description can be "
                        f"({MAX_META_BYTES // 2**20} MB)")
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MetaError(f"{origin} is not valid JSON ({exc}); the checkpoint is damaged") from None
    except RecursionError:
        raise MetaError(f"{origin} is malformed: nested deeper than {MAX_DEPTH} levels") from None
    return validate_meta(obj, origin)
