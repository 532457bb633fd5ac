"""The engine's OpenMP wait policy (engine/threads.py): chosen per process when it
starts -- threads sleep at once (``OMP_WAIT_POLICY=PASSIVE``) beside other work, spin
briefly (``GOMP_SPINCOUNT=10000``) alone -- unless the user chose; a process the engine
starts chooses again instead of inheriting its parent's choice."""
import os
import subprocess
import sys

from engine import threads
from tests.conftest import REPO


def test_busy_beside_other_work_and_a_short_spin_alone():
    env = {}
    assert threads.apply_wait_policy(env, busy=True) == "PASSIVE"
    assert env == {"OMP_WAIT_POLICY": "PASSIVE", threads.MARKER: "OMP_WAIT_POLICY"}
    env = {}
    assert threads.apply_wait_policy(env, busy=False) == "spin 10000"
    assert env == {"GOMP_SPINCOUNT": "10000", threads.MARKER: "GOMP_SPINCOUNT"}


def test_the_users_setting_is_kept():
    for user in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "5"}):
        env = dict(user)
        threads.apply_wait_policy(env, busy=True)
        assert env == user


def test_a_child_chooses_again_instead_of_inheriting_the_engines_choice():
    env = {}
    threads.apply_wait_policy(env, busy=False)  # the parent started alone ...
    child = dict(env)
    assert threads.apply_wait_policy(child, busy=True) == "PASSIVE"  # ... its job worker beside another job
    assert "GOMP_SPINCOUNT" not in child
    assert threads.without_engine_choice(env) == {}
    assert threads.without_engine_choice({"GOMP_SPINCOUNT": "5", "X": "1"}) == {"GOMP_SPINCOUNT": "5", "X": "1"}


def test_busy_means_at_least_half_the_cores_used_now():
    assert threads.busy_machine(0.5) and threads.busy_machine(0.97)
    assert not threads.busy_machine(0.1) and not threads.busy_machine(0.0)
    fraction = threads.cpu_busy_fraction(0.05)
    assert fraction is None or 0.0 <= fraction <= 1.0


def _policy_of_a_fresh_engine_process(**extra) -> str:
    env = threads.without_engine_choice({k: v for k, v in os.environ.items()
                                         if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}) | extra
    code = "import engine, torch; from engine import threads; print(threads.effective())"
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_chosen_when_the_engine_is_imported_before_torch():
    # importing engine (any CLI command, job worker, app page) chooses before torch loads
    assert _policy_of_a_fresh_engine_process() in ("PASSIVE", "spin 10000")
    assert _policy_of_a_fresh_engine_process(OMP_WAIT_POLICY="active") == "ACTIVE"
    # an inherited engine choice is made again, a user's is not
    assert _policy_of_a_fresh_engine_process(GOMP_SPINCOUNT="7", **{threads.MARKER: "GOMP_SPINCOUNT"}) \
        in ("PASSIVE", "spin 10000")
    assert _policy_of_a_fresh_engine_process(GOMP_SPINCOUNT="7") == "spin 7"


def test_a_job_worker_keeps_the_choice_its_launcher_made_for_it():
    """The executor decides for a worker it starts beside another job (busy=True) or alone:
    the worker keeps that choice instead of measuring again; its own children choose again."""
    for busy, expected in ((True, "PASSIVE"), (False, "spin 10000")):
        env = threads.without_engine_choice({k: v for k, v in os.environ.items()
                                             if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")})
        threads.decide_for_child(env, busy=busy)
        code = ("import os, engine, torch; from engine import threads; "
                "print(threads.effective(), threads.DECIDED in os.environ)")
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                             check=True).stdout.strip()
        assert out == f"{expected} False"
