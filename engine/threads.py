"""The OpenMP wait policy of every engine process (CLI, app, job workers, Ray actors).

torch's CPU operators run on an OpenMP team (libgomp, one thread per core by default).
A thread that reaches the barrier at the end of an operator *spins* for a while
(``GOMP_SPINCOUNT`` iterations, 300,000 by default) before it sleeps, so the next
operator starts without a wake-up. Alone on its cores that is the fastest; beside
another busy process the spinning threads eat the cores the other threads need, and
small-model attacks (thousands of tiny operators) slow down by up to 7-11x
(bench/RESULTS.md, ``python bench/thread_policy.py``: one black-box transfer set on the
2-core machine, 2026-12-02):

=========================== =================== ============= ==========================
this process                alone (idle)        beside a      beside a spinning process
                                                passive one
=========================== =================== ============= ==========================
default (spin 300,000)      1.45 s              1.59 s        10.8-16.8 s
``GOMP_SPINCOUNT=10000``    1.37 s              2.70 s        3.6-3.9 s
``OMP_WAIT_POLICY=PASSIVE`` 2.15 s              2.55 s        2.3-2.5 s
=========================== =================== ============= ==========================

So the policy is chosen per process when it starts, from what it starts beside:

* the CPU busy (at least half of its cores' time used, measured over 0.1 s when the
  process starts) or, for a job worker, another job of the lab already running (its
  launcher decides, :data:`DECIDED`): ``OMP_WAIT_POLICY=PASSIVE`` (threads sleep at once:
  never the spinning neighbour that costs the others 4-7x);
* otherwise ``GOMP_SPINCOUNT=10000``: a short spin, as fast as the default alone, and
  3-4x less harmful than the default when a job starts beside it later.

It changes *when* a waiting thread sleeps, never how work is split: results are
bit-for-bit those of the default (the bench checks it). A setting of the user's
(``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` in the environment) is always kept; one the
engine chose is marked (:data:`MARKER`), so a process the engine starts chooses again for
the load at its own start instead of inheriting its parent's. libgomp reads the variables
once, when torch loads, so the choice is made when the ``engine`` package is first
imported (before any engine module imports torch); :func:`effective` says what applies.
"""
from __future__ import annotations

import os
import sys
import time

VARIABLE = "OMP_WAIT_POLICY"
SPINCOUNT = "GOMP_SPINCOUNT"
#: names of the variables the engine (not the user) set, comma-separated
MARKER = "ROBUST_ENSEMBLES_OMP_CHOSEN"
#: set by a launcher that decided for the process it starts: that process keeps the
#: choice (its own children choose again)
DECIDED = "ROBUST_ENSEMBLES_OMP_DECIDED"
#: the settings for a process that starts beside other work, and for one that starts alone
BUSY = {VARIABLE: "PASSIVE"}
IDLE = {SPINCOUNT: "10000"}


def cpu_busy_fraction(window: float = 0.1) -> float | None:
    """The fraction of all cores' time spent busy over the next ``window`` seconds
    (``/proc/stat``; None where it cannot be read). Now, not the load average: that one
    still counts a command that just finished for a minute."""
    def sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + (values[4] if len(values) > 4 else 0)  # total, idle + iowait
    try:
        total0, idle0 = sample()
        time.sleep(window)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def busy_machine(fraction: float | None = None) -> bool:
    """Whether another process is using at least half of the cores' time right now."""
    fraction = cpu_busy_fraction() if fraction is None else fraction
    return fraction is not None and fraction >= 0.5


def apply_wait_policy(environ=None, *, busy: bool | None = None) -> str:
    """Choose the wait policy in ``environ`` (default: this process's) unless the user set
    one or the launcher of this process decided it (:func:`decide_for_child`); ``busy``
    replaces the measurement. Returns :func:`describe` of the result."""
    environ = os.environ if environ is None else environ
    if environ.pop(DECIDED, None):
        return describe(environ)
    _forget_engine_choice(environ)
    if VARIABLE in environ or SPINCOUNT in environ:
        return describe(environ)
    chosen = BUSY if (busy_machine() if busy is None else busy) else IDLE
    environ.update(chosen)
    environ[MARKER] = ",".join(chosen)
    return describe(environ)


def decide_for_child(environ: dict, *, busy: bool | None) -> str:
    """Choose in ``environ`` for the process about to start with it (a job launcher knows
    whether another job runs: ``busy``; None measures now), and make that process keep the
    choice rather than measure again at its start."""
    policy = apply_wait_policy(environ, busy=busy)
    if MARKER in environ:
        environ[DECIDED] = "1"
    return policy


def _forget_engine_choice(environ) -> None:
    """Remove the variables an engine process chose (a parent's choice), keeping the user's."""
    for name in filter(None, environ.pop(MARKER, "").split(",")):
        environ.pop(name, None)
    environ.pop(DECIDED, None)


def describe(environ) -> str:
    """``PASSIVE``, ``ACTIVE``, ``spin <N>`` or ``default`` for the variables in ``environ``."""
    if environ.get(VARIABLE):
        return environ[VARIABLE].upper()
    if environ.get(SPINCOUNT):
        return f"spin {environ[SPINCOUNT]}"
    return "default"


def effective() -> str:
    """The wait policy this process's OpenMP runtime runs with, as far as can be told: the
    variables' values when torch was loaded after the engine, else (torch first) their
    values then."""
    return describe(_BEFORE if _TORCH_FIRST else os.environ)


def without_engine_choice(environ: dict) -> dict:
    """A copy of ``environ`` without the variables the engine chose (the user's stay):
    what a process started from it gets from libgomp unless it chooses itself."""
    environ = dict(environ)
    _forget_engine_choice(environ)
    return environ


#: whether torch was loaded before this module (then the policy above came too late), and
#: the variables' values at that time
_TORCH_FIRST = "torch" in sys.modules
_BEFORE = {k: os.environ[k] for k in (VARIABLE, SPINCOUNT) if k in os.environ}
