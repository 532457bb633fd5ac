"""The robust-ensembles engine. Importing it applies the engine's thread policy
(:mod:`engine.threads`) before any engine module loads torch."""
from .threads import apply_wait_policy as _apply_wait_policy

_apply_wait_policy()
