"""The engine's thread policy (engine/threads.py): OpenMP threads sleep while they wait
(``OMP_WAIT_POLICY=PASSIVE``) in every engine process unless the user chose otherwise."""
import os
import subprocess
import sys

from engine import threads
from tests.conftest import REPO


def test_passive_unless_the_user_chose_a_policy():
    env = {}
    assert threads.apply_wait_policy(env) == "PASSIVE" and env == {"OMP_WAIT_POLICY": "PASSIVE"}
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert threads.apply_wait_policy(env) == "ACTIVE" and env == {"OMP_WAIT_POLICY": "ACTIVE"}


def _policy_of_a_fresh_engine_process(**extra) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | extra
    code = ("import os, engine, torch; from engine import threads; "
            "print(os.environ['OMP_WAIT_POLICY'], threads.effective())")
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_set_when_the_engine_is_imported_before_torch_and_inherited_by_its_children():
    # importing engine (any CLI command, job worker, app page) sets it before torch loads
    assert _policy_of_a_fresh_engine_process() == "PASSIVE PASSIVE"
    assert _policy_of_a_fresh_engine_process(OMP_WAIT_POLICY="active") == "active ACTIVE"
