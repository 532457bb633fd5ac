"""The thread policy of every engine process (CLI, app, background workers, Ray actors).

torch's CPU operators run on an OpenMP team (libgomp, one thread per core by default).
By default an OpenMP thread that reaches the barrier at the end of an operator *spins*
for a while before sleeping, so that the next operator starts without a wake-up. On a
machine whose cores are shared -- a laptop running the app, a training job and an
analysis job at once, or a 2-core box shared by several users -- the spinning threads
eat the cores the thread they wait for needs: every operator then ends with the
stragglers preempted, and small-model attacks (thousands of tiny convolutions) ran ~20x
slower with torch's 2 threads than with 1 on a loaded 2-core machine here.

Policy: ``OMP_WAIT_POLICY=PASSIVE`` (waiting threads sleep at once) in every engine
process unless the user set it. It changes *when* a waiting thread sleeps, never how
work is split, so results are bit-for-bit those of the default (``python
bench/thread_policy.py`` measures both and checks the outputs are identical). The thread
*count* stays torch's default (one per core): on an idle machine that is the fastest,
and the engine's attacks already run independent (member x sample chunk) tasks on one
single-threaded worker per torch thread (:mod:`engine.parallel`).

libgomp reads the variable once, when it is loaded (``import torch``), so it is set when
the ``engine`` package is first imported -- before any engine module imports torch --
and is inherited by every process the engine starts (job workers, ``ray start``; Ray
actors also get it through their runtime environment). A script that imported torch
before the engine keeps libgomp's default; :func:`effective` says which applies.
"""
from __future__ import annotations

import os
import sys

VARIABLE = "OMP_WAIT_POLICY"
POLICY = "PASSIVE"


def apply_wait_policy(environ=None) -> str:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` in ``environ`` (default: this process's) unless the
    user chose a policy; returns the policy in force for processes started from here."""
    environ = os.environ if environ is None else environ
    environ.setdefault(VARIABLE, POLICY)
    return environ[VARIABLE]


def effective() -> str:
    """The wait policy this process's OpenMP runtime runs with, as far as can be told: the
    variable's value when torch was loaded after the engine, else (torch first) the value
    the variable had then, or ``default`` (libgomp spins for a while, then sleeps)."""
    if not _TORCH_FIRST:
        return os.environ.get(VARIABLE, "default").upper()
    return (_BEFORE or "default").upper()


#: the user's own setting, if any (``bench analyses --compare`` runs the old revision
#: without the engine's policy unless the user chose one)
USER_POLICY = os.environ.get(VARIABLE)
#: whether torch was loaded before this module (then the policy above came too late), and
#: the variable's value at that time
_TORCH_FIRST = "torch" in sys.modules
_BEFORE = os.environ.get(VARIABLE)
