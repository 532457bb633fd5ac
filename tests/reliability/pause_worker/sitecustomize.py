"""Fault injection for job workers, loaded by Python at start-up only in processes whose
PYTHONPATH holds this folder (tests/reliability/test_job_kill_points.py puts it there for
the workers it starts; nothing else does).

``ROBUST_ENSEMBLES_TEST_PAUSE=OP:PREFIX:N:MARKER`` (OP ``replace`` or ``unlink``): the N-th
``os.OP`` call on a file whose name starts with PREFIX creates MARKER and then waits,
before acting, until the process is stopped; the test cancels the job through its
executor at exactly that file-replace (or file-delete) boundary."""
import os
import time

_SPEC = os.environ.get("ROBUST_ENSEMBLES_TEST_PAUSE")
if _SPEC:
    _OP, _PREFIX, _NTH, _MARKER = _SPEC.split(":", 3)
    _REAL = getattr(os, _OP)
    _SEEN = [0]

    def _paused(*args, **kwargs):
        target = args[1] if _OP == "replace" else args[0]
        if os.path.basename(os.fspath(target)).startswith(_PREFIX):
            _SEEN[0] += 1
            if _SEEN[0] == int(_NTH):
                with open(_MARKER, "w") as fh:
                    fh.write(os.fspath(target))
                time.sleep(600)  # SIGTERM (the cancel) raises in here: the real call never runs
        return _REAL(*args, **kwargs)

    setattr(os, _OP, _paused)
