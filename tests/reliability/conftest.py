"""Helpers of the reliability corpus: tiny random-weight checkpoints (no training), file
snapshots (hash before/after), and in-process CLI calls (``engine.cli.main``).

Every case asserts its exact outcome: success with its result, or exit code 2 with the
exact ``error:`` text (``…`` marks a stretch left open, e.g. a library's wording) and the
user's files unchanged, byte for byte."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SHIPPED_BASELINE = REPO / "checkpoints" / "baseline"


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    """Each case gets its own user home, result cache and data cache."""
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ROBUST_ENSEMBLES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("ROBUST_ENSEMBLES_SHIPPED", str(tmp_path / "no-shipped"))
    import engine.paths
    import engine.zoo

    monkeypatch.setattr(engine.paths, "SHIPPED", tmp_path / "no-shipped")  # read once at import
    monkeypatch.setattr(engine.zoo, "SHIPPED", tmp_path / "no-shipped")


def make_checkpoint(path: Path, *, members: int = 2, channels: int = 1, num_classes: int = 10,
                    dataset: str = "fashion_mnist", epoch: int = 1, train_state: bool = True, seed: int = 0,
                    **meta) -> Path:
    """A random-weight LeNet-5 ensemble saved exactly as training saves one."""
    from engine.checkpoint import save_checkpoint
    from engine.ensemble import Ensemble
    from engine.models import build_classifier

    torch.manual_seed(seed)
    ensemble = Ensemble(build_classifier("lenet5", channels=channels, num_classes=num_classes,
                                         mean=[0.5] * channels, std=[0.25] * channels) for _ in range(members))
    full = dict(method="baseline", method_params={}, dataset=dataset, arch="lenet5", channels=channels,
                num_classes=num_classes, mean=[0.5] * channels, std=[0.25] * channels, leaky_relu=False,
                epoch=epoch, epochs=epoch, seed=seed, history=[], complete=True)
    full.update(meta)
    state = {"optimizer": {"step": torch.tensor(float(epoch))}} if train_state else None
    return save_checkpoint(path, ensemble, full, state)


def snapshot(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``root`` (directories as markers)."""
    root = Path(root)
    out = {}
    if root.is_file():
        return {root.name: hashlib.sha256(root.read_bytes()).hexdigest()}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
    return out


def matches(pattern: str, text: str) -> bool:
    """``text`` equals ``pattern`` where each ``…`` stands for any text."""
    regex = ".*".join(re.escape(part) for part in pattern.split("…"))
    return re.fullmatch(regex, text, re.S) is not None


def cli(capsys, *argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``python -m engine ARGV``, in process."""
    from engine.cli import main

    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def assert_cli_error(result: tuple[int, str, str], expected: str) -> None:
    rc, out, err = result
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert rc == 2, (rc, out, err)
    error_text = "\n".join(lines[next(i for i, l in enumerate(lines) if l.startswith("error: ")):])
    assert matches("error: " + expected, error_text), f"\nexpected: error: {expected}\n     got: {error_text}"


def write_meta(ck: Path, meta: dict | list | str | bytes) -> None:
    if isinstance(meta, (dict, list)):
        meta = json.dumps(meta)
    (ck / "meta.json").write_bytes(meta.encode() if isinstance(meta, str) else meta)


def read_meta_json(ck: Path) -> dict:
    return json.loads((ck / "meta.json").read_text())
