"""A token-authenticated local Ray head needs the user's token: on a machine that never ran
Ray it is created, and an existing one is never replaced."""
import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

from engine.jobs.ray_executor import ensure_auth_token

# Only Ray's command is run: `ray` is not imported here, since a client reads its auth mode at
# its first import and test_ray_executor.py sets that mode before importing it.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="Ray is an optional extra (pip install -r requirements-ray.txt)")


def ray_cli() -> str:
    return shutil.which("ray") or str(Path(sys.executable).with_name("ray"))


def clean_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH_TOKEN")}
    return dict(env, HOME=str(home), RAY_AUTH_MODE="token")


def test_a_missing_token_is_created_in_the_users_ray_directory(tmp_path):
    ensure_auth_token(ray_cli(), clean_env(tmp_path))
    token = tmp_path / ".ray" / "auth_token"
    assert token.is_file() and len(token.read_text().strip()) >= 32


def test_an_existing_token_is_kept_as_it_is(tmp_path):
    token = tmp_path / ".ray" / "auth_token"
    token.parent.mkdir()
    token.write_text("a" * 64)
    ensure_auth_token(ray_cli(), clean_env(tmp_path))
    assert token.read_text() == "a" * 64
