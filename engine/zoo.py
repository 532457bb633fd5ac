"""Where ensembles live: the shipped ``checkpoints/`` folder of the source tree and the
user's data directory (``$ROBUST_ENSEMBLES_HOME``, default ``~/.local/share/robust-ensembles``),
where everything a user trains or imports goes."""
from __future__ import annotations

import io
import re
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path

from .checkpoint import META, CheckpointError, import_checkpoint, load_checkpoint, read_meta
from .paths import SHIPPED
from .paths import ensembles_dir as user_ensembles_dir


def list_ensembles(roots: list[Path] | None = None) -> list[dict]:
    """Summaries of every checkpoint under the roots (shipped first, then the user's),
    skipping unreadable ones but reporting them with their error."""
    roots = roots if roots is not None else [SHIPPED, user_ensembles_dir()]
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
                             transferability=last.get("transferability"), transfer_eps=last.get("transfer_eps"),
                             transfer_samples=last.get("transfer_samples"), history=meta.get("history", []),
                             meta=meta)  # the whole meta.json, so that e.g. seed_groups.collapse need not read it again
            found.append(entry)
    return found


# --------------------------------------------------------------------------- managing the user's zoo

MAX_UPLOAD_BYTES = 64 * 2**20


def safe_name(name: str) -> str:
    """A user-given ensemble name as one safe path component (never a raw path)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name or "").strip(".-")[:64]
    if not cleaned:
        raise CheckpointError("give the ensemble a name (letters, digits, '.', '_' or '-')")
    return cleaned


def _fresh_target(name: str) -> Path:
    target = user_ensembles_dir() / safe_name(name)
    if target.exists():
        raise CheckpointError(f"an ensemble named '{target.name}' already exists; choose another name")
    return target


def delete_ensemble(path: str | Path) -> None:
    """Delete a user ensemble. Shipped ensembles (the source tree's checkpoints/) and
    anything outside the user's ensembles directory are refused."""
    path = Path(path).resolve()
    root = user_ensembles_dir().resolve()
    if root not in path.parents or not (path / META).is_file():
        raise CheckpointError(f"{path} is not a user ensemble (only ensembles under {root} can be deleted)")
    shutil.rmtree(path)


def install_upload(filename: str, data: bytes, name: str, *, dataset: str | None = None,
                   arch: str | None = None) -> Path:
    """Validate an uploaded checkpoint and install it into the user's zoo.

    Accepts a ``.zip`` of a checkpoint directory (meta.json + member safetensors) or a
    DVERGE release ``.pth``/``.pt`` (then ``dataset`` and ``arch`` are required). Archive
    member names are never used as paths beyond their base name; weights are loaded
    weights-only and fully verified before anything appears in the zoo."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise CheckpointError(f"upload too large ({len(data) / 2**20:.1f} MB > {MAX_UPLOAD_BYTES / 2**20:.0f} MB)")
    target = _fresh_target(name)
    suffix = Path(filename).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="upload-") as tmp:
        tmp = Path(tmp)
        staged = tmp / "checkpoint"
        if suffix == ".zip":
            _unpack_checkpoint_zip(data, staged)
        elif suffix in (".pth", ".pt"):
            if not dataset or not arch:
                raise CheckpointError("a DVERGE .pth needs its data set and architecture (e.g. cifar10, resnet20)")
            raw = tmp / "upload.pth"
            raw.write_bytes(data)
            import_checkpoint(raw, fmt="dverge", dataset=dataset, arch=arch, out=staged)
        else:
            raise CheckpointError(f"unsupported upload '{suffix or filename}': a .zip of a checkpoint directory "
                                  "or a DVERGE .pth")
        load_checkpoint(staged)  # verifies hashes and loads every member weights-only
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staged), str(target))
    return target


#: the largest expansion an upload may claim: its weights are at most MAX_UPLOAD_BYTES
#: compressed, and safetensors weights hardly compress (ratio well below 2)
MAX_EXPANDED_BYTES = 4 * MAX_UPLOAD_BYTES
MAX_RATIO = 20


def _archive_error(exc: BaseException) -> CheckpointError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return CheckpointError(f"the archive is damaged or unsupported ({reason}); create it again with "
                           "`zip -r NAME.zip CHECKPOINT_DIR`")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """The bytes of one archive member, reading at most ``limit`` bytes whatever its
    header claims (a lying size header cannot make it expand further)."""
    with archive.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise CheckpointError(f"{info.filename} expands to more than allowed")
    return data


def _unpack_checkpoint_zip(data: bytes, out: Path) -> None:
    """Extract a checkpoint from zip bytes: its ``meta.json`` is read and validated
    first (the one schema), then *only* the files it lists are extracted, by their plain
    names, each bounded in size and compression ratio. Every archive error (bad CRC,
    truncated data, lying headers, encryption, unsupported compression) is one
    :class:`CheckpointError`."""
    from .checkpoint_meta import MetaError, parse_meta

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"not a valid zip archive: {exc}") from None
    try:
        files = [i for i in infos if not i.is_dir()]
        metas = [i for i in files if Path(i.filename).name == META]
        if len(metas) != 1:
            raise CheckpointError(f"the archive must hold exactly one {META} (found {len(metas)})")
        prefix = str(Path(metas[0].filename).parent)
        by_name = {Path(i.filename).name: i for i in files if str(Path(i.filename).parent) == prefix}
        try:
            meta = parse_meta(_read_member(archive, metas[0], MAX_EXPANDED_BYTES), f"{META} in the archive")
        except MetaError as exc:
            raise CheckpointError(str(exc)) from None
        missing = [n for n in meta["files"] if n not in by_name]
        if missing:
            raise CheckpointError(f"the archive lacks files its {META} lists: {', '.join(sorted(missing)[:5])}")
        wanted = [by_name[n] for n in meta["files"]]
        claimed = sum(i.file_size for i in wanted) + metas[0].file_size
        if claimed > MAX_EXPANDED_BYTES:
            raise CheckpointError(f"the archive expands to {claimed / 2**20:.0f} MB, more than allowed "
                                  f"({MAX_EXPANDED_BYTES // 2**20} MB)")
        out.mkdir(parents=True)
        total = 0
        for info in [metas[0], *wanted]:
            limit = min(MAX_EXPANDED_BYTES - total, MAX_RATIO * max(info.compress_size, 1) + 2**16)
            content = _read_member(archive, info, limit)
            total += len(content)
            (out / Path(info.filename).name).write_bytes(content)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError,
            NotImplementedError, KeyError, UnicodeError) as exc:
        raise _archive_error(exc) from None
